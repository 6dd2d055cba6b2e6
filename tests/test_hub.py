"""KerasHub backbones as zoo models (zoo_plugins.hub), with no network: a tiny random
ResNetBackbone saved to a local preset folder stands in for a pretrained one."""
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import zoo

from conftest import ROOT, TinyPlugin
from zoo.cli import cli
from zoo.store import RunStore, read_json


def tiny_backbone():
    import keras_hub

    import zoo

    zoo.import_tensorflow()
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 64],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(None, None, 3))


@pytest.fixture(scope="session")
def preset(tmp_path_factory):
    """A local preset: a tiny random ResNet and its image converter (32x32, pixels / 255)."""
    import keras_hub

    folder = tmp_path_factory.mktemp("preset") / "tiny-resnet"
    tiny_backbone().save_to_preset(str(folder))
    keras_hub.layers.ResNetImageConverter(image_size=(32, 32), scale=1 / 255).save_to_preset(
        str(folder))
    return folder


@pytest.fixture(scope="session")
def bare_preset(tmp_path_factory):
    """A preset of a backbone alone, without an image converter."""
    folder = tmp_path_factory.mktemp("bare") / "bare-resnet"
    tiny_backbone().save_to_preset(str(folder))
    return folder


def run(tmp_path, *args):
    return CliRunner().invoke(cli, ["run", *args, "--folds", "2", "--epochs", "1",
                                    "--batch-size", "8", "--results", str(tmp_path / "r"),
                                    "--out", str(tmp_path / "o"), "--quiet"])


@pytest.mark.slow
def test_a_hub_backbone_trains_beside_the_cnn(register_plugin, tmp_path, preset):
    register_plugin(TinyPlugin(), "tiny")
    hub = f"hub:preset={preset}"
    r = run(tmp_path, hub, "cnn:dense=8", "--dataset", "tiny")
    assert r.exit_code == 0, r.output
    entry = read_json(tmp_path / "r" / "last_run.json")["runs"][0]
    store = RunStore(tmp_path / "r", "tiny", entry["run_id"])
    facts, arrays = store.read_fold(hub, 0)
    assert facts["status"] == "ok" and facts["options"] == {"preset": str(preset)}
    assert facts["explain_errors"] == {} and arrays["explain_grad_cam"].shape[1:] == (8, 8)
    html = (tmp_path / "o" / "index.html").read_text()
    assert f"hub:preset={preset} (grad-cam)" in html   # its saliency row in the report
    from zoo.show.serve import Predictor   # kept hub models load back in safe mode

    predictor = Predictor(tmp_path / "r")
    assert predictor.skipped == [] and len(predictor.models["tiny"]) == 2


@pytest.mark.slow
def test_a_preset_without_an_image_converter_is_resized_to_image_size(tmp_path,
                                                                    bare_preset):
    from zoo import options
    from zoo.grid.checks import build_checked
    from zoo.plugins import get_registry

    spec = options.resolve(f"hub:preset={bare_preset},image_size=24", get_registry().models)
    model = build_checked(spec, (8, 8, 1), 3)
    assert model.get_layer("resize").output.shape[1:3] == (24, 24)


def test_a_frozen_backbone_keeps_its_weights_and_the_head_trains(preset):
    """Fast (a tiny preset, a few seconds), so it runs on JAX and PyTorch in CI too."""
    import zoo
    from zoo import options
    from zoo.plugins import get_registry
    from zoo.grid.protocol import Protocol, make_splits
    from zoo.grid.train import FoldRunner

    spec = options.resolve(f"hub:preset={preset},trainable=False", get_registry().models)
    ds = TinyPlugin().load()
    protocol = Protocol(folds=2, epochs=2, batch_size=8, augment=0.0)
    runner = FoldRunner(spec, ds, protocol)
    trained = runner.run(0, make_splits(ds.y, protocol))
    facts, model = trained.facts.to_dict(), trained.model
    assert facts["status"] == "ok"
    import keras_hub

    zoo.import_tensorflow()
    pretrained = keras_hub.models.Backbone.from_preset(str(preset))
    backbone = next(layer for layer in model.layers if isinstance(layer, keras_hub.models.Backbone))
    assert not backbone.trainable
    for before, after in zip(pretrained.weights, backbone.weights, strict=True):
        assert np.array_equal(np.asarray(before), np.asarray(after)), before.path
    head = model.get_layer("probs").get_weights()[0]
    fresh = options.resolve(f"hub:preset={preset}", get_registry().models).build(
        ds.input_shape, ds.num_classes).get_layer("probs").get_weights()[0]
    assert not np.allclose(head, fresh)   # the head did train


