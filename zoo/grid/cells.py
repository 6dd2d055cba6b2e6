"""The cell contract: one unit of work, what it needs, and what it hands back.

A cell is one model trained and scored on one fold of one dataset (optionally on a share of
that fold's training part: a learning-curve point), or the final model on all the training
data, or a tuning trial: the model trained with a search's settings on an inner split of a
fold's training part and scored on the rest of it (zoo.tune.search). :func:`run_cell` is the
one function that runs a cell, wherever it runs (in this process, or in a Ray worker); it
writes nothing. The engine (zoo.grid.engine) plans cells and
writes their outcomes; executors (zoo.grid.executors) decide where run_cell runs.

This module imports nothing above it: the runners it calls come from zoo.grid.train.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from zoo.grid import settings
from zoo.grid.augment import TRANSFORMS
from zoo.environment import environment
from zoo.errors import PluginError, WriteError
from zoo.schema import FailedFacts, Facts
from zoo.grid.modelio import model_bytes
from zoo.grid.protocol import TUNE_VALIDATION


#: the kinds of cell: a fold, a learning-curve point (a fold trained on a share of its
#: training part), the final model on all the training data, a tuning trial
FOLD, CURVE, FINAL, TRIAL = "fold", "curve", "final", "trial"


@dataclass(frozen=True)
class Cell:
    """``fold`` None: the final model on all the training data; ``size`` below 1: a
    learning-curve point, trained on that share of the fold's training part.

    ``settings``: (key, value) pairs a search chose or a trial tries (zoo.grid.settings.apply), over
    the protocol and the model's options. ``trial`` 0 or more: a tuning trial of the search
    inside outer fold ``fold`` (None: the search on the whole training set), stopped at an
    epoch of ``rungs`` ((epoch, threshold) pairs) when its score there is below the
    threshold (zoo.tune.search)."""
    dataset: str
    model: str
    fold: int | None
    folds: int
    size: float = 1.0
    trial: int = -1
    settings: tuple = ()
    rungs: tuple = ()

    @property
    def kind(self) -> str:
        """FOLD, CURVE, FINAL or TRIAL: what the cell trains (its fields say it; this is the
        one place that reads them so)."""
        if self.trial >= 0:
            return TRIAL
        if self.fold is None:
            return FINAL
        return CURVE if self.size < 1 else FOLD

    @property
    def is_trial(self) -> bool:
        return self.kind == TRIAL

    @property
    def key(self) -> tuple:
        """(dataset, model, fold, size, trial): the one name of a running cell, which the
        fold runner hands back with every epoch it reports."""
        return self.dataset, self.model, self.fold, self.size, self.trial

    @property
    def label(self) -> str:
        if self.is_trial:
            inside = "the training set" if self.fold is None else \
                f"fold {self.fold + 1}/{self.folds}"
            return f"{self.dataset} / {self.model} / trial {self.trial + 1} in {inside}"
        which = "final model" if self.kind == FINAL else f"fold {self.fold + 1}/{self.folds}"
        if self.kind == CURVE:
            which += f" at {self.size:g} of its training part"
        return f"{self.dataset} / {self.model} / {which}"

    @property
    def work(self) -> float:
        """How much of a whole fold's training this cell is (for progress and ETAs); a trial
        trains on the inner-training share of a fold's training part."""
        if self.is_trial:
            return 1 - TUNE_VALIDATION
        return 0.0 if self.kind == FINAL else self.size

    def failed(self, reason: str) -> FailedFacts:
        """The facts of this cell when it failed without training to the end."""
        return FailedFacts(dataset=self.dataset, model=self.model, fold=self.fold,
                           folds=self.folds, train_size=self.size, status="error",
                           reason=reason, trial=self.trial if self.is_trial else None,
                           settings=dict(self.settings))


@dataclass
class Outcome:
    """What a cell hands back: facts and arrays for the store and the kept model as bytes;
    or ``error``, a plugin's failure that skips the model on this dataset; or ``stop``, a
    write error where the cell ran (a full disk), which stops the run."""
    cell: Cell
    facts: Facts | None = None
    arrays: dict = field(default_factory=dict)
    model_bytes: bytes | None = None
    error: str = ""
    stop: str = ""
    seconds: float = 0.0
    where: str = ""


