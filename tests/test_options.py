"""Model options and variants: `zoo run dense:units=8 dense:units=32`, [models.NAME] in
zoo.toml, checked before any training, part of what identifies a run."""
import pytest
from click.testing import CliRunner

import zoo
from conftest import TinyPlugin
from zoo import options
from zoo.cli import cli
from zoo.plugins import get_registry
from zoo.store import RunStore, read_json


def dense(input_shape, num_classes, units=16, dropout=0.1, batch_norm=False,
          widths=(8,)):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for w in widths:
        x = keras.layers.Dense(w, activation="relu")(x)
    x = keras.layers.Dense(units, activation="relu")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


class DensePlugin:
    def __init__(self, version="1.0"):
        self.__version__ = version

    @zoo.hookimpl
    def register_models(self, register):
        register(zoo.ModelSpec(name="dense", build=dense, description="dense net"))


@pytest.fixture
def plugins(register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(DensePlugin(), "dense")


def run(tmp_path, *args, results="results"):
    return CliRunner().invoke(cli, ["run", *args, "--dataset", "tiny", "--folds", "2",
                                    "--epochs", "1", "--batch-size", "8",
                                    "--results", str(tmp_path / results), "--out",
                                    str(tmp_path / "out")])


def store_of(tmp_path, results="results"):
    entry = read_json(tmp_path / results / "last_run.json")["runs"][0]
    return RunStore(tmp_path / results, "tiny", entry["run_id"])


@pytest.mark.slow
def test_variants_of_one_model_are_compared_side_by_side(plugins, tmp_path):
    r = run(tmp_path, "dense:units=4", "dense:units=64,dropout=0.2")
    assert r.exit_code == 0, r.output
    store = store_of(tmp_path)
    small, _ = store.read_fold("dense:units=4", 1)
    large, _ = store.read_fold("dense:units=64,dropout=0.2", 1)
    assert small["options"] == {"units": 4} and large["options"] == {"dropout": 0.2, "units": 64}
    assert small["params"] < large["params"]
    html = (tmp_path / "out" / "index.html").read_text()
    assert "dense:units=4 vs dense:units=64,dropout=0.2" in html


@pytest.mark.parametrize("arg, message", [
    ("dense:unit=4", "model 'dense:unit=4': model 'dense' (plugin dense) has no option 'unit'; "
                     "accepted options: units=16, dropout=0.1, batch_norm=false, widths=(8,)"),
    ("dense:units=four", "option 'units': expected an integer, got 'four'"),
    ("dense:units=4.5", "option 'units': expected an integer, got 4.5"),
    ("dense:batch_norm=yes", "option 'batch_norm': expected true or false, got 'yes'"),
    ("dense:widths=8", "option 'widths': expected a sequence like (8,), got 8"),
    ("dense:units", "'units' is not an option; expected name=value"),
])
def test_a_bad_option_is_one_line_before_any_training(plugins, tmp_path, arg, message):
    r = run(tmp_path, arg)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "results").exists()


def test_options_of_every_type_reach_build(plugins, tmp_path):
    r = run(tmp_path, "dense:units=8,dropout=0,batch_norm=true,widths=(4,4)")
    assert r.exit_code == 0, r.output
    facts, _ = store_of(tmp_path).read_fold("dense:units=8,dropout=0,batch_norm=true,widths=(4,4)", 0)
    assert facts["options"] == {"batch_norm": True, "dropout": 0.0, "units": 8,
                                "widths": [4, 4]}


