"""Statistical tests for comparing models, each chosen for what its data are.

- Held-out folds: the fold scores are not independent (the training sets overlap), so the
  Nadeau-Bengio corrected resampled t-test inflates the variance by ``1/k + n_test/n_train``;
  over R repeats of the k-fold split the same formula with kR scores is Bouckaert and
  Frank's corrected repeated k-fold t-test. Wilcoxon's signed-rank test (exact for small k)
  is a second, rank-based opinion on one unrepeated split.
- The official test split: every fold's model is scored on the same images, so the folds do
  not give independent test sets at all. The difference is a mean over images and fold
  models, two random factors: its variance is decomposed into an image part (a bootstrap of
  the test images with the fold models held) and a fold-model part (the spread of the
  per-fold differences), and a t interval and p come from the same estimate; McNemar's exact
  test on the fold ensembles' predictions is a second opinion.
- Three or more models: no separate omnibus test. Friedman's test over folds and Cochran's Q
  over test images both treat what is shared (training data across folds, fold models across
  images) as independent and reject 8-40% of realistic nulls (benchmarks/statistics.py);
  "the models differ" is said when a Holm-adjusted pairwise test, which allows for both, says
  so (Holm's procedure is a closed test: its smallest adjusted p is a valid omnibus p).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats as sps
from scipy import sparse
from scipy.optimize import brentq

ALPHA = 0.05
#: largest number of non-zero differences whose Wilcoxon distribution is enumerated exactly
EXACT_WILCOXON = 20


def corrected_ttest(a, b, n_train: float, n_test: float, alpha: float = ALPHA,
                    bounds=None) -> dict:
    """Nadeau-Bengio corrected paired t-test of scores ``a`` vs ``b`` over k folds.

    ``n_test / n_train`` is the ratio of held-out to training samples (use each fold's
    actual sizes). Returns the mean difference (a - b), its confidence interval (clipped to
    ``bounds``, the range a difference of the metric can take), t, p (two-sided) and df.
    When every fold has the same non-zero difference the variance is zero and t undefined:
    p is NaN and ``undecidable`` is True; the test cannot tell chance from a real difference.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    k = len(d)
    if k < 2:
        raise ValueError("a paired test needs at least two folds")
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    corrected = (1.0 / k + n_test / n_train) * var
    df = k - 1
    q = float(sps.t.ppf(1 - alpha / 2, df))
    undecidable = False
    if corrected <= 1e-30 * max(1.0, mean * mean):
        if mean == 0:
            t, p = 0.0, 1.0
        else:
            t, p, undecidable = float("nan"), float("nan"), True
        low = high = mean
    else:
        se = math.sqrt(corrected)
        t = mean / se
        p = float(2 * sps.t.sf(abs(t), df))
        low, high = mean - q * se, mean + q * se
    low, high = clip_interval(low, high, bounds)
    return {"mean_diff": mean, "ci_low": low, "ci_high": high, "t": t, "p": p, "df": df,
            "k": k, "undecidable": undecidable, "se": math.sqrt(max(corrected, 0.0)),
            "var": var, "nonzero": int((~np.isclose(d, 0, rtol=0, atol=1e-12)).sum())}


def clip_interval(low: float, high: float, bounds=None):
    """An interval of a difference a - b, cut to what it can take when a and b lie in
    ``bounds`` = (lowest, highest)."""
    if bounds is None:
        return low, high
    span = bounds[1] - bounds[0]
    return max(low, -span), min(high, span)


