"""zoo: which image-classification architecture is better on my data, and by how much?

From Python: ``zoo.run([...], datasets=[...], **settings)``, ``zoo.report()``, ``zoo.runs()``
and ``zoo.diff(a, b)`` (zoo.api),
loaded on first use so that ``import zoo`` stays light for plugins.

The public API for plugins is what this module exports (``__all__``): ``hookimpl``, the specs a
plugin hands over (``ModelSpec``, ``DatasetSpec``, ``MetricSpec``, ``Dataset``), the errors,
and the readers of label + pixel tables a dataset plugin may need; zoo.testing holds the test
kit. zoo's own plugins (plugins/) use nothing else. Everything else is the engine's business.
"""
import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("zoo")

from zoo.csvdata import read_image_npz, read_label_pixel_csv  # noqa: E402
from zoo.backend import current as keras_backend, import_tf as import_tensorflow  # noqa: E402
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
    "read_label_pixel_csv",
    "read_image_npz",
    "import_tensorflow",
    "keras_backend",
]


def __getattr__(name: str):
    """``zoo.run``, ``zoo.report``, ``zoo.runs``, ``zoo.diff`` and ``zoo.Run`` (zoo.api),
    loaded on first use."""
    if name in ("run", "report", "runs", "diff", "Run"):
        # lazy: `import zoo` stays light for plugins; the API loads the whole engine
        from zoo import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
