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
