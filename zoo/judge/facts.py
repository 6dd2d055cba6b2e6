"""Reading saved facts back: the runs of the last `zoo run`, each fold's facts and arrays,
and the metrics derived from them. Never imports tensorflow."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo import metrics
from zoo.plugins import get_registry
from zoo.store import RunStore, read_last_run


@dataclass
class Fold:
    model: str
    fold: int
    facts: dict
    arrays: dict
    scores: dict = field(default_factory=dict)        # held-out fold
    test_scores: dict = field(default_factory=dict)   # official test split

    n_classes: int = 0

    @property
    def ok(self) -> bool:
        return self.facts.get("status") == "ok"

    @functools.cached_property
    def y_true(self) -> np.ndarray:
        return self.arrays["y_true"].astype(np.int64)

    @functools.cached_property
    def counts(self) -> list:
        """The one sort of the held-out scores that AUC and both curves are built on."""
        return metrics.ovr_counts(self.y_true, self.arrays["y_prob"], self.n_classes)

    @functools.cached_property
    def confusion(self) -> np.ndarray:
        """Held-out confusion matrix, computed once and shared by every view."""
        return metrics.confusion(self.y_true, self.arrays["y_prob"], self.n_classes)

    @functools.cached_property
    def roc(self) -> np.ndarray:
        return metrics.roc_on_grid(self.y_true, self.arrays["y_prob"], self.n_classes,
                                   counts=self.counts)

    @functools.cached_property
    def pr(self) -> np.ndarray:
        return metrics.pr_on_grid(self.y_true, self.arrays["y_prob"], self.n_classes,
                                  counts=self.counts)


@dataclass
class DatasetRun:
    store: RunStore
    info: dict
    fold_of: np.ndarray
    folds: dict   # model -> [Fold]
    y_test: np.ndarray | None = None   # labels of the official test split, if any
    metrics: dict = field(default_factory=dict)         # name -> MetricSpec scored
    metric_errors: dict = field(default_factory=dict)   # name -> what went wrong
    #: learning curves: model -> {size: [Fold]}, the sizes below 1 and 1.0 (``folds``)
    curves: dict = field(default_factory=dict)
    #: a tuned run: model -> {outer fold (None: scope once): [trial facts, by number]}
    trials: dict = field(default_factory=dict)

    @property
    def train_sizes(self) -> list:
        """The training sizes with facts, when the run has learning curves (else [])."""
        sizes = sorted({s for by in self.curves.values() for s in by if by[s]})
        return sizes if len(sizes) > 1 else []

    @property
    def name(self) -> str:
        return self.info["dataset"]["name"]

    @property
    def classes(self) -> list:
        return self.info["dataset"]["classes"]

    @property
    def models(self) -> list:
        return [m for m in self.info["models"] if self.folds.get(m)]

    def folds_at(self, model: str, size: float = 1.0) -> list:
        """A model's folds at one training size (1.0: the whole training part)."""
        if self.curves:
            return self.curves.get(model, {}).get(size, [])
        return self.folds.get(model, []) if size == 1.0 else []

    def all_folds(self) -> list:
        """Every fold's facts: of each model, at each training size."""
        if self.curves:
            return [f for by in self.curves.values() for fs in by.values() for f in fs]
        return [f for fs in self.folds.values() for f in fs]

    def ok_folds(self, model: str) -> list:
        return [f for f in self.folds.get(model, []) if f.ok]


def load_run(store: RunStore, y_test=None, specs: dict | None = None) -> DatasetRun:
    """One dataset's run with every fold's scores: every metric of ``specs`` (default: every
    registered metric). A metric that raises is NaN, its message in ``metric_errors``."""
    info = store.read_run()
    n_classes = len(info["dataset"]["classes"])
    specs = get_registry().metrics if specs is None else specs
    errors = {}
    folds, curves = {}, {}
    sizes = [s for s in info.get("train_sizes", []) if s < 1]
    for model in info.get("models", []):
        for size in sizes + [1.0]:
            for k in range(info["protocol"]["folds"]):
                if not store.has_fold(model, k, size):
                    continue
                facts, arrays = store.read_fold(model, k, size)
                fold = Fold(model, k, facts, arrays, n_classes=n_classes)
                if fold.ok:
                    fold.scores = metrics.evaluate(arrays["y_true"], arrays["y_prob"],
                                                   n_classes, specs, counts=fold.counts,
                                                   errors=errors)
                    if "test_prob" in arrays and y_test is not None:
                        fold.test_scores = metrics.evaluate(y_test, arrays["test_prob"],
                                                            n_classes, specs, errors=errors)
                curves.setdefault(model, {}).setdefault(size, []).append(fold)
                if size == 1.0:
                    folds.setdefault(model, []).append(fold)
    run = DatasetRun(store, info, store.read_splits(), folds, y_test,
                     curves=curves if sizes else {}, trials=_trials(store, info))
    run.metrics, run.metric_errors = specs, errors
    return run


def _trials(store: RunStore, info: dict) -> dict:
    """Every trial of a tuned run's searches (the run's number of trials of each), by model
    and outer fold; {} for a run that tuned nothing."""
    tuning = info.get("tuning")
    if not tuning:
        return {}
    searches = [None] if tuning["scope"] == "once" else range(info["protocol"]["folds"])
    out = {}
    for model in info.get("models", []):
        by = {fold: [f for n, f in sorted(store.read_trials(model, fold).items())
                     if n < tuning["trials"]] for fold in searches}
        if any(by.values()):
            out[model] = by
    return out


def load_results(results_dir) -> tuple:
    """(runs, skipped) for the last `zoo run` in ``results_dir``."""
    results_dir = Path(results_dir)
    last = read_last_run(results_dir)
    specs = get_registry().metrics
    runs = []
    for entry in last["runs"]:
        store = RunStore(results_dir, entry["dataset"], entry["run_id"])
        if not store.has_run():
            continue
        runs.append(load_run(store, store.read_test_labels(), specs))
    return runs, last.get("skipped", [])