def wilcoxon(a, b) -> float:
    """Two-sided p of Wilcoxon's signed-rank test (zero differences dropped, tied magnitudes
    given their average rank); 1.0 when every difference is zero.

    Exact for up to :data:`EXACT_WILCOXON` non-zero differences: all 2^n sign patterns are
    enumerated (conditional on the ranks, so ties are handled exactly too). Above that, the
    normal approximation with the tie correction."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[~np.isclose(d, 0, rtol=0, atol=1e-12)]
    n = len(d)
    if n == 0:
        return 1.0
    ranks = sps.rankdata(np.abs(d))
    observed = float(ranks[d > 0].sum())
    centre = float(ranks.sum()) / 2
    if n <= EXACT_WILCOXON:
        signs = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1
        t_plus = signs @ ranks
        extreme = np.abs(t_plus - centre) >= abs(observed - centre) - 1e-9
        return float(extreme.mean())
    _, counts = np.unique(ranks, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (counts ** 3 - counts).sum() / 48
    z = (observed - centre) / math.sqrt(var)
    return float(min(1.0, 2 * sps.norm.sf(abs(z))))


def smallest_wilcoxon_p(k: int) -> float:
    """The smallest two-sided p Wilcoxon's test can give with k non-zero paired differences
    (zero differences are dropped): 2 / 2^k."""
    return 2.0 / 2 ** k if k else 1.0


def holm(pvalues) -> list:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out.tolist()


def power(diff: float, se: float, df: float, alpha: float = ALPHA) -> float:
    """The probability that a two-sided t test at level ``alpha`` with this standard error
    and df finds a true difference ``diff``: the noncentral t with noncentrality diff / se."""
    if not (se > 0 and df > 0):
        return float("nan")
    q = float(sps.t.ppf(1 - alpha / 2, df))
    nc = abs(diff) / se
    upper = float(sps.nct.sf(q, df, nc))
    lower = float(sps.nct.sf(q, df, -nc))   # the wrong-sign tail: scipy's cdf(-q) gives NaN
    return upper + (lower if math.isfinite(lower) else 0.0)   # for some (df, nc); it is ~0


def detectable(se: float, df: float, alpha: float = ALPHA, power_: float = 0.8) -> float:
    """The smallest difference a two-sided t test at level ``alpha`` (the level the claim
    is made at: after the adjustment it uses) with this standard error and df finds with
    probability ``power_``, from the noncentral t (the old (t_{1-alpha/2} + t_{power}) x se
    gives 77% power at df = 2, not 80%). NaN when se is 0."""
    if not (se > 0 and df > 0):
        return float("nan")
    if power(0.0, se, df, alpha) >= power_:
        return 0.0
    high = 1.0
    while power(high * se, se, df, alpha) < power_:
        high *= 2
    nc = brentq(lambda nc: power(nc * se, se, df, alpha) - power_, 0.0, high, xtol=1e-10)
    return float(nc * se)


def _weights(rng, size: int, n_boot: int) -> np.ndarray:
    """Bootstrap resampling as counts: row b says how often each of ``size`` items is in
    resample b, whose items are ``rng.integers(0, size, (n_boot, size))[b]``."""
    drawn = rng.integers(0, size, (n_boot, size))
    rows = np.arange(n_boot)[:, None] * size
    return np.bincount((rows + drawn).ravel(), minlength=n_boot * size).reshape(
        n_boot, size).astype(np.float64)


class TestSplitBootstrap:
    """The paired bootstrap of the official test split: one draw of the test images
    (``n_boot`` resamples, from ``seed``) shared by every model and pair, so a model's
    scores under it are computed once however many pairs it is in.

    Each bootstrap sample draws the test images and the fold models with replacement (the
    same draw for both models of a pair); the statistic is the mean over the drawn fold
    models of the metric on the drawn images."""

    METRICS = ("accuracy", "f1")

    def __init__(self, y, n_classes: int, n_boot: int = 2000, seed: int = 0):
        self.y = np.asarray(y).astype(np.int64)
        self.n, self.n_classes, self.n_boot, self.seed = len(self.y), n_classes, n_boot, seed
        self.images = _weights(np.random.default_rng(seed), self.n, n_boot)  # n_boot x n
        self._images_t = np.ascontiguousarray(self.images.T)  # n x n_boot, for sparse @ dense
        self._onehot = lambda labels, mask=None: sparse.csr_matrix(
            (np.ones(len(labels)) if mask is None else mask.astype(np.float64),
             (np.arange(len(labels)), labels)), shape=(self.n, n_classes))
        # every class's weight in every resample: the same for all models
        self.support = np.asarray((self._onehot(self.y).T @ self._images_t).T)
        self._cache = {}

    def _class_sums(self, labels, mask=None) -> np.ndarray:
        return np.asarray((self._onehot(labels, mask).T @ self._images_t).T)  # n_boot x C

    def scores(self, pred, metric: str, key=None) -> tuple:
        """(metric on every resample, metric on the test split as it is) for one fold
        model's predictions; ``key`` caches them."""
        if key is not None and (key, metric) in self._cache:
            return self._cache[key, metric]
        pred = np.asarray(pred).astype(np.int64)
        right = pred == self.y
        if metric == "accuracy":
            out = (self.images @ right / self.n, float(right.mean()))
        elif metric == "f1":  # macro F1 over the classes present in the truth or predictions
            tp = self._class_sums(self.y, right)
            predicted = self._class_sums(pred)
            out = (_macro_f1(tp, self.support, predicted),
                   float(_macro_f1(np.bincount(self.y[right], minlength=self.n_classes)[None],
                                   np.bincount(self.y, minlength=self.n_classes)[None],
                                   np.bincount(pred, minlength=self.n_classes)[None])[0]))
        else:
            raise ValueError(f"no bootstrap for metric {metric!r}; one of {self.METRICS}")
        if key is not None:
            self._cache[key, metric] = out
        return out

    def compare(self, preds_a, preds_b, metric: str = "accuracy", keys_a=None, keys_b=None,
                alpha: float = ALPHA, bounds=None) -> dict:
        """Difference (a - b) in ``metric`` between two models given by the predictions of
        their k fold models (the same folds, in the same order).

        The difference is a mean over test images and fold models, two random factors, so
        its variance has an image part and a fold-model part (the two-way bootstrap, which
        resamples both, counts their interaction twice and was far too cautious):

            var = s2 / k + max(0, v - e / k)

        s2: the variance over folds of the per-fold differences (the fold models' spread plus
        the image-by-fold noise; k - 1 df); v: the variance of the fold-mean difference over
        bootstrap resamples of the images, the fold models held; e: the image-by-fold noise
        of one fold's difference, from the same resamples. t with Satterthwaite's df gives
        the interval and p together, so p < alpha exactly when the interval leaves out 0.
        With one fold only the image part is known.

        The df count the fold part as at least e / k: s2 holds the image-by-fold noise, which
        the images measure with n - 1 df, so a fold spread that comes out small by chance
        does not earn the ratio more degrees of freedom. (Plain Satterthwaite did, and at
        k = 3 a Holm family of 10 pairs rejected 17% of nulls; benchmarks/statistics.py.)"""
        k = len(preds_a)
        per_fold, observed = np.empty((self.n_boot, k)), np.empty(k)
        for f in range(k):
            a, a0 = self.scores(preds_a[f], metric, keys_a[f] if keys_a else None)
            b, b0 = self.scores(preds_b[f], metric, keys_b[f] if keys_b else None)
            per_fold[:, f], observed[f] = a - b, a0 - b0
        v = float(per_fold.mean(axis=1).var(ddof=1))
        parts = {"images": v, "folds": 0.0, "fold_var": 0.0}
        if k > 1:
            e = max(0.0, (float(per_fold.var(axis=0, ddof=1).mean()) - v) * k / (k - 1))
            parts = {"images": max(0.0, v - e / k), "fold_var": float(observed.var(ddof=1)),
                     "noise": e / k}
            parts["folds"] = parts["fold_var"] / k
        out = t_test(float(observed.mean()), parts, k, self.n, alpha, bounds)
        out.update(n=self.n, n_boot=self.n_boot, parts=parts)
        return out


