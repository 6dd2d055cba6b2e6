"""The software and machine a cell ran on, saved with its facts. Versions are read from the
installed distributions, so asking costs no TensorFlow import."""
from __future__ import annotations

import functools
import importlib.metadata
import platform
import zoo
from zoo.backend import BACKENDS, current


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def environment() -> dict:
    """The software and machine, with the Keras backend this process runs (or will start)
    and its framework's version."""
    backend = current()
    return {**_software(), "backend": backend, "backend_version": _version(BACKENDS[backend])}


@functools.cache
def _software() -> dict:
    return {"zoo": zoo.__version__, "tensorflow": _version("tensorflow"),
            "keras": _version("keras"), "numpy": _version("numpy"),
            "scikit-learn": _version("scikit-learn"),
            "python": platform.python_version(), "machine": platform.machine(),
            "system": platform.system(), "processor": platform.processor()}
