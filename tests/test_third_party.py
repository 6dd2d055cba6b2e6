"""A third-party plugin distribution, as a user would install it, and plugin isolation."""
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from conftest import ROOT, TinyModelPlugin, TinyPlugin
from zoo import hookspecs
from zoo.cli import cli
from zoo.store import RunStore, read_json

EXAMPLE = ROOT / "examples" / "zoo-plugin-resnet"


def example_module(name):
    sys.path.insert(0, str(EXAMPLE))
    try:
        import importlib

        return importlib.import_module(f"zoo_plugin_resnet.{name}")
    finally:
        sys.path.remove(str(EXAMPLE))


def test_the_resnet_builds_for_any_small_input():
    model = example_module("model")
    for shape, n in (((28, 28, 1), 24), ((8, 8, 1), 10)):
        m = model.build(shape, n)
        assert m.output_shape == (None, n)


def write_png(path, value, size=(40, 30)):
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full(size + (3,), value, dtype=np.uint8)
    path.write_bytes(tf.io.encode_png(pixels).numpy())


def test_the_image_folder_dataset(tmp_path):
    folder = example_module("folder")
    for i in range(3):
        write_png(tmp_path / "images/train/cat" / f"{i}.png", 30)
        write_png(tmp_path / "images/train/dog" / f"{i}.PNG", 200)
    write_png(tmp_path / "images/test/dog/x.png", 200)
    (tmp_path / "images/train/dog/notes.txt").write_text("ignored")
    assert folder.available(tmp_path)[0]
    ds = folder.load(tmp_path).validate()
    assert ds.class_names == ["cat", "dog"] and ds.x.shape == (6, 28, 28, 1)
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1] and ds.y_test.tolist() == [1]
    assert ds.x[0].max() == pytest.approx(30 / 255, abs=0.01)
    (tmp_path / "images/train/cat/broken.png").write_bytes(b"not an image")
    with pytest.raises(zoo.DataError, match="broken.png: not a readable PNG or JPEG"):
        folder.load(tmp_path)
    (tmp_path / "images/train/cat/broken.png").unlink()
    write_png(tmp_path / "images/test/bird/y.png", 10)
    with pytest.raises(zoo.DataError, match="bird are not among the training classes"):
        folder.load(tmp_path)
    assert not folder.available(tmp_path / "nowhere")[0]


class Malformed:
    @zoo.hookimpl
    def register_datasets(self, register):
        def load(data_dir=None):
            return zoo.Dataset(name="malformed", x=np.zeros((5, 8, 8), np.float32),
                               y=np.zeros(5, np.int64), class_names=["a", "b"])
        register(zoo.DatasetSpec(name="malformed", load=load))


def test_a_dataset_with_malformed_arrays_is_skipped(register_plugin, tmp_path):
    register_plugin(Malformed(), "malformed-plugin")
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "dense", "--dataset", "malformed", "--dataset", "tiny",
                                 "--folds", "2", "--epochs", "1", "--quiet", "--results",
                                 str(tmp_path / "results"), "--out", str(out)])
    assert r.exit_code == 1
    message = ("dataset 'malformed' (plugin malformed-plugin): x/y: images must have shape "
               "(n, height, width, channels), got (5, 8, 8)")
    assert message in r.output
    html = (out / "index.html").read_text()
    assert "malformed" in html and "images must have shape" in html
    runs = read_json(tmp_path / "results" / "last_run.json")["runs"]
    assert [x["dataset"] for x in runs] == ["tiny"]


