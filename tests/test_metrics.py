import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from zoo import metrics


def probs(y_pred, n, confidence=0.9):
    p = np.full((len(y_pred), n), (1 - confidence) / (n - 1))
    p[np.arange(len(y_pred)), y_pred] = confidence
    return p


def test_scores_match_scikit_learn_when_every_class_is_present():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = rng.dirichlet(np.ones(4), 200)
    s = metrics.scores(y, p, 4)
    pred = p.argmax(1)
    assert s["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert s["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert s["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert s["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert s["kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred))
    assert s["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))
    assert s["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert s["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))


@pytest.mark.parametrize("seed, n, classes, present", [
    (0, 50, 6, 6), (1, 300, 24, 10), (2, 7, 5, 2), (3, 40, 3, 1), (4, 100, 12, 12)])
def test_every_score_equals_the_scikit_learn_function(seed, n, classes, present):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, present, n)
    p = rng.dirichlet(np.ones(classes) * 0.3, n)
    s = metrics.scores(y, p, classes)
    pred = p.argmax(1)
    labels = np.arange(classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen = np.union1d(y, pred)  # classes present in the truth or the predictions
        expected = {
            "accuracy": skm.accuracy_score(y, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred, labels=seen, average="macro",
                                             zero_division=0),
            "recall": skm.recall_score(y, pred, labels=np.unique(y), average="macro"),
            "f1": skm.f1_score(y, pred, labels=seen, average="macro", zero_division=0),
            "mcc": skm.matthews_corrcoef(y, pred),
            "kappa": skm.cohen_kappa_score(y, pred, labels=labels),
            "log_loss": skm.log_loss(y, p, labels=labels),
        }
    for key, value in expected.items():
        assert s[key] == pytest.approx(value, nan_ok=True), key


def test_a_class_missing_from_the_fold_does_not_sink_the_macro_scores():
    # 24 classes, the fold holds only 10 of them, and the model is right on all but one image
    y = np.repeat(np.arange(10), 20)
    pred = y.copy()
    pred[0] = 1
    s = metrics.scores(y, probs(pred, 24), 24)
    assert s["accuracy"] == pytest.approx(199 / 200)
    assert s["precision"] > 0.99 and s["recall"] > 0.99 and s["f1"] > 0.99
    assert s["roc_auc"] > 0.99
    assert np.isfinite(s["log_loss"])


def test_predicting_an_absent_class_counts_as_a_false_positive():
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 1])
    s = metrics.scores(y, probs(pred, 3), 3)
    # class 2 was predicted once and never right: precision 0 for it is part of the mean
    assert s["precision"] == pytest.approx((1 + 1 + 0) / 3)
    assert s["recall"] == pytest.approx((0.5 + 1) / 2)


def test_roc_curve_on_grid_reaches_corners():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    p = rng.dirichlet(np.ones(3), 300)
    grid = metrics.roc_on_grid(y, p, 4)
    assert grid.shape == (5, len(metrics.GRID))
    assert np.isnan(grid[3]).all()          # class 3 absent
    assert grid[-1, 0] == 0 and grid[-1, -1] == pytest.approx(1)
    assert (np.diff(grid[0]) >= -1e-12).all()


def test_pr_curve_perfect_classifier_is_flat_at_one():
    y = np.repeat(np.arange(3), 10)
    grid = metrics.pr_on_grid(y, probs(y, 3), 3)
    assert np.allclose(grid[-1], 1.0)


def test_confusion_uses_the_full_label_set():
    cm = metrics.confusion(np.array([0, 1]), probs(np.array([0, 0]), 5), 5)
    assert cm.shape == (5, 5) and cm[1, 0] == 1 and cm.sum() == 2


def test_fast_auc_and_curves_agree_with_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 400)
    p = np.round(rng.dirichlet(np.ones(5), 400), 2)  # rounding makes ties
    p[:, 4] = 0.2  # one constant column: every score tied
    assert metrics.macro_roc_auc(y, p, 5) == pytest.approx(
        np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in range(5)]))
    roc = metrics.roc_on_grid(y, p, 5)
    pr = metrics.pr_on_grid(y, p, 5)
    for c in range(5):
        fpr, tpr, _ = skm.roc_curve(y == c, p[:, c])
        assert np.trapezoid(roc[c], metrics.GRID) == pytest.approx(skm.auc(fpr, tpr), abs=0.02)
        precision, recall, _ = skm.precision_recall_curve(y == c, p[:, c])
        for r in (0.1, 0.5, 0.9):
            expected = precision[recall >= r].max()
            assert pr[c][int(r * 100)] == pytest.approx(expected)


