"""Plotly figures from facts. Curves are interpolated on a fixed grid and rounded, so the
report stays small however many folds and classes there are."""
from __future__ import annotations

import html
import warnings

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from zoo import metrics

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22"]


def text(s) -> str:
    """Plotly renders labels as pseudo-HTML: escape them so names show as plain text."""
    return html.escape(str(s), quote=False)


def _round(a, digits=4):
    return np.round(np.asarray(a, dtype=float), digits)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig, title, x, y, height=420):
    fig.update_layout(title=text(title), height=height, margin=dict(l=60, r=20, t=60, b=50),
                      template="plotly_white", legend=dict(orientation="h", y=-0.18))
    fig.update_xaxes(title_text=x)
    fig.update_yaxes(title_text=y)
    return fig


def _curve_figure(run, which: str):
    """ROC (which='roc') or precision-recall ('pr'): mean over folds with a +-1 std band,
    the macro average first and every class selectable from a menu."""
    classes = run.classes
    n = len(classes)
    grid = metrics.GRID
    fig = go.Figure()
    options = ["macro average"] + [f"class {text(c)}" for c in classes]
    per_option = []
    for m_i, model in enumerate(run.models):
        folds = run.ok_folds(model)
        if not folds:
            continue
        stack = np.stack([getattr(f, which) for f in folds])  # folds x (classes+1) x grid
        color = PALETTE[m_i % len(PALETTE)]
        for o_i, row in enumerate([n] + list(range(n))):
            with np.errstate(all="ignore"):
                ys = stack[:, row, :]
                mean = np.nanmean(ys, axis=0) if np.isfinite(ys).any() else np.full(len(grid), np.nan)
                std = np.nanstd(ys, axis=0) if np.isfinite(ys).any() else np.zeros(len(grid))
            visible = o_i == 0
            group = f"{model}-{o_i}"
            fig.add_trace(go.Scatter(x=_round(grid, 2), y=_round(np.clip(mean + std, 0, 1)),
                                     mode="lines", line=dict(width=0), hoverinfo="skip",
                                     showlegend=False, legendgroup=group, visible=visible))
            fig.add_trace(go.Scatter(x=_round(grid, 2), y=_round(np.clip(mean - std, 0, 1)),
                                     mode="lines", line=dict(width=0), fill="tonexty",
                                     fillcolor=_rgba(color, 0.15), hoverinfo="skip",
                                     showlegend=False, legendgroup=group, visible=visible))
            fig.add_trace(go.Scatter(x=_round(grid, 2), y=_round(mean), mode="lines",
                                     name=text(model), line=dict(color=color, width=2),
                                     legendgroup=group, visible=visible))
            per_option.append(o_i)
    if which == "roc":
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                 line=dict(color="#999", dash="dot", width=1)))
    total = len(fig.data)
    buttons = []
    for o_i, label in enumerate(options):
        visible = [False] * total
        for t_i in range(len(per_option)):
            if per_option[t_i] == o_i:
                visible[3 * t_i:3 * t_i + 3] = [True] * 3
        if which == "roc":
            visible[-1] = True
        buttons.append(dict(label=label, method="restyle", args=[{"visible": visible}]))
    # per_option has one entry per (model, option); each entry owns three traces
    fig.update_layout(updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.15,
                                        yanchor="top", active=0)])
    title = "ROC curve" if which == "roc" else "Precision-recall curve"
    x, y = ("False positive rate", "True positive rate") if which == "roc" else \
        ("Recall", "Precision")
    fig = _layout(fig, f"{title} — {run.name} (mean ± 1 std over folds)", x, y)
    fig.update_yaxes(range=[0, 1.02])
    return fig


def roc_figure(run):
    return _curve_figure(run, "roc")


def pr_figure(run):
    return _curve_figure(run, "pr")


