"""Choosing the tf.distribute strategy: every local GPU when there are two or more, the
default (single-device) strategy otherwise. ``--devices`` overrides."""
from __future__ import annotations

import contextlib
import os
import re
import tempfile

from zoo.errors import ConfigError


#: set by :func:`import_tf` when TensorFlow's start-up said that CUDA is unusable here
NO_GPU = {"seen": False}

# TensorFlow's start-up lines that say nothing a zoo user can act on (absl's preamble, the
# CUDA probes of the full wheel on a CPU-only machine, CPU feature notes). Anything else
# TensorFlow prints while starting is passed on.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions"
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
    import sys

    if "tensorflow" in sys.modules and NO_GPU.get("checked"):
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _captured_stderr() as captured:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA is probed here, once
    text = captured["text"]
    # every model a search builds traces its own predict function: TensorFlow's warning
    # that "tracing is expensive" says nothing a zoo user can act on
    tf.get_logger().addFilter(lambda record: "triggered tf.function retracing"
                              not in record.getMessage())
    NO_GPU.update(checked=True, seen=bool(_CUDA_MISSING.search(text)))
    kept = [line for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
    return tf


@contextlib.contextmanager
def _captured_stderr():
    """Redirect file descriptor 2 (where TensorFlow's C++ code writes) to a temporary file;
    yields a dict whose "text" is what was written, once the block ends."""
    import sys

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


def parse_devices(spec: str | None):
    """'auto' / None -> None; 'cpu' -> ['/cpu:0']; 'gpu:0,gpu:1' -> device names."""
    if spec is None or spec.strip().lower() in ("", "auto"):
        return None
    if spec.strip().lower() == "cpu":
        return ["/cpu:0"]
    names = [d.strip() for d in spec.split(",") if d.strip()]
    out = []
    for name in names:
        kind, _, index = name.lower().lstrip("/").replace("device:", "").partition(":")
        if kind not in ("cpu", "gpu") or not index.isdigit():
            raise ConfigError(f"--devices: '{name}' is not a device; expected 'auto', 'cpu', "
                              "or a comma-separated list like 'gpu:0,gpu:1'")
        out.append(f"/{kind}:{index}")
    return out


def choose_strategy(devices=None):
    """Return a tf.distribute strategy for ``devices`` (see :func:`parse_devices`)."""
    tf = import_tf()
    if isinstance(devices, str) or devices is None:
        devices = parse_devices(devices)
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) >= 2:
            return tf.distribute.MirroredStrategy([g.name for g in gpus])
        return tf.distribute.get_strategy()
    visible = {"/" + d.name.lower().rsplit("device:", 1)[-1].lstrip("/")
               for d in tf.config.list_logical_devices()}
    for d in devices:
        if d not in visible:
            raise ConfigError(f"--devices: {d} is not visible here; visible devices: "
                              + ", ".join(sorted(visible)))
    if len(devices) == 1:
        return tf.distribute.OneDeviceStrategy(devices[0])
    # NCCL all-reduce needs GPUs; with any CPU device reduce through one device instead.
    # (The default collective all-reduce also aborts synchronized BatchNorm on an uneven
    # batch; zoo drops the ragged last training batch under several replicas anyway.)
    ops = None
    if any(d.startswith("/cpu") for d in devices):
        ops = tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)


def describe(strategy) -> dict:
    """What the report says about where a run trained."""
    tf = import_tf()
    try:
        devices = list(strategy.extended.worker_devices)
    except (RuntimeError, AttributeError):  # the default strategy has no device list
        devices = []
    if not devices:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")[:1]] or ["/cpu:0"]
    return {
        "strategy": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "devices": [str(d) for d in devices],
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def where_line(strategy) -> str:
    """One plain line on where training runs (TensorFlow's own start-up lines are hidden)."""
    d = describe(strategy)
    how = "one device" if d["replicas"] == 1 else f"{d['strategy']}, {d['replicas']} replicas"
    where = f"devices: {', '.join(d['devices'])} ({how})"
    if not d["gpus"]:
        where += "; no GPU found" + (" (CUDA could not start)" if NO_GPU["seen"] else "")
    return where


def limit_threads(threads: int) -> None:
    """Cap TensorFlow's thread pools at ``threads`` (a Ray task's CPUs) and let GPUs grow
    their memory as needed, so that fractional GPUs can share one card. Call it before
    TensorFlow runs anything."""
    tf = import_tf()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
