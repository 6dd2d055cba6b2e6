"""Paired comparisons of two models over the same folds.

Fold scores are not independent (the training sets overlap), so a plain paired t-test
overstates significance. The Nadeau-Bengio corrected resampled t-test inflates the variance
by ``1/k + n_test/n_train``; Wilcoxon's signed-rank test is a second, rank-based opinion.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

ALPHA = 0.05


def corrected_ttest(a, b, n_train: float, n_test: float, alpha: float = ALPHA) -> dict:
    """Nadeau-Bengio corrected paired t-test of scores ``a`` vs ``b`` over k folds.

    Returns mean difference (a - b), its confidence interval, t, p (two-sided) and df.
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
    if corrected == 0:
        p = 1.0 if mean == 0 else 0.0
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        half = 0.0
    else:
        se = math.sqrt(corrected)
        t = mean / se
        p = float(2 * sps.t.sf(abs(t), df))
        half = q * se
    return {"mean_diff": mean, "ci_low": mean - half, "ci_high": mean + half, "t": t,
            "p": p, "df": df, "k": k}


def wilcoxon(a, b) -> float:
    """Two-sided p of Wilcoxon's signed-rank test; 1.0 when every difference is zero.
    Exact without ties or zero differences, else the normal approximation (scipy would
    otherwise run a slow permutation test)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if np.allclose(d, 0):
        return 1.0
    magnitudes = np.abs(d)
    exact = (magnitudes > 0).all() and len(np.unique(magnitudes)) == len(d)
    return float(sps.wilcoxon(d, zero_method="zsplit",
                              method="exact" if exact else "approx").pvalue)


def compare(name_a: str, a, name_b: str, b, metric: str, label: str, higher_is_better: bool,
            n_train: float, n_test: float, ceiling: float | None = None) -> dict:
    """Both tests plus a plain-language verdict that claims no more than the test supports."""
    result = corrected_ttest(a, b, n_train, n_test)
    result.update({"a": name_a, "b": name_b, "metric": metric, "label": label,
                   "wilcoxon_p": wilcoxon(a, b), "mean_a": float(np.mean(a)),
                   "mean_b": float(np.mean(b))})
    at_ceiling = ceiling is not None and min(np.mean(a), np.mean(b)) >= ceiling
    diff = result["mean_diff"]
    better = name_a if (diff > 0) == higher_is_better else name_b
    scale, unit = (100, " points") if metric != "log_loss" else (1, "")
    if result["p"] < ALPHA and diff != 0:
        verdict = (f"{better} ahead by {abs(diff) * scale:.2f}{unit} in {label.lower()}, "
                   f"p = {_p(result['p'])}")
        significant = True
    else:
        verdict = f"no significant difference in {label.lower()} (p = {_p(result['p'])})"
        significant = False
    if at_ceiling:
        verdict += "; both models sit at the ceiling, so this comparison cannot separate them"
    result.update({"verdict": verdict, "significant": significant, "better": better
                   if significant else "", "at_ceiling": bool(at_ceiling)})
    return result


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
