"""Where the cells of a plan run: in this process, or on Ray. Nothing else.

An executor opens a session for one run (``with executor.session(prepared, specs, keep,
verbose, cells) as s``, ``cells`` the number of cells to come); ``s.slots``
is how many cells run at once, ``s.describe()`` one line about where, and
``s.run(cells, should_run, started, say)`` yields each cell's :class:`zoo.engine.Outcome` as
it finishes. ``should_run(cell)`` is asked just before a cell starts (a model that failed to
build on a dataset has the rest of its cells dropped); ``started(cell, where)`` is called
when it does; ``say(line)`` reports what the user should know (a retried cell). Writing
facts, progress and failures are the engine's, shared by both.
"""
from __future__ import annotations

import contextlib
import os

from zoo.errors import ConfigError, PluginError

EXECUTORS = ("local", "ray")


class LocalExecutor:
    """Every cell in this process, one after the other, under the tf.distribute strategy
    for ``devices``; one compiled model per (dataset, model), weights reset per fold."""

    def __init__(self, devices=None):
        self.devices = devices

    @contextlib.contextmanager
    def session(self, prepared: dict, specs: dict, keep: str, verbose: int, cells: int = 1):
        from zoo.distribute import choose_strategy

        yield _LocalSession(choose_strategy(self.devices), prepared, specs, keep, verbose)


class _LocalSession:
    slots = 1

    def __init__(self, strategy, prepared, specs, keep, verbose):
        self.strategy, self.prepared, self.specs = strategy, prepared, specs
        self.keep, self.verbose = keep, verbose

    def describe(self) -> str:
        from zoo.engine import where_line

        return where_line(self.strategy)

    def run(self, cells, should_run, started, say=print):
        from zoo.engine import release, run_cell

        from zoo.train import ctrl_c_stops_at_a_batch_end

        runners = {}
        for cell in cells:
            if not should_run(cell):
                continue
            started(cell, "")
            with ctrl_c_stops_at_a_batch_end() as ctrl_c:
                outcome = run_cell(cell, self.specs[cell.model], self.prepared[cell.dataset],
                                   runners, self.strategy, self.verbose, self.keep)
            yield outcome   # a fold that finished is kept, even if Ctrl-C came at its end
            if ctrl_c["interrupted"]:
                raise KeyboardInterrupt
        # only after a normal end: clearing Keras' session while a Ctrl-C is unwinding out
        # of a TensorFlow op (its tf.data threads still running) corrupted the heap once
        # (free(): invalid next size)
        runners.clear()
        release()


# -- Ray --------------------------------------------------------------------------------------
def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'zoo[ray]' "
                          "(or pip install -e \".[ray]\" in a checkout)") from None
    return ray


class RayExecutor:
    """The cells as tasks of Ray actors, one actor per concurrent slot, on this machine or
    a cluster (``address``: 'auto' or 'HOST:PORT' of a running head; None starts a local
    instance). Each actor keeps its compiled model across the cells of one (dataset, model)
    it runs, and is given such cells first. A cell whose worker dies is run again on
    another (``retries`` times); Ctrl-C cancels what is outstanding."""

    def __init__(self, address=None, cpus_per_task: float = 1, gpus_per_task: float = 0,
                 devices=None, retries: int = 2, runtime_env=None):
        if cpus_per_task is None or cpus_per_task <= 0:
            raise ConfigError(f"--cpus-per-task: expected a number > 0, got {cpus_per_task!r}")
        if gpus_per_task is None or gpus_per_task < 0:
            raise ConfigError(f"--gpus-per-task: expected a number >= 0, got {gpus_per_task!r}")
        self.address, self.cpus, self.gpus = address, cpus_per_task, gpus_per_task
        self.devices, self.retries, self.runtime_env = devices, retries, runtime_env

    @contextlib.contextmanager
    def session(self, prepared: dict, specs: dict, keep: str, verbose: int, cells: int = 1):
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            kwargs = {"include_dashboard": False, "log_to_driver": True,
                      "configure_logging": False}
            if self.runtime_env:
                kwargs["runtime_env"] = self.runtime_env
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:  # a fresh local instance on the loopback interface (not a stale cluster)
                ray.init(address="local", _node_ip_address="127.0.0.1", **kwargs)
        session = _RaySession(ray, self, prepared, specs, keep, verbose, cells)
        try:
            yield session
        finally:
            session.close()
            if started_here:
                ray.shutdown()


