import numpy as np
import pytest
from scipy import stats as sps

from zoo.judge import stats


def test_corrected_ttest_matches_the_formula():
    a = np.array([0.91, 0.93, 0.90, 0.94, 0.92, 0.95, 0.93, 0.92, 0.91, 0.94])
    b = np.array([0.90, 0.91, 0.90, 0.92, 0.90, 0.93, 0.92, 0.90, 0.91, 0.92])
    n_train, n_test = 900, 100
    r = stats.corrected_ttest(a, b, n_train, n_test)
    d = a - b
    var = d.var(ddof=1) * (1 / 10 + n_test / n_train)
    t = d.mean() / np.sqrt(var)
    assert r["t"] == pytest.approx(t)
    assert r["p"] == pytest.approx(2 * sps.t.sf(abs(t), 9))
    half = sps.t.ppf(0.975, 9) * np.sqrt(var)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))


def test_without_correction_it_is_the_paired_t_test():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.02, 8), rng.normal(0.89, 0.02, 8)
    r = stats.corrected_ttest(a, b, n_train=1.0, n_test=0.0)
    ref = sps.ttest_rel(a, b)
    assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)


def test_the_correction_makes_the_test_more_conservative():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.9, 0.01, 10), rng.normal(0.895, 0.01, 10)
    plain = stats.corrected_ttest(a, b, 1.0, 0.0)["p"]
    corrected = stats.corrected_ttest(a, b, 9.0, 1.0)["p"]
    assert corrected > plain


def test_textbook_paired_example():
    # Student's sleep data (Cushny & Peebles): paired t = -4.062, p = 0.00283, df = 9
    g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    r = stats.corrected_ttest(g1, g2, 1.0, 0.0)
    assert r["t"] == pytest.approx(-4.062, abs=1e-3) and r["p"] == pytest.approx(0.00283, abs=1e-5)


def brute_force_wilcoxon(d):
    """Two-sided exact p of the signed-rank statistic by enumerating every sign pattern."""
    import itertools

    d = np.asarray([x for x in d if abs(x) > 1e-12])
    ranks = sps.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    centre = ranks.sum() / 2
    count = total = 0
    for signs in itertools.product([0, 1], repeat=len(d)):
        t = ranks[np.array(signs, dtype=bool)].sum()
        count += abs(t - centre) >= abs(observed - centre) - 1e-9
        total += 1
    return count / total


def test_wilcoxon_is_exact_for_few_folds():
    # no ties: scipy's exact distribution
    c, b = [0.91, 0.83, 0.72, 0.64, 0.58, 0.47], [0.85, 0.82, 0.8, 0.9, 0.6, 0.7]
    assert stats.wilcoxon(c, b) == pytest.approx(
        sps.wilcoxon(np.subtract(c, b), method="exact").pvalue)
    # two folds, both differences of one sign: exactly 0.5 (the normal approximation says 0.157)
    assert stats.wilcoxon([0.9, 0.8], [0.8, 0.7]) == pytest.approx(0.5)
    # tied magnitudes and a zero difference: exact over the sign patterns, not approximated
    a, b = [0.9, 0.8, 0.85, 0.95, 0.7, 0.75, 0.6], [0.85, 0.82, 0.8, 0.9, 0.6, 0.7, 0.6]
    assert stats.wilcoxon(a, b) == pytest.approx(brute_force_wilcoxon(np.subtract(a, b)))
    assert stats.wilcoxon(a, a) == 1.0


def test_wilcoxon_uses_the_normal_approximation_for_many_folds():
    rng = np.random.default_rng(3)
    d = rng.normal(0.01, 0.02, 30)
    assert stats.wilcoxon(d, np.zeros(30)) == pytest.approx(
        sps.wilcoxon(d, method="approx").pvalue, rel=1e-6)


def test_the_smallest_wilcoxon_p():
    assert stats.smallest_wilcoxon_p(5) == pytest.approx(0.0625)
    assert stats.smallest_wilcoxon_p(6) < 0.05
    assert min(stats.wilcoxon(np.arange(1, 6) + 10.0, np.zeros(5)),
               stats.wilcoxon(-np.arange(1, 6) - 10.0, np.zeros(5))) == pytest.approx(0.0625)


def test_zero_variance_differences_are_undecidable_not_p_zero():
    r = stats.corrected_ttest([0.902, 0.904], [0.900, 0.902], 900, 100)
    assert r["undecidable"] and np.isnan(r["p"]) and np.isnan(r["t"])
    assert r["mean_diff"] == pytest.approx(0.002)
    assert stats.format_p(r["p"]) == "p undefined"


