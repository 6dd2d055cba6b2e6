"""Two metrics beyond zoo's core scores, registered through the register_metrics hook like
any plugin's and using only zoo's public names: top-5 accuracy, and the expected
calibration error, which brings its own figure (a reliability diagram)."""
import numpy as np

import zoo

#: confidence bins of the calibration error and its diagram: equal widths on (0, 1]
BINS = 15


def _prob(y_prob, n_classes) -> np.ndarray:
    prob = np.asarray(y_prob, dtype=np.float64)[:, :n_classes]
    if prob.shape[1] < n_classes:
        prob = np.pad(prob, ((0, 0), (0, n_classes - prob.shape[1])))
    return prob


def top_k_accuracy(y_true, y_prob, n_classes, k: int = 5) -> float:
    """Share of images whose true class is among the k most probable, ties broken as
    scikit-learn's ``top_k_accuracy_score`` breaks them: a stable ascending sort, reversed,
    so among equal probabilities the higher class index ranks first."""
    prob = _prob(y_prob, n_classes)
    y_true = np.asarray(y_true).astype(np.int64)
    k = min(k, n_classes)
    ranked = np.argsort(prob, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return float((ranked == y_true[:, None]).any(axis=1).mean())


def reliability(y_true, y_prob, n_classes, bins: int = BINS):
    """Calibration by confidence bin: for each bin the mean confidence (top probability),
    the accuracy and the number of images."""
    prob = _prob(y_prob, n_classes)
    y_true = np.asarray(y_true).astype(np.int64)
    confidence = prob.max(axis=1)
    right = prob.argmax(axis=1) == y_true
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        conf = np.bincount(which, weights=confidence, minlength=bins) / count
        acc = np.bincount(which, weights=right, minlength=bins) / count
    return conf, acc, count


def expected_calibration_error(y_true, y_prob, n_classes, bins: int = BINS) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over the bins of
    :func:`reliability` (0 for a perfectly calibrated model)."""
    conf, acc, count = reliability(y_true, y_prob, n_classes, bins)
    used = count > 0
    return float(np.sum(count[used] * np.abs(conf[used] - acc[used])) / count.sum())


def _points(values) -> list:
    return [round(float(v), 4) for v in values]


def reliability_figure(predictions: dict, n_classes: int) -> dict:
    """Accuracy against confidence per bin, one line per model (its held-out predictions
    pooled); the diagonal is perfect calibration. A Plotly figure as a plain dict."""
    data = [{"type": "scatter", "mode": "lines", "x": [0, 1], "y": [0, 1],
             "line": {"color": "#999", "dash": "dot"}, "name": "perfectly calibrated",
             "hoverinfo": "skip"}]
    for model, (y, p) in predictions.items():
        conf, acc, count = reliability(y, p, n_classes)
        used = count > 0
        data.append({"type": "scatter", "mode": "lines+markers", "name": model,
                     "x": _points(conf[used]), "y": _points(acc[used]),
                     "customdata": count[used].tolist(),
                     "hovertemplate": "confidence %{x:.3f}, accuracy %{y:.3f} "
                                      "(%{customdata} images)"})
    axis = {"range": [0, 1.02], "gridcolor": "#e5e5e5", "zeroline": False}
    return {"data": data, "layout": {
        "title": {"text": "Reliability diagram (held-out folds pooled): accuracy against "
                          "confidence"},
        "height": 420, "plot_bgcolor": "white", "legend": {"orientation": "h", "y": -0.18},
        "xaxis": {**axis, "title": {"text": "mean confidence (top probability)"}},
        "yaxis": {**axis, "title": {"text": "accuracy"}}}}


@zoo.hookimpl
def register_metrics(register):
    register(zoo.MetricSpec(name="top_5_accuracy", function=top_k_accuracy, min_classes=6,
                            label="Top-5 accuracy"))
    register(zoo.MetricSpec(name="ece", function=expected_calibration_error,
                            higher_is_better=False, label="ECE (calibration)",
                            figure=reliability_figure))
