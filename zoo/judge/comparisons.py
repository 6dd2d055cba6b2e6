"""Comparing models: one function compares one pair on one metric, wherever the scores come
from, and returns a typed :class:`Comparison`; families of them are Holm-adjusted together.

- Held-out folds (``source="cv"``): the Nadeau-Bengio corrected t-test over the folds both
  models finished, with each fold's actual sizes; Wilcoxon's signed-rank test as a second
  opinion.
- The official test split (``source="test"``): every fold's model is scored on the same
  images, so a paired bootstrap over test images and fold models gives the interval and p;
  McNemar's exact test on the fold ensembles' predictions is a second opinion for accuracy.
- One primary metric (accuracy unless the protocol's ``metric`` names another) carries the
  claims: its pairs form one Holm family; the other metrics are secondary results, adjusted
  in a family of their own.
- Three or more models: "the models differ" (:func:`ranking`) when a Holm-adjusted pairwise
  test on the primary metric says so; Friedman's test and Cochran's Q, which treat the
  shared training data and fold models as independent, are not used (stats' docstring).

Beside every difference that is not significant stands what the claim as made could have
detected (80% power at the level the adjustment gives, from the noncentral t), and how many
repeats of the k-fold split would find the observed one.

Numbers only: the words are zoo.judge.words', the conclusion zoo.judge.verdict's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from zoo.judge import stats
from zoo.metrics import BOUNDS, METRICS

#: metrics compared pairwise on held-out folds (and every metric a plugin adds)
COMPARED = ("accuracy", "f1", "mcc", "roc_auc")
#: metrics compared on the official test split (paired bootstrap)
TEST_COMPARED = ("accuracy", "f1")
#: the primary metric when the protocol names none
MAIN = "accuracy"
#: repeats of the k-fold split the power note looks up to
MAX_REPEATS = 10
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
    se: float = float("nan")     # the standard error the interval and p come from
    df: float = float("nan")
    detectable: float = float("nan")   # smallest difference the claim finds with 80% power
    level: float = float("nan")        # the level ``detectable`` is at (Holm's first step)
    spread: dict | None = None   # what the standard error is made of (see :func:`se_at`)
    split_folds: int = 0         # k: folds of one split (the run has k x repeats in all)
    repeats: int = 1             # repeats of the k-fold split in this run
    repeats_needed: int | None = None  # repeats that would find the observed difference
    primary: bool = True         # on the primary metric (the claims), else secondary
    nonzero: int = 0             # folds with a non-zero difference (Wilcoxon drops zeros)
    second: str = ""             # the second opinion's test, and its p
    second_p: float = float("nan")
    mcnemar: dict | None = None
    n_boot: int = 0
    size: float = 1.0            # the training size (a learning-curve point below 1)
    images: float = float("nan")  # training images at that size
    at_ceiling: bool = False
    bounds: tuple | None = None  # the range the metric can take
    # set when the family is adjusted (:func:`adjust`)
    p_holm: float = float("nan")
    family: int = 0
    family_of: str = ""          # what the family's tests are: pairs x metrics (x sizes)
    role: str = ""               # "primary" or "secondary": which family
    significant: bool = False
    better: str = ""
    # set by zoo.judge.words
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
    """Three or more models on the primary metric: do they differ at all? Answered by the
    Holm-adjusted pairwise tests (a closed test: the smallest adjusted p is the omnibus p),
    which allow for the training data the folds share and the fold models the test images
    share; Friedman's test and Cochran's Q do not, and overclaim (benchmarks/statistics.py)."""
    models: list
    folds: list                  # 1-based: the folds every model finished
    metric: str
    label: str
    source: str
    means: list                  # mean of the metric over those folds, per model
    higher: bool
    test: str                    # the pairwise test the adjusted p-values come from
    p: float                     # the smallest Holm-adjusted pairwise p
    significant: bool
    pairs: int = 0               # the pairwise tests in the family

    @property
    def where(self) -> str:
        return SOURCES[self.source]

    def order(self) -> list:
        """Model indices by mean score, the best first."""
        return sorted(range(len(self.models)), key=lambda i: -self.means[i] if self.higher
                      else self.means[i])


# -- the metrics and folds a comparison uses ----------------------------------------------------
def meta(run, metric) -> tuple:
    """(label, higher is better, bounds) of a metric, from the run's catalogue."""
    spec = (getattr(run, "metrics", None) or {}).get(metric)
    if spec is not None:
        return spec.label or metric, spec.higher_is_better, spec.bounds
    label, higher = METRICS[metric]
    return label, higher, BOUNDS.get(metric)


