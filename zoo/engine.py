"""The run: a plan, then one function per fold cell, then the store. The shape of
scikit-learn's ``cross_validate``.

1. :func:`prepare` loads each dataset once, checks it for leakage, splits it once and opens
   its store; :func:`plan` lists every (dataset, model, fold) cell that has no facts yet
   (finished folds are skipped, so a rerun resumes).
2. An executor (zoo.executors: in this process, or on Ray) runs the cells with
   :func:`run_cell` and hands each :class:`Outcome` back as it finishes.
3. This module writes each outcome to the store (the driver keeps the store: workers need no
   shared filesystem), reports progress with an ETA, and records failures. The loop, resume
   and failure handling are written once here for every executor.

No metric is computed here, and no model is named.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError, PluginError, WriteError, ZooError
from zoo.protocol import make_splits
from zoo.store import RunStore, write_last_run


@dataclass
class RunResult:
    runs: list = field(default_factory=list)       # [{"dataset", "run_id", "path"}]
    skipped: list = field(default_factory=list)    # [{"what", "name", "reason"}]
    trained: int = 0                                # folds trained in this invocation
    resumed: int = 0                                # folds found finished already
    failed: int = 0                                 # folds that diverged or raised

    @property
    def errors(self) -> list:
        return [s for s in self.skipped if s.get("error")]


@dataclass(frozen=True)
class Cell:
    """One unit of work: a model trained and scored on one fold of one dataset (or, with
    ``fold`` None, the final model on all the training data); ``size`` below 1 is a
    learning-curve point, trained on that share of the fold's training part."""
    dataset: str
    model: str
    fold: int | None
    folds: int
    size: float = 1.0

    @property
    def label(self) -> str:
        which = "final model" if self.fold is None else f"fold {self.fold + 1}/{self.folds}"
        if self.size < 1:
            which += f" at {self.size:g} of its training part"
        return f"{self.dataset} / {self.model} / {which}"

    def failed(self, reason: str) -> dict:
        """The facts of this cell when it failed without training to the end."""
        return {"dataset": self.dataset, "model": self.model, "fold": self.fold,
                "folds": self.folds, "train_size": self.size, "status": "error",
                "reason": reason}


@dataclass
class Outcome:
    """What a cell hands back: facts and arrays for the store, the kept model as bytes, or
    ``error``, a plugin's failure that skips the model on this dataset."""
    cell: Cell
    facts: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    model_bytes: bytes | None = None
    error: str = ""
    stop: str = ""   # a write error where the cell ran (a full disk): stops the run
    seconds: float = 0.0
    where: str = ""


@dataclass
class Prepared:
    """A dataset loaded, checked and split once, with the store its facts go to."""
    dataset: object
    protocol: object
    fold_of: np.ndarray
    store: RunStore
    info: dict


class Progress:
    """One line per cell start/end, with an ETA for the whole run that accounts for the
    number of cells running at once. Work is counted in whole folds: a learning-curve cell
    at size 0.25 is a quarter of one."""

    def __init__(self, total: int, echo=print, quiet: bool = False, slots: int = 1):
        self.total, self.done, self.echo, self.quiet = total, 0, echo, quiet
        self.slots = max(1, slots)
        self.seconds = 0.0

    def say(self, text: str) -> None:
        if not self.quiet:
            self.echo(text)

    def eta(self) -> str:
        if not self.done:
            return "ETA unknown"
        left = (self.total - self.done) * self.seconds / self.done
        return f"ETA {_clock(left / min(self.slots, max(1, round(self.total - self.done))))}"

    def finished(self, seconds: float, work: float = 1.0) -> None:
        self.done += work
        self.seconds += seconds

    def drop(self, work: float) -> None:
        """Cells that will not run (their model failed to build, their dataset to load)."""
        self.total -= work


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


KEEP = ("folds", "final", "none")


