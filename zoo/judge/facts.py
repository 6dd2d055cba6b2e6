"""Reading saved facts back: the runs of the last `zoo run`, each fold's facts and arrays,
and the metrics derived from them. Never imports tensorflow."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo import metrics, options
from zoo.plugins import get_registry
from zoo.errors import FactsError
from zoo.grid.protocol import MAX_FOLDS
from zoo.schema import WHAT_TO_DO, fold_count
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
    #: one line for every fold left out because its facts or arrays were not zoo's
    fact_errors: list = field(default_factory=list)
    #: model -> (label, colour) in every figure of the report (zoo.show.figures.styles)
    style: dict = field(default_factory=dict)
    #: the facts of every export of its models (`zoo export model`)
    exports: list = field(default_factory=list)

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

    def base(self, model: str) -> str:
        """The name a model's plugin registered it under: 'vit' for the variant
        'vit:depth=1' (runs made before zoo recorded it: read from the variant's name)."""
        return self.info.get("specs", {}).get(model, {}).get("base") or \
            options.parse(model)[0]


def load_run(store: RunStore, specs: dict | None = None) -> DatasetRun:
    """One dataset's run with every fold's scores: every metric of ``specs`` (default: every
    registered metric), on the held-out folds and, where the run kept the official test
    split's labels, on the test split. A metric that raises is NaN, its message in
    ``metric_errors``; a fold whose facts or arrays are not what zoo writes is left out, its
    one line in ``fact_errors``. A run.json that is not what zoo writes raises FactsError."""
    info = _checked_info(store)
    y_test = store.read_test_labels()
    n_classes = len(info["dataset"]["classes"])
    specs = get_registry().metrics if specs is None else specs
    errors, broken = {}, []
    folds, curves = {}, {}
    sizes = [s for s in info.get("train_sizes", []) if s < 1]
    for model in info["models"]:
        for size in sizes + [1.0]:
            for k in range(fold_count(info["protocol"])):
                if not store.has_fold(model, k, size):
                    continue
                try:
                    fold = _read_fold(store, model, k, size, n_classes, y_test)
                except FactsError as exc:
                    broken.append(str(exc))
                    continue
                _score(fold, specs, y_test, errors)
                curves.setdefault(model, {}).setdefault(size, []).append(fold)
                if size == 1.0:
                    folds.setdefault(model, []).append(fold)
    run = DatasetRun(store, info, store.read_splits(), folds, y_test,
                     curves=curves if sizes else {}, trials=_trials(store, info))
    run.metrics, run.metric_errors, run.fact_errors = specs, errors, broken
    run.exports = [e for e in store.read_exports() if e["model"] in folds]
    return run


def _score(fold: Fold, specs: dict, y_test, errors: dict) -> None:
    if fold.ok:
        arrays, n = fold.arrays, fold.n_classes
        fold.scores = metrics.evaluate(arrays["y_true"], arrays["y_prob"], n, specs,
                                       counts=fold.counts, errors=errors)
        if "test_prob" in arrays and y_test is not None:
            fold.test_scores = metrics.evaluate(y_test, arrays["test_prob"], n, specs,
                                                errors=errors)


def _checked_info(store: RunStore) -> dict:
    """run.json, with what the report relies on checked: a protocol with a sane number of
    folds, a non-empty list of class names, a list of models."""
    path = store.path / "run.json"
    info = store.read_run()
    if not isinstance(info, dict):
        raise FactsError(f"{path}: not a readable facts file (expected a JSON object); "
                         f"{WHAT_TO_DO_RUN}")
    folds = (info.get("protocol") or {}).get("folds") if isinstance(info.get("protocol"),
                                                                     dict) else None
    classes = (info.get("dataset") or {}).get("classes") if isinstance(info.get("dataset"),
                                                                       dict) else None
    problem = _info_problem(folds, classes, info.get("models"), info.get("train_sizes", []))
    if problem:
        raise FactsError(f"{path}: {problem}; {WHAT_TO_DO_RUN}")
    return info


def _info_problem(folds, classes, models, sizes) -> str:
    if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= MAX_FOLDS:
        return f"'folds' is {folds!r}; expected an integer from 2 to {MAX_FOLDS:,}"
    if not isinstance(classes, list) or not classes or \
            not all(isinstance(c, str) for c in classes):
        return f"'classes' is {classes!r}; expected a non-empty list of class names"
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        return f"'models' is {models!r}; expected a list of model names"
    if not isinstance(sizes, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in sizes):
        return f"'train_sizes' is {sizes!r}; expected a list of fractions"
    return ""


WHAT_TO_DO_RUN = ("the report leaves this run out; restore the file from a backup, or run "
                  "the same `zoo run` into a new --results folder")


def _read_fold(store: RunStore, model: str, k: int, size: float, n_classes: int,
               y_test) -> Fold:
    """A fold's facts and arrays, the arrays checked against the run: a successful fold has
    its predictions, one finite probability a class for every held-out image (and every
    test image), and labels of the run's classes."""
    facts, arrays = store.read_fold(model, k, size)
    data = store.fold_paths(model, k, size)[1]
    if facts["status"] == "ok":
        problem = _arrays_problem(arrays, n_classes, None if y_test is None else len(y_test))
        if problem:
            raise FactsError(f"{data}: {problem}; {WHAT_TO_DO}")
    return Fold(model, k, facts, arrays, n_classes=n_classes)


def _arrays_problem(arrays: dict, n_classes: int, n_test) -> str:
    if "y_prob" not in arrays or "y_true" not in arrays:
        return "the predictions are missing (the .npz beside the fold's .json is gone)"
    prob, y = np.asarray(arrays["y_prob"]), np.asarray(arrays["y_true"])
    if prob.ndim != 2 or prob.shape != (len(y), n_classes):
        return (f"'y_prob' has the shape {prob.shape}; expected ({len(y)}, {n_classes}): "
                "one probability a class for every held-out image")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and not 0 <= y.min() <= y.max()
                                                  < n_classes):
        return f"'y_true' holds labels outside 0..{n_classes - 1}"
    if not np.isfinite(prob).all():
        return "'y_prob' holds probabilities that are not finite (NaN or infinite)"
    test = arrays.get("test_prob")
    if test is not None and n_test is not None and (
            np.shape(test) != (n_test, n_classes) or not np.isfinite(test).all()):
        return (f"'test_prob' has the shape {np.shape(test)} or values that are not finite; "
                f"expected ({n_test}, {n_classes}) finite probabilities")
    return ""


def _trials(store: RunStore, info: dict) -> dict:
    """Every trial of a tuned run's searches (the run's number of trials of each), by model
    and outer fold; {} for a run that tuned nothing."""
    tuning = info.get("tuning")
    if not tuning:
        return {}
    searches = [None] if tuning["scope"] == "once" else range(fold_count(info["protocol"]))
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
    skipped = list(last.get("skipped", []))
    for entry in last["runs"]:
        store = RunStore(results_dir, entry["dataset"], entry["run_id"])
        if not store.has_run():
            continue
        try:
            run = load_run(store, specs)
        except FactsError as exc:   # this run is left out; the others render
            skipped.append({"what": "facts", "name": entry["dataset"], "reason": str(exc)})
            continue
        runs.append(run)
        skipped += [{"what": "facts", "name": run.name, "reason": reason}
                    for reason in run.fact_errors]
    return runs, skipped