@pytest.mark.slow
def test_zoo_toml_sets_defaults_and_other_options_start_a_new_run(plugins, tmp_path):
    config = tmp_path / "zoo.toml"
    config.write_text("[models.dense]\nunits = 4\n")
    assert run(tmp_path, "dense", "--config", str(config)).exit_code == 0
    first = store_of(tmp_path)
    facts, _ = first.read_fold("dense", 0)
    assert facts["options"] == {"units": 4}
    config.write_text("[models.dense]\nunits = 32\n")
    r = run(tmp_path, "dense", "--config", str(config))
    assert r.exit_code == 0 and "trained 2 fold(s), resumed 0" in r.output
    second = store_of(tmp_path)
    assert second.run_id != first.run_id
    assert second.read_fold("dense", 0)[0]["options"] == {"units": 32}
    assert first.read_fold("dense", 0)[0]["options"] == {"units": 4}   # kept, not overwritten
    # the same settings again resume
    r = run(tmp_path, "dense", "--config", str(config))
    assert "trained 0 fold(s), resumed 2" in r.output
    config.write_text("[models.dense]\nunitz = 32\n")
    r = run(tmp_path, "dense", "--config", str(config))
    assert r.exit_code == 2 and "zoo.toml [models.dense]: model 'dense' (plugin dense) has no " \
        "option 'unitz'" in r.output


@pytest.mark.slow
def test_a_new_plugin_version_never_resumes_onto_old_facts(register_plugin, tmp_path):
    register_plugin(TinyPlugin(), "tiny")
    with_version = register_plugin(DensePlugin("1.0"), "dense")
    assert run(tmp_path, "dense").exit_code == 0
    first = store_of(tmp_path)
    from zoo import plugins as zp

    zp.pm.unregister(with_version)
    register_plugin(DensePlugin("2.0"), "dense-2")
    r = run(tmp_path, "dense")
    assert r.exit_code == 0 and "trained 2 fold(s), resumed 0" in r.output
    assert store_of(tmp_path).run_id != first.run_id


def test_zoo_list_shows_each_models_options():
    r = CliRunner().invoke(cli, ["list"])
    models = r.output.split("Models:")[1].split("Datasets")[0]
    assert "options: filters=(32,64,128), dense=128, dropout=0.4, " \
        "head='flatten'" in models
    assert "options: patch_size=None (an integer or None), dim=64, depth=4, heads=4" in models


def test_a_variant_binds_its_options():
    models = get_registry().models
    v = options.resolve("cnn:dense=32,head=gap", models)
    assert v.name == "cnn:dense=32,head=gap" and v.base == "cnn"
    assert v.options == {"dense": 32, "head": "gap"}
    assert v.build.keywords == {"dense": 32, "head": "gap"}
    assert options.resolve("cnn", models) is models["cnn"]


@pytest.mark.parametrize("model, toml, says", [
    ("vit:patch_size=0", "", "patch_size 0 does not tile 8x8 images (it must be at least 1); "
                             "use one of 1, 2, 4, 8"),
    ("vit:patch_size=-3", "", "patch_size -3 does not tile 8x8 images (it must be at least 1)"),
    ("vit:patch_size=100", "", "patch_size 100 does not tile 8x8 images"),
    ("vit:patch_size=3", "", "patch_size 3 does not tile 8x8 images; use one of 1, 2, 4, 8"),
    ("vit", '[models.vit]\npatch_size = "7"\n',
     "zoo.toml [models.vit]: model 'vit' (plugin vit) option 'patch_size': expected an "
     "integer or None, got '7'"),
    ("vit:patch_size=2.5", "", "option 'patch_size': expected an integer or None, got 2.5"),
])
def test_option_values_a_model_cannot_use_are_option_errors(tmp_path, model, toml, says):
    """They trained the default ViT under another name (0), or failed inside the plugin's
    build with exit 1; a patch size that does not tile the image dropped its edge pixels."""
    from click.testing import CliRunner

    from zoo.cli import cli

    args = ["run", model, "-d", "digits", "--folds", "2", "--epochs", "1", "--results",
            str(tmp_path / "r"), "--out", str(tmp_path / "o")]
    if toml:
        (tmp_path / "zoo.toml").write_text(toml)
        args += ["--config", str(tmp_path / "zoo.toml")]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert says in r.output and "Traceback" not in r.output
    assert "[start]" not in r.output     # nothing trained


def test_none_is_a_value_of_an_option_that_may_be_none():
    from zoo import options
    from zoo.plugins import get_registry

    vit = get_registry().models["vit"]
    assert options.resolve("vit:patch_size=None", {"vit": vit}).options == {"patch_size": None}
    assert options.resolve("vit:patch_size=4", {"vit": vit}).options == {"patch_size": 4}