def t_test(mean: float, parts: dict, k: int, n: int, alpha: float = ALPHA,
           bounds=None) -> dict:
    """The t test and interval of a mean whose variance is ``parts["folds"]`` (k - 1 df) plus
    ``parts["images"]`` (n - 1 df), with Satterthwaite's df (the fold part counted there as
    at least ``parts["noise"]``, the image-by-fold noise it holds)."""
    var, df = satterthwaite(parts, k, n)
    se = math.sqrt(var)
    undecidable = False
    if se <= 1e-15 * max(1.0, abs(mean)):
        t, p = (0.0, 1.0) if mean == 0 else (float("nan"), float("nan"))
        undecidable = mean != 0
        low = high = mean
    else:
        t = mean / se
        p = float(2 * sps.t.sf(abs(t), df))
        q = float(sps.t.ppf(1 - alpha / 2, df))
        low, high = mean - q * se, mean + q * se
    low, high = clip_interval(low, high, bounds)
    return {"mean_diff": mean, "ci_low": low, "ci_high": high, "t": t, "p": p, "df": df,
            "se": se, "k": k, "undecidable": undecidable}


def satterthwaite(parts: dict, k: int, n: int) -> tuple:
    """(variance, df) of a mean whose variance is ``parts["folds"]`` (k - 1 df) plus
    ``parts["images"]`` (n - 1 df); in the df the fold part counts as at least
    ``parts["noise"]``, the image-by-fold noise it holds (see TestSplitBootstrap.compare)."""
    folds = max(parts["folds"], parts.get("noise", 0.0))
    denominator = (folds ** 2 / (k - 1) if k > 1 else 0.0) + \
        parts["images"] ** 2 / max(1, n - 1)
    df = (folds + parts["images"]) ** 2 / denominator if denominator > 0 else \
        float(max(1, n - 1))
    return parts["folds"] + parts["images"], df


def _macro_f1(tp, support, predicted) -> np.ndarray:
    present = (support + predicted) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (support + predicted), np.nan)
    return np.nanmean(f1, axis=1)


def paired_bootstrap(y, pred_a, pred_b, metric: str = "accuracy", n_classes: int | None = None,
                     n_boot: int = 2000, seed: int = 0, alpha: float = ALPHA,
                     bounds=None) -> dict:
    """:meth:`TestSplitBootstrap.compare` for one pair (``pred_a``, ``pred_b``: k x n
    predicted classes of k fold models on the same n test images)."""
    pred_a, pred_b = np.atleast_2d(pred_a), np.atleast_2d(pred_b)
    n_classes = int(n_classes or max(np.max(y), pred_a.max(), pred_b.max()) + 1)
    boot = TestSplitBootstrap(y, n_classes, n_boot, seed)
    return boot.compare(list(pred_a), list(pred_b), metric, alpha=alpha, bounds=bounds)


def mcnemar_exact(y, pred_a, pred_b) -> dict:
    """McNemar's exact test: are ``pred_a`` and ``pred_b`` (one prediction per test image)
    right on the same images? Exact binomial on the discordant pairs."""
    y = np.asarray(y)
    right_a, right_b = np.asarray(pred_a) == y, np.asarray(pred_b) == y
    only_a = int((right_a & ~right_b).sum())
    only_b = int((~right_a & right_b).sum())
    n = only_a + only_b
    p = 1.0 if n == 0 else float(sps.binomtest(only_a, n, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p": min(1.0, p)}


def pairs(models):
    return list(itertools.combinations(models, 2))


def format_p(p: float) -> str:
    """'p < 0.001', 'p = 0.042', or 'p undefined'."""
    if p is None or not np.isfinite(p):
        return "p undefined"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
