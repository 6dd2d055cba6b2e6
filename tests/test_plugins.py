"""Plugins load through the `zoo` entry-point group; a broken one never stops the others."""
import os
import subprocess
import sys
import zipfile

import zoo
from conftest import ROOT, TinyPlugin
from zoo import plugins
from zoo.plugins import get_registry

BUILTINS = {"cnn": "model", "vit": "model", "digits": "dataset", "sign-mnist": "dataset",
            "metrics": "metric"}


def zoo_cmd(*args, env=None, cwd=None):
    """`zoo ARGS` in a fresh process that loads every installed plugin (the suite itself
    loads only the built-ins), unless ``env`` sets ZOO_PLUGINS."""
    base = {k: v for k, v in os.environ.items() if k != "ZOO_PLUGINS"}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True,
                          text=True, env={**base, **(env or {})}, cwd=cwd, timeout=120)


def test_builtins_register_through_entry_points():
    registry = get_registry()
    assert {"cnn", "vit"} <= set(registry.models)
    assert {"digits", "sign-mnist"} <= set(registry.datasets)
    for name, kind in BUILTINS.items():
        info = registry.plugins[name]
        assert info.distribution == "keras-zoo" and info.version == zoo.__version__
        if kind == "metric":
            assert info.metrics == ["top_5_accuracy", "ece"]  # the core ones are zoo's own
        else:
            assert name in (info.models if kind == "model" else info.datasets)
        assert info.errors == []
    assert registry.models["cnn"].plugin == "cnn"
    module = plugins.pm.get_plugin("vit")
    assert module.__name__ == "zoo_plugins.vit"


def test_a_hook_that_raises_is_reported_and_the_rest_load(register_plugin):
    class Broken:
        @zoo.hookimpl
        def register_models(self, register):
            raise RuntimeError("boom")

    register_plugin(Broken(), "broken")
    registry = get_registry()
    assert registry.plugins["broken"].errors == ["register_models raised RuntimeError: boom"]
    assert {"cnn", "vit"} <= set(registry.models)


def test_a_name_already_taken_is_refused(register_plugin):
    class Clash:
        @zoo.hookimpl
        def register_models(self, register):
            register(zoo.ModelSpec(name="cnn", build=lambda s, n: None))

    register_plugin(Clash(), "clash")
    registry = get_registry()
    assert registry.models["cnn"].plugin == "cnn"
    assert "model 'cnn' is already registered by plugin 'cnn'" in registry.plugins["clash"].errors[0]


def test_a_misspelled_hook_is_reported_for_its_plugin(register_plugin):
    class Typo:
        @zoo.hookimpl
        def register_model(self, register):  # one letter short of register_models
            register(zoo.ModelSpec(name="typo", build=lambda s, n: None))

    register_plugin(Typo(), "typo")
    registry = get_registry()
    assert registry.plugins["typo"].errors == [
        "implements 'register_model', which is not a zoo hook; did you mean 'register_models'? "
        "(zoo's hooks: register_datasets, register_metrics, register_models)"]
    assert "typo" not in registry.models
    assert registry.plugins["cnn"].errors == []


def test_registering_the_wrong_thing(register_plugin):
    class Wrong:
        @zoo.hookimpl
        def register_datasets(self, register):
            register("not a spec")

    register_plugin(Wrong(), "wrong")
    errors = get_registry().plugins["wrong"].errors
    assert "register() takes a DatasetSpec, got str" in errors[0]


def test_test_plugins_register_and_unregister():
    from conftest import registered

    assert "tiny-x" not in get_registry().datasets
    with registered(TinyPlugin(name="tiny-x"), "tiny-x"):
        assert "tiny-x" in get_registry().datasets
    assert "tiny-x" not in get_registry().datasets
    assert plugins.pm.get_plugin("tiny-x") is None


def write_fake_distribution(folder, name, entry_points, modules):
    dist = folder / f"{name.replace('-', '_')}-1.2.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[zoo]\n" + "\n".join(
        f"{k} = {v}" for k, v in entry_points.items()) + "\n")
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(source)