def test_a_named_preset_offline_stops_before_training_with_what_to_do(register_plugin,
                                                                       tmp_path, monkeypatch):
    # KerasHub's downloads go to a closed port on this machine, its cache is empty: offline
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")      # http://localhost:7777
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "empty-cache"))
    register_plugin(TinyPlugin(), "tiny")
    r = run(tmp_path, "hub:preset=resnet_18_imagenet", "cnn", "--dataset", "tiny")
    assert r.exit_code == 2, r.output
    assert "hub: preset 'resnet_18_imagenet' cannot be loaded" in r.output
    assert "offline, pass a local preset folder instead, hub:preset=/path/to/folder" in r.output
    assert "Traceback" not in r.output and "[start]" not in r.output
    # refused before any dataset loaded (its leakage check took 32 s on a real folder)
    assert "split chosen" not in r.output and "leakage" not in r.output
    cause = r.output.split("cannot be loaded (", 1)[1].split("): a named preset", 1)[0]
    assert cause.endswith(" ...") or len(cause) <= 200   # cut at a word, never mid-word


def test_an_error_is_cut_at_a_word():
    from zoo_plugins.hub import _at_a_word

    long = ValueError("could not resolve the host name " + "x" * 10 + " NameResolutionError")
    assert _at_a_word(long, 52) == "could not resolve the host name xxxxxxxxxx ..."
    assert _at_a_word(ValueError("short"), 52) == "short"


def test_without_keras_hub_the_model_is_unavailable_and_says_how_to_get_it(tmp_path):
    code = ("import sys; sys.modules['keras_hub'] = None\n"
            "from click.testing import CliRunner\nfrom zoo.cli import cli\n"
            "print(CliRunner().invoke(cli, ['list']).output)\n"
            "r = CliRunner().invoke(cli, ['run', 'hub', '-d', 'digits', '--results', "
            f"{str(tmp_path)!r}])\nprint(r.exit_code); print(r.output)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ})
    out = done.stdout
    assert "hub [hub] a KerasHub backbone" in out and "(unavailable)" in out
    assert "how to get: needs KerasHub: pip install 'keras-zoo[hub]'" in out
    assert "\n2\n" in out and "model 'hub' is unavailable: needs KerasHub" in out


def test_zoo_run_all_leaves_the_hub_family_out_unless_named_or_configured(tmp_path,
                                                                          bare_preset):
    from zoo.grid import plan
    from zoo.plugins import get_registry

    registry = get_registry()
    everything = plan.select(registry, everything=True)
    assert "hub" not in [m.name for m in everything.models]
    configured = plan.select(registry, everything=True,
                             model_defaults={"hub": {"preset": str(bare_preset)}})
    assert "hub" in [m.name for m in configured.models]


@pytest.mark.ray
@pytest.mark.slow
def test_a_hub_backbone_on_ray(register_plugin, tmp_path, preset):
    r = run(tmp_path, f"hub:preset={preset},image_size=16", "-d", "digits", "--executor", "ray",
            "--cpus-per-task", "2")
    assert r.exit_code == 0, r.output
    entry = read_json(tmp_path / "r" / "last_run.json")["runs"][0]
    store = RunStore(tmp_path / "r", "digits", entry["run_id"])
    facts, _ = store.read_fold(f"hub:preset={preset},image_size=16", 1)
    assert facts["status"] == "ok" and facts["worker"].startswith("127.0.0.1 pid ")


def test_a_backbone_too_large_for_memory_is_a_config_error_naming_the_preset(monkeypatch):
    """A preset with an absurd layer size gave a raw out-of-memory error after 55 s."""
    import keras_hub

    from zoo_plugins import hub

    class ResourceExhaustedError(Exception):
        pass

    for error in (MemoryError(), ResourceExhaustedError("OOM when allocating tensor")):
        def refuse(preset, error=error, **kwargs):
            raise error

        monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", refuse)
        with pytest.raises(zoo.ConfigError, match="hub: preset '/p/huge': its backbone does "
                                                  "not fit in this machine's memory"):
            hub._backbone(keras_hub, "/p/huge")
    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset",
                        lambda preset, **kw: (_ for _ in ()).throw(RuntimeError("other")))
    with pytest.raises(RuntimeError, match="other"):   # any other error is the plugin's
        hub._backbone(keras_hub, "/p/huge")


def test_small_images_enlarged_inside_the_model_are_said_with_the_factor(preset, bare_preset):
    """A backbone on 28x28 images resized them to 224 inside the model without a word (280 s
    a fold against 8 s for the CNN)."""
    from zoo import options
    from zoo.grid.checks import check_models
    from zoo.plugins import get_registry

    hub = get_registry().models["hub"]
    said = []
    check_models([options.variant(hub, {"preset": str(bare_preset)}, name="hub:bare")],
                 [((28, 28, 1), 3)], warn=said.append)
    (note,) = said
    assert note.startswith("model 'hub:bare' on (28, 28, 1) images: hub: 28x28 images are "
                           "resized to 224x224 inside the model, 64 times the pixels")
    assert "hub:image_size=N" in note
    said.clear()   # the preset's own converter at 32: a small factor, said as well
    check_models([options.variant(hub, {"preset": str(preset)}, name="hub:tiny")],
                 [((28, 28, 1), 3)], warn=said.append)
    assert said and "resized to 32x32 inside the model, 1.3 times the pixels" in said[0]
    said.clear()   # at their own size or smaller: nothing to say
    check_models([options.variant(hub, {"preset": str(preset), "image_size": 28},
                                  name="hub:28")], [((28, 28, 1), 3)], warn=said.append)
    assert said == []