def test_identical_scores():
    r = stats.corrected_ttest([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 2, 1)
    assert r["p"] == 1.0 and r["mean_diff"] == 0 and not r["undecidable"]


def test_confidence_intervals_stay_within_what_the_metric_allows():
    # a real 2-fold run once printed [-2.00, +3.08] for a difference in accuracy
    r = stats.corrected_ttest([0.95, 0.10], [0.20, 0.50], 1000, 1000, bounds=(0, 1))
    assert -1 <= r["ci_low"] and r["ci_high"] <= 1
    r = stats.corrected_ttest([0.9, -0.8], [-0.9, 0.7], 1, 1, bounds=(-1, 1))
    assert -2 <= r["ci_low"] and r["ci_high"] <= 2


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.6, 0.001, 0.049, 0.02, 0.5, 0.03, 0.04]
    assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    assert np.isnan(stats.holm([0.01, float("nan")])[1])


def simulated_power(diff, se, df, runs=40_000, alpha=0.05, seed=0):
    """The share of t tests (estimate ~ N(diff, se^2), variance estimate ~ se^2 chi2_df/df)
    that reject at ``alpha``: what power() must compute."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(diff, se, runs)
    s = se * np.sqrt(rng.chisquare(df, runs) / df)
    return float(np.mean(np.abs(mean / s) > sps.t.ppf(1 - alpha / 2, df)))


@pytest.mark.parametrize("df", [2, 4, 9])
def test_power_is_the_noncentral_t_and_matches_a_simulation(df):
    for diff, alpha in ((0.02, 0.05), (0.05, 0.05 / 3), (0.0, 0.05)):
        assert stats.power(diff, 0.01, df, alpha) == pytest.approx(
            simulated_power(diff, 0.01, df, alpha=alpha), abs=0.01)


def test_the_detectable_difference_has_80_percent_power_at_the_level_of_the_claim():
    # the old (t_{1-a/2} + t_{0.8}) x se gave 77% power at df = 2, not 80%
    old = (sps.t.ppf(0.975, 2) + sps.t.ppf(0.8, 2)) * 0.01
    assert stats.power(old, 0.01, 2) == pytest.approx(0.77, abs=0.01)
    for df, alpha in ((2, 0.05), (4, 0.05 / 6), (30, 0.05 / 3)):
        d = stats.detectable(0.01, df, alpha)
        assert stats.power(d, 0.01, df, alpha) == pytest.approx(0.8, abs=1e-6)
        assert simulated_power(d, 0.01, df, alpha=alpha) == pytest.approx(0.8, abs=0.01)
    # the stricter level of an adjusted claim needs a larger difference
    assert stats.detectable(0.01, 4, 0.05 / 6) > stats.detectable(0.01, 4, 0.05)
    assert np.isnan(stats.detectable(0.0, 4))


def test_mcnemar_exact_matches_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 400)
    a = np.where(rng.random(400) < 0.85, y, (y + 1) % 5)
    b = np.where(rng.random(400) < 0.80, y, (y + 2) % 5)
    r = stats.mcnemar_exact(y, a, b)
    ra, rb = a == y, b == y
    table = [[(ra & rb).sum(), (ra & ~rb).sum()], [(~ra & rb).sum(), (~ra & ~rb).sum()]]
    assert r["p"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert (r["only_a"], r["only_b"]) == (table[0][1], table[1][0])


def plain_loop_test(y, pa, pb, metric, n_boot, seed):
    """The test-split comparison written out plainly: per fold and resample, the score
    difference on the resampled images (the same draws as zoo.judge.stats); then the variance
    decomposed into the fold-model part and the image part, and Satterthwaite's t."""
    from sklearn.metrics import accuracy_score, f1_score

    def score(truth, pred):
        if metric == "accuracy":
            return accuracy_score(truth, pred)
        return f1_score(truth, pred, labels=np.union1d(truth, pred), average="macro",
                        zero_division=0)

    k, n = pa.shape
    images = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    per_fold = np.array([[score(y[idx], pa[f, idx]) - score(y[idx], pb[f, idx])
                          for f in range(k)] for idx in images])
    observed = np.array([score(y, pa[f]) - score(y, pb[f]) for f in range(k)])
    v = per_fold.mean(axis=1).var(ddof=1)
    e = max(0.0, (per_fold.var(axis=0, ddof=1).mean() - v) * k / (k - 1))
    folds, image_part = observed.var(ddof=1) / k, max(0.0, v - e / k)
    var = folds + image_part
    floor = max(folds, e / k)   # the fold part counts as at least its image-by-fold noise
    df = (floor + image_part) ** 2 / (floor ** 2 / (k - 1) + image_part ** 2 / (n - 1))
    t = observed.mean() / np.sqrt(var)
    half = sps.t.ppf(0.975, df) * np.sqrt(var)
    return observed.mean(), 2 * sps.t.sf(abs(t), df), observed.mean() - half, \
        observed.mean() + half


