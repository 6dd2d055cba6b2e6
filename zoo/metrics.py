"""Scores and curves computed from saved facts (y_true, y_prob) with scikit-learn.

Every function takes the full label set, so a class missing from a fold neither crashes a
metric nor drags a macro average down. The rule for macro averages:

- recall (and balanced accuracy) average over the classes present in the truth;
- precision and F1 average over the classes present in the truth *or* the predictions; a
  class present in the truth but never predicted counts as a precision of 0, a class
  predicted but absent as a precision of 0 (scikit-learn's
  ``precision_score(..., labels=those classes, zero_division=0)``);
- a class neither present nor predicted is left out.

Log loss is scikit-learn's: probabilities clipped to [eps, 1 - eps] with the machine
precision of their dtype, rows taken as they are. ROC-AUC is one-vs-rest per class on the
probabilities as saved (no renormalisation, on every code path), averaged over the classes
that have both positives and negatives.
"""
from __future__ import annotations

import numpy as np
from zoo.specs import MetricSpec

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


#: the range each metric can take (a difference of two lies within +- its width)
BOUNDS = {"accuracy": (0.0, 1.0), "balanced_accuracy": (0.0, 1.0), "roc_auc": (0.0, 1.0),
          "precision": (0.0, 1.0), "recall": (0.0, 1.0), "f1": (0.0, 1.0),
          "mcc": (-1.0, 1.0), "kappa": (-1.0, 1.0), "log_loss": (0.0, float("inf"))}


def _columns(y_prob, n_classes: int) -> np.ndarray:
    """y_prob as float64 with exactly n_classes columns (missing ones are zero)."""
    prob = np.asarray(y_prob, dtype=np.float64)[:, :n_classes]
    if prob.shape[1] < n_classes:
        prob = np.pad(prob, ((0, 0), (0, n_classes - prob.shape[1])))
    return prob


def macro_roc_auc(y_true, y_prob, n_classes: int, counts=None) -> float:
    """One-vs-rest ROC-AUC averaged over the classes present in y_true (a class with no
    positives, or no negatives, has none): the trapezoidal area under each class's exact ROC
    curve, tied scores forming one step, which is what scikit-learn's roc_auc_score computes.
    All classes share one sort."""
    aucs = [np.trapezoid(tpr, fpr)
            for _, fpr, tpr in roc_points(counts or ovr_counts(y_true, y_prob, n_classes))]
    return float(np.mean(aucs)) if aucs else float("nan")


def scores(y_true, y_prob, n_classes: int, counts=None) -> dict:
    """Every metric of :data:`METRICS` for one set of predictions.

    The confusion matrix comes from scikit-learn; the scores are derived from it with
    scikit-learn's own formulas (that is how ``matthews_corrcoef`` and ``cohen_kappa_score``
    compute them too), once instead of once per metric. tests/test_metrics.py checks every
    score against the scikit-learn function of the same name.
    """
    y_true = np.asarray(y_true).astype(np.int64)
    raw = np.asarray(y_prob)
    eps = np.finfo(raw.dtype if np.issubdtype(raw.dtype, np.floating) else np.float64).eps
    prob = _columns(raw, n_classes)
    cm = confusion(y_true, prob, n_classes).astype(np.float64)
    out = from_confusion(cm)
    out["roc_auc"] = macro_roc_auc(y_true, prob, n_classes, counts)
    picked = prob[np.arange(len(y_true)), y_true]
    out["log_loss"] = float(-np.mean(np.log(np.clip(picked, eps, 1 - eps))))
    return {k: float(out[k]) for k in METRICS}


