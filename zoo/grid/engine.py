"""The run: the plan's cells, handed to an executor, their outcomes written to the store.
The shape of scikit-learn's ``cross_validate``: plan, one function per split, aggregate.

The loop, resume, progress, Ctrl-C and failure handling are written once here for every
executor (zoo.grid.executors): the engine keeps the queue and hands an executor at most as many
cells as it has slots; the executor yields each outcome as it finishes. The driver keeps the
store, so workers need no shared filesystem. No metric is computed here, no model named.
"""
from __future__ import annotations

import contextlib
import functools
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from zoo.grid import interrupt, plan
from zoo.grid.cells import CURVE, FINAL, FOLD, TRIAL
from zoo.environment import environment
from zoo.errors import ConfigError, WriteError, ZooError
from zoo.grid.progress import Progress
from zoo.store import RunLocked, write_last_run
from zoo.grid.checks import check_models
from zoo.grid.executors import LocalExecutor


@dataclass
class RunResult:
    runs: list = field(default_factory=list)       # [{"dataset", "run_id", "path", "models"}]
    skipped: list = field(default_factory=list)    # [{"what", "name", "reason"[, "error"]}]
    trained: int = 0                                # cells trained in this invocation
    resumed: int = 0                                # cells found finished already
    failed: int = 0                                 # cells that diverged or raised
    trials: int = 0                                 # tuning trials trained (zoo.tune.search)

    @property
    def errors(self) -> list:
        return [s for s in self.skipped if s.get("error")]


def run(models: list, datasets: list, protocol, results_dir, data_dir=None, echo=print,
        quiet: bool = False, verbose: int = 0, keep: str = "folds", executor=None,
        skipped=(), check=None, progress=None, tuning=None, tuner=None,
        on_fold=None) -> RunResult:
    """Train every model in ``models`` on every dataset in ``datasets`` (specs) under
    ``protocol``; facts go to ``results_dir``. ``executor`` decides where the cells run
    (default: zoo.grid.executors.LocalExecutor, in this process); ``skipped`` is what the caller
    already left out (recorded with the run); ``check(specs, shapes)`` builds the models
    before any cell trains (default zoo.grid.checks.check_models).

    ``progress`` shows what happens (zoo.grid.progress: plain lines through ``echo`` by default,
    or a live view); ``verbose`` is Keras' own verbosity (2: a line per epoch).

    ``keep``: 'folds' keeps every fold's trained model (fold-01.keras, ...); 'final' trains
    one more model on all the training data after the folds and keeps that (final.keras);
    'none' keeps no model.

    ``tuning`` (zoo.tune.space.Tuning): every model's settings are chosen by the same search
    (zoo.tune.search), whose trials run as cells beside the others; each outer fold then trains
    with its search's choice. ``tuner`` makes the search's driver
    (``tuner(tuning, opened, models, keep)``: zoo.tune.search.Tuner), handed in so that the
    run loop never imports zoo.tune, which sits above it.

    ``last_run.json``, which `zoo report` and `zoo serve` read, moves to this run's datasets
    only once they have results to show: a run that trains nothing, or is stopped before its
    first cell, leaves the earlier results in view.

    ``on_fold(store, model, fold, facts, arrays, n_classes)`` is called as each fold's facts
    are written (`zoo run --mlflow` logs them live)."""
    if keep not in plan.KEEP:
        raise ConfigError(f"--keep-models: expected one of {', '.join(plan.KEEP)}, got {keep!r}")
    progress = progress or Progress(0, echo, quiet)
    state = _Run(models, Path(results_dir), progress, list(skipped), tuning)
    state.on_fold = on_fold
    try:
        with contextlib.ExitStack() as locks:   # one `zoo run` per run folder at a time
            state.open(datasets, protocol, data_dir, locks)
            _loop(state, models, keep, executor, verbose, check, tuner)
    finally:
        progress.close()
    return state.result


