"""Comparing models: one function compares one pair on one metric, wherever the scores come
from, and returns a typed :class:`Comparison`; families of them are Holm-adjusted together.

- Held-out folds (``source="cv"``): the Nadeau-Bengio corrected t-test over the folds both
  models finished, with each fold's actual sizes; Wilcoxon's signed-rank test as a second
  opinion.
- The official test split (``source="test"``): every fold's model is scored on the same
  images, so a paired bootstrap over test images and fold models gives the interval and p;
  McNemar's exact test on the fold ensembles' predictions is a second opinion for accuracy.
- Three or more models: Friedman's test on the ranks over folds and Nemenyi's critical
  difference (:func:`ranking`).

Numbers only: the words are zoo.words', the conclusion zoo.verdict's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from zoo import stats
from zoo.metrics import BOUNDS, METRICS

#: metrics compared pairwise on held-out folds (and every metric a plugin adds)
COMPARED = ("accuracy", "f1", "mcc", "roc_auc")
#: metrics compared on the official test split (paired bootstrap)
TEST_COMPARED = ("accuracy", "f1")
#: the metric the conclusion is about
MAIN = "accuracy"
#: mean scores at or above this sit at the ceiling: differences there say little
CEILING = 0.995
N_BOOT = 2000
SOURCES = {"cv": "the held-out folds", "test": "the official test split"}


@dataclass
class Comparison:
    """Model ``a`` against model ``b`` on one metric (differences are a − b)."""
    a: str
    b: str
    metric: str
    label: str
    higher: bool                 # is a higher score better?
    source: str                  # "cv" (held-out folds) or "test" (official test split)
    folds: list                  # the fold numbers compared (1-based)
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p: float
    test: str                    # the test that gave p and the interval
    undecidable: bool = False    # every fold gave the same difference: t is undefined
    second: str = ""             # the second opinion's test, and its p
    second_p: float = float("nan")
    mcnemar: dict | None = None
    n_boot: int = 0
    size: float = 1.0            # the training size (a learning-curve point below 1)
    images: float = float("nan")  # training images at that size
    at_ceiling: bool = False
    # set when the family is adjusted (:func:`adjust`)
    p_holm: float = float("nan")
    family: int = 0
    significant: bool = False
    better: str = ""
    # set by zoo.words
    verdict: str = ""
    second_note: str = ""

    @property
    def worse(self) -> str:
        return self.b if self.better == self.a else self.a

    @property
    def k(self) -> int:
        return len(self.folds)


@dataclass
class Ranking:
    """Friedman's test of three or more models over the folds they all finished, with the
    critical difference of Nemenyi's test."""
    models: list
    folds: list                  # 1-based
    metric: str
    source: str
    means: list
    ranks: list                  # mean rank of each model (1 = best)
    statistic: float
    p: float
    cd: float
    significant: bool
    extra: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        return SOURCES[self.source]


# -- the metrics and folds a comparison uses ----------------------------------------------------
def meta(run, metric) -> tuple:
    """(label, higher is better, bounds) of a metric, from the run's catalogue."""
    spec = (getattr(run, "metrics", None) or {}).get(metric)
    if spec is not None:
        return spec.label or metric, spec.higher_is_better, spec.bounds
    label, higher = METRICS[metric]
    return label, higher, BOUNDS.get(metric)


def compared_metrics(run) -> list:
    """The core metrics of :data:`COMPARED` and every metric a plugin added (top-5 accuracy,
    calibration error, ...), as far as the run scored them."""
    scored = getattr(run, "metrics", None) or {}
    names = [m for m in COMPARED if not scored or m in scored]
    return names + [m for m in scored if m not in METRICS]


def ok_folds(run, model: str, size: float = 1.0) -> dict:
    """fold number -> Fold of ``model``'s successful folds at a training size."""
    return {f.fold: f for f in run.folds_at(model, size) if f.ok}


def shared_folds(run, models, size: float = 1.0) -> list:
    """Fold numbers where every model in ``models`` succeeded."""
    common = None
    for m in models:
        ok = set(ok_folds(run, m, size))
        common = ok if common is None else common & ok
    return sorted(common or [])