def test_a_model_that_collapses_onto_one_class_scores_the_precision_it_deserves():
    # 10 balanced classes, every image predicted as class 0: precision is 0.1 for class 0 and
    # 0 for the nine present classes never predicted, so 0.01 (it was 0.10 when those nine
    # were left out)
    y = np.repeat(np.arange(10), 30)
    p = probs(np.zeros(300, dtype=int), 10)
    s = metrics.scores(y, p, 10)
    assert s["precision"] == pytest.approx(0.01)
    labels = np.arange(10)
    assert s["precision"] == pytest.approx(skm.precision_score(
        y, p.argmax(1), labels=labels, average="macro", zero_division=0))
    assert s["f1"] == pytest.approx(skm.f1_score(y, p.argmax(1), labels=labels, average="macro",
                                                 zero_division=0))
    assert s["recall"] == pytest.approx(0.1)


def test_precision_recall_at_exactly_k_percent_recall():
    # class 0 has 100 positives: the first 35 (highest scores) are all positives, then 20
    # negatives, then the other 65 positives. At recall 0.35 precision is exactly 1.0;
    # np.linspace's 0.35 lies one ulp above 35/100 and skipped to the next point.
    scores = np.concatenate([np.linspace(0.99, 0.9, 35), np.linspace(0.89, 0.8, 20),
                             np.linspace(0.79, 0.5, 65), np.full(80, 0.1)])
    y = np.concatenate([np.zeros(35), np.ones(20), np.zeros(65), np.ones(80)]).astype(int)
    p = np.stack([scores, 1 - scores], axis=1)
    pr = metrics.pr_on_grid(y, p, 2)
    assert pr[0, 35] == 1.0
    precision, recall, _ = skm.precision_recall_curve(y == 0, scores)
    for k in range(101):
        assert pr[0, k] == pytest.approx(precision[recall >= k / 100].max()), k


def test_log_loss_clips_like_scikit_learn_for_each_dtype():
    y = np.array([0, 1, 2, 1])
    for dtype in (np.float32, np.float64):
        p = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0.2, 0.8, 0]], dtype=dtype)
        assert metrics.scores(y, p, 3)["log_loss"] == pytest.approx(
            skm.log_loss(y, p, labels=[0, 1, 2]), rel=1e-6)


def test_auc_is_the_same_on_the_held_out_and_the_test_split_paths():
    # rows that do not sum to one (a plugin's sigmoid outputs, say): scikit-learn's OvR AUC
    # would refuse them; zoo scores each class column as saved, on every path
    from zoo.judge.facts import Fold

    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 300)
    p = rng.random((300, 4)).astype(np.float32) * 0.7
    p[np.arange(300), y] += 0.2
    fold = Fold("m", 0, {"status": "ok"}, {"y_true": y, "y_prob": p}, n_classes=4)
    held_out = metrics.scores(y, p, 4, counts=fold.counts)["roc_auc"]
    test_split = metrics.scores(y, p, 4)["roc_auc"]
    expected = np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in range(4)])
    assert held_out == test_split == pytest.approx(expected)
    normalised = p / p.sum(axis=1, keepdims=True)
    assert metrics.scores(y, normalised, 4)["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, normalised, multi_class="ovr"))
