"""Scores and curves computed from saved facts (y_true, y_prob) with scikit-learn.

Every function takes the full label set, so a class missing from a fold neither crashes a
metric nor drags a macro average down: a class that is neither present nor predicted is
left out of the macro averages (scikit-learn's ``zero_division=np.nan``).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

#: name -> (label, higher is better)
METRICS = {
    "accuracy": ("Accuracy", True),
    "balanced_accuracy": ("Balanced accuracy", True),
    "roc_auc": ("ROC-AUC (macro, OvR)", True),
    "precision": ("Precision (macro)", True),
    "recall": ("Recall (macro)", True),
    "f1": ("F1 (macro)", True),
    "mcc": ("MCC", True),
    "kappa": ("Cohen's kappa", True),
    "log_loss": ("Log loss", False),
}


def _normalise(y_prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(y_prob, dtype=np.float64), 0, None)
    s = p.sum(axis=1, keepdims=True)
    s[s == 0] = 1
    return p / s


def macro_roc_auc(y_true, y_prob, n_classes: int) -> float:
    """One-vs-rest ROC-AUC averaged over the classes present in y_true (others have none)."""
    scores = []
    for c in range(n_classes):
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        scores.append(skm.roc_auc_score(positive, y_prob[:, c]))
    return float(np.mean(scores)) if scores else float("nan")


def scores(y_true, y_prob, n_classes: int) -> dict:
    """Every metric of :data:`METRICS` for one set of predictions."""
    y_true = np.asarray(y_true).astype(np.int64)
    prob = _normalise(y_prob)
    y_pred = prob.argmax(axis=1)
    labels = np.arange(n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
        out = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "roc_auc": macro_roc_auc(y_true, prob, n_classes),
            "precision": np.nanmean(p) if np.isfinite(p).any() else np.nan,
            "recall": np.nanmean(r) if np.isfinite(r).any() else np.nan,
            "f1": np.nanmean(f) if np.isfinite(f).any() else np.nan,
            "mcc": skm.matthews_corrcoef(y_true, y_pred),
            "kappa": skm.cohen_kappa_score(y_true, y_pred, labels=labels),
            "log_loss": skm.log_loss(y_true, np.clip(prob, 1e-15, 1), labels=labels),
        }
    return {k: float(v) for k, v in out.items()}


def per_class_f1(y_true, y_prob, n_classes: int) -> np.ndarray:
    y_pred = np.asarray(y_prob).argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return skm.f1_score(y_true, y_pred, labels=np.arange(n_classes), average=None,
                            zero_division=np.nan)


def confusion(y_true, y_prob, n_classes: int) -> np.ndarray:
    return skm.confusion_matrix(y_true, np.asarray(y_prob).argmax(axis=1),
                                labels=np.arange(n_classes))


GRID = np.linspace(0.0, 1.0, 101)


def roc_on_grid(y_true, y_prob, n_classes: int, grid=GRID) -> np.ndarray:
    """TPR at fixed FPR values, per class (rows) plus the macro mean (last row).
    Classes absent from y_true are NaN rows."""
    out = np.full((n_classes + 1, len(grid)), np.nan)
    for c in range(n_classes):
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = skm.roc_curve(positive, y_prob[:, c])
        out[c] = np.interp(grid, fpr, tpr)
        out[c, 0] = 0.0
    out[-1] = np.nanmean(out[:-1], axis=0) if np.isfinite(out[:-1]).any() else np.nan
    return out


def pr_on_grid(y_true, y_prob, n_classes: int, grid=GRID) -> np.ndarray:
    """Interpolated precision at fixed recall values, per class plus the macro mean."""
    out = np.full((n_classes + 1, len(grid)), np.nan)
    for c in range(n_classes):
        positive = y_true == c
        if not positive.any():
            continue
        precision, recall, _ = skm.precision_recall_curve(positive, y_prob[:, c])
        order = np.argsort(recall, kind="stable")
        recall, precision = recall[order], precision[order]
        # interpolated precision: the best precision at any recall >= r
        best = np.maximum.accumulate(precision[::-1])[::-1]
        out[c] = best[np.minimum(np.searchsorted(recall, grid, side="left"), len(best) - 1)]
    out[-1] = np.nanmean(out[:-1], axis=0) if np.isfinite(out[:-1]).any() else np.nan
    return out