def from_confusion(cm: np.ndarray) -> dict:
    """Accuracy, balanced accuracy, macro precision / recall / F1, MCC and kappa from a
    confusion matrix (rows: true class, columns: predicted), by the rule in this module's
    docstring."""
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    n = cm.sum()
    with np.errstate(all="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        # present in the truth but never predicted: precision 0 (not left out)
        precision = np.where(predicted > 0, tp / predicted,
                             np.where(support > 0, 0.0, np.nan))
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan)
        cov_tp = tp.sum() * n - support @ predicted
        cov_pp = n * n - predicted @ predicted
        cov_tt = n * n - support @ support
        mcc = 0.0 if cov_pp * cov_tt == 0 else cov_tp / np.sqrt(cov_tt * cov_pp)
        expected = np.outer(support, predicted) / n
        off = 1 - np.eye(len(cm))
        kappa = 1 - (off * cm).sum() / (off * expected).sum()

    def mean(a):
        return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")

    return {"accuracy": tp.sum() / n if n else float("nan"),
            "balanced_accuracy": mean(recall), "precision": mean(precision),
            "recall": mean(recall), "f1": mean(f1), "mcc": float(mcc), "kappa": float(kappa)}


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 of every class from a confusion matrix (NaN for a class neither present nor
    predicted)."""
    tp, total = np.diag(cm), cm.sum(axis=1) + cm.sum(axis=0)
    with np.errstate(all="ignore"):
        return np.where(total > 0, 2 * tp / total, np.nan)


def confusion(y_true, y_prob, n_classes: int) -> np.ndarray:
    from sklearn import metrics as skm  # lazy: scikit-learn takes 1 s to import

    return skm.confusion_matrix(y_true, np.asarray(y_prob).argmax(axis=1),
                                labels=np.arange(n_classes))


#: k/100 exactly as a recall of k out of 100 (or 2k out of 200) positives computes it:
#: np.linspace lies one ulp above k/100 for some k, and searchsorted would then skip it
GRID = np.arange(101) / 100


def ovr_counts(y_true, y_prob, n_classes: int) -> list:
    """Per class: (class, cumulative true positives, cumulative false positives) at every
    distinct score threshold, highest threshold first: what ROC and precision-recall curves
    and the AUC are built on. One sort serves every class; compute it once per prediction
    set and pass it to :func:`scores`, :func:`roc_on_grid` and :func:`pr_on_grid`."""
    y_true = np.asarray(y_true)
    prob = _columns(y_prob, n_classes)
    order = np.argsort(-prob, axis=0)  # ties need no order: they form one threshold
    scores = np.take_along_axis(prob, order, axis=0)
    positive = (y_true[order] == np.arange(n_classes)[None, :])
    tps = np.cumsum(positive, axis=0)
    fps = np.arange(1, len(y_true) + 1)[:, None] - tps
    last = np.ones_like(scores, dtype=bool)
    last[:-1] = scores[:-1] != scores[1:]
    out = []
    for c in range(n_classes):
        idx = np.flatnonzero(last[:, c])
        out.append((c, tps[idx, c].astype(float), fps[idx, c].astype(float)))
    return out


def roc_points(counts):
    """(class, FPR, TPR) of each class's exact ROC curve, from (0, 0); classes without both
    positives and negatives have none and are left out."""
    for c, tps, fps in counts:
        n_pos, n_neg = tps[-1], fps[-1]
        if n_pos and n_neg:
            yield c, np.concatenate([[0.0], fps / n_neg]), np.concatenate([[0.0], tps / n_pos])


def roc_on_grid(y_true, y_prob, n_classes: int, grid=GRID, counts=None) -> np.ndarray:
    """TPR at fixed FPR values, per class (rows) plus the macro mean (last row).
    Classes absent from y_true are NaN rows."""
    out = np.full((n_classes + 1, len(grid)), np.nan)
    for c, fpr, tpr in roc_points(counts or ovr_counts(y_true, y_prob, n_classes)):
        out[c] = np.interp(grid, fpr, tpr)
        out[c, 0] = 0.0
    out[-1] = np.nanmean(out[:-1], axis=0) if np.isfinite(out[:-1]).any() else np.nan
    return out


def pr_on_grid(y_true, y_prob, n_classes: int, grid=GRID, counts=None) -> np.ndarray:
    """Interpolated precision (the best precision at any recall >= r) at fixed recall
    values, per class plus the macro mean."""
    out = np.full((n_classes + 1, len(grid)), np.nan)
    for c, tps, fps in counts or ovr_counts(y_true, y_prob, n_classes):
        n_pos = tps[-1]
        if n_pos == 0:
            continue
        precision = tps / (tps + fps)
        recall = tps / n_pos
        best = np.maximum.accumulate(precision[::-1])[::-1]
        out[c] = best[np.minimum(np.searchsorted(recall, grid, side="left"), len(best) - 1)]
    out[-1] = np.nanmean(out[:-1], axis=0) if np.isfinite(out[:-1]).any() else np.nan
    return out


# -- the metric catalogue: zoo's core metrics, then every plugin's -------------------------
#: the plugin name under which zoo's own core metrics are listed
CORE_PLUGIN = "zoo"


def core(name: str):
    """The function of core metric ``name`` (one of :data:`METRICS`) as a MetricSpec holds
    it. :func:`evaluate` computes all core metrics together from one confusion matrix."""
    def function(y_true, y_prob, n_classes):
        return scores(y_true, y_prob, n_classes)[name]

    function.core_name = name
    function.__name__ = name
    return function


def core_specs() -> dict:
    """name -> MetricSpec of zoo's core metrics: scored in every run, whatever plugins load."""
    return {name: MetricSpec(name=name, function=core(name), higher_is_better=higher,
                             label=label, plugin=CORE_PLUGIN,
                             bounds=None if np.isinf(BOUNDS[name][1]) else BOUNDS[name])
            for name, (label, higher) in METRICS.items()}


def table(specs: dict) -> dict:
    """name -> (label, higher is better), what the report's tables need."""
    return {n: (s.label or n, s.higher_is_better) for n, s in specs.items()}


def evaluate(y_true, y_prob, n_classes: int, specs: dict, counts=None, errors=None) -> dict:
    """Every metric of ``specs`` for one set of predictions: the core ones together from one
    confusion matrix, each plugin metric by its function. A metric that raises gives NaN and
    an entry in ``errors`` (metric -> message), never an exception."""
    out = {}
    if any(getattr(s.function, "core_name", None) for s in specs.values()):
        computed = scores(y_true, y_prob, n_classes, counts=counts)
    for name, spec in specs.items():
        core_name = getattr(spec.function, "core_name", None)
        if core_name:
            out[name] = computed[core_name]
            continue
        value, problem = _plugin_value(spec, y_true, y_prob, n_classes)
        out[name] = value
        if problem and errors is not None:
            errors.setdefault(name, f"metric '{name}' (plugin {spec.plugin}) {problem}")
    return out


def _plugin_value(spec, y_true, y_prob, n_classes) -> tuple:
    """(value, problem) of a plugin's metric: a finite real number, or NaN and what went
    wrong (it raised, or returned something else: a string, None, NaN, an array)."""
    try:
        value = spec.function(np.asarray(y_true), np.asarray(y_prob), n_classes)
    except Exception as exc:
        return float("nan"), f"raised {type(exc).__name__}: {str(exc)[:200]}"
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return float("nan"), (f"returned {value!r:.80} ({type(value).__name__}); expected a "
                              "finite number")
    if not np.isfinite(value):
        return float("nan"), f"returned {value}; expected a finite number"
    return float(value), ""
