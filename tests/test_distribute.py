"""tf.distribute: strategy choice, and a fold under MirroredStrategy over two logical CPUs."""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from zoo.grid.distribute import choose_strategy, parse_devices, where_line
from zoo.errors import ConfigError


def test_parse_devices():
    assert parse_devices(None) is None and parse_devices("auto") is None
    assert parse_devices("cpu") == ["/cpu:0"]
    assert parse_devices("gpu:0, GPU:1") == ["/gpu:0", "/gpu:1"]
    with pytest.raises(ConfigError, match="'tpu:0' is not a device"):
        parse_devices("tpu:0")


def test_default_strategy_without_gpus():
    strategy = choose_strategy(None)
    assert strategy.num_replicas_in_sync == 1


def test_a_machine_without_a_gpu_is_said_plainly_not_as_an_error():
    """'CUDA could not start' on a machine with no GPU read as an error."""
    line = where_line(choose_strategy(None))
    assert line.endswith("; no GPU") and "CUDA" not in line


def test_an_invisible_device_is_a_clear_error():
    with pytest.raises(ConfigError, match="/gpu:7 is not visible here; visible devices: .*cpu:0"):
        choose_strategy("gpu:7")


MIRRORED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, "tests")
    from conftest import make_images
    import zoo
    from zoo.grid.distribute import choose_strategy
    from zoo.grid.protocol import Protocol, make_splits
    from zoo.grid.train import FoldRunner
    from zoo_plugins import cnn

    strategy = choose_strategy("cpu:0,cpu:1")
    # 3 classes x 13 images: the training folds are not a multiple of the global batch
    x, y, _, _ = make_images(n_per_class=13, classes=3, size=8)
    ds = zoo.Dataset(name="tiny", x=x, y=y, class_names=["a", "b", "c"])
    p = Protocol(folds=3, epochs=2, batch_size=5, lr=1e-2)
    spec = zoo.ModelSpec(name="cnn", build=cnn.build)
    runner = FoldRunner(spec, ds, p, strategy)
    fold_of = make_splits(ds.y, p)
    out = []
    for fold in (0, 1):
        trained = runner.run(fold, fold_of)
        facts, arrays = trained.facts.to_dict(), trained.arrays
        out.append({"status": facts["status"], "replicas": facts["devices"]["replicas"],
                    "batch": facts["global_batch_size"], "rows": len(arrays["y_prob"]),
                    "held": int((fold_of == fold).sum()),
                    "finite": bool(np.isfinite(arrays["y_prob"]).all())})
    bn = [l for l in runner.model.layers if "bn" in l.name][0]
    out.append({"synchronized": bool(bn.synchronized), "strategy": type(strategy.strategy).__name__})
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_a_fold_under_mirrored_strategy_on_two_logical_cpus():
    proc = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    folds = json.loads(line[0][7:])
    for fold in folds[:2]:
        assert fold == {"status": "ok", "replicas": 2, "batch": 10, "rows": fold["held"],
                        "held": fold["held"], "finite": True}
    assert folds[2] == {"synchronized": True, "strategy": "MirroredStrategy"}


def test_batch_norm_is_synchronized_only_under_several_tensorflow_replicas(monkeypatch):
    # BatchNormalization(synchronized=True) raises on Keras backends other than TensorFlow,
    # and means nothing on one replica: the CNN asks for it only under MirroredStrategy
    # (see the test above, where it is synchronized)
    import keras

    from zoo_plugins import cnn

    import tensorflow as tf

    model = cnn.build((28, 28, 1), 24)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and not any(layer.synchronized for layer in bns)
    assert cnn.several_replicas() is False
    # two replicas: synchronized under TensorFlow, never on another backend
    two = type("TwoReplicas", (), {"num_replicas_in_sync": 2})()
    monkeypatch.setattr(tf.distribute, "get_strategy", lambda: two)
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")   # whatever runs here
    assert cnn.several_replicas() is True
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert cnn.several_replicas() is False
