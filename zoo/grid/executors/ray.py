"""The cells on Ray: one actor per concurrent slot, on this machine or a cluster.

Each actor keeps its compiled model across the cells of one (dataset, model) it runs, and
is handed such cells first when it is free. The data goes to Ray's object store once per
dataset. A cell whose worker dies is run again on a fresh worker (``retries`` times); the
engine's Ctrl-C cancels what is outstanding. The driver keeps the store: a worker hands its
outcome (facts, arrays, the kept model as bytes) back.
"""
from __future__ import annotations

import math
import mmap
import os
import socket

import numpy as np

from zoo.grid import interrupt
from zoo.backend import current, start_up_quietly
from zoo.grid.cells import Cell, Outcome, RunnerCache, run_cell
from zoo.errors import ConfigError, PluginError
from zoo.grid.executors.base import Executor, import_ray

#: seconds between checks for Ctrl-C while waiting for an outcome (a SIGINT that arrived
#: inside ray.wait was lost now and then under load, so the driver checks itself)
POLL = 0.5


class RayExecutor(Executor):
    """``address``: 'auto' or 'HOST:PORT' of a running head; None starts a local instance
    on 127.0.0.1. ``cpus_per_task`` also caps TensorFlow's thread pools in each task;
    ``gpus_per_task`` may be a fraction (four cells on one GPU at 0.25). ``runners``: what
    makes the runner factory on each worker, called as ``runners(devices, verbose)``
    (default zoo.grid.train.RunnerFactory; the local executor takes the same)."""

    def __init__(self, address=None, cpus_per_task: float = 1, gpus_per_task: float = 0,
                 devices=None, retries: int = 2, runtime_env=None, runners=None):
        if not _finite(cpus_per_task) or not cpus_per_task > 0:
            raise ConfigError(f"--cpus-per-task: expected a number > 0, got {cpus_per_task!r}")
        if not _finite(gpus_per_task) or not gpus_per_task >= 0:
            raise ConfigError(f"--gpus-per-task: expected a number >= 0, got {gpus_per_task!r}")
        if address is None:
            _fits_this_machine(cpus_per_task, gpus_per_task)
        else:
            _reachable(address)
        self.address, self.cpus, self.gpus = address, cpus_per_task, gpus_per_task
        self.devices, self.retries, self.runtime_env = devices, retries, runtime_env
        self.runners = runners
        self.ray = None

    # -- session -------------------------------------------------------------------------
    def open(self, prepared, specs, keep, verbose, expected, say, on_epoch=None) -> None:
        ray = self.ray = import_ray()
        self.started_here = not ray.is_initialized()
        if self.started_here:
            self._init(ray)
        self.specs, self.keep, self.verbose, self.say = specs, keep, verbose, say
        self.resources = ray.cluster_resources()
        self.slots = self._slots(self.resources)
        # the data goes to the object store once per dataset, not once per task; a dataset
        # streamed from a memory-mapped cache goes as the cache file's name, which each
        # worker opens itself (on a cluster: a path every node sees, a shared filesystem)
        ray.util.register_serializer(np.memmap, serializer=mapped_reference,
                                     deserializer=open_mapped)
        self.refs = {name: ray.put(p) for name, p in prepared.items()}
        # every worker starts Keras on the run's backend (one per run: it is a protocol
        # setting, and a process runs one backend)
        self.backend = next((p.protocol.backend for p in prepared.values()), current())
        self.actor_class = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=0,
                                      max_concurrency=1)(FoldWorker)
        # start the workers now: they import TensorFlow while the driver checks the models
        self.idle = [self._new_worker() for _ in range(min(self.slots, max(1, expected)))]
        self.workers = list(self.idle)
        self.running = {}   # future -> (worker, cell)
        self.tries = {}

    def _init(self, ray) -> None:
        kwargs = {"include_dashboard": False, "log_to_driver": True, "configure_logging": False}
        if self.runtime_env:
            kwargs["runtime_env"] = self.runtime_env
        if not self.address:  # a fresh local instance on the loopback interface
            with start_up_quietly():   # Ray's token notice; TensorFlow's start-up lines
                ray.init(address="local", _node_ip_address="127.0.0.1", **kwargs)
            return
        try:
            with start_up_quietly():
                ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"--address {self.address}: Ray could not connect: "
                              f"{str(exc).splitlines()[0][:200]}") from None

    def _slots(self, resources) -> int:
        slots = int(resources.get("CPU", 0) // self.cpus)
        if self.gpus:
            slots = min(slots, int(resources.get("GPU", 0) // self.gpus))
        if slots < 1:
            raise ConfigError(
                f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and "
                f"{resources.get('GPU', 0):g} GPUs: not enough for one task of "
                f"--cpus-per-task {self.cpus:g} --gpus-per-task {self.gpus:g}")
        return slots

    def close(self, clean: bool) -> None:
        if self.ray is None:
            return
        for future in getattr(self, "running", {}):
            _quietly(self.ray.cancel, future, force=True)
        for worker in getattr(self, "workers", []):
            _quietly(self.ray.kill, worker["actor"])
        self.workers, self.idle, self.running = [], [], {}
        if self.started_here:
            self.ray.shutdown()

    def describe(self) -> str:
        nodes = len([n for n in self.ray.nodes() if n.get("Alive")])
        r = self.resources
        return (f"executor: Ray, {nodes} node{_s(nodes)}, {r.get('CPU', 0):g} CPUs, "
                f"{r.get('GPU', 0):g} GPUs; {self.slots} slot{_s(self.slots)} of "
                f"{self.cpus:g} CPU{_s(self.cpus)}"
                + (f" and {self.gpus:g} GPU" if self.gpus else "") + " each")

    # -- cells ---------------------------------------------------------------------------
    def _new_worker(self) -> dict:
        actor = self.actor_class.remote(self.cpus, self.gpus, self.devices, self.verbose,
                                        self.keep, self.runners, self.backend)
        return {"actor": actor, "key": None, "where": ""}

    def _free_worker(self, cell: Cell) -> dict:
        """An idle worker, preferring one that has this cell's model compiled."""
        if not self.idle:
            worker = self._new_worker()
            self.workers.append(worker)
            return worker
        key = (cell.dataset, cell.model)
        for i, worker in enumerate(self.idle):
            if worker["key"] == key:
                return self.idle.pop(i)
        return self.idle.pop()

    def submit(self, cell: Cell) -> str:
        worker = self._free_worker(cell)
        if not worker["where"]:
            worker["where"] = _where(self.ray, worker["actor"])
        spec = self.specs[cell.model]
        future = worker["actor"].run.remote(cell, spec.base or spec.name, spec.options,
                                            spec.plugin, self.refs[cell.dataset],
                                            worker["where"])
        worker["key"] = (cell.dataset, cell.model)
        self.running[future] = (worker, cell)
        return worker["where"]

    def outstanding(self) -> int:
        return len(self.running)

    def as_completed(self):
        while self.running:
            future = self._wait()
            worker, cell = self.running.pop(future)
            try:
                outcome = self.ray.get(future)
            except self.ray.exceptions.RayActorError as exc:
                outcome = self._worker_died(worker, cell, exc)
                if outcome is None:
                    continue
            else:
                self.idle.append(worker)
            yield outcome

    def _wait(self):
        while True:
            interrupt.raise_if_interrupted()
            done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL)
            if done:
                return done[0]

    def _worker_died(self, worker, cell, exc):
        """The worker process died (killed, out of memory, node lost): run the cell again on
        a fresh worker, a few times at most; then its outcome is a failed cell."""
        self.tries[cell] = self.tries.get(cell, 0) + 1
        self.workers.remove(worker)
        if self.tries[cell] > self.retries:
            return Outcome(cell, facts=cell.failed(
                f"its Ray worker died {self.tries[cell]} times: "
                f"{str(exc).splitlines()[0][:300]}"))
        self.say(f"[retry] {cell.label}: its worker on {worker['where']} died; running it "
                 "again on another")
        self.submit(cell)
        return None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _reachable(address: str) -> None:
    """'auto', or HOST:PORT of a Ray head that answers: checked in seconds, before Ray
    starts (an unreachable head printed warnings for half a minute, then a traceback)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--address: expected 'auto' or HOST:PORT of a running Ray head "
                          f"(e.g. 192.168.1.10:6379), got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
    except OSError as exc:
        raise ConfigError(f"--address {address}: no Ray head answers there "
                          f"({exc.strerror or type(exc).__name__}); start one with `ray start "
                          "--head` on that machine, or leave --address out to start Ray "
                          "here") from None


def _fits_this_machine(cpus: float, gpus: float) -> None:
    """A local Ray instance has this machine's CPUs and GPUs: a task that cannot fit is
    refused before Ray starts (it was refused only after 17-25 s)."""
    have = os.cpu_count() or 1
    if cpus > have:
        raise ConfigError(f"--cpus-per-task {cpus:g}: this machine has {have} CPUs; give a "
                          "task at most that many, or use --address for a cluster")
    if gpus and not local_gpus():
        raise ConfigError(f"--gpus-per-task {gpus:g}: no GPU found on this machine; leave "
                          "it out to train on the CPUs, or use --address for a cluster "
                          "with GPUs")


def local_gpus() -> int:
    """The NVIDIA GPUs this process may use, as Ray would count them (no TensorFlow)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    folder = "/proc/driver/nvidia/gpus"
    return len(os.listdir(folder)) if os.path.isdir(folder) else 0


def _s(n) -> str:
    return "" if n == 1 else "s"


def _quietly(call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except Exception:  # already finished or gone
        pass


def _where(ray, actor) -> str:
    try:
        node, pid = ray.get(actor.where.remote())
    except ray.exceptions.RayActorError as exc:
        raise PluginError(f"a Ray worker could not start: {str(exc).splitlines()[0]}") \
            from None
    return f"{node} pid {pid}"


class FoldWorker:
    """A Ray actor that runs cells with zoo.grid.cells.run_cell, on the run's Keras backend
    (set before Keras starts here). The backend's thread pools are capped at the CPUs the
    actor was given; GPUs get memory growth so that fractional GPUs
    can share one card. Plugins are resolved by name on the worker, so a worker that lacks
    one says so."""

    def __init__(self, cpus, gpus, devices, verbose, keep, runners=None, backend=None):
        # lazy: a Ray worker starts bare and loads zoo inside the actor
        from zoo.backend import use

        use(backend or "tensorflow")   # before Keras starts in this worker
        if runners is None:
            # lazy: a Ray worker starts bare and loads zoo inside the actor
            from zoo.grid.distribute import limit_threads
            # lazy: a Ray worker starts bare and loads zoo inside the actor
            from zoo.grid.train import RunnerFactory as runners

            limit_threads(max(1, int(cpus)))
        self.cache = RunnerCache(runners(devices, verbose))
        self.keep = keep

    def where(self):
        import ray  # lazy: Ray is an optional extra, needed only with --executor ray

        return ray.util.get_node_ip_address(), os.getpid()

    def run(self, cell, model: str, options: dict, plugin: str, prepared, where: str):
        from zoo import options as opts  # lazy: a Ray worker starts bare and loads zoo inside the actor
        from zoo.plugins import get_registry  # lazy: a Ray worker starts bare and loads zoo inside the actor

        spec = get_registry().models.get(model)
        if spec is None:
            return Outcome(cell, error=(
                f"model '{model}' (plugin {plugin}) is not installed on the Ray worker at "
                f"{where}: install the same plugins on every node (or pass them with Ray's "
                "runtime_env)"))
        spec = opts.variant(spec, options, name=cell.model)
        return run_cell(cell, spec, prepared, self.cache, self.keep, where)


def mapped_reference(array) -> tuple:
    """A memory-mapped array as what opens it again: (file, byte offset, shape, dtype). An
    array that is a slice of its file's array (not the whole of it) goes as its values."""
    whole = isinstance(array.base, mmap.mmap) and array.filename
    if not whole:
        return ("values", np.asarray(array))
    return ("file", str(array.filename), int(array.offset), tuple(array.shape),
            array.dtype.str)


def open_mapped(reference):
    """The array :func:`mapped_reference` describes, memory-mapped read-only where this
    worker runs; a file it cannot see is a clear error."""
    if reference[0] == "values":
        return reference[1]
    _, path, offset, shape, dtype = reference
    try:
        return np.memmap(path, dtype=np.dtype(dtype), mode="r", offset=offset, shape=shape)
    except OSError as exc:
        raise PluginError(f"{path}: this Ray worker cannot open the memory-mapped image cache "
                          f"({exc.strerror or exc}); on a cluster put --cache-dir on a shared "
                          "filesystem mounted at the same path on every node") from None