def fold_sizes(run, folds) -> tuple:
    """(n_train, n_test) for the corrected t-test: each fold's actual training and held-out
    sizes (early stopping's inner split shrinks the training part), averaged over ``folds``.
    Facts saved without sizes fall back to n - n/k and n/k."""
    n = run.info["dataset"]["samples"]
    trains, tests = [], []
    for f in folds:
        held = f.facts.get("held_out_samples") or len(f.arrays.get("y_true", ())) \
            or n / run.info["protocol"]["folds"]
        trains.append(f.facts.get("train_samples") or n - held)
        tests.append(held)
    return float(np.mean(trains)), float(np.mean(tests))


def split_bootstrap(run, n_boot: int = N_BOOT):
    """The run's resamples of its test split (zoo.stats.TestSplitBootstrap, seed 0), made once
    and shared by every comparison on it: 2,000 resamples of 7,172 images take about 1 s and
    115 MB."""
    y_test = np.asarray(run.y_test)
    cache = run.__dict__.setdefault("_test_bootstraps", {})
    key = (n_boot, y_test.tobytes())
    if key not in cache:
        cache[key] = stats.TestSplitBootstrap(y_test, len(run.classes), n_boot=n_boot, seed=0)
    return cache[key]


def predictions(run, model: str, fold, size: float = 1.0) -> np.ndarray:
    """The predicted classes of one fold model on the test split, computed once per run."""
    cache = run.__dict__.setdefault("_test_predictions", {})
    if (model, fold.fold, size) not in cache:
        cache[model, fold.fold, size] = fold.arrays["test_prob"].argmax(axis=1)
    return cache[model, fold.fold, size]


def ensemble(run, model: str, folds, size: float = 1.0) -> np.ndarray:
    """A model's fold ensemble on the test split (probabilities averaged over ``folds``),
    as predicted classes; computed once for all the pairs it is in."""
    cache = run.__dict__.setdefault("_test_ensembles", {})
    key = (model, tuple(f.fold for f in folds), size)
    if key not in cache:
        cache[key] = np.mean([f.arrays["test_prob"] for f in folds], axis=0).argmax(axis=1)
    return cache[key]


# -- one comparison -------------------------------------------------------------------------------
def compare(run, a: str, b: str, metric: str, source: str = "cv", size: float = 1.0,
            n_boot: int = N_BOOT) -> Comparison | None:
    """Models ``a`` and ``b`` on ``metric`` over the folds both finished at training size
    ``size``: on the held-out folds (``source="cv"``) or the official test split
    (``"test"``). None when they cannot be compared (too few shared folds, a score
    missing)."""
    common = shared_folds(run, (a, b), size)
    fa = [ok_folds(run, a, size)[k] for k in common]
    fb = [ok_folds(run, b, size)[k] for k in common]
    if source == "test":
        keep = [i for i in range(len(common))
                if "test_prob" in fa[i].arrays and "test_prob" in fb[i].arrays]
        fa, fb, common = [fa[i] for i in keep], [fb[i] for i in keep], [common[i] for i in keep]
        if not common:
            return None
        result = _on_test_split(run, a, b, fa, fb, metric, size, n_boot)
        scores = "test_scores"
    else:
        if len(common) < 2:
            return None
        result = _on_held_out_folds(run, fa, fb, metric)
        scores = "scores"
    if result is None:
        return None
    xa = [getattr(f, scores).get(metric, float("nan")) for f in fa]
    xb = [getattr(f, scores).get(metric, float("nan")) for f in fb]
    label, higher, bounds = meta(run, metric)
    images = [f.facts.get("train_samples") for f in fa + fb if f.facts.get("train_samples")]
    return Comparison(
        a=a, b=b, metric=metric, label=label, higher=higher, source=source,
        folds=[k + 1 for k in common], mean_a=float(np.mean(xa)), mean_b=float(np.mean(xb)),
        size=size, images=float(np.mean(images)) if images else float("nan"),
        at_ceiling=bool(higher and bounds is not None and bounds[1] == 1
                        and min(np.mean(xa), np.mean(xb)) >= CEILING), **result)


