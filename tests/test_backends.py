"""Keras backends: choosing one (flag > zoo.toml > $KERAS_BACKEND > tensorflow), the one input
pipeline, and whole runs on JAX and PyTorch in processes where `import tensorflow` fails."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from zoo import backend
from zoo.errors import ConfigError


# -- choosing the backend -------------------------------------------------------------------

def test_the_flag_beats_the_config_which_beats_the_environment(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend.requested() == "torch"
    assert backend.requested(toml={"backend": "jax"}) == "jax"
    assert backend.requested("tensorflow", {"backend": "jax"}) == "tensorflow"
    monkeypatch.delenv("KERAS_BACKEND")
    assert backend.requested() == "tensorflow"


@pytest.mark.parametrize("flag, toml, env, where", [
    ("mxnet", None, None, "--backend"), (None, {"backend": 3}, None, "zoo.toml backend"),
    (None, None, "theano", "KERAS_BACKEND")])
def test_a_backend_keras_does_not_have_is_named_with_where_it_came_from(
        monkeypatch, flag, toml, env, where):
    if env:
        monkeypatch.setenv("KERAS_BACKEND", env)
    with pytest.raises(ConfigError, match=f"^{where}: expected one of tensorflow, jax, torch"):
        backend.requested(flag, toml)


def test_a_process_runs_one_backend():
    import keras

    here = keras.backend.backend()   # this suite's process: $KERAS_BACKEND, else tensorflow
    assert here == (os.environ.get("KERAS_BACKEND") or "tensorflow")
    other = "jax" if here != "jax" else "torch"
    with pytest.raises(ConfigError, match=f"Keras already runs on {here} in this process; "
                                          f"start it with KERAS_BACKEND={other}"):
        backend.use(other)
    assert backend.use(here) == here


def test_a_backend_that_is_not_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(backend, "installed", lambda: {"tensorflow": "2", "jax": "", "torch": ""})
    with pytest.raises(ConfigError, match=r"jax is not installed here; pip install "
                                          r"'keras-zoo\[jax\]' installs it"):
        backend.use("jax")


def test_zoo_toml_backend_is_checked_as_a_protocol_setting(tmp_path):
    from zoo.grid import protocol as proto

    (tmp_path / "zoo.toml").write_text('backend = "jax"\n')
    p = proto.resolve(toml=proto.read_toml(tmp_path / "zoo.toml"))
    assert p.backend == "jax"
    # another backend is another run; the default keeps the ids of runs made before
    assert p.run_id("data") != proto.resolve().run_id("data")
    with pytest.raises(ConfigError, match="backend: expected one of tensorflow, jax, torch"):
        proto.resolve(backend="cntk")


def test_zoo_list_says_which_backends_are_installed():
    from zoo.show.listing import _backends

    lines = _backends()
    assert [line.split()[0] for line in lines] == ["tensorflow", "jax", "torch"]
    for line, version in zip(lines, backend.installed().values(), strict=True):
        assert (version in line) if version else ("not installed: pip install" in line)
    assert sum("(default)" in line for line in lines) == 1


# -- the input pipeline ----------------------------------------------------------------------

def _epochs(data, count):
    out = []
    for _ in range(count):
        out.append([data[i] for i in range(len(data))])
        data.on_epoch_end()
    return out


def test_batches_show_every_image_once_an_epoch_reshuffled_each_epoch_from_the_seed():
    from zoo.grid.batches import batches

    x = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1) * 5
    y = np.arange(50) % 7
    idx = np.arange(3, 50, 2)                               # 24 images
    one, two = (_epochs(batches(x, y, idx, 5, seed=9), 3) for _ in range(2))
    for epoch in one:
        seen = np.concatenate([b[1] for b in epoch])
        pixels = np.concatenate([b[0].ravel() for b in epoch])
        assert sorted(np.round(pixels * 255 / 5).astype(int)) == list(idx)  # each image once
        np.testing.assert_array_equal(np.sort(seen), np.sort(y[idx]))
        assert all(b[0].dtype == np.float32 and b[0].max() <= 1 for b in epoch)
    order = [np.concatenate([np.round(b[0].ravel() * 51) for b in e]) for e in one]
    assert not np.array_equal(order[0], order[1])           # reshuffled
    for a, b in zip(one, two, strict=True):                 # the same for the same seed
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    other = _epochs(batches(x, y, idx, 5, seed=10), 1)[0]
    assert not all(np.array_equal(p[1], q[1]) for p, q in zip(one[0], other, strict=True))


def test_batches_keep_order_without_a_seed_and_drop_only_a_ragged_training_batch():
    from zoo.grid.batches import batches

    x = np.arange(12, dtype=np.float32).reshape(12, 1, 1, 1)
    y = np.arange(12)
    plain = batches(x, y, None, 5)
    assert len(plain) == 3 and [list(plain[i][1]) for i in range(3)] == \
        [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert plain[0][0].dtype == np.float32 and plain[2][0].ravel().tolist() == [10, 11]
    dropped = batches(x, y, None, 5, seed=1, drop_remainder=True)
    assert len(dropped) == 2
    assert len(batches(x, y, np.arange(3), 5, drop_remainder=True)) == 1   # fewer than a batch


def test_batches_read_a_memory_mapped_file_as_they_read_an_array(tmp_path):
    from zoo.grid.augment import augmenter
    from zoo.grid.batches import batches

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 20, 20, 1), dtype=np.uint8)
    y = rng.integers(0, 4, 40)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    aug = augmenter((20, 20, 1), 1.0, 3)
    a = _epochs(batches(x, y, np.arange(1, 40), 8, seed=4, augment=aug), 2)
    b = _epochs(batches(mapped, y, np.arange(1, 40), 8, seed=4, augment=aug), 2)
    for ea, eb in zip(a, b, strict=True):
        for (xa, ya), (xb, yb) in zip(ea, eb, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    # augmentation moved pixels, the same way for the same (seed, epoch, batch)
    plain = batches(x, y, np.arange(1, 40), 8, seed=4)
    assert not np.array_equal(a[0][0][0], plain[0][0])


@pytest.mark.parametrize("shape, interpolation, fill_mode, data_format", [
    ((9, 28, 28, 1), "bilinear", "nearest", "channels_last"),
    ((4, 8, 8, 3), "bilinear", "reflect", "channels_last"),
    ((3, 2, 12, 10), "nearest", "constant", "channels_first"),
    ((12, 10, 2), "bilinear", "wrap", "channels_last")])     # one image, no batch axis
def test_one_call_over_the_batch_resamples_as_keras_affine_transform(
        shape, interpolation, fill_mode, data_format):
    """zoo's affine_transform (one map_coordinates over the whole batch) gives each image
    what it gives that image alone, and Keras' ops.image.affine_transform's pixels on JAX and
    PyTorch, for rotations, shifts and zooms. (TensorFlow's kernel, which zoo keeps there,
    reflects and wraps by a convention of its own; its nearest and constant fills agree.)"""
    import keras

    from zoo.grid.augment import affine_transform

    rng = np.random.default_rng(1)
    images = rng.random(shape).astype(np.float32)
    n = shape[0] if len(shape) == 4 else 1
    angle, zoom = rng.uniform(-0.5, 0.5, n), rng.uniform(0.8, 1.2, n)
    shift = rng.uniform(-3, 3, (n, 2))
    cos, sin = np.cos(angle) * zoom, np.sin(angle) * zoom
    zeros = np.zeros(n)
    transform = np.stack([cos, -sin, shift[:, 0], sin, cos, shift[:, 1], zeros, zeros],
                         axis=1).astype(np.float32)
    if len(shape) == 3:
        transform = transform[0]
    ours = keras.ops.convert_to_numpy(affine_transform(
        images, transform, interpolation, fill_mode, 0.25, data_format))
    assert ours.shape == shape
    if len(shape) == 4:
        alone = [keras.ops.convert_to_numpy(affine_transform(
            images[i], transform[i], interpolation, fill_mode, 0.25, data_format))
            for i in range(n)]
        np.testing.assert_allclose(ours, np.stack(alone), atol=1e-6)
    if keras.backend.backend() != "tensorflow" or fill_mode in ("nearest", "constant"):
        theirs = keras.ops.convert_to_numpy(keras.ops.image.affine_transform(
            images, transform, interpolation, fill_mode, 0.25, data_format))
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_augmentation_resamples_the_batch_in_one_call_with_keras_pixels():
    """Beside TensorFlow (whose kernel is batched already) the random layers resample the
    whole batch in one call; their draws, transforms and pixels are Keras' own."""
    import keras

    from zoo.grid.augment import OneCallAffine, augmenter
    from zoo.grid.batches import augmented

    rng = np.random.default_rng(2)
    for shape in ((8, 8, 1), (28, 28, 1), (20, 24, 3)):
        ours = augmenter(shape, 1.0, 3)
        wrapped = [isinstance(layer.backend, OneCallAffine) for layer in ours.layers]
        assert wrapped == [keras.backend.backend() != "tensorflow"] * len(ours.layers)
        theirs = augmenter(shape, 1.0, 3)
        for layer in theirs.layers:
            layer.backend = getattr(layer.backend, "_inner", layer.backend)
        x = rng.random((16, *shape)).astype(np.float32)
        a, b = augmented(ours, x, 7), augmented(theirs, x, 7)
        assert not np.allclose(a, x)   # it moved pixels
        np.testing.assert_allclose(a, b, atol=1e-5)


