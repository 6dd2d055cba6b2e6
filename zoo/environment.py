"""The software and machine a cell ran on, saved with its facts. Versions are read from the
installed distributions, so asking costs no TensorFlow import."""
from __future__ import annotations

import functools
import importlib.metadata
import platform
import zoo


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


@functools.cache
def environment() -> dict:
    return {"zoo": zoo.__version__, "tensorflow": _version("tensorflow"),
            "keras": _version("keras"), "numpy": _version("numpy"),
            "scikit-learn": _version("scikit-learn"),
            "python": platform.python_version(), "machine": platform.machine(),
            "system": platform.system(), "processor": platform.processor()}
