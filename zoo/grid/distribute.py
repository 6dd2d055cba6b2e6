"""Choosing the tf.distribute strategy: every local GPU when there are two or more, the
default (single-device) strategy otherwise. ``--devices`` overrides."""
from __future__ import annotations

from zoo.backend import import_tf
from zoo.errors import ConfigError


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
        where += "; no GPU"
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