def _loop(state, models, keep, executor, verbose, check, tuner) -> None:
    todo, done = plan.cells(state.opened, models, keep, tuned=state.tuning is not None)
    if state.tuning is not None:
        if tuner is None:
            raise TypeError("engine.run: a tuned run needs tuner= (zoo.tune.search.Tuner)")
        state.tuner = tuner(state.tuning, state.opened, models, keep)
        done += state.tuner.resumed
    state.resumed(done)
    executor = executor or LocalExecutor()
    prepared = {name: o.prepared for name, o in state.opened.items()}
    # the session opens first, so that remote workers start (and import TensorFlow) while
    # this process checks every model
    with executor.session(prepared, state.specs, keep, verbose, len(todo),
                          say=state.progress.say, on_epoch=state.epoch):
        todo = state.check(todo, check)
        state.progress.total = sum(c.work for c in todo) + \
            (state.tuner.work() if state.tuner else 0)
        state.progress.slots = executor.slots
        state.progress.say(executor.describe())
        with interrupt.ctrl_c_stops_at_a_batch_end():
            state.drive(executor, todo)
    state.finish()


def _dataset_line(opened) -> str:
    """What a dataset is and what training does to it, as the report's protocol line says:
    'tiny: 36 images of 8x8x1, 3 classes, 12 official test images; Adam lr 0.001,
    augmentation 1 (shift)'."""
    ds = opened.prepared.dataset
    h, w, c = ds.input_shape
    test = f", {len(ds.y_test):,} official test images" if ds.has_test else ""
    streamed = f"; streamed from disk ({ds.streamed}, memory-mapped)" if ds.streamed else ""
    return (f"{opened.name}: {len(ds.y):,} images of {w}x{h}x{c}, {ds.num_classes} classes"
            f"{test}{streamed}; {opened.protocol.recipe(opened.prepared.transforms)}")


def _tuned_values(broken: dict, tuned: dict) -> dict:
    """The check's errors by model (``tuned``: {variant: model}): a tuned option value the
    model refuses (a ConfigError) stops the run before anything trains, as a bad --tune
    entry does; a plugin's failure on one is its model's failure."""
    out = {}
    for (name, shape), error in broken.items():
        if name in tuned and isinstance(error, ConfigError):
            raise ConfigError(f"{error} (a value the search would try; narrow --tune)")
        key = tuned.get(name, name), shape
        out[key] = out.get(key) or error
    return out


