import numpy as np
import pytest
from scipy import stats as sps

from zoo import stats


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


def test_wilcoxon_matches_scipy_and_handles_ties():
    a = [0.9, 0.8, 0.85, 0.95, 0.7, 0.75]
    b = [0.85, 0.82, 0.8, 0.9, 0.6, 0.7]
    d = np.subtract(a, b)  # tied magnitudes: the normal approximation
    assert stats.wilcoxon(a, b) == pytest.approx(
        sps.wilcoxon(d, zero_method="zsplit", method="approx").pvalue)
    assert stats.wilcoxon(a, a) == 1.0
    c = [0.91, 0.83, 0.72, 0.64, 0.58, 0.47]  # distinct differences: the exact test
    assert stats.wilcoxon(c, b) == pytest.approx(
        sps.wilcoxon(np.subtract(c, b), method="exact").pvalue)


def test_verdict_claims_nothing_the_test_does_not_support():
    a = [0.90, 0.95, 0.88, 0.93, 0.91]
    b = [0.91, 0.93, 0.89, 0.92, 0.90]
    c = stats.compare("cnn", a, "vit", b, "accuracy", "Accuracy", True, 800, 200)
    assert not c["significant"] and c["verdict"].startswith("no significant difference")


def test_verdict_names_the_better_model_with_points():
    a = [0.95, 0.96, 0.95, 0.97, 0.96, 0.95, 0.96, 0.97, 0.96, 0.95]
    b = [0.90, 0.91, 0.90, 0.91, 0.90, 0.91, 0.90, 0.91, 0.90, 0.92]
    c = stats.compare("cnn", b, "vit", a, "accuracy", "Accuracy", True, 900, 100)
    assert c["significant"] and c["better"] == "vit"
    assert c["verdict"].startswith("vit ahead by 5.")
    assert "points in accuracy" in c["verdict"]


def test_lower_is_better_metrics():
    a = [0.20, 0.21, 0.19, 0.20, 0.22, 0.21]
    b = [0.40, 0.41, 0.42, 0.40, 0.39, 0.41]
    c = stats.compare("a", a, "b", b, "log_loss", "Log loss", False, 500, 100)
    assert c["better"] == "a"


def test_ceiling_is_called_out():
    a = [1.0, 1.0, 0.9995, 1.0]
    b = [1.0, 0.9995, 1.0, 1.0]
    c = stats.compare("a", a, "b", b, "accuracy", "Accuracy", True, 900, 100, ceiling=0.995)
    assert c["at_ceiling"] and "ceiling" in c["verdict"] and not c["significant"]


def test_identical_scores():
    r = stats.corrected_ttest([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 2, 1)
    assert r["p"] == 1.0 and r["mean_diff"] == 0