@dataclass
class Prepared:
    """One dataset loaded, checked and split once: what every cell of it needs. Sent to Ray's
    object store once per dataset. ``transforms``: the augmentations its labels survive;
    ``groups``: the groups of near-copies of a grouped split (None otherwise); ``tuning``:
    the run's zoo.tune.space.Tuning (None: nothing is tuned)."""
    dataset: object
    protocol: object
    fold_of: np.ndarray
    transforms: tuple = TRANSFORMS
    groups: np.ndarray | None = None
    tuning: object = None


class RunnerCache:
    """The trainer of the (dataset, model) a process is working on, kept across its cells so
    that a model is compiled once, not once per fold. ``factory(spec, prepared)`` makes one
    (zoo.grid.train.RunnerFactory: a FoldRunner under the process's tf.distribute strategy); a trainer
    for another (dataset, model), or for settings the compiled model depends on
    (zoo.grid.settings.compiled_key), makes the factory release the old one first
    (``factory.release()``, when it has one). A trainer's ``protocol`` is set to the cell's
    before each cell (a search's learning rate, say, needs no new model)."""

    def __init__(self, factory):
        self.factory = factory
        self.key = None
        self.current = None

    def get(self, cell: Cell, spec, prepared: Prepared):
        key = (cell.dataset, cell.model, settings.compiled_key(cell.settings))
        if key != self.key:
            self.clear()
            self.current, self.key = self.factory(spec, prepared), key
        self.current.protocol = prepared.protocol
        return self.current

    def clear(self) -> None:
        if self.key is not None:
            self.current = self.key = None
            getattr(self.factory, "release", lambda: None)()


def _train(cell: Cell, runner, prepared: Prepared, keep: str):
    """Train the cell with its runner; returns what it trained (zoo.grid.train.Trained), the
    model left in only when it is to be kept."""
    if cell.kind == TRIAL:
        return runner.trial(cell.fold, prepared.fold_of, cell.trial, cell.rungs,
                            prepared.groups, prepared.tuning.metric, key=cell.key)
    if cell.kind == FINAL:
        return runner.fit_final(key=cell.key)
    trained = runner.run(cell.fold, prepared.fold_of, cell.size, key=cell.key)
    if not (keep == "folds" and cell.kind == FOLD):
        trained.model = None
    return trained


def run_cell(cell: Cell, spec, prepared: Prepared, runners: RunnerCache, keep: str = "folds",
             where: str = "") -> Outcome:
    """Train and score one cell; writes nothing. A fold that raises is a failed fold, not a
    failed run; a plugin's error skips its model; a write error stops the run."""
    t0 = time.monotonic()
    out = Outcome(cell, where=where)
    try:
        if cell.settings:
            spec, protocol = settings.apply(spec, prepared.protocol, cell.settings)
            prepared = dataclasses.replace(prepared, protocol=protocol.validate())
        trained = _train(cell, runners.get(cell, spec, prepared), prepared, keep)
        out.facts, out.arrays = trained.facts, trained.arrays
        if trained.model is not None:
            t1 = time.monotonic()
            out.model_bytes = model_bytes(trained.model)
            out.facts.keep_seconds = time.monotonic() - t1
    except PluginError as exc:
        out.error = str(exc)
    except WriteError as exc:
        out.stop = str(exc)
    except Exception as exc:
        out.facts = cell.failed(f"{type(exc).__name__}: {exc}"[:2000])
        out.arrays = {}
    out.seconds = time.monotonic() - t0
    if out.facts is None:   # a plugin's error or a write error: nothing to write
        return out
    out.facts.settings = dict(cell.settings)
    out.facts.wall_seconds = out.seconds
    out.facts.environment = dict(environment())
    threads = getattr(runners.factory, "threads", None)
    if threads:   # TensorFlow's reductions depend on it: results match only at equal threads
        out.facts.threads = int(threads)
    out.facts.worker = where
    return out