@pytest.mark.parametrize("metric", ["accuracy", "f1"])
def test_the_test_split_comparison_matches_a_plain_loop(metric):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 60)
    pa = np.where(rng.random((3, 60)) < 0.8, y, rng.integers(0, 4, (3, 60)))
    pb = np.where(rng.random((3, 60)) < 0.6, y, rng.integers(0, 4, (3, 60)))
    r = stats.paired_bootstrap(y, pa, pb, metric, 4, n_boot=200, seed=7)
    mean, p, low, high = plain_loop_test(y, pa, pb, metric, 200, 7)
    assert r["mean_diff"] == pytest.approx(mean) and r["p"] == pytest.approx(p)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high))


def test_the_interval_and_the_p_value_never_disagree():
    """A 15-image test split once printed "95% CI -73.33 to +6.67 ... p = 0.044": now both
    come from one t, so p < 0.05 exactly when the interval leaves out 0."""
    rng = np.random.default_rng(9)
    for trial in range(200):
        n, k = int(rng.integers(8, 40)), int(rng.integers(1, 6))
        y = rng.integers(0, 3, n)
        pa = np.where(rng.random((k, n)) < rng.uniform(0.3, 0.95), y, (y + 1) % 3)
        pb = np.where(rng.random((k, n)) < rng.uniform(0.3, 0.95), y, (y + 2) % 3)
        r = stats.paired_bootstrap(y, pa, pb, "accuracy", 3, n_boot=300, seed=trial)
        if np.isfinite(r["p"]):
            assert (r["p"] < 0.05) == (r["ci_low"] > 0 or r["ci_high"] < 0), r


def test_the_test_split_comparison_holds_its_level():
    """Two identical models (with and without a training-seed effect): rejected about 5% of
    the time; the two-way bootstrap rejected 0-3% (benchmarks/statistics.py)."""
    rng = np.random.default_rng(12)
    for seed_sd in (0.0, 0.02):
        hits = 0
        for r in range(150):
            base = rng.beta(6, 1, 400)
            skill = [np.clip(base + rng.normal(0, seed_sd, (5, 1)), 0, 1) for _ in "ab"]
            pa, pb = (np.where(rng.random((5, 400)) < s, 0, 1) for s in skill)
            hits += stats.paired_bootstrap(np.zeros(400, int), pa, pb, "accuracy", 2,
                                           n_boot=400, seed=r)["p"] < 0.05
        assert 0.01 <= hits / 150 <= 0.10, (seed_sd, hits)


def test_a_fold_spread_small_by_chance_does_not_earn_more_degrees_of_freedom():
    """Every fold model right on exactly 80% (a) and 78% (b) of the images, on different
    images in each fold: the per-fold differences agree exactly (s2 = 0) while the images
    say each fold's difference carries noise. Plain Satterthwaite took the fold part as 0 and
    gave n - 1 df; the fold part now counts as at least that noise, so the df stay near
    k - 1 and the p-value is not made small by a lucky spread."""
    rng = np.random.default_rng(3)
    n, k = 500, 3

    def exactly(share, weights):   # right (0) on exactly share x n images, drawn by weight
        out = np.ones((k, n), int)
        for f in range(k):
            out[f, rng.choice(n, int(share * n), replace=False, p=weights / weights.sum())] = 0
        return out

    easy_for_a = np.where(np.arange(n) < n // 2, 3.0, 1.0)   # an image part that is real
    pa, pb = exactly(0.80, easy_for_a), exactly(0.78, np.ones(n))
    r = stats.paired_bootstrap(np.zeros(n, int), pa, pb, "accuracy", 2, n_boot=400, seed=0)
    assert r["parts"]["fold_var"] == pytest.approx(0, abs=1e-15)
    assert r["parts"]["noise"] > 2 * r["parts"]["images"] > 0
    assert r["df"] < 4   # near the fold part's k - 1 = 2, not n - 1 = 499
    plain = stats.t_test(r["mean_diff"], {**r["parts"], "noise": 0.0}, k, n)
    assert plain["df"] > 400 and plain["p"] < r["p"]