def _on_held_out_folds(run, fa, fb, metric) -> dict | None:
    xa = [f.scores.get(metric, float("nan")) for f in fa]
    xb = [f.scores.get(metric, float("nan")) for f in fb]
    if not (np.isfinite(xa).all() and np.isfinite(xb).all()):
        return None
    n_train, n_test = fold_sizes(run, list(fa) + list(fb))
    r = stats.corrected_ttest(xa, xb, n_train, n_test, bounds=meta(run, metric)[2])
    return {"mean_diff": r["mean_diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "p": r["p"], "undecidable": r["undecidable"], "test": "corrected t-test",
            "second": "Wilcoxon", "second_p": stats.wilcoxon(xa, xb)}


def _on_test_split(run, a, b, fa, fb, metric, size, n_boot) -> dict | None:
    if metric not in stats.TestSplitBootstrap.METRICS:
        return None
    boot = split_bootstrap(run, n_boot)
    r = boot.compare([predictions(run, a, f, size) for f in fa],
                     [predictions(run, b, f, size) for f in fb], metric,
                     keys_a=[(a, size, f.fold) for f in fa],
                     keys_b=[(b, size, f.fold) for f in fb], bounds=meta(run, metric)[2])
    out = {"mean_diff": r["mean_diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
           "p": r["p"], "undecidable": r["undecidable"], "test": "paired bootstrap",
           "n_boot": r["n_boot"]}
    if metric == "accuracy":
        mcnemar = stats.mcnemar_exact(run.y_test, ensemble(run, a, fa, size),
                                      ensemble(run, b, fb, size))
        out.update(second="McNemar", second_p=mcnemar["p"], mcnemar=mcnemar)
    return out


# -- families -------------------------------------------------------------------------------------
def family(run, models, metrics, source: str = "cv", sizes=(1.0,),
           n_boot: int = N_BOOT) -> list:
    """Every pair of ``models`` on every metric of ``metrics`` at every training size of
    ``sizes``, Holm-adjusted together (one family)."""
    rows = []
    for size in sizes:
        for a, b in stats.pairs(models):
            for metric in metrics:
                c = compare(run, a, b, metric, source, size, n_boot)
                if c is not None:
                    rows.append(c)
    return adjust(rows)


def adjust(rows: list) -> list:
    """Holm's adjustment over the family ``rows``; each row's significance and the better
    model follow from its adjusted p."""
    adjusted = stats.holm([r.p for r in rows])
    for r, p_holm in zip(rows, adjusted, strict=True):
        r.p_holm, r.family = p_holm, len(rows)
        r.significant = bool(np.isfinite(p_holm) and p_holm < stats.ALPHA and r.mean_diff != 0)
        if r.significant:
            r.better = r.a if (r.mean_diff > 0) == r.higher else r.b
    return rows


def ranking(run, models, source: str = "cv") -> Ranking | None:
    """Friedman's test and Nemenyi's critical difference of ``models`` (3+) on the main
    metric over the folds they all finished; None when it does not apply."""
    if len(models) < 3:
        return None
    common = shared_folds(run, models)
    if len(common) < 2:
        return None
    key = "test_scores" if source == "test" else "scores"
    scores = np.array([[getattr(ok_folds(run, m)[k], key).get(MAIN, np.nan) for m in models]
                       for k in common])
    if not np.isfinite(scores).all():
        return None
    r = stats.friedman(scores, higher_is_better=meta(run, MAIN)[1])
    return Ranking(models=list(models), folds=[k + 1 for k in common], metric=MAIN,
                   source=source, means=scores.mean(axis=0).tolist(), ranks=r["ranks"],
                   statistic=r["statistic"], p=r["p"], cd=r["cd"],
                   significant=r["p"] < stats.ALPHA)


def mean_std(values) -> tuple:
    """(mean, sample std) of the finite values; (None, None) when there are none."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