def test_every_hook_is_documented_and_tested():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    from zoo import plugins

    hooks = sorted(name for name, caller in vars(plugins.pm.hook).items()
                   if getattr(caller, "spec", None) is not None)
    assert hooks == sorted(n for n in dir(hookspecs) if n.startswith("register_"))
    assert len(hooks) >= 3
    for hook in hooks:
        assert f"### `{hook}(register)`" in docs, hook
        assert re.search(rf"def {hook}\(self, register\)", tests), hook
        assert getattr(hookspecs, hook).__doc__.strip() in docs


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@pytest.mark.slow
def test_pip_install_a_plugin_then_uninstall_it(tmp_path):
    """A fresh virtual environment; zoo and zoo-plugin-resnet installed by pip. The heavy
    dependencies (tensorflow, ...) are borrowed from the running environment by a path entry
    instead of being downloaded again."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run([str(venv_python(venv)), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    env.pop("ZOO_PLUGINS", None)  # this test is about an installed third-party plugin

    def py(*args, check=True, timeout=600):
        proc = subprocess.run([str(venv_python(venv)), *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=timeout)
        if check:
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    pip = ["-m", "pip", "--disable-pip-version-check", "-q"]
    py(*pip, "install", "--no-deps", "--no-build-isolation", str(ROOT))
    py(*pip, "install", "--no-deps", "--no-build-isolation", str(EXAMPLE))
    where = py("-c", "import zoo, zoo_plugin_resnet; print(zoo.__file__); "
                     "print(zoo_plugin_resnet.__file__)").stdout
    assert where.count(str(venv)) == 2, where  # both come from the fresh environment

    listing = py("-m", "zoo.cli", "list").stdout
    assert "resnet" in listing and "zoo-plugin-resnet 0.1.0" in listing
    assert "image-folder" in listing and "model resnet" in listing
    assert "options: widths=(16,32,64), dropout=0.2" in listing
    assert "metric worst_class_recall" in listing

    # the plugin's own tests, written with zoo's test kit, pass against the installed plugin
    own = py("-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"),
             check=False)
    assert own.returncode == 0 and "4 passed" in own.stdout, own.stdout[-3000:] + own.stderr[-2000:]

    run = py("-m", "zoo.cli", "run", "--all", "--dataset", "digits", "--folds", "2",
             "--epochs", "1", "--quiet", "--results", "results", "--out", "reports")
    last = read_json(tmp_path / "results" / "last_run.json")["runs"][0]
    assert last["models"] == ["cnn", "vit", "resnet"]
    store = RunStore(tmp_path / "results", "digits", last["run_id"])
    fold_of = store.read_splits()
    for model in ("cnn", "vit", "resnet"):
        _, arrays = store.read_fold(model, 1)
        assert (arrays["held_out_index"] == np.flatnonzero(fold_of == 1)).all()
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "resnet" in html and "Worst-class recall" in html, run.stdout

    py(*pip, "uninstall", "-y", "zoo-plugin-resnet")
    listing = py("-m", "zoo.cli", "list").stdout
    assert "zoo-plugin-resnet" not in listing and "model resnet" not in listing
    assert not re.search(r"^\s+resnet\s", listing, re.M), listing  # no model row left
    assert "cnn" in listing and "ERROR" not in listing
    report = py("-m", "zoo.cli", "report", "--results", "results", "--out", "again")
    assert "report:" in report.stdout


class RaisingLoad:
    @zoo.hookimpl
    def register_datasets(self, register):
        def load(data_dir=None):
            raise RuntimeError("disk on fire")
        register(zoo.DatasetSpec(name="raising", load=load))


def test_a_dataset_whose_load_raises_is_skipped_with_the_plugin_named(register_plugin, tmp_path):
    register_plugin(RaisingLoad(), "raising-plugin")
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    r = CliRunner().invoke(cli, ["run", "dense", "--dataset", "raising", "--dataset", "tiny",
                                 "--folds", "2", "--epochs", "1", "--quiet", "--results",
                                 str(tmp_path / "results"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert ("error: dataset raising: plugin raising-plugin: load raised RuntimeError: "
            "disk on fire") in r.output
    runs = read_json(tmp_path / "results" / "last_run.json")["runs"]
    assert [x["dataset"] for x in runs] == ["tiny"]


def test_plugins_depend_on_keras_zoo_never_on_the_unrelated_zoo():
    """zoo's distribution is keras-zoo: `zoo` on PyPI is another project, which a plugin
    declaring `dependencies = ["zoo"]` would pull into a fresh environment."""
    import re
    import tomllib

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[ ;]", d)[0] for d in project["dependencies"]]
    assert "keras-zoo" in names and "zoo" not in names
    docs = (ROOT / "docs" / "plugins.md").read_text()
    declared = re.findall(r'(?:dependencies|install_requires)\s*=\s*\[([^\]]*)\]', docs)
    assert declared and all('"keras-zoo"' in d and '"zoo"' not in d for d in declared)
    setup = (ROOT / "setup.py").read_text()
    assert 'name="keras-zoo"' in setup


PUBLIC_MODULES = {"zoo", "zoo.testing"}


def zoo_names_used(code: str) -> list:
    """Every zoo module and attribute a piece of Python code uses."""
    import ast

    used = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "zoo" or node.module.startswith("zoo.")):
            used += [node.module] if node.module != "zoo" else \
                [f"zoo.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            used += [a.name for a in node.names if a.name.startswith("zoo.")]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "zoo":
            used.append(f"zoo.{node.attr}")
    return used


def test_the_plugin_guide_and_the_example_use_only_public_names():
    """docs/plugins.md called zoo.plugins.get_registry internal and used it in its own test
    example; plugin authors copy examples."""
    public = PUBLIC_MODULES | {f"zoo.{n}" for n in zoo.__all__}
    docs = (ROOT / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    files = [p.read_text() for p in EXAMPLE.rglob("*.py")]
    assert len(blocks) >= 3 and len(files) >= 4
    used = [n for code in blocks + files for n in zoo_names_used(code)]
    assert used and [n for n in used if n not in public] == []


def test_check_plugin_names_each_problem_once():
    from zoo.testing import check_plugin

    class Typo:
        @zoo.hookimpl
        def register_model(self, register):   # not a zoo hook
            pass

    with pytest.raises(AssertionError) as failed:
        check_plugin(Typo(), )
    text = str(failed.value)
    assert text.startswith("plugin Typo: implements 'register_model', which is not a zoo hook")
    assert text.count("plugin Typo:") == 1


# -- a model that cannot take one dataset (#30 item 9) ---------------------------------------
def tiling_dense(input_shape, num_classes, patch: int = 8):
    """A model whose patches must tile the image: it refuses other sizes with a ConfigError,
    as the plugin guide advises."""
    if input_shape[0] % patch:
        raise zoo.ConfigError(f"patch {patch} does not tile {input_shape[0]}-pixel images")
    from conftest import tiny_dense

    return tiny_dense(input_shape, num_classes)


class TilingPlugin:
    @zoo.hookimpl
    def register_models(self, register):
        register(zoo.ModelSpec(name="tiling", build=tiling_dense, description="patches of 8"))


class Twelve(TinyPlugin):
    """The tiny data at 12x12 pixels."""

    def load(self, data_dir=None):
        from conftest import make_images

        x, y, xt, yt = make_images(self.n_per_class, self.classes, size=12, test_per_class=4)
        return zoo.Dataset(name=self.name, x=x, y=y, x_test=xt, y_test=yt,
                           class_names=self.class_names, source="made in the test")


@pytest.mark.slow
def test_a_model_that_cannot_take_one_dataset_is_skipped_there_and_the_grid_goes_on(
        register_plugin, tmp_path):
    """A ConfigError from build (a patch size that does not tile the image) once stopped the
    whole grid, the other model and the other dataset included."""
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(Twelve(name="twelve"), "twelve")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(TilingPlugin(), "tiling")
    args = ["--folds", "2", "--epochs", "1", "--batch-size", "8", "--results",
            str(tmp_path / "r"), "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(cli, ["run", "tiling", "dense", "-d", "tiny", "-d", "twelve", *args])
    assert r.exit_code == 0, r.output
    assert "skipping tiling on twelve: model 'tiling' (plugin tiling): patch 8 does not tile " \
        "12-pixel images" in r.output
    last = read_json(tmp_path / "r" / "last_run.json")
    runs = {e["dataset"]: RunStore(tmp_path / "r", e["dataset"], e["run_id"])
            for e in last["runs"]}
    assert runs["tiny"].has_fold("tiling", 1) and runs["twelve"].has_fold("dense", 1)
    assert not runs["twelve"].has_fold("tiling", 0)
    # a skipped model is no unfinished run: no rerun is advised, and one would train nothing
    assert "partial run" not in r.output and "Run the same command again" not in r.output
    assert "twelve: tiling was skipped: model 'tiling' (plugin tiling): patch 8" in r.output
    r = CliRunner().invoke(cli, ["report", "--results", str(tmp_path / "r"), "--out",
                                 str(tmp_path / "o")])
    assert r.exit_code == 0 and "partial run" not in r.output
    assert "Partial run" not in (tmp_path / "o" / "index.html").read_text()
    assert "twelve: tiling was skipped" in r.output
    # a model that fits no chosen dataset: the user's to fix, before anything trains
    r = CliRunner().invoke(cli, ["run", "tiling", "dense", "-d", "twelve", *args])
    assert r.exit_code == 2 and "it fits none of the chosen datasets" in r.output
    assert "Traceback" not in r.output


@pytest.mark.slow
def test_check_plugin_reports_a_model_that_refuses_every_shape_and_lists_the_refusals():
    from zoo.testing import check_plugin

    with pytest.raises(AssertionError, match="model tiling builds on none of the shapes "
                                             r"checked: \(12, 12, 1\): .*patch 8 does not tile"):
        check_plugin(TilingPlugin(), shapes=(((12, 12, 1), 3),))
    check = check_plugin(TilingPlugin(), shapes=(((8, 8, 1), 3), ((12, 12, 1), 3)))
    assert any("(12, 12, 1) x 3 classes: refused" in line for line in check.passed)
    assert any("(8, 8, 1) x 3 classes: builds, trains" in line for line in check.passed)


def test_check_plugin_builds_a_model_for_the_datasets_its_distribution_registers():
    """A distribution's model plugin is checked on the shapes of the datasets its sibling
    entry points register (not only on the synthetic default)."""
    from zoo.plugin_test import _sibling_shapes
    from zoo.plugins import PluginInfo, Registry

    twelve = Twelve(name="twelve")
    spec = zoo.DatasetSpec(name="twelve", load=twelve.load, available=lambda d: (True, ""))
    registry = Registry(datasets={"twelve": spec, "other": spec})
    model = PluginInfo("resnet", distribution="zoo-plugin-x", models=["r"])
    registry.plugins = {"resnet": model,
                        "folder": PluginInfo("folder", distribution="zoo-plugin-x",
                                             datasets=["twelve"]),
                        "stranger": PluginInfo("stranger", distribution="zoo-plugin-y",
                                               datasets=["other"])}
    assert _sibling_shapes(model, registry, None) == [((12, 12, 1), 3)]
    alone = PluginInfo("alone", models=["r"])   # not installed: no distribution, no siblings
    assert _sibling_shapes(alone, registry, None) == []


# -- an option that changes nothing (#30 item 10) --------------------------------------------
def dense_of(input_shape, num_classes, width: int = 16):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def ignoring(input_shape, num_classes, width: int = 16):
    """A plugin's bug: the option is accepted and never used."""
    return dense_of(input_shape, num_classes)


