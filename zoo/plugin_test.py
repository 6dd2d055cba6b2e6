"""A test kit for plugin authors: ``check_plugin`` and the ``zoo_plugin`` pytest fixture.

    from zoo.testing import check_plugin

    def test_my_plugin():
        check_plugin("resnet")                 # an entry-point name of the `zoo` group
        # or check_plugin(my_module) for a plugin object that is not installed

It works whether the plugin is pip-installed or not: the plugin is registered for the check
only (an installed one is used where it is). For every model the plugin registers it builds
the model for each of the plugin's datasets' shapes (or a small synthetic one) and checks the
output, trains one tiny epoch through zoo's own fold runner, saves the model and loads it
back with ``safe_mode=True`` (the predictions must agree); for every dataset it loads and
validates the arrays when the data is available. Every problem is collected and reported in
one AssertionError.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PluginCheck:
    """What :func:`check_plugin` did: one line per check, and the problems found."""
    plugin: str
    models: list = field(default_factory=list)
    datasets: list = field(default_factory=list)
    metrics: list = field(default_factory=list)
    passed: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    #: what may be wrong without failing the check (an option that changes nothing)
    warnings: list = field(default_factory=list)


def registry():
    """What the plugins registered right now: ``.models``, ``.datasets`` and ``.metrics``
    map names to the specs (zoo's own and every loaded or ``registered`` plugin's). The
    public way for a plugin's tests to look up what it registered."""
    from zoo.plugins import get_registry  # lazy: loaded by every pytest session as a plugin: kept light

    return get_registry()


@contextlib.contextmanager
def registered(plugin, name: str | None = None):
    """``plugin`` (an object, a module, or an entry-point name of the ``zoo`` group)
    registered with zoo's plugin manager for the ``with`` block; yields its name. An installed
    plugin that is registered already is used as it is and left registered."""
    from zoo import plugins  # lazy: loaded by every pytest session as a plugin: kept light

    plugins.load_entry_points()
    if isinstance(plugin, str):
        found = [ep for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)
                 if ep.name == plugin]
        if not found:
            raise LookupError(f"no entry point '{plugin}' in the 'zoo' group: is the plugin "
                              "installed (pip install -e .)?")
        name, plugin = plugin, found[0].load()
    if plugins.pm.is_registered(plugin):
        yield plugins.pm.get_name(plugin)
        return
    name = name or getattr(plugin, "__name__", type(plugin).__name__)
    plugins.pm.register(plugin, name=name)
    try:
        yield name
    finally:
        plugins.pm.unregister(name=name)