# -- the plan -------------------------------------------------------------------------------
def prepare(dspec, models, protocol, results_dir, data_dir, env) -> Prepared:
    """Load, validate, leakage-check and split one dataset; write its run.json and splits.
    Raises for a dataset that cannot be used."""
    dataset = dspec.load(data_dir)
    dataset.validate(plugin=dspec.plugin)
    dprotocol, fold_of, groups, leak = split_dataset(dataset, protocol)
    summary = dataset.summary()
    store = RunStore(results_dir, dataset.name,
                     dprotocol.run_id(summary["fingerprint"] + "|" + identity(models)))
    saved = store.read_splits()
    if saved is not None and (saved != fold_of).any():
        raise ZooError(f"{store.path}: saved splits differ from the ones computed now; "
                       "remove that folder to start afresh")
    info = store.read_run() if store.has_run() else {}
    known = list(info.get("models", []))
    sizes = sorted(set(info.get("train_sizes", [])) | set(dprotocol.train_sizes))
    info.update({"dataset": summary, "protocol": dprotocol.to_dict(), "leakage": leak,
                 "train_sizes": sizes,
                 "run_id": store.run_id, "environment": env,
                 "models": known + [m.name for m in models if m.name not in known],
                 "specs": {**info.get("specs", {}), **{m.name: {
                     "plugin": m.plugin, "version": m.version,
                     "description": m.description, "explain": list(m.explain)}
                     for m in models}}})
    info.setdefault("started_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    store.write_splits(fold_of, groups)
    if dataset.has_test:
        store.write_test_labels(dataset.y_test)
    store.write_run(info)
    return Prepared(dataset, dprotocol, fold_of, store, info)


def identity(models) -> str:
    """What identifies the models of a run besides the protocol and the data: each one's
    name, plugin version and options. Changing any of them starts a new run beside the old
    one instead of resuming onto facts made with other ones."""
    import json

    return json.dumps(sorted([m.name, m.plugin, m.version, m.options] for m in models),
                      sort_keys=True, default=repr)


def plan(prepared: dict, models: list, keep: str, progress: Progress, result: RunResult) -> list:
    """Every cell still to do, dataset by dataset and model by model; finished folds are
    counted as resumed and skipped."""
    cells = []
    for name, p in prepared.items():
        for m in models:
            for fold in range(p.protocol.folds):
                for size in p.protocol.train_sizes:
                    cell = Cell(name, m.name, fold, p.protocol.folds, size)
                    if p.store.has_fold(m.name, fold, size):
                        facts, _ = p.store.read_fold(m.name, fold, size)
                        if facts.get("status") in ("ok", "diverged"):
                            result.resumed += 1
                            progress.say(f"[skip] {cell.label}: already done")
                            continue
                    cells.append(cell)
            if keep == "final" and not p.store.has_final(m.name):
                cells.append(Cell(name, m.name, None, p.protocol.folds))
    return cells


# -- one cell -------------------------------------------------------------------------------
def run_cell(cell: Cell, spec, prepared: Prepared, runners: dict, strategy=None,
             verbose: int = 0, keep: str = "folds", where: str = "") -> Outcome:
    """Train and score one cell; writes nothing. ``runners`` keeps one compiled model per
    (dataset, model) across the cells a process runs (see zoo.train.FoldRunner); a runner
    for another (dataset, model) is released first."""
    from zoo.train import FoldRunner, environment, model_bytes

    key = (cell.dataset, cell.model)
    if key not in runners:
        for old in list(runners):
            del runners[old]
        release()
        runners[key] = FoldRunner(spec, prepared.dataset, prepared.protocol, strategy,
                                  verbose=verbose)
    runner = runners[key]
    t0 = time.monotonic()
    out = Outcome(cell, where=where)
    try:
        if cell.fold is None:
            out.facts, model = runner.fit_final()
            out.model_bytes = model_bytes(model) if model is not None else None
        else:
            out.facts, out.arrays, model = runner.run(cell.fold, prepared.fold_of, cell.size)
            if keep == "folds" and model is not None and cell.size >= 1:
                out.model_bytes = model_bytes(model)
    except PluginError as exc:
        out.error = str(exc)
    except WriteError as exc:  # no fold's failure: the run stops, keeping what is saved
        out.stop = str(exc)
    except Exception as exc:  # a fold that raises is a failed fold, not a failed run
        out.facts = cell.failed(f"{type(exc).__name__}: {exc}"[:2000])
        out.arrays = {}
    out.seconds = time.monotonic() - t0
    out.facts["wall_seconds"] = out.seconds
    out.facts["environment"] = environment()
    if where:
        out.facts["worker"] = where
    return out


# -- the run --------------------------------------------------------------------------------
def run(models: list, datasets: list, protocol, results_dir, data_dir=None, devices=None,
        echo=print, quiet: bool = False, verbose: int | None = None,
        keep: str = "folds", executor=None) -> RunResult:
    """Train every model in ``models`` on every dataset in ``datasets`` (specs) under
    ``protocol``; facts go to ``results_dir``. ``executor`` decides where the cells run
    (default: zoo.executors.LocalExecutor, in this process). Returns what ran and what was
    skipped.

    ``keep``: 'folds' keeps every fold's trained model (fold-01.keras, ...); 'final' trains
    one more model on all the training data after the folds and keeps that (final.keras);
    'none' keeps no model."""
    if keep not in KEEP:
        raise ConfigError(f"--keep-models: expected one of {', '.join(KEEP)}, got {keep!r}")
    from zoo.executors import LocalExecutor
    from zoo.train import environment

    results_dir = Path(results_dir)
    result = RunResult()
    executor = executor or LocalExecutor(devices)
    env = environment()
    keras_verbose = (0 if quiet else 2) if verbose is None else verbose
    progress = Progress(0, echo, quiet)

    prepared = {}
    for dspec in datasets:
        try:
            p = prepare(dspec, models, protocol, results_dir, data_dir, env)
        except (ConfigError, WriteError):  # the user's to fix, for every dataset alike
            raise
        except Exception as exc:  # bad data or a plugin bug: report it, go on with the rest
            reason = str(exc) if isinstance(exc, ZooError) else \
                f"plugin {dspec.plugin}: load raised {type(exc).__name__}: {exc}"
            result.skipped.append({"what": "dataset", "name": dspec.name, "reason": reason,
                                   "error": True})
            echo(f"error: dataset {dspec.name}: {reason}")
            continue
        leak = p.info["leakage"]
        if leak["note"]:
            progress.say(f"{p.dataset.name}: {leak['note']}")
        if leak["checks"][p.protocol.split]["leakage"]:
            echo(f"warning: {p.dataset.name}: held-out folds leak: "
                 + "; ".join(leak["checks"][p.protocol.split]["reasons"])
                 + ". Held-out scores will be optimistic; "
                 + ("trust the official test split, or use --split grouped"
                    if p.dataset.has_test else "use --split grouped"))
        prepared[p.dataset.name] = p
        result.runs.append({"dataset": p.dataset.name, "run_id": p.store.run_id,
                            "path": str(p.store.path), "models": [m.name for m in models]})
        _checkpoint(results_dir, result)

    cells = plan(prepared, models, keep, progress, result)
    specs = {m.name: m for m in models}
    dropped = set()   # (dataset, model) whose model failed to build there
    def should_run(cell: Cell) -> bool:
        if (cell.dataset, cell.model) in dropped:
            return False
        if cell.fold is None:  # a final model needs at least one finished fold
            store = prepared[cell.dataset].store
            return any(store.has_fold(cell.model, k) for k in range(cell.folds))
        return True

    def started(cell: Cell, where: str = "") -> None:
        if cell.fold is None:
            n = len(prepared[cell.dataset].dataset.y)
            progress.say(f"[final] {cell.label}: training on all {n} training images")
        else:
            progress.say(f"[start] {cell.label}" + (f" on {where}" if where else "")
                         + f"  ({progress.eta()})")

    # the session opens first, so that remote workers start (and import TensorFlow) while
    # this process checks every model
    with executor.session(prepared, specs, keep, keras_verbose, len(cells)) as session:
        cells = _check_models(cells, specs, prepared, result, dropped, echo)
        progress.total = sum(c.size for c in cells if c.fold is not None)
        progress.slots = session.slots
        progress.say(session.describe())
        for outcome in session.run(cells, should_run, started, echo):
            _record(outcome, prepared[outcome.cell.dataset], progress, result, dropped, echo)
    for p in prepared.values():
        p.info["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        p.store.write_run(p.info)
    _checkpoint(results_dir, result)
    return result


def _check_models(cells, specs, prepared, result, dropped, echo) -> list:
    """Build every model once for every dataset shape it is to train on, before any fold:
    a model whose build fails is dropped on that dataset, in seconds. Returns the cells left."""
    from zoo.train import check_models

    shapes = {name: (p.dataset.input_shape, p.dataset.num_classes)
              for name, p in prepared.items()}
    needed = sorted({(c.model, c.dataset) for c in cells})
    broken = check_models([specs[m] for m in sorted({m for m, _ in needed})],
                          sorted(set(shapes[d] for _, d in needed)))
    for model, dataset in needed:
        error = broken.get((model, shapes[dataset]))
        if error:
            dropped.add((dataset, model))
            result.skipped.append({"what": "model", "name": model, "dataset": dataset,
                                   "reason": error, "error": True})
            echo(f"error: {error} (on {dataset}; nothing of it was trained)")
    return [c for c in cells if (c.dataset, c.model) not in dropped]


def _record(outcome: Outcome, prepared: Prepared, progress: Progress, result: RunResult,
            dropped: set, echo) -> None:
    """Write one outcome to the store (atomically) and say what happened."""
    cell, store = outcome.cell, prepared.store
    if outcome.stop:
        raise ZooError(outcome.stop)
    if outcome.error:
        if (cell.dataset, cell.model) not in dropped:
            dropped.add((cell.dataset, cell.model))
            result.skipped.append({"what": "model", "name": cell.model, "dataset": cell.dataset,
                                   "reason": outcome.error, "error": True})
            echo(f"error: {outcome.error}")
        if cell.fold is not None:
            progress.drop(cell.size)
        return
    if cell.fold is None:
        if outcome.model_bytes is not None:
            store.write_model(cell.model, None, outcome.model_bytes)
            outcome.facts["model_file"] = str(store.model_path(cell.model))
        store.write_final(cell.model, outcome.facts)
        return
    if outcome.model_bytes is not None:
        store.write_model(cell.model, cell.fold, outcome.model_bytes)
        outcome.facts["model_file"] = str(store.model_path(cell.model, cell.fold))
    store.write_fold(cell.model, cell.fold, outcome.facts, outcome.arrays, cell.size)
    result.trained += 1
    progress.finished(outcome.seconds, cell.size)
    if outcome.facts["status"] != "ok":
        result.failed += 1
        echo(f"[failed] {cell.label}: {outcome.facts['status']}: {outcome.facts['reason']}")
    else:
        progress.say(f"[done] {cell.label} in {_clock(outcome.seconds)}  ({progress.eta()})")


def split_dataset(dataset, protocol):
    """The dataset's folds under ``protocol.split``, with the leakage check's numbers.

    Returns (protocol with the split kind actually used, fold_of, groups or None, leakage
    info). 'auto' becomes 'grouped' when the check flags a stratified split."""
    from dataclasses import replace

    from zoo import leakage

    stratified = replace(protocol, split="stratified")
    fold_of = make_splits(dataset.y, stratified)
    checks = {"stratified": leakage.check(dataset.x, dataset.y, fold_of, dataset.x_test,
                                          dataset.y_test, seed=protocol.seed)}
    kind, note, groups = protocol.split, "", None
    if kind == "auto":
        kind = "grouped" if checks["stratified"]["leakage"] else "stratified"
        note = (f"split chosen automatically: {kind}, since "
                + ("the leakage check flagged a stratified split" if kind == "grouped"
                   else "the leakage check found no leakage"))
    if kind == "grouped":
        groups = leakage.groups(dataset.x, dataset.y, checks["stratified"]["near_copy_threshold"])
        protocol = replace(protocol, split="grouped")
        fold_of = make_splits(dataset.y, protocol, groups)
        checks["grouped"] = leakage.check(dataset.x, dataset.y, fold_of, dataset.x_test,
                                          dataset.y_test, seed=protocol.seed)
    else:
        protocol = stratified
    info = {"checks": checks, "used": kind, "note": note,
            "groups": int(len(np.unique(groups))) if groups is not None else None}
    return protocol, fold_of, groups, info


def where_line(strategy) -> str:
    """One plain line on where training runs (TensorFlow's own start-up lines are hidden)."""
    from zoo.distribute import NO_GPU, describe

    d = describe(strategy)
    how = "one device" if d["replicas"] == 1 else f"{d['strategy']}, {d['replicas']} replicas"
    where = f"devices: {', '.join(d['devices'])} ({how})"
    if not d["gpus"]:
        where += "; no GPU found" + (" (CUDA could not start)" if NO_GPU["seen"] else "")
    return where


def _checkpoint(results_dir, result: RunResult) -> None:
    write_last_run(results_dir, result.runs, result.skipped)


def release() -> None:
    """Free a finished model's graph and variables before the next one."""
    import keras

    keras.backend.clear_session()
    gc.collect()