class OptionsPlugin:
    @zoo.hookimpl
    def register_models(self, register):
        register(zoo.ModelSpec(name="widths", build=dense_of))
        register(zoo.ModelSpec(name="ignoring", build=ignoring))


@pytest.mark.slow
def test_variants_that_build_the_same_architecture_are_warned_of(register_plugin, tmp_path):
    """A build that ignores an option made two identical models, reported as an ablation
    (p = 1.000)."""
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(OptionsPlugin(), "options")
    r = CliRunner().invoke(cli, ["run", "ignoring:width=8", "ignoring:width=32",
                                 "widths:width=8", "widths:width=32", "-d", "tiny", "--folds",
                                 "2", "--epochs", "1", "--batch-size", "8", "--results",
                                 str(tmp_path / "r"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    (line,) = [x for x in r.output.splitlines() if "build the same architecture" in x]
    assert line.startswith("warning: ignoring:width=") and "is the option passed to build?" \
        in line and "ignoring:width=8" in line and "ignoring:width=32" in line


@pytest.mark.slow
def test_check_plugin_warns_of_an_option_that_changes_nothing():
    from zoo.testing import check_plugin

    check = check_plugin(OptionsPlugin())
    assert [w for w in check.warnings if "model ignoring:" in w and "width" in w]
    assert not [w for w in check.warnings if "model widths:" in w]


@pytest.mark.slow
def test_a_tuned_value_the_model_refuses_stops_the_run_before_training(register_plugin,
                                                                        tmp_path):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TilingPlugin(), "tiling")
    r = CliRunner().invoke(cli, ["run", "tiling", "-d", "tiny", "--tune", "tiling:patch=8,5",
                                 "--trials", "2", "--folds", "2", "--epochs", "1",
                                 "--results", str(tmp_path / "r")])
    assert r.exit_code == 2, r.output
    assert "model 'tiling with patch=5' (plugin tiling): patch 5 does not tile 8-pixel " \
        "images (a value the search would try; narrow --tune)" in r.output
    assert "[start]" not in r.output


def test_zoo_list_shows_what_a_dataset_holds_and_the_augmentations_it_gets():
    r = CliRunner().invoke(cli, ["list"])
    assert r.exit_code == 0
    assert "holds: 8x8x1 images, 10 classes; augmented by shift" in r.output
    assert "holds: 28x28x1 images, 24 classes; augmented by rotate, shift, zoom" in r.output
    assert "holds: images of a size known once loaded; augmented by rotate, shift, zoom " \
        "(images under 16 pixels a side: shift only)" in r.output


@pytest.mark.slow
def test_a_dataset_that_is_not_what_it_declares_is_skipped_naming_its_plugin(
        register_plugin, tmp_path):
    class Liar(TinyPlugin):
        @zoo.hookimpl
        def register_datasets(self, register):
            register(zoo.DatasetSpec(name="liar", load=self.load, input_shape=(28, 28, 1),
                                     classes=3))

    register_plugin(Liar(name="liar"), "liar")
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    r = CliRunner().invoke(cli, ["run", "dense", "-d", "liar", "-d", "tiny", "--folds", "2",
                                 "--epochs", "1", "--batch-size", "8", "--results",
                                 str(tmp_path / "r"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1, r.output
    assert "dataset 'liar' (plugin liar): declares images of (28, 28, 1), loaded (8, 8, 1)" \
        in r.output
    assert "tiny: 36 images of 8x8x1, 3 classes, 12 official test images; Adam lr 0.001, " \
        "augmentation 1 (shift)" in r.output   # the terminal says what the report says