def _tiny(input_shape, num_classes, seed=0):
    """A small learnable dataset of ``input_shape`` images: class c brightens band c."""
    import zoo  # lazy: loaded by every pytest session as a plugin: kept light

    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(num_classes), 6)
    x = rng.uniform(0, 0.3, (len(y), *input_shape)).astype(np.float32)
    rows = input_shape[0]
    for i, c in enumerate(y):
        x[i, (c * rows) // num_classes] += 0.6
    return zoo.Dataset(name="zoo-plugin-test", x=np.clip(x, 0, 1), y=y.astype(np.int64),
                       class_names=[f"c{i}" for i in range(num_classes)],
                       source="made up by zoo.plugin_test")


def check_plugin(plugin, data_dir=None, shapes=(((8, 8, 1), 3),)) -> PluginCheck:
    """Check every model, dataset and metric ``plugin`` registers (see the module docstring).

    ``plugin``: a plugin object or module, or an entry-point name of the ``zoo`` group.
    ``data_dir``: where its datasets look for files. ``shapes``: the (input shape, number of
    classes) pairs its models are built and trained for when none of its own datasets is
    available; the default is one small synthetic dataset of 8x8 grayscale images, 3 classes
    (``(((8, 8, 1), 3),)``). Pass e.g. ``(((28, 28, 1), 24), ((32, 32, 3), 10))`` for models
    meant for larger or colour images. Raises AssertionError listing every problem."""
    from zoo.plugins import get_registry  # lazy: loaded by every pytest session as a plugin: kept light

    with registered(plugin) as name:
        registry = get_registry()
        info = registry.plugins.get(name)
        check = PluginCheck(plugin=name)
        if info is None:
            raise AssertionError(f"plugin {name!r} is not registered with zoo")
        _what_it_registers(check, info, registry)
        for spec in check.metrics:
            _check_metric(spec, check)
        found = [shape for spec in check.datasets
                 for shape in _check_dataset(spec, name, data_dir, check)]
        found += _sibling_shapes(info, registry, data_dir)
        to_check = list(dict.fromkeys(found)) or list(shapes)
        for spec in check.models:
            refused = [r for shape in to_check if (r := _check_model(spec, *shape, check))]
            if refused and len(refused) == len(to_check):
                check.problems.append(f"model {spec.name} builds on none of the shapes "
                                      f"checked: {'; '.join(refused)}")
            else:
                _check_options(spec, to_check[0], check)
    if check.problems:
        raise AssertionError(f"plugin {name}: " + "; ".join(check.problems))
    return check


def _check_options(spec, shape, check: PluginCheck) -> None:
    """Each option of the model built at its default and at another value: an option whose
    other value builds the same architecture (a ``build`` that ignores it) is a warning, as
    `zoo run` warns of two such variants."""
    # lazy: loaded by every pytest session as a plugin: kept light
    from zoo import options
    from zoo.grid.checks import check_models

    for name, default in options.accepted(spec).items():
        other = _another(default)
        if other is None:
            continue
        try:
            variants = [options.variant(spec, {name: v}, name=f"{spec.name}:{name}={v!r}")
                        for v in (default, other)]
        except Exception:   # a value the option refuses: nothing to compare
            continue
        lines = []
        if not check_models(variants, [shape], warn=lines.append):
            check.warnings += [f"model {spec.name}: {line}" for line in lines]


def _another(default):
    """A value other than an option's default, of its type (None: no obvious one)."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default * 2 if default else 1
    if isinstance(default, float):
        return default / 2 if default else 0.5
    return None


def _sibling_shapes(info, registry, data_dir) -> list:
    """The (input shape, classes) of the available datasets that other plugins of the same
    distribution register: the data its models are meant for (their own check validates
    them; here they only lend their shapes)."""
    out = []
    for other in registry.plugins.values():
        if other is info or not info.distribution or other.distribution != info.distribution:
            continue
        for name in other.datasets:
            spec = registry.datasets[name]
            try:
                if spec.check_available(data_dir)[0]:
                    ds = spec.load(data_dir).validate(plugin=other.name)
                    out.append((ds.input_shape, ds.num_classes))
            except Exception:   # reported by that plugin's own check
                continue
    return out


def _what_it_registers(check: PluginCheck, info, registry) -> None:
    """The plugin's models, datasets and metrics into ``check``, with its loading errors."""
    check.problems += list(info.errors)
    check.models = [registry.models[m] for m in info.models]
    check.datasets = [registry.datasets[d] for d in info.datasets]
    check.metrics = [registry.metrics[m] for m in info.metrics]
    if not (check.models or check.datasets or check.metrics or check.problems):
        check.problems.append(f"plugin {check.plugin} registers no model, dataset or metric")


def _check_dataset(spec, plugin: str, data_dir, check: PluginCheck) -> list:
    """Load and validate a dataset when its data is here: [(input shape, classes)], or []."""
    ok, why = spec.check_available(data_dir)
    if not ok:
        check.passed.append(f"dataset {spec.name}: not available here ({why})")
        return []
    try:
        ds = spec.load(data_dir).validate(plugin=plugin)
    except Exception as exc:   # a ZooError or a plugin's bug alike: a problem to report
        check.problems.append(f"dataset {spec.name}: {type(exc).__name__}: {exc}")
        return []
    check.passed.append(f"dataset {spec.name}: {len(ds.y)} images of {ds.input_shape}, "
                        f"{ds.num_classes} classes, valid")
    return [(ds.input_shape, ds.num_classes)]


def _check_metric(spec, check: PluginCheck) -> None:
    """A plugin's metric on made-up predictions (5 classes, 60 images; good, poor and
    perfect): each must give a finite number."""
    from zoo.grid.fakes import fake_probs  # lazy: loaded by every pytest session: kept light
    from zoo.metrics import _plugin_value  # lazy: loaded by every pytest session: kept light

    rng = np.random.default_rng(0)
    y = np.arange(60) % 5
    for what, prob in (("good", fake_probs(rng, y, 5, 0.9)), ("poor", fake_probs(rng, y, 5, 0.3)),
                       ("perfect", np.eye(5, dtype=np.float32)[y])):
        value, problem = _plugin_value(spec, y, prob, 5)
        if problem:
            check.problems.append(f"metric {spec.name} on {what} predictions {problem}")
            return
    check.passed.append(f"metric {spec.name}: a finite number on good, poor and perfect "
                        "predictions")


def _check_model(spec, input_shape, num_classes, check: PluginCheck) -> str:
    """Build, train an epoch, save and reload ``spec`` for one shape; problems go into
    ``check``. Returns why the model refused the shape (a ConfigError), or ''."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    # lazy: loaded by every pytest session as a plugin: kept light
    from zoo.errors import ConfigError, PluginError
    # lazy: loaded by every pytest session as a plugin: kept light
    from zoo.grid.protocol import Protocol, make_splits
    from zoo.grid.checks import build_checked  # lazy: loaded by every pytest session as a plugin: kept light
    from zoo.grid.modelio import round_trip  # lazy: loaded by every pytest session as a plugin: kept light
    from zoo.grid.train import FoldRunner  # lazy: loaded by every pytest session as a plugin: kept light

    where = f"model {spec.name} on {tuple(input_shape)} x {num_classes} classes"
    try:
        build_checked(spec, input_shape, num_classes)
    except PluginError as exc:
        check.problems.append(str(exc))
        return ""
    except ConfigError as exc:   # a shape the model refuses: `zoo run` skips it there
        check.passed.append(f"{where}: refused ({exc}); `zoo run` skips it on such a "
                            "dataset")
        return f"{tuple(input_shape)}: {exc}"
    finally:
        keras.backend.clear_session()
    ds = _tiny(tuple(input_shape), num_classes)
    protocol = Protocol(folds=2, epochs=1, batch_size=8, lr=1e-3)
    try:
        trained = FoldRunner(spec, ds, protocol).run(0, make_splits(ds.y, protocol))
    except Exception as exc:
        check.problems.append(f"{where}: one epoch of training raised "
                              f"{type(exc).__name__}: {exc}")
        return ""
    facts, model = trained.facts, trained.model
    if not facts.ok or model is None:
        check.problems.append(f"{where}: training {facts.status}: {facts.reason}")
        return ""
    try:
        again = round_trip(model, spec.custom_objects() if spec.custom_objects else None)
    except Exception as exc:
        check.problems.append(f"{where}: saving and loading with safe_mode=True failed: "
                              f"{type(exc).__name__}: {str(exc)[:300]}")
        return ""
    x = np.asarray(ds.x[:4], dtype=np.float32) / (255 if ds.x.dtype == np.uint8 else 1)
    if not np.allclose(model.predict_on_batch(x), again.predict_on_batch(x), atol=1e-5):
        check.problems.append(f"{where}: the reloaded model predicts differently")
        return ""
    keras.backend.clear_session()
    check.passed.append(f"{where}: builds, trains an epoch, saves and reloads safely")
    return ""


def _pytest_fixture():
    import pytest  # lazy: only inside a pytest session

    @pytest.fixture
    def zoo_plugin():
        """Register plugin objects (or entry-point names) for one test:
        ``zoo_plugin(obj)`` returns the name it is registered under."""
        with contextlib.ExitStack() as stack:
            yield lambda plugin, name=None: stack.enter_context(registered(plugin, name))

    return zoo_plugin


try:  # the fixture, for pytest (loaded through the pytest11 entry point)
    zoo_plugin = _pytest_fixture()
except ImportError:  # pytest is not installed: check_plugin still works
    pass