def history_figure(run, key: str, label: str):
    """Train and validation ``key`` per epoch: every fold faint, the mean bold."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Training", "Validation"),
                        shared_yaxes=True)
    for m_i, model in enumerate(run.models):
        color = PALETTE[m_i % len(PALETTE)]
        for col, prefix in ((1, ""), (2, "val_")):
            curves = [f.facts["history"].get(prefix + key, []) for f in run.folds.get(model, [])
                      if f.facts.get("history")]
            curves = [c for c in curves if c]
            for c in curves:
                fig.add_trace(go.Scatter(x=list(range(1, len(c) + 1)), y=_round(c),
                                         mode="lines", line=dict(color=color, width=1),
                                         opacity=0.25, showlegend=False, hoverinfo="skip",
                                         legendgroup=model), row=1, col=col)
            if curves:
                longest = max(len(c) for c in curves)
                padded = np.full((len(curves), longest), np.nan)
                for i, c in enumerate(curves):
                    padded[i, :len(c)] = c
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN epoch
                    mean = np.nanmean(padded, axis=0)
                fig.add_trace(go.Scatter(x=list(range(1, longest + 1)), y=_round(mean),
                                         mode="lines+markers", name=text(model),
                                         line=dict(color=color, width=2.5),
                                         legendgroup=model, showlegend=col == 1),
                              row=1, col=col)
    fig = _layout(fig, f"{label} per epoch — {run.name}", "Epoch", label, height=380)
    return fig


def confusion_figure(run):
    """Confusion matrices summed over folds, one per model; counts / row-normalised toggle."""
    models = [m for m in run.models if run.ok_folds(m)]
    n = len(run.classes)
    names = [text(c) for c in run.classes]
    fig = make_subplots(rows=1, cols=max(1, len(models)),
                        subplot_titles=[text(m) for m in models] or [""],
                        horizontal_spacing=0.06)
    for i, model in enumerate(models):
        cm = sum(f.confusion for f in run.ok_folds(model))
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
        for kind, z, visible in (("counts", cm, True), ("row-normalised", _round(norm, 3), False)):
            fig.add_trace(go.Heatmap(z=z, x=names, y=names, colorscale="Blues",
                                     showscale=False, visible=visible, name=kind,
                                     hovertemplate="true %{y}<br>predicted %{x}<br>%{z}"
                                                   "<extra></extra>"),
                          row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", row=1, col=i + 1)
    total = len(fig.data)
    buttons = [dict(label=kind, method="restyle",
                    args=[{"visible": [(t % 2) == j for t in range(total)]}])
               for j, kind in enumerate(("counts", "row-normalised"))]
    fig.update_layout(updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.18,
                                        yanchor="top", type="buttons", direction="right")])
    fig = _layout(fig, f"Confusion matrices (summed over folds) — {run.name}", "Predicted",
                  "True", height=max(380, 18 * n + 150))
    fig.update_yaxes(title_text="")
    fig.update_yaxes(title_text="True", row=1, col=1)
    return fig


def per_class_f1_figure(run):
    n = len(run.classes)
    fig = go.Figure()
    for m_i, model in enumerate(run.models):
        folds = run.ok_folds(model)
        if not folds:
            continue
        f1 = np.stack([metrics.per_class_f1_from_confusion(f.confusion) for f in folds])
        with np.errstate(all="ignore"):
            fig.add_trace(go.Bar(x=[text(c) for c in run.classes],
                                 y=_round(np.nanmean(f1, axis=0)), name=text(model),
                                 marker_color=PALETTE[m_i % len(PALETTE)],
                                 error_y=dict(type="data", array=_round(np.nanstd(f1, axis=0)))))
    fig.update_layout(barmode="group")
    fig = _layout(fig, f"F1 per class (mean over folds) — {run.name}", "Class", "F1")
    fig.update_yaxes(range=[0, 1.05])
    return fig


def dataset_figures(run) -> list:
    """(id suffix, title, figure) for every figure of one dataset's section."""
    return [
        ("roc", "ROC", roc_figure(run)),
        ("pr", "Precision-recall", pr_figure(run)),
        ("loss", "Loss per epoch", history_figure(run, "loss", "Loss")),
        ("acc", "Accuracy per epoch", history_figure(run, "accuracy", "Accuracy")),
        ("cm", "Confusion matrices", confusion_figure(run)),
        ("f1", "F1 per class", per_class_f1_figure(run)),
    ]
