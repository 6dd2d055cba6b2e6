"""The Keras backend's framework started quietly: ``zoo.import_tensorflow()`` (public, for
dataset plugins that decode with TensorFlow) and the run's own TensorFlow import go through
:func:`import_tf`, which keeps TensorFlow's start-up noise out of zoo's output."""
from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import tempfile
import sys

from zoo.errors import ConfigError

#: set by :func:`import_tf` when TensorFlow's start-up said that CUDA is unusable here
NO_GPU = {"seen": False}

# TensorFlow's start-up lines that say nothing a zoo user can act on (absl's preamble, the
# CUDA probes of the full wheel on a CPU-only machine, CPU feature notes). Anything else
# TensorFlow prints while starting is passed on.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions"
    r"|Token authentication is enabled for this Ray cluster"   # Ray 2.60's ray.init
    r"|[IW]\d{4} \d\d:\d\d:\d\d"                        # absl INFO / WARNING lines
    r"|E\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ cuda_\w+\.cc"        # CUDA probe errors
    r"|.*(cuInit|cuda drivers|Unable to register cu(DNN|FFT|BLAS)|TF-TRT Warning))")
_CUDA_MISSING = re.compile(r"cuInit|Could not find cuda drivers")


def import_tf():
    """Import TensorFlow with its start-up noise kept out of zoo's output.

    The full ``tensorflow`` wheel prints absl preambles and ``failed call to cuInit`` lines
    on every CPU-only machine, below TF_CPP_MIN_LOG_LEVEL's reach. They are captured while
    TensorFlow starts (import and device discovery) and dropped; anything else is passed on.
    """
    if "tensorflow" in sys.modules and NO_GPU.get("checked"):
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _captured_stderr() as captured:
        import tensorflow as tf  # lazy: TensorFlow starts in seconds; only training needs it

        tf.config.list_physical_devices("GPU")  # CUDA is probed here, once
    text = captured["text"]
    # every model a search builds traces its own predict function: TensorFlow's warning
    # that "tracing is expensive" says nothing a zoo user can act on
    tf.get_logger().addFilter(lambda record: "triggered tf.function retracing"
                              not in record.getMessage())
    NO_GPU.update(checked=True, seen=bool(_CUDA_MISSING.search(text)))
    _pass_on(text)
    return tf


@contextlib.contextmanager
def _captured_stderr():
    """Redirect file descriptor 2 (where TensorFlow's C++ code writes) to a temporary file;
    yields a dict whose "text" is what was written, once the block ends."""
    out = {"text": ""}
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out["text"] = tmp.read().decode("utf-8", errors="replace")


@contextlib.contextmanager
def start_up_quietly():
    """Within the block, what is written to standard error (file descriptor 2: C++ code and
    child processes too) is held back, and only the lines that are not start-up noise
    (:data:`_NOISE`: absl preambles, CUDA probes, Ray's token notice) are passed on when it
    ends. For starting TensorFlow or a local Ray instance."""
    with _captured_stderr() as captured:
        yield
    _pass_on(captured["text"])


def _pass_on(text: str) -> None:
    """Write to standard error the lines of ``text`` that are not start-up noise."""
    kept = [line for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")


# -- which Keras backend -------------------------------------------------------------------

#: the Keras backends zoo runs on, with the distribution each needs
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: how to install a backend that is missing
EXTRAS = {"tensorflow": "pip install keras-zoo", "jax": "pip install 'keras-zoo[jax]'",
          "torch": "pip install 'keras-zoo[torch]'"}


def installed() -> dict:
    """{backend: its framework's version, or '' when it is not installed}, read from the
    installed distributions (nothing is imported)."""
    out = {}
    for name, dist in BACKENDS.items():
        try:
            out[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[name] = ""
    return out


def requested(flag=None, toml=None) -> str:
    """The backend asked for: ``--backend`` over zoo.toml's ``backend`` over
    ``$KERAS_BACKEND``, else tensorflow. ConfigError for a name Keras has no backend of."""
    for value, where in ((flag, "--backend"), ((toml or {}).get("backend"), "zoo.toml backend"),
                         (os.environ.get("KERAS_BACKEND") or None, "KERAS_BACKEND")):
        if value is None:
            continue
        if not isinstance(value, str) or value.strip().lower() not in BACKENDS:
            raise ConfigError(f"{where}: expected one of {', '.join(BACKENDS)}, got {value!r}")
        return value.strip().lower()
    return "tensorflow"


def use(name: str) -> str:
    """Make ``name`` the Keras backend of this process, before Keras is imported (Keras reads
    ``KERAS_BACKEND`` once, when it starts). ConfigError when the backend is not installed or
    Keras already runs on another one here."""
    if not installed().get(name):
        raise ConfigError(f"--backend {name}: {name} is not installed here; "
                          f"{EXTRAS[name]} installs it")
    started = _started()
    if started is not None and started != name:
        raise ConfigError(f"--backend {name}: Keras already runs on {started} in this "
                          f"process; start it with KERAS_BACKEND={name} (a process runs one "
                          "Keras backend)")
    os.environ["KERAS_BACKEND"] = name
    return name


def current() -> str:
    """The Keras backend of this process: Keras' own once it has started, else the one
    ``KERAS_BACKEND`` will start (tensorflow when unset)."""
    return _started() or (os.environ.get("KERAS_BACKEND") or "tensorflow").strip().lower()


def _started():
    """The backend Keras runs on in this process, or None before Keras is imported."""
    backend = getattr(getattr(sys.modules.get("keras"), "backend", None), "backend", None)
    return backend() if backend is not None else None


def start_keras():
    """Import Keras on this process's backend; TensorFlow, when it is the backend, first and
    quietly (a bare ``import keras`` would start it with its noise)."""
    if current() == "tensorflow":
        import_tf()
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    if keras.backend.backend() != "tensorflow" and "tensorflow" not in sys.modules:
        _keras_without_tensorflow()
    return keras


def _keras_without_tensorflow() -> None:
    """On JAX or PyTorch, keep Keras from importing TensorFlow (7-14 s, and its start-up
    noise) only to ask whether an object it saves is a TensorFlow shape or dtype: with
    TensorFlow not imported, none can be. Keras' lazy module is private API; if it changes,
    TensorFlow is merely imported as before. Code that really uses TensorFlow (a plugin's
    text layers) still imports it on first use."""
    try:
        from keras.src.utils import module_utils  # lazy: Keras is started by the caller

        if module_utils.tensorflow.module is None:
            module_utils.tensorflow._available = False
    except (ImportError, AttributeError):
        pass
