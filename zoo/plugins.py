"""The plugin manager: entry points of the ``zoo`` group, isolated so one bad plugin never
stops the others. ``ZOO_PLUGINS=a,b`` limits which entry points load."""
from __future__ import annotations

import difflib
import importlib.metadata
import os
from dataclasses import dataclass, field

import pluggy

from zoo import hookspecs, metrics
from zoo.errors import PluginError
from zoo.specs import DatasetSpec, MetricSpec, ModelSpec

ENTRY_POINT_GROUP = "zoo"
#: the distribution of zoo itself, whose built-in plugins load first
DISTRIBUTION = "keras-zoo"

pm = pluggy.PluginManager("zoo")
pm.add_hookspecs(hookspecs)

#: entry-point name -> (distribution name, version) for everything loaded from entry points
_DISTS: dict = {}
#: entry-point name -> error text for plugins that failed to import
LOAD_ERRORS: dict = {}
_loaded = False


def _allowed():
    value = os.environ.get("ZOO_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def load_entry_points(force: bool = False) -> None:
    """Import and register every plugin of the ``zoo`` entry-point group (once)."""
    global _loaded
    if _loaded and not force:
        return
    _loaded = True
    allowed = _allowed()
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=_order):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None or ep.name in LOAD_ERRORS:
            continue
        dist = getattr(ep, "dist", None)
        _DISTS[ep.name] = (dist.metadata["Name"], dist.version) if dist else ("", "")
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            LOAD_ERRORS[ep.name] = f"{type(exc).__name__}: {exc}"


def _order(ep) -> tuple:
    """zoo's own plugins first, then the others by distribution and name: the order models
    and datasets are listed and run in, whatever order the file system lists them."""
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist else ""
    return (name != DISTRIBUTION, name, ep.name)


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    hooks: list = field(default_factory=list)
    models: list = field(default_factory=list)
    datasets: list = field(default_factory=list)
    metrics: list = field(default_factory=list)
    errors: list = field(default_factory=list)


@dataclass
class Registry:
    """What the loaded plugins registered, and what went wrong on the way."""

    models: dict = field(default_factory=dict)
    datasets: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    plugins: dict = field(default_factory=dict)

    @property
    def errors(self) -> list:
        return [(p.name, e) for p in self.plugins.values() for e in p.errors]

    def custom_objects(self, model: str):
        """The custom objects a kept model of the registered model ``model`` (its base
        name) needs to load, or None."""
        spec = self.models.get(model)
        return spec.custom_objects() if spec and spec.custom_objects else None


def _info(registry: Registry, name: str) -> PluginInfo:
    if name not in registry.plugins:
        dist, version = _DISTS.get(name, ("", ""))
        if not version:
            plugin = pm.get_plugin(name)
            version = str(getattr(plugin, "__version__", "")) if plugin is not None else ""
        registry.plugins[name] = PluginInfo(name=name, distribution=dist, version=version)
    return registry.plugins[name]


def _collect(registry: Registry, hook_name: str, kind, target: dict, what: str) -> None:
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order
        info = _info(registry, impl.plugin_name)
        info.hooks.append(hook_name)

        def register(spec, _info=info):
            if not isinstance(spec, kind):
                raise PluginError(f"register() takes a {kind.__name__}, got {type(spec).__name__}")
            if not isinstance(spec.name, str) or not spec.name.strip():
                raise PluginError(f"a {what} needs a non-empty name, got {spec.name!r}")
            if spec.name in target:
                owner = target[spec.name].plugin
                owner = "zoo itself" if owner == metrics.CORE_PLUGIN else f"plugin '{owner}'"
                _info.errors.append(f"{what} '{spec.name}' is already registered by {owner}; "
                                    "this one was ignored")
                return
            spec.plugin, spec.version = _info.name, _info.version
            target[spec.name] = spec
            getattr(_info, what + "s").append(spec.name)

        try:
            impl.function(register=register)
        except Exception as exc:
            info.errors.append(f"{hook_name} raised {type(exc).__name__}: {exc}")


def get_registry() -> Registry:
    """Load plugins (once) and collect every model, dataset and metric they register, after
    zoo's core metrics (scored whatever plugins load)."""
    load_entry_points()
    registry = Registry(metrics=metrics.core_specs())
    for name, error in LOAD_ERRORS.items():
        _info(registry, name).errors.append(f"failed to import: {error}")
    for name in [n for n, _ in pm.list_name_plugin()]:
        _info(registry, name)
    _collect(registry, "register_models", ModelSpec, registry.models, "model")
    _collect(registry, "register_datasets", DatasetSpec, registry.datasets, "dataset")
    _collect(registry, "register_metrics", MetricSpec, registry.metrics, "metric")
    for plugin, error in unknown_hooks():
        _info(registry, plugin).errors.append(error)
    return registry


def unknown_hooks() -> list:
    """(plugin, error) for every hook implementation that matches no zoo hook (a misspelled
    ``register_model``, say), which pluggy would otherwise leave uncalled without a word."""
    try:
        pm.check_pending()
        return []
    except pluggy.PluginValidationError:
        pass
    known = sorted(n for n in dir(hookspecs) if n.startswith("register_"))
    out = []
    for name, caller in vars(pm.hook).items():
        if getattr(caller, "spec", True) is None:
            for impl in caller.get_hookimpls():
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                out.append((impl.plugin_name, f"implements '{name}', which is not a zoo hook"
                            f"{hint} (zoo's hooks: {', '.join(known)})"))
    return out