class _Run:
    """The state of one run loop: what is open, what was dropped, what has results."""

    def __init__(self, models, results_dir: Path, progress, skipped, tuning=None):
        self.specs = {m.name: m for m in models}
        self.tuning, self.tuner = tuning, None
        self.running = {}         # (dataset, model, fold, size, trial) -> the running cell
        self.results_dir = results_dir
        self.result = RunResult(skipped=skipped)
        self.progress = progress
        self.opened = {}
        self.dropped = set()      # (dataset, model) whose model failed on that dataset
        self.shown = set()        # datasets with results to show
        self.on_fold = None       # called as each fold's facts are written (engine.run)

    # -- before the cells ------------------------------------------------------------------
    def open(self, datasets, protocol, data_dir, locks=None) -> None:
        env = environment()
        for dspec in datasets:
            t0 = time.monotonic()
            try:
                opened = plan.prepare(dspec, list(self.specs.values()), protocol,
                                      self.results_dir, data_dir, env, locks, self.tuning)
            except (ConfigError, WriteError, RunLocked):  # the user's, for every dataset alike
                raise
            except Exception as exc:  # bad data or a plugin bug: report it, go on
                reason = str(exc) if isinstance(exc, ZooError) else \
                    f"plugin {dspec.plugin}: load raised {type(exc).__name__}: {exc}"
                self._skip("dataset", dspec.name, reason)
                continue
            self._warn_leakage(opened)
            self.progress.say(_dataset_line(opened))
            opened.info.setdefault("timings", {})["prepare"] = time.monotonic() - t0
            self.opened[opened.name] = opened
            self.result.runs.append({"dataset": opened.name, "run_id": opened.store.run_id,
                                     "path": str(opened.store.path), "models": list(self.specs)})

    def _warn_leakage(self, opened) -> None:
        leak = opened.info["leakage"]
        if leak["note"]:
            self.progress.say(f"{opened.name}: {leak['note']}")
        used = leak["checks"][opened.protocol.split]
        if used["leakage"]:
            self.progress.error(f"warning: {opened.name}: held-out folds leak: "
                      + "; ".join(used["reasons"]) + ". Held-out scores will be optimistic; "
                      + ("trust the official test split, or use --split grouped"
                         if opened.prepared.dataset.has_test else "use --split grouped"))

    def resumed(self, done) -> None:
        self.result.resumed = len(done)
        for cell in done:
            self.progress.say(f"[skip] {cell.label}: already done")
            if cell.kind in (FOLD, CURVE) and self.opened[cell.dataset].store.fold_status(
                    cell.model, cell.fold, cell.size) == "ok":
                self.shown.add(cell.dataset)
        self.checkpoint()

    def check(self, todo, check=None) -> list:
        """Build every model once for every dataset shape it is to train on, before any
        cell: a model whose build fails is dropped on that dataset, in seconds."""
        check = check or functools.partial(
            check_models, warn=lambda line: self.progress.error(f"warning: {line}"))
        shapes = {name: (o.prepared.dataset.input_shape, o.prepared.dataset.num_classes)
                  for name, o in self.opened.items()}
        needed = sorted({(c.model, c.dataset) for c in todo}
                        | (self.tuner.needed() if self.tuner else set()))
        t0 = time.monotonic()
        specs, tuned = self._to_build({m for m, _ in needed})
        broken = _tuned_values(check(specs, sorted({shapes[d] for _, d in needed})), tuned)
        for o in self.opened.values():
            o.info.setdefault("timings", {})["check"] = time.monotonic() - t0
        misfits = {}
        for model, dataset in needed:
            error = broken.get((model, shapes[dataset]))
            if isinstance(error, ConfigError):   # this model cannot take this dataset
                misfits.setdefault(model, []).append((dataset, str(error)))
            elif error:
                self._drop(dataset, model, f"{error} (on {dataset}; nothing of it was trained)",
                           str(error))
        self._misfits(misfits, needed)
        return [c for c in todo if (c.dataset, c.model) not in self.dropped]

    def _misfits(self, misfits: dict, needed: list) -> None:
        """A model whose build refuses a dataset (a ConfigError: a patch size that does not
        tile its images, say) is skipped there with one line, and the grid goes on; one
        that fits no chosen dataset is the user's to fix (exit 2)."""
        for model, where in misfits.items():
            datasets = {d for d, _ in where}
            if datasets >= {d for m, d in needed if m == model}:
                raise ConfigError("; ".join(reason for _, reason in where)
                                  + " (it fits none of the chosen datasets)")
            for dataset, reason in where:   # the user's choice, not a plugin's failure
                self._drop(dataset, model, f"skipping {model} on {dataset}: {reason}", reason,
                           error=False)

    def _to_build(self, models: set) -> tuple:
        """(specs, {variant: model}): the specs of ``models``, and every tuned option value
        each may be built with, by the model it is a value of."""
        specs, tuned = [self.specs[m] for m in sorted(models)], {}
        if self.tuning is not None:
            protocol = next(iter(self.opened.values())).protocol
            for s in list(specs):
                variants = self.tuning.variants(s, protocol)
                specs += variants
                tuned.update((v.name, s.name) for v in variants)
        return specs, tuned

    # -- the cells ---------------------------------------------------------------------------
    def drive(self, executor, todo) -> None:
        """Hand the executor cells while it has free slots (the plan's, then the searches'
        as they become ready); write each outcome as it comes."""
        queue = deque(todo)
        self._fill(executor, queue)
        for outcome in executor.as_completed():
            self.record(outcome)
            interrupt.raise_if_interrupted()  # a cell that finished is kept, then we stop
            self._fill(executor, queue)

    def _next(self, queue):
        if queue:
            return queue.popleft()
        return self.tuner.next_cell() if self.tuner else None

    def _fill(self, executor, queue) -> None:
        while executor.outstanding() < executor.slots:
            cell = self._next(queue)
            if cell is None:
                return
            if self._should_run(cell):
                self._started(cell, executor.submit(cell))

    def _should_run(self, cell) -> bool:
        if (cell.dataset, cell.model) in self.dropped:
            self.progress.drop(cell.work)
            return False
        if cell.kind == FINAL:  # a final model needs a finished fold
            store = self.opened[cell.dataset].store
            return any(store.has_fold(cell.model, k) for k in range(cell.folds))
        return True

    def _started(self, cell, where: str) -> None:
        self.running[cell.key] = cell
        self.progress.started(cell, where, len(self.opened[cell.dataset].prepared.dataset.y))

    def epoch(self, key: tuple, epoch: int, epochs: int, logs: dict) -> None:
        """A cell running in this process ended an epoch: ``key`` is (dataset, model, fold,
        size, trial), as zoo.grid.train reports it."""
        cell = self.running.get(tuple(key))
        if cell is not None:
            self.progress.epoch(cell, epoch, epochs, logs)

    def record(self, outcome) -> None:
        """Write one outcome to the store (atomically) and say what happened."""
        cell, store = outcome.cell, self.opened[outcome.cell.dataset].store
        self.running.pop(cell.key, None)
        if outcome.stop:
            raise ZooError(outcome.stop)
        if outcome.error:
            self._drop(cell.dataset, cell.model, outcome.error, outcome.error)
            self.progress.drop(cell.work)
            return
        facts = outcome.facts
        if cell.kind == TRIAL:
            self._record_trial(outcome, store)
            return
        if self.tuner is not None:
            facts.tuned = self.tuner.summary(cell)
        if outcome.model_bytes is not None:
            facts.model_file = store.write_model(cell.model, cell.fold, outcome.model_bytes)
        if cell.kind == FINAL:
            store.write_final(cell.model, facts)
            self.progress.finished(cell, outcome.seconds, facts.status, facts.reason)
            return
        store.write_fold(cell.model, cell.fold, facts, outcome.arrays, cell.size)
        if self.on_fold is not None and cell.size == 1.0:
            self.on_fold(store, cell.model, cell.fold, facts.to_dict(), outcome.arrays,
                         self.opened[cell.dataset].prepared.dataset.num_classes)
        self.result.trained += 1
        if facts.ok:   # a dataset whose every cell failed never hides earlier results
            self.shown.add(cell.dataset)
        self.result.failed += not facts.ok
        self.progress.finished(cell, outcome.seconds, facts.status, facts.reason)
        self.checkpoint()

    def _record_trial(self, outcome, store) -> None:
        """Write a trial's facts, tell its search, and say how it scored."""
        cell, facts = outcome.cell, outcome.facts
        store.write_trial(cell.model, cell.fold, cell.trial, facts, outcome.arrays)
        self.result.trials += 1
        self.tuner.tell(cell, facts.to_dict())
        score = getattr(facts, "score", None)
        if facts.ok and score is not None:
            self.progress.finished(cell, outcome.seconds, "ok")
            self.progress.say(f"  {cell.label}: {facts.metric} {score:.4f}"
                              + (f" (pruned at epoch {facts.epochs_run})"
                                 if facts.pruned else "") + " with "
                              + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in cell.settings))
        else:
            self.progress.finished(cell, outcome.seconds, facts.status, facts.reason)

    # -- bookkeeping -------------------------------------------------------------------------
    def _skip(self, what: str, name: str, reason: str, line: str = "", error: bool = True,
              **extra) -> None:
        """Record what was left out and say so: a plugin's failure is an error (`zoo run`
        exits 1); a model that cannot take a dataset is only skipped there."""
        self.result.skipped.append({"what": what, "name": name, "reason": reason,
                                    **({"error": True} if error else {}), **extra})
        said = line or f"{what} {name}: {reason}"
        self.progress.error(f"error: {said}" if error else said)

    def _drop(self, dataset: str, model: str, line: str, reason: str,
              error: bool = True) -> None:
        if (dataset, model) in self.dropped:
            return
        self.dropped.add((dataset, model))
        if self.tuner is not None:
            self.tuner.drop(dataset, model)
        self._skip("model", model, reason, dataset=dataset, line=line, error=error)

    def checkpoint(self) -> None:
        """Point last_run.json at this run's datasets that have results to show."""
        runs = [r for r in self.result.runs if r["dataset"] in self.shown]
        write_last_run(self.results_dir, runs, self.result.skipped)

    def finish(self) -> None:
        for o in self.opened.values():
            o.info["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            o.store.write_run(o.info)
        self.result.runs = [r for r in self.result.runs if r["dataset"] in self.shown]
        self.checkpoint()