class _RaySession:
    def __init__(self, ray, executor, prepared, specs, keep, verbose, cells=1):
        self.ray, self.ex = ray, executor
        self.prepared, self.specs, self.keep, self.verbose = prepared, specs, keep, verbose
        resources = ray.cluster_resources()
        slots = int(resources.get("CPU", 0) // executor.cpus)
        if executor.gpus:
            slots = min(slots, int(resources.get("GPU", 0) // executor.gpus))
        if slots < 1:
            raise ConfigError(
                f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and "
                f"{resources.get('GPU', 0):g} GPUs: not enough for one task of "
                f"--cpus-per-task {executor.cpus:g} --gpus-per-task {executor.gpus:g}")
        self.slots = slots
        self.resources = resources
        # the data goes to the object store once per dataset, not once per task
        self.refs = {name: ray.put(p) for name, p in prepared.items()}
        self.actor_class = ray.remote(num_cpus=executor.cpus, num_gpus=executor.gpus,
                                      max_restarts=0, max_concurrency=1)(FoldWorker)
        # start the workers now: they import TensorFlow while the driver checks the models
        self.actors = [self._new_actor() for _ in range(min(slots, cells))]

    def describe(self) -> str:
        nodes = len([n for n in self.ray.nodes() if n.get("Alive")])
        return (f"executor: Ray, {nodes} node{'s' if nodes != 1 else ''}, "
                f"{self.resources.get('CPU', 0):g} CPUs, {self.resources.get('GPU', 0):g} GPUs; "
                f"{self.slots} slot{'s' if self.slots != 1 else ''} of "
                f"{self.ex.cpus:g} CPU{'s' if self.ex.cpus != 1 else ''}"
                + (f" and {self.ex.gpus:g} GPU" if self.ex.gpus else "") + " each")

    def _new_actor(self):
        actor = self.actor_class.remote(self.ex.cpus, self.ex.gpus, self.ex.devices,
                                        self.verbose, self.keep)
        return {"actor": actor, "key": None, "where": ""}

    def run(self, cells, should_run, started, say=print):
        """Yield each cell's outcome as it finishes. Ctrl-C raises KeyboardInterrupt here
        (the running cells are cancelled): the driver catches it itself and checks between
        short waits, since a SIGINT that arrived inside ray.wait was lost now and then under
        load (the run went on to the end)."""
        from zoo.train import ctrl_c_stops_at_a_batch_end

        with ctrl_c_stops_at_a_batch_end():
            yield from self._run(cells, should_run, started, say)

    def _run(self, cells, should_run, started, say):
        ray = self.ray
        from zoo.engine import Outcome
        from zoo.train import CTRL_C

        pending = list(cells)
        tries = {}
        if not self.actors and pending:
            self.actors = [self._new_actor() for _ in range(min(self.slots, len(pending)))]
        idle = list(self.actors)
        running = {}   # future -> (worker, cell)
        try:
            while pending or running:
                while idle and pending:
                    worker = idle.pop()
                    cell = self._next(pending, worker["key"])
                    if cell is None:
                        idle.append(worker)
                        break
                    if not should_run(cell):
                        idle.append(worker)
                        continue
                    if not worker["where"]:
                        worker["where"] = _where(ray, worker["actor"])
                    spec = self.specs[cell.model]
                    future = worker["actor"].run.remote(
                        cell, spec.base or spec.name, spec.options, spec.plugin,
                        self.refs[cell.dataset], worker["where"])
                    worker["key"] = (cell.dataset, cell.model)
                    running[future] = (worker, cell)
                    started(cell, worker["where"])
                if not running:
                    break
                done = []
                while not done:
                    if CTRL_C.is_set():
                        raise KeyboardInterrupt
                    done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                future = done[0]
                worker, cell = running.pop(future)
                try:
                    outcome = ray.get(future)
                except ray.exceptions.RayActorError as exc:
                    # the worker process died (killed, out of memory, node lost): run the cell
                    # again on a fresh worker, a few times at most
                    tries[cell] = tries.get(cell, 0) + 1
                    self.actors.remove(worker)
                    replacement = self._new_actor()
                    self.actors.append(replacement)
                    idle.append(replacement)
                    if tries[cell] > self.ex.retries:
                        yield Outcome(cell, facts=cell.failed(
                            f"its Ray worker died {tries[cell]} times: "
                            f"{str(exc).splitlines()[0][:300]}"))
                    else:
                        say(f"[retry] {cell.label}: its worker on {worker['where']} died; "
                            "running it again on another")
                        pending.insert(0, cell)
                    continue
                idle.append(worker)
                yield outcome
        finally:
            self._cancel(running)

    @staticmethod
    def _next(pending, key):
        """The next cell for a worker: one of the (dataset, model) it has compiled, if any."""
        if not pending:
            return None
        for i, cell in enumerate(pending):
            if (cell.dataset, cell.model) == key:
                return pending.pop(i)
        return pending.pop(0)

    def _cancel(self, running) -> None:
        for future in running:
            try:
                self.ray.cancel(future, force=True)
            except Exception:  # already finished or gone
                pass

    def close(self) -> None:
        for worker in self.actors:
            try:
                self.ray.kill(worker["actor"])
            except Exception:
                pass
        self.actors = []


def _where(ray, actor) -> str:
    try:
        node, pid = ray.get(actor.where.remote())
    except ray.exceptions.RayActorError as exc:
        raise PluginError(f"a Ray worker could not start: {str(exc).splitlines()[0]}") \
            from None
    return f"{node} pid {pid}"


class FoldWorker:
    """A Ray actor that runs cells with zoo.engine.run_cell. TensorFlow's thread pools are
    capped at the CPUs the actor was given; GPUs get memory growth so that fractional GPUs
    can share one card. Plugins are resolved by name on the worker, so a worker that lacks
    one says so."""

    def __init__(self, cpus, gpus, devices, verbose, keep):
        from zoo.distribute import choose_strategy, import_tf

        tf = import_tf()
        threads = max(1, int(cpus))
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        self.strategy = choose_strategy(devices)
        self.verbose, self.keep = verbose, keep
        self.runners = {}

    def where(self):
        import ray

        return ray.util.get_node_ip_address(), os.getpid()

    def run(self, cell, model: str, options: dict, plugin: str, prepared, where: str):
        from zoo import options as opts
        from zoo.engine import Outcome, run_cell
        from zoo.plugins import get_registry

        spec = get_registry().models.get(model)
        if spec is None:
            return Outcome(cell, error=(
                f"model '{model}' (plugin {plugin}) is not installed on the Ray worker at "
                f"{where}: install the same plugins on every node (or pass them with Ray's "
                "runtime_env)"))
        spec = opts.variant(spec, options, name=cell.model)
        return run_cell(cell, spec, prepared, self.runners, self.strategy, self.verbose,
                        self.keep, where)