# -- whole runs on other backends, without TensorFlow ------------------------------------------

def _without_tensorflow(tmp_path) -> dict:
    """An environment in which `import tensorflow` raises ImportError."""
    blocker = tmp_path / "blocker" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("TensorFlow is blocked here")\n')
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(blocker.parent), str(ROOT)])
    return env


def _zoo(args, cwd, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_import_zoo_and_zoo_list_need_no_tensorflow(tmp_path):
    env = _without_tensorflow(tmp_path)
    code = "import zoo, zoo.api, zoo.grid.train, zoo.grid.distribute; import tensorflow"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "TensorFlow is blocked here" in out.stderr          # the blocker works
    listed = _zoo(["list"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    assert "Backends (--backend):" in listed.stdout


def _run_facts(results: Path):
    run_dir = next(p for p in (results / "digits").iterdir() if p.is_dir())
    run = json.loads((run_dir / "run.json").read_text())
    folds = [json.loads(f.read_text()) for f in sorted(run_dir.glob("cnn/fold-*.json"))]
    return run, folds


#: one recipe for the cross-backend runs: long enough for the CNN to learn the digits
AGREE = ["cnn", "-d", "digits", "--folds", "3", "--epochs", "4"]


@pytest.fixture(scope="module")
def runs_per_backend(tmp_path_factory):
    """The same run on TensorFlow (this process's backend, in a subprocess like the others)
    and on JAX and PyTorch with TensorFlow blocked."""
    out = {}
    for name in ("tensorflow", "jax", "torch"):
        where = tmp_path_factory.mktemp(name)
        env = _without_tensorflow(where) if name != "tensorflow" else \
            {**os.environ, "PYTHONPATH": str(ROOT)}
        done = _zoo(["run", *AGREE, "--backend", name, "-q"], where, env)
        out[name] = (done, where)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jax", "torch"])
def test_zoo_run_trains_and_reports_on_another_backend_without_tensorflow(
        runs_per_backend, name):
    done, where = runs_per_backend[name]
    assert done.returncode == 0, done.stderr[-3000:]
    run, folds = _run_facts(where / "results")
    assert run["protocol"]["backend"] == name
    assert run["environment"]["backend"] == name
    assert [f["devices"]["backend"] for f in folds] == [name] * 3
    assert all(f["status"] == "ok" for f in folds)
    assert all(set(f["explain_errors"]) == set() for f in folds)   # Grad-CAM ran there too
    html = (where / "reports" / "index.html").read_text()
    label = {"jax": "JAX", "torch": "PyTorch"}[name]
    assert f"Trained on the {label} backend" in html and f"on {label} " in html


@pytest.mark.slow
def test_backends_agree_within_noise_on_the_same_splits_and_seeds(runs_per_backend):
    """Each backend draws its own initial weights, so scores differ; they must differ by no
    more than the noise of the folds and the images allows (a z statistic under 3.3 with
    the fold-to-fold spread and the binomial spread of n images both counted)."""
    scores = {}
    for name, (done, where) in runs_per_backend.items():
        assert done.returncode == 0, done.stderr[-3000:]
        run_dir = next(p for p in (where / "results" / "digits").iterdir() if p.is_dir())
        accs, n = [], 0
        for f in sorted(run_dir.glob("cnn/fold-*.npz")):
            a = np.load(f)
            accs.append(float(np.mean(a["y_prob"].argmax(axis=1) == a["y_true"])))
            n += len(a["y_true"])
        assert len(accs) == 3
        scores[name] = (np.mean(accs), np.var(accs, ddof=1), n)
    assert scores["tensorflow"][0] > 0.5        # a recipe that trains, or agreement is empty
    for name in ("jax", "torch"):
        (ma, va, n), (mb, vb, _) = scores["tensorflow"], scores[name]
        pooled = (ma + mb) / 2
        se = np.sqrt(2 * pooled * (1 - pooled) / n + (va + vb) / 3)
        assert abs(ma - mb) / se < 3.3, (name, scores)


JAX_TWO_DEVICES = ["run", "cnn", "-d", "digits", "--folds", "2", "--epochs", "1",
                   "--backend", "jax", "--devices", "cpu:0,cpu:1", "--keep-models", "none",
                   "-q"]


@pytest.mark.slow
def test_jax_trains_data_parallel_over_two_host_devices(tmp_path):
    """Also a folder of images (--images), decoded by Pillow without TensorFlow."""
    from PIL import Image

    env = _without_tensorflow(tmp_path)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog")):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 80, (30, 40, 3), dtype=np.uint8)
            pixels[:, :, c] += 150
            Image.fromarray(pixels).save(tmp_path / "pets" / name / f"{i}.jpg")
    done = _zoo([*JAX_TWO_DEVICES, "--images", str(tmp_path / "pets"), "--image-size", "20x16",
                 "--cache-dir", str(tmp_path / "cache")], tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
    _, folds = _run_facts(tmp_path / "results")
    assert [f["devices"]["strategy"] for f in folds] == ["DataParallel"] * 2
    assert [f["devices"]["replicas"] for f in folds] == [2, 2]
    assert all(f["global_batch_size"] == 2 * f["batch_size"] for f in folds)
    assert all(f["status"] == "ok" for f in folds)
    run_dir = next(p for p in (tmp_path / "results" / "pets").iterdir() if p.is_dir())
    pets = [json.loads(f.read_text()) for f in sorted(run_dir.glob("cnn/fold-*.json"))]
    assert [f["status"] for f in pets] == ["ok", "ok"]
    # the folder, decoded by Pillow: 12 RGB images of 16x20
    with np.load(next((tmp_path / "cache").glob("images-*.npz"))) as a:
        assert a["x"].shape == (12, 16, 20, 3) and a["x"].dtype == np.uint8


def test_torch_refuses_several_devices_with_a_way_out(tmp_path):
    env = _without_tensorflow(tmp_path)
    done = _zoo(["run", "cnn", "-d", "digits", "--backend", "torch", "--devices",
                 "cpu:0,cpu:1", "--folds", "2", "--epochs", "1", "-q"], tmp_path, env)
    assert done.returncode != 0
    assert "on the torch backend zoo trains on one device" in done.stderr
    assert "--backend jax" in done.stderr


GRAD_CAM = textwrap.dedent("""
    import sys, numpy as np
    from zoo.backend import start_keras
    keras = start_keras()
    from zoo.grid.explain import grad_cam
    from zoo.grid.modelio import load_model
    x = np.random.default_rng(0).random((3, 16, 16, 1), dtype=np.float32)
    if sys.argv[1] == "save":
        from zoo_plugins import cnn
        keras.utils.set_random_seed(1)
        m = cnn.build((16, 16, 1), 4)
        m.save(sys.argv[2] + "/m.keras")
    else:
        m = load_model(sys.argv[2] + "/m.keras")
    np.save(sys.argv[2] + "/" + keras.backend.backend() + ".npy", grad_cam(m, x))
""")


@pytest.mark.slow
def test_grad_cam_gives_the_same_map_on_every_backend(tmp_path):
    """One gradient function with a branch per backend: the same kept model gives the same
    Grad-CAM maps on TensorFlow, JAX and PyTorch."""
    script = tmp_path / "cam.py"
    script.write_text(GRAD_CAM)
    for name, step in (("tensorflow", "save"), ("jax", "load"), ("torch", "load")):
        env = {**os.environ, "KERAS_BACKEND": name, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, str(script), step, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    ref = np.load(tmp_path / "tensorflow.npy")
    assert ref.shape == (3, 16, 16) and ref.max() == pytest.approx(1)
    for name in ("jax", "torch"):
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.npy"), ref, atol=1e-4)


@pytest.mark.slow
def test_the_gpu_benchmark_runs_quick_on_a_cpu_without_tensorflow(tmp_path):
    """benchmarks/gpu.py is for a GPU machine with JAX and no TensorFlow; --quick checks it
    here on the CPU, with TensorFlow blocked."""
    env = _without_tensorflow(tmp_path)
    env["KERAS_BACKEND"] = "jax"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick",
                           "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("backend jax; backend: jax; devices: /cpu:0")
    rows = [json.loads(line[5:]) for line in done.stdout.splitlines()
            if line.startswith("JSON ")]
    assert [r["model"] for r in rows] == ["cnn", "vit"]
    for r in rows:
        assert r["backend"] == "jax" and r["images"] == 400      # 4 of 5 folds of 500
        assert 0 < r["zoo"] < 60 and 0 < r["plain"] < 60


SERVE = textwrap.dedent("""
    import json, sys
    from zoo.show.serve import Predictor
    p = Predictor(sys.argv[1])
    example = p.example("digits", 0)
    answer = p.predict("digits", example["pixels"])
    print(json.dumps({"example": [m["top"][0][0] for m in example["models"]],
                      "uploaded": [m["top"][0][0] for m in answer],
                      "classes": p.datasets["digits"]["classes"]}))
""")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jax", "torch"])
def test_zoo_serve_answers_with_models_kept_on_another_backend(runs_per_backend, name,
                                                               tmp_path):
    """Kept models (.keras) load and answer on the backend they were trained on, without
    TensorFlow: a kept example and the same pixels sent as an upload get the same answers."""
    done, where = runs_per_backend[name]
    assert done.returncode == 0, done.stderr[-3000:]
    env = {**_without_tensorflow(tmp_path), "KERAS_BACKEND": name}
    out = subprocess.run([sys.executable, "-c", SERVE, str(where / "results")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    said = json.loads(out.stdout.strip().splitlines()[-1])
    assert said["example"] and said["uploaded"] == said["example"]
    assert set(said["example"]) <= set(said["classes"])
