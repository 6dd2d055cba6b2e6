"""zoo: which image-classification architecture is better on my data, and by how much?

The public API for plugins is what this module exports: ``hookimpl``, ``ModelSpec``,
``DatasetSpec``, ``MetricSpec``, ``Dataset`` and the errors. Everything else is the engine's business.
"""
import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("zoo")

from zoo.errors import ConfigError, DataError, PluginError, ZooError  # noqa: E402
from zoo.specs import Dataset, DatasetSpec, MetricSpec, ModelSpec  # noqa: E402

__all__ = [
    "__version__",
    "hookimpl",
    "Dataset",
    "DatasetSpec",
    "ModelSpec",
    "MetricSpec",
    "ZooError",
    "DataError",
    "ConfigError",
    "PluginError",
]