def test_zoo_list_reports_a_plugin_that_fails_to_import(tmp_path):
    write_fake_distribution(tmp_path, "zoo-plugin-broken", {"broken": "zoo_broken_mod"},
                            {"zoo_broken_mod": "raise ImportError('missing dependency foo')\n"})
    result = zoo_cmd("list", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "broken" in result.stdout
    assert "ERROR: failed to import: ImportError: missing dependency foo" in result.stdout
    assert "cnn" in result.stdout and "model cnn" in result.stdout


def test_the_suite_ignores_plugins_installed_beside_it(tmp_path):
    write_fake_distribution(tmp_path, "zoo-plugin-extra", {"extra": "zoo_extra_mod"}, {
        "zoo_extra_mod": "import zoo\n\n@zoo.hookimpl\ndef register_models(register):\n"
                         "    register(zoo.ModelSpec(name='extra', build=lambda s, n: None))\n"})
    assert "model extra" in zoo_cmd("list", env={"PYTHONPATH": str(tmp_path)}).stdout
    test = "tests/test_cli.py::test_unknown_model_lists_known_ones_and_suggests"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", test],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-2000:]


def test_zoo_plugins_limits_what_loads():
    result = zoo_cmd("list", env={"ZOO_PLUGINS": "cnn,digits"})
    assert result.returncode == 0, result.stderr
    models = result.stdout.split("Models:")[1].split("Datasets")[0]
    assert "cnn" in models and "vit" not in models
    assert "sign-mnist" not in result.stdout.split("Datasets")[1]


def test_zoo_list_shows_availability_and_how_to_get_it(tmp_path):
    result = zoo_cmd("list", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("Datasets")[1].splitlines()
    sign = next(i for i, line in enumerate(lines) if line.strip().startswith("sign-mnist "))
    assert "unavailable" in lines[sign]
    assert "datamunge/sign-language-mnist" in lines[sign + 1]
    digits = next(line for line in lines if line.strip().startswith("digits "))
    assert " available" in digits


def test_zoo_list_does_not_import_tensorflow():
    code = ("import sys; from zoo.cli import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['list']); assert r.exit_code == 0, r.output; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_the_wheel_installs_no_top_level_plugins_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    wheel = next(tmp_path.glob("keras_zoo-*.whl"))  # the distribution is keras-zoo
    names = zipfile.ZipFile(wheel).namelist()
    assert not any(n.startswith("plugins/") for n in names)
    assert "zoo_plugins/cnn.py" in names and "zoo_plugins/vit.py" in names
    assert "zoo/templates/index.html" in names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[zoo]" in entry_points and "cnn = zoo_plugins.cnn" in entry_points
    assert "zoo = zoo.cli:main" in entry_points


class Loud:
    """A plugin whose texts carry terminal escape codes."""

    @zoo.hookimpl
    def register_models(self, register):
        register(zoo.ModelSpec(name="loud\x1b[2J", build=lambda s, n: None,
                               description="clears \x1b[31mthe screen\x1b]0;owned\x07\x07"))


def test_zoo_list_prints_no_control_characters_from_plugins(register_plugin):
    from click.testing import CliRunner

    from zoo.cli import cli

    register_plugin(Loud(), "loud")
    out = CliRunner().invoke(cli, ["list"]).output
    assert "\x1b" not in out and "\x07" not in out
    assert "loud [loud] clears the screen" in out


def test_zoo_list_shows_effective_defaults_and_every_metric(tmp_path):
    from click.testing import CliRunner

    from zoo.cli import cli

    (tmp_path / "zoo.toml").write_text("[models.vit]\npatch_size = 4\ndepth = 2\n")
    out = CliRunner().invoke(cli, ["list", "--config", str(tmp_path / "zoo.toml")]).output
    assert "options: patch_size=4 (zoo.toml) (an integer or None), dim=64, depth=2 (zoo.toml), " \
        "heads=4" in out
    assert "Metrics:" in out and "accuracy" in out
    assert "top_5_accuracy    [metrics] Top-5 accuracy, higher is better" in out
    assert "ece               [metrics] ECE (calibration), lower is better, draws a figure" in out
