"""Where training runs, per Keras backend: TensorFlow's ``tf.distribute`` (every local GPU when
there are two or more, else the default single-device strategy), JAX's
``keras.distribution.DataParallel`` over the chosen devices, and one device on PyTorch (Keras'
distribution API has no data parallelism on torch). ``--devices`` overrides the choice.

:func:`choose_strategy` hands back a :class:`Placement`, the one thing the fold runner knows
of it: a ``scope()`` to build models in and the number of replicas a global batch is split
over."""
from __future__ import annotations

import contextlib
import os

from zoo.backend import current, import_tf
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


class Placement:
    """Where one process trains: the backend, a scope to build models in, the replicas a
    global batch is split over, and the devices (as '/cpu:0', '/gpu:1'). ``strategy`` is the
    tf.distribute strategy on TensorFlow, ``distribution`` Keras' on JAX (None: one device)."""

    def __init__(self, backend: str, devices, replicas: int = 1, strategy=None,
                 distribution=None, gpus=(), kind: str = "one device"):
        self.backend, self.devices, self.replicas = backend, list(devices), int(replicas)
        self.strategy, self.distribution, self.gpus = strategy, distribution, list(gpus)
        self.kind = kind

    @property
    def num_replicas_in_sync(self) -> int:
        return self.replicas

    def scope(self):
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()   # torch: the device is chosen in _torch


def choose_strategy(devices=None) -> Placement:
    """Where this process trains on its Keras backend, for ``devices`` (see
    :func:`parse_devices`). ConfigError for a device that is not here, or several devices on
    a backend that trains on one."""
    if isinstance(devices, str) or devices is None:
        devices = parse_devices(devices)
    backend = current()
    if backend == "jax":
        return _jax(devices)
    if backend == "torch":
        return _torch(devices)
    return _tensorflow(devices)


def _tensorflow(devices) -> Placement:
    return as_placement(_tf_strategy(import_tf(), devices))


def _tf_strategy(tf, devices):
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) >= 2:
            return tf.distribute.MirroredStrategy([g.name for g in gpus])
        return tf.distribute.get_strategy()
    visible = {"/" + d.name.lower().rsplit("device:", 1)[-1].lstrip("/")
               for d in tf.config.list_logical_devices()}
    _check_visible(devices, visible)
    if len(devices) == 1:
        return tf.distribute.OneDeviceStrategy(devices[0])
    # NCCL all-reduce needs GPUs; with any CPU device reduce through one device instead.
    # (The default collective all-reduce also aborts synchronized BatchNorm on an uneven
    # batch; zoo drops the ragged last training batch under several replicas anyway.)
    ops = None
    if any(d.startswith("/cpu") for d in devices):
        ops = tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)


def _check_visible(devices, visible) -> None:
    for d in devices:
        if d not in visible:
            raise ConfigError(f"--devices: {d} is not visible here; visible devices: "
                              + ", ".join(sorted(visible)))


def _jax(devices) -> Placement:
    """JAX: ``keras.distribution.DataParallel`` over two or more devices (every GPU when
    there are several, or the ``--devices`` list: 2 host CPUs with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=2``), else the default device."""
    import jax  # lazy: only the JAX backend needs it
    import keras  # lazy: Keras starts its backend (4 s); only training needs it

    gpus = [f"/gpu:{d.id}" for d in jax.devices() if d.platform == "gpu"]
    visible = {f"/{'gpu' if d.platform == 'gpu' else 'cpu'}:{d.id}" for d in jax.devices()}
    visible |= {f"/cpu:{d.id}" for d in jax.devices("cpu")}
    if devices is None:
        devices = gpus if len(gpus) >= 2 else [gpus[0] if gpus else "/cpu:0"]
    _check_visible(devices, visible)
    if len(devices) == 1:
        keras.distribution.set_distribution(None)
        return Placement("jax", devices, gpus=gpus)
    names = [d.lstrip("/") for d in devices]
    distribution = keras.distribution.DataParallel(devices=names)
    keras.distribution.set_distribution(distribution)
    return Placement("jax", devices, len(devices), distribution=distribution, gpus=gpus,
                     kind="DataParallel")


def _torch(devices) -> Placement:
    """PyTorch: one device (the first GPU when there is one). Keras' data parallelism
    (keras.distribution) is for JAX; several devices are refused with a clear error."""
    import torch  # lazy: only the torch backend needs it

    gpus = [f"/gpu:{i}" for i in range(torch.cuda.device_count())]
    if devices is not None and len(devices) > 1:
        raise ConfigError(f"--devices: {', '.join(devices)}: on the torch backend zoo trains on "
                          "one device (Keras' data parallelism is for JAX and TensorFlow); "
                          "pass one, or --backend jax")
    if devices is None:
        devices = gpus[:1] or ["/cpu:0"]
    _check_visible(devices, set(gpus) | {"/cpu:0"})
    if devices[0].startswith("/gpu"):
        torch.cuda.set_device(int(devices[0].rsplit(":", 1)[-1]))
    elif gpus:   # Keras on torch trains on the GPU whenever there is one
        raise ConfigError("--devices cpu: on the torch backend Keras trains on the GPU when "
                          "there is one; hide it (CUDA_VISIBLE_DEVICES=) to train on the CPU")
    return Placement("torch", devices, gpus=gpus)


def describe(strategy) -> dict:
    """What the report says about where a run trained (a Placement, or a bare tf.distribute
    strategy)."""
    strategy = as_placement(strategy)
    return {"backend": strategy.backend, "strategy": strategy.kind,
            "replicas": strategy.replicas, "devices": list(strategy.devices),
            "gpus": list(strategy.gpus)}


def as_placement(strategy) -> Placement:
    """A tf.distribute strategy as a Placement (a Placement as it is)."""
    if isinstance(strategy, Placement):
        return strategy
    tf = import_tf()
    try:
        names = [str(d) for d in strategy.extended.worker_devices]
    except (RuntimeError, AttributeError):  # the default strategy has no device list
        names = []
    names = names or [d.name for d in tf.config.list_logical_devices("GPU")[:1]] or ["/cpu:0"]
    return Placement("tensorflow", names, strategy.num_replicas_in_sync, strategy=strategy,
                     gpus=[d.name for d in tf.config.list_physical_devices("GPU")],
                     kind=type(strategy).__name__)


def where_line(strategy) -> str:
    """One plain line on where training runs (TensorFlow's own start-up lines are hidden)."""
    d = describe(strategy)
    how = "one device" if d["replicas"] == 1 else f"{d['strategy']}, {d['replicas']} replicas"
    where = f"backend: {d['backend']}; devices: {', '.join(d['devices'])} ({how})"
    if not d["gpus"]:
        where += "; no GPU"
    return where


def limit_threads(threads: int) -> None:
    """Cap the backend's thread pools at ``threads`` (a Ray task's CPUs) and, on TensorFlow,
    let GPUs grow their memory as needed, so that fractional GPUs can share one card. Call
    it before the backend runs anything."""
    backend = current()
    if backend == "torch":
        import torch  # lazy: only the torch backend needs it

        torch.set_num_threads(threads)
        return
    if backend == "jax":   # XLA's CPU pool is sized when JAX starts: set before it does
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       f"intra_op_parallelism_threads={threads}").strip()
        return
    tf = import_tf()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