def primary(run) -> str:
    """The metric the claims are made on: the protocol's ``metric`` (accuracy for runs made
    before there was a choice)."""
    return (run.info.get("protocol") or {}).get("metric") or MAIN


def repeats(run) -> tuple:
    """(k, R): folds of one split and repeats of the split in this run."""
    protocol = run.info.get("protocol") or {}
    return int(protocol.get("folds", 0)), int(protocol.get("repeats") or 1)


def compared_metrics(run) -> list:
    """The core metrics of :data:`COMPARED` and every metric a plugin added (top-5 accuracy,
    calibration error, ...), as far as the run scored them."""
    scored = getattr(run, "metrics", None) or {}
    names = [m for m in COMPARED if not scored or m in scored]
    return names + [m for m in scored if m not in METRICS and not trivial(run, m)]


def trivial(run, metric: str) -> bool:
    """The metric says nothing on this run's dataset (fewer classes than it needs: top-5
    accuracy on 5 classes is 1.0 whatever the model)."""
    spec = (getattr(run, "metrics", None) or {}).get(metric)
    return spec is not None and len(run.classes) < getattr(spec, "min_classes", 0)


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
    """The run's resamples of its test split (zoo.judge.stats.TestSplitBootstrap, seed 0), made once
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
    common, fa, fb = _paired_folds(run, a, b, source, size)
    if len(common) < (1 if source == "test" else 2):
        return None
    result = _on_test_split(run, a, b, fa, fb, metric, size, n_boot) if source == "test" \
        else _on_held_out_folds(run, fa, fb, metric)
    if result is None:
        return None
    scores = "test_scores" if source == "test" else "scores"
    mean_a = float(np.mean([getattr(f, scores).get(metric, float("nan")) for f in fa]))
    mean_b = float(np.mean([getattr(f, scores).get(metric, float("nan")) for f in fb]))
    label, higher, bounds = meta(run, metric)
    images = [f.facts.get("train_samples") for f in fa + fb if f.facts.get("train_samples")]
    top = bool(higher and bounds is not None and bounds[1] == 1)
    split_k, times = repeats(run)
    return Comparison(
        a=a, b=b, metric=metric, label=label, higher=higher, source=source,
        folds=[k + 1 for k in common], mean_a=mean_a, mean_b=mean_b, size=size,
        split_folds=split_k, repeats=times, primary=metric == primary(run),
        images=float(np.mean(images)) if images else float("nan"), bounds=bounds,
        at_ceiling=top and min(mean_a, mean_b) >= CEILING, **result)


def _paired_folds(run, a: str, b: str, source: str, size: float) -> tuple:
    """(fold numbers, a's folds, b's folds): the folds both finished at ``size``; on the test
    split, only those where both scored it."""
    common = shared_folds(run, (a, b), size)
    fa = [ok_folds(run, a, size)[k] for k in common]
    fb = [ok_folds(run, b, size)[k] for k in common]
    if source == "test":
        keep = [i for i in range(len(common))
                if "test_prob" in fa[i].arrays and "test_prob" in fb[i].arrays]
        fa, fb, common = [fa[i] for i in keep], [fb[i] for i in keep], [common[i] for i in keep]
    return common, fa, fb


def _on_held_out_folds(run, fa, fb, metric) -> dict | None:
    xa = [f.scores.get(metric, float("nan")) for f in fa]
    xb = [f.scores.get(metric, float("nan")) for f in fb]
    if not (np.isfinite(xa).all() and np.isfinite(xb).all()):
        return None
    n_train, n_test = fold_sizes(run, list(fa) + list(fb))
    r = stats.corrected_ttest(xa, xb, n_train, n_test, bounds=meta(run, metric)[2])
    times = repeats(run)[1]
    out = {"mean_diff": r["mean_diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
           "p": r["p"], "undecidable": r["undecidable"], "se": r["se"], "df": r["df"],
           "nonzero": r["nonzero"],
           "spread": {"kind": "cv", "var": r["var"], "rho": n_test / n_train},
           "test": "corrected repeated k-fold t-test" if times > 1 else "corrected t-test"}
    if times == 1:   # Wilcoxon treats folds as independent: never over repeated splits
        out.update(second="Wilcoxon", second_p=stats.wilcoxon(xa, xb))
    return out


def _on_test_split(run, a, b, fa, fb, metric, size, n_boot) -> dict | None:
    if metric not in stats.TestSplitBootstrap.METRICS:
        return None
    boot = split_bootstrap(run, n_boot)
    r = boot.compare([predictions(run, a, f, size) for f in fa],
                     [predictions(run, b, f, size) for f in fb], metric,
                     keys_a=[(a, size, f.fold) for f in fa],
                     keys_b=[(b, size, f.fold) for f in fb], bounds=meta(run, metric)[2])
    parts = r["parts"]
    out = {"mean_diff": r["mean_diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
           "p": r["p"], "undecidable": r["undecidable"], "se": r["se"], "df": r["df"],
           "test": "t test over images and fold models", "n_boot": r["n_boot"],
           "spread": {"kind": "test", "fold_var": parts["fold_var"],
                      "fold_noise": parts["noise"] * len(fa), "images": parts["images"],
                      "n": r["n"]} if len(fa) > 1 else None}
    if metric == "accuracy":
        mcnemar = stats.mcnemar_exact(run.y_test, ensemble(run, a, fa, size),
                                      ensemble(run, b, fb, size))
        out.update(second="McNemar", second_p=mcnemar["p"], mcnemar=mcnemar)
    return out


# -- power ---------------------------------------------------------------------------------------
def se_at(spread: dict, folds: int) -> tuple:
    """(standard error, df) of a comparison like this one made over ``folds`` fold models
    (k x R), the spread of one fold's difference staying as observed. Held-out folds: the
    corrected repeated k-fold t-test's (1/folds + n_test/n_train) x var with folds - 1 df,
    whose second part no number of repeats shrinks (the folds share training data). Test
    split: the fold-model part shrinks with the folds, the image part does not."""
    if spread["kind"] == "cv":
        return math.sqrt((1 / folds + spread["rho"]) * spread["var"]), folds - 1
    var, df = stats.satterthwaite({"folds": spread["fold_var"] / folds,
                                   "images": spread["images"],
                                   "noise": spread.get("fold_noise", 0.0) / folds},
                                  folds, spread["n"])
    return math.sqrt(var), df


def repeats_needed(c: Comparison):
    """The fewest repeats of the k-fold split (more than the run made, up to
    :data:`MAX_REPEATS`) at which the claim as made (at ``c.level``) finds a difference of
    ``c.mean_diff`` with 80% power; None when no such number is (or the run already has
    that power)."""
    diff = abs(c.mean_diff)
    if not (diff and math.isfinite(diff) and c.spread and c.split_folds) or \
            c.detectable <= diff:
        return None
    for r in range(c.repeats + 1, MAX_REPEATS + 1):
        if stats.detectable(*se_at(c.spread, c.split_folds * r), alpha=c.level) <= diff:
            return r
    return None


# -- families -------------------------------------------------------------------------------------
def family(run, models, metrics, source: str = "cv", sizes=(1.0,),
           n_boot: int = N_BOOT, role: str = "primary") -> list:
    """Every pair of ``models`` on every metric of ``metrics`` at every training size of
    ``sizes``, Holm-adjusted together (one family; ``role`` says whether it carries the
    claims, "primary", or is reported beside them, "secondary")."""
    rows = []
    for size in sizes:
        for a, b in stats.pairs(models):
            for metric in metrics:
                c = compare(run, a, b, metric, source, size, n_boot)
                if c is not None:
                    rows.append(c)
    return adjust(rows, role)


def families(run, models, source: str = "cv", n_boot: int = N_BOOT) -> list:
    """The primary family (every pair on the primary metric), then the secondary one (every
    pair on every other metric compared on ``source``), each Holm-adjusted on its own."""
    metrics = compared_metrics(run) if source == "cv" else list(TEST_COMPARED)
    main = primary(run)
    first = family(run, models, [main], source, n_boot=n_boot) if main in metrics else []
    rest = family(run, models, [m for m in metrics if m != main], source, n_boot=n_boot,
                  role="secondary")
    return first + rest


def family_of(rows: list) -> str:
    """What a family's tests are, in words: '3 pairs of models' on the primary metric, '1
    pair of models × 5 metrics' for the secondary ones (× training sizes for learning
    curves), so that "Holm-adjusted over 6 tests" beside two models reads as what it is."""
    pairs = len({(r.a, r.b) for r in rows})
    metrics = len({r.metric for r in rows})
    sizes = len({r.size for r in rows})
    parts = [f"{pairs} pair{'s' * (pairs != 1)} of models"]
    if metrics > 1:
        parts.append(f"{metrics} metrics")
    if sizes > 1:
        parts.append(f"{sizes} training sizes")
    return " × ".join(parts)


def adjust(rows: list, role: str = "primary") -> list:
    """Holm's adjustment over the family ``rows``; each row's significance and the better
    model follow from its adjusted p. The family counts the tests that gave a p (an
    undecidable row has none and is left out of the adjustment). What a row could have
    detected is computed for the claim as made: at alpha / (tests), the level of Holm's
    first step (the one a single real difference among nulls has to pass)."""
    adjusted = stats.holm([r.p for r in rows])
    tested = sum(math.isfinite(r.p) for r in rows)
    of = family_of([r for r in rows if math.isfinite(r.p)])
    for r, p_holm in zip(rows, adjusted, strict=True):
        r.p_holm, r.family, r.family_of, r.role = p_holm, tested, of, role
        r.significant = bool(np.isfinite(p_holm) and p_holm < stats.ALPHA and r.mean_diff != 0)
        if r.significant:
            r.better = r.a if (r.mean_diff > 0) == r.higher else r.b
        r.level = stats.ALPHA / max(1, tested)
        r.detectable = stats.detectable(r.se, r.df, alpha=r.level)
        r.repeats_needed = repeats_needed(r)
    return rows


def ranking(run, models, rows: list, source: str = "cv") -> Ranking | None:
    """Do three or more ``models`` differ on the primary metric? From ``rows``, the primary
    family on ``source``: yes when one of its Holm-adjusted pairwise tests says so. None with
    fewer than three models or no comparison."""
    main = [c for c in rows if c.primary and c.size == 1.0]
    if len(models) < 3 or not main:
        return None
    metric = main[0].metric
    common = shared_folds(run, models)
    key = "test_scores" if source == "test" else "scores"
    scores = np.array([[getattr(ok_folds(run, m)[k], key).get(metric, np.nan) for m in models]
                       for k in common]) if common else np.full((1, len(models)), np.nan)
    label, higher, _ = meta(run, metric)
    adjusted = [c.p_holm for c in main if math.isfinite(c.p_holm)]
    return Ranking(models=list(models), folds=[k + 1 for k in common], metric=metric,
                   label=label, source=source, means=np.nanmean(scores, axis=0).tolist(),
                   higher=higher, test=main[0].test, p=min(adjusted) if adjusted else
                   float("nan"), significant=any(c.significant for c in main),
                   pairs=len(adjusted))


def groups(ranking: Ranking, rows: list) -> list:
    """Groups of models not told apart, for the figure that shows which models differ: from
    the same Holm-adjusted pairwise decisions on the main metric as the written conclusion.
    Each group is a maximal set of models no two of which differ significantly (a maximal
    clique of the 'not significantly different' pairs), as model indices in order of their
    mean score; two models share a group exactly when they are not significantly different.
    Such groups need not be neighbours on the axis (A and E may not differ while B and E
    do). When the omnibus test is not significant, one group holds every model."""
    order = ranking.order()
    if not ranking.significant:
        return [order]
    names = ranking.models
    differ = {frozenset((c.a, c.b)) for c in rows if c.metric == ranking.metric
              and c.significant}

    def apart(i, j):
        return frozenset((names[i], names[j])) in differ

    cliques = []

    def extend(clique, candidates, excluded):   # Bron-Kerbosch, a handful of models
        if not candidates and not excluded:
            cliques.append(clique)
        for i in list(candidates):
            together = {j for j in candidates | excluded if j != i and not apart(i, j)}
            extend(clique + [i], candidates & together, excluded & together)
            candidates = candidates - {i}
            excluded = excluded | {i}

    extend([], set(order), set())
    position = {i: n for n, i in enumerate(order)}
    return sorted((sorted(c, key=position.get) for c in cliques if len(c) > 1),
                  key=lambda c: [position[i] for i in c])


def mean_interval(values) -> tuple:
    """(mean, half the 95% t interval) of the finite values over folds; (None, None) when
    there are none, a half-width of 0 with one."""
    values = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not len(values):
        return None, None
    half = float(sps.t.ppf(0.975, len(values) - 1) * values.std(ddof=1)
                 / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), half


def mean_std(values) -> tuple:
    """(mean, sample std) of the finite values; (None, None) when there are none."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
