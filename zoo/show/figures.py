"""Plotly figures from facts, as plain figure dicts (``{"data": [...], "layout": {...}}``)
that plotly.js draws. Built without plotly's Python validators, which cost seconds for a
report of hundreds of traces. Curves are interpolated on a fixed grid and rounded, so the
report stays small however many folds and classes there are."""
from __future__ import annotations

import html
import json
import warnings

import numpy as np

from zoo.judge import comparisons, stats
from zoo import metrics

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22"]
GRID_COLOR = "#e5e5e5"


def text(s) -> str:
    """Plotly renders labels as pseudo-HTML: escape them so names show as plain text."""
    return html.escape(str(s), quote=False)


def _round(a, digits=4) -> list:
    a = np.round(np.asarray(a, dtype=float), digits)
    return [None if not np.isfinite(v) else float(v) for v in a]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


#: a model name longer than this is shortened in legends and labels (the full name on hover
#: and in the report's table of names)
LABEL = 24


def label(model: str) -> str:
    """A model's name as figures show it: whole when short, else its start and end around
    an ellipsis ('hub:preset=/a/…/tiny-resnet' keeps what tells variants apart)."""
    model = str(model)
    if len(model) <= LABEL:
        return model
    return model[:LABEL - 13] + "…" + model[-12:]


def styles(models) -> dict:
    """One label and one colour per model for a whole report, in the order given: a model
    keeps its colour from figure to figure and dataset to dataset."""
    return {m: (label(m), PALETTE[i % len(PALETTE)]) for i, m in enumerate(models)}


def _style(run, model: str) -> tuple:
    """(label, colour) of ``model``: the report's, else by its place in the run."""
    given = getattr(run, "style", None) or {}
    if model in given:
        return given[model]
    models = list(run.info.get("models", [])) or list(run.models)
    i = models.index(model) if model in models else len(models)
    return label(model), PALETTE[i % len(PALETTE)]


def _named(run_or_style, model: str) -> dict:
    """A trace's name (the short label) and legend group, its colour, and the full name on
    hover."""
    name, colour = _style(run_or_style, model) if not isinstance(run_or_style, dict) else \
        run_or_style.get(model, (label(model), PALETTE[0]))
    return {"name": text(name), "legendgroup": text(model), "meta": text(model)}, colour


def _title(text_: str, width: int = 90) -> dict:
    """A figure title left of Plotly's toolbar, wrapped at a word when long."""
    words, lines = text(text_).split(" "), [""]
    for w in words:
        if lines[-1] and len(lines[-1]) + 1 + len(w) > width:
            lines.append(w)
        else:
            lines[-1] = f"{lines[-1]} {w}".strip()
    return {"text": "<br>".join(lines), "x": 0.01, "xanchor": "left", "y": 0.98,
            "yanchor": "top", "font": {"size": 15}}


def log_ticks(low: float, high: float, unit: str = "") -> dict:
    """Tick values and labels for a log axis from ``low`` to ``high``: 1, 2, 3 and 5 times the
    powers of ten, each labelled in full (Plotly's own labels '2' and '3' read as 2 and 3,
    not 20 and 30)."""
    if not (low > 0 and high > 0):
        return {}
    low, high = min(low, high), max(low, high)
    values = [m * 10.0 ** e for e in range(int(np.floor(np.log10(low))) - 1,
                                           int(np.ceil(np.log10(high))) + 1)
              for m in (1, 2, 3, 5)]
    inside = [v for v in values if low / 1.5 <= v <= high * 1.5] or [low, high]
    return {"tickvals": inside, "ticktext": [f"{v:,.10g}{unit}" for v in inside]}


def _axis(title="", **kw) -> dict:
    return {"title": {"text": title}, "gridcolor": GRID_COLOR, "zeroline": False, **kw}


def _layout(title, x, y, height=420, **kw) -> dict:
    layout = {"title": _title(title), "height": height,
              "margin": {"l": 60, "r": 20, "t": 80 if len(title) > 90 else 64, "b": 50},
              "plot_bgcolor": "white", "paper_bgcolor": "white",
              "legend": {"orientation": "h", "y": -0.18},
              "xaxis": _axis(x), "yaxis": _axis(y)}
    layout.update(kw)
    return layout


def _columns(n: int, gap: float = 0.06) -> list:
    """x-axis domains of n side-by-side subplots."""
    width = (1 - gap * (n - 1)) / n
    return [[i * (width + gap), i * (width + gap) + width] for i in range(n)]


def _titles(names, domains) -> list:
    return [{"text": name, "x": (d[0] + d[1]) / 2, "y": 1.0, "xref": "paper", "yref": "paper",
             "xanchor": "center", "yanchor": "bottom", "showarrow": False}
            for name, d in zip(names, domains, strict=True)]


def _curve_figure(run, which: str) -> dict:
    """ROC (which='roc') or precision-recall ('pr'): mean over folds with a +-1 std band,
    the macro average first and every class selectable from a menu."""
    classes = run.classes
    n = len(classes)
    grid = _round(metrics.GRID, 2)
    data, owner = [], []
    for model in run.models:
        folds = run.ok_folds(model)
        if not folds:
            continue
        stack = np.stack([getattr(f, which) for f in folds])  # folds x (classes+1) x grid
        named, color = _named(run, model)
        for o_i, row in enumerate([n] + list(range(n))):
            ys = stack[:, row, :]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a class absent everywhere
                mean, std = np.nanmean(ys, axis=0), np.nanstd(ys, axis=0)
            visible = o_i == 0
            common = {"x": grid, "mode": "lines", "legendgroup": f"{model}-{o_i}",
                      "visible": visible, "type": "scatter"}
            data.append({**common, "y": _round(np.clip(mean + std, 0, 1)), "hoverinfo": "skip",
                         "line": {"width": 0}, "showlegend": False})
            data.append({**common, "y": _round(np.clip(mean - std, 0, 1)), "hoverinfo": "skip",
                         "line": {"width": 0}, "showlegend": False, "fill": "tonexty",
                         "fillcolor": _rgba(color, 0.15)})
            data.append({**common, "y": _round(mean), **named,
                         "hovertemplate": "%{x}, %{y}<extra>%{meta}</extra>",
                         "line": {"color": color, "width": 2}})
            owner += [o_i] * 3
    if which == "roc":
        data.append({"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines",
                     "name": "chance", "line": {"color": "#999", "dash": "dot", "width": 1}})
        owner.append(None)
    options = ["macro average"] + [f"class {text(c)}" for c in classes]
    buttons = [{"label": label, "method": "restyle",
                "args": [{"visible": [o is None or o == o_i for o in owner]}]}
               for o_i, label in enumerate(options)]
    title = "ROC curve" if which == "roc" else "Precision-recall curve"
    x, y = ("False positive rate", "True positive rate") if which == "roc" else \
        ("Recall", "Precision")
    layout = _layout(f"{title} — {run.name} (mean ± 1 std over folds)", x, y,
                     updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15,
                                   "yanchor": "top", "active": 0}])
    layout["yaxis"]["range"] = [0, 1.02]
    return {"data": data, "layout": layout}


def roc_figure(run) -> dict:
    return _curve_figure(run, "roc")


def pr_figure(run) -> dict:
    return _curve_figure(run, "pr")


def history_figure(run, key: str, label: str) -> dict:
    """Train and validation ``key`` per epoch: every fold faint, the mean bold."""
    data = []
    longest_run = 1
    for model in run.models:
        named, color = _named(run, model)
        for axis, prefix in (("", ""), ("2", "val_")):
            curves = [f.facts["history"].get(prefix + key, []) for f in run.folds.get(model, [])
                      if f.facts.get("history")]
            curves = [c for c in curves if c]
            where = {"xaxis": "x" + axis, "yaxis": "y" + axis, "type": "scatter"}
            for c in curves:
                data.append({**where, "x": list(range(1, len(c) + 1)), "y": _round(c),
                             "mode": "lines", "line": {"color": color, "width": 1},
                             "opacity": 0.25, "showlegend": False, "hoverinfo": "skip",
                             "legendgroup": model})
            if curves:
                longest = max(len(c) for c in curves)
                padded = np.full((len(curves), longest), np.nan)
                for i, c in enumerate(curves):
                    padded[i, :len(c)] = c
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN epoch
                    mean = np.nanmean(padded, axis=0)
                longest_run = max(longest_run, longest)
                data.append({**where, "x": list(range(1, longest + 1)), "y": _round(mean),
                             "mode": "lines+markers", **named,
                             "hovertemplate": "epoch %{x}: %{y}<extra>%{meta}</extra>",
                             "line": {"color": color, "width": 2.5},
                             "showlegend": axis == ""})
    domains = _columns(2)
    layout = _layout(f"{label} per epoch — {run.name}", "Epoch", label, height=380,
                     annotations=_titles(["Training", "Validation"], domains))
    epochs = {"tick0": 1, "dtick": max(1, int(np.ceil(longest_run / 10)))}   # whole epochs
    layout["xaxis"].update(domain=domains[0], anchor="y", **epochs)
    layout["xaxis2"] = _axis("Epoch", domain=domains[1], anchor="y2", **epochs)
    layout["yaxis2"] = _axis("", anchor="x2", matches="y", showticklabels=False)
    return {"data": data, "layout": layout}


def confusion_figure(run) -> dict:
    """Confusion matrices summed over folds, one per model; counts / row-normalised toggle."""
    models = [m for m in run.models if run.ok_folds(m)]
    names = [text(c) for c in run.classes]
    domains = _columns(max(1, len(models)))
    data = []
    layout = _layout(f"Confusion matrices (summed over folds) — {run.name}", "Predicted",
                     "True", height=max(380, 18 * len(names) + 150),
                     annotations=_titles([text(_style(run, m)[0]) for m in models],
                                         domains[:len(models)]))
    for i, model in enumerate(models):
        cm = sum(f.confusion for f in run.ok_folds(model))
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
        suffix = "" if i == 0 else str(i + 1)
        for kind, z, visible in (("counts", cm.tolist(), True),
                                 ("row-normalised", np.round(norm, 3).tolist(), False)):
            data.append({"type": "heatmap", "z": z, "x": names, "y": names,
                         "colorscale": [[0, "#f7fbff"], [1, "#08306b"]], "showscale": False,
                         "visible": visible,
                         "name": kind, "xaxis": "x" + suffix, "yaxis": "y" + suffix,
                         "hovertemplate": "true %{y}<br>predicted %{x}<br>%{z}<extra></extra>"})
        layout["xaxis" + suffix] = _axis("Predicted", domain=domains[i], anchor="y" + suffix,
                                         type="category")
        layout["yaxis" + suffix] = _axis("True" if i == 0 else "", anchor="x" + suffix,
                                         autorange="reversed", type="category")
    buttons = [{"label": kind, "method": "restyle",
                "args": [{"visible": [(t % 2) == j for t in range(len(data))]}]}
               for j, kind in enumerate(("counts", "row-normalised"))]
    layout["updatemenus"] = [{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.18,
                              "yanchor": "top", "type": "buttons", "direction": "right"}]
    return {"data": data, "layout": layout}


def per_class_f1_figure(run) -> dict:
    data = []
    for model in run.models:
        folds = run.ok_folds(model)
        if not folds:
            continue
        named, colour = _named(run, model)
        f1 = np.stack([metrics.per_class_f1(f.confusion) for f in folds])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(f1, axis=0), np.nanstd(f1, axis=0)
        data.append({"type": "bar", "x": [text(c) for c in run.classes], "y": _round(mean),
                     **named, "marker": {"color": colour},
                     "hovertemplate": "%{x}: F1 %{y}<extra>%{meta}</extra>",
                     "error_y": {"type": "data", "symmetric": False,   # within 0..1
                                 "array": _round(np.minimum(std, 1 - mean)),
                                 "arrayminus": _round(np.minimum(std, mean))}})
    layout = _layout(f"F1 per class (mean over folds) — {run.name}", "Class", "F1",
                     barmode="group")
    layout["yaxis"]["range"] = [0, 1.05]
    layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}


def critical_difference_figure(ranking, rows, style=None) -> dict:
    """Each model at its mean score, and below them a line per group of models that are not
    significantly different, dots on its members (a group need not be neighbours): the
    groups come from the same Holm-adjusted pairwise tests as the written conclusion
    (zoo.judge.comparisons.groups), so the figure and the words agree. When the omnibus test finds
    no difference, one line joins every model."""
    models, means = ranking.models, ranking.means
    style = style or styles(models)
    data = [{"type": "scatter", "mode": "markers+text", "x": [round(float(means[i]), 4)],
             "y": [0], "text": [text(style[models[i]][0])], "textposition": "top center",
             "name": text(style[models[i]][0]),
             "marker": {"size": 12, "color": style[models[i]][1]},
             "hovertemplate": f"{text(models[i])}: mean %{{x:.4f}}<extra></extra>"}
            for i in ranking.order()]
    level = -0.25
    for group in comparisons.groups(ranking, rows):   # a row per group: its members dotted
        data.append({"type": "scatter", "mode": "lines+markers",
                     "x": [round(float(means[i]), 4) for i in group], "y": [level] * len(group),
                     "line": {"color": "#999", "width": 4},
                     "marker": {"color": "#666", "size": 9},
                     "name": "not significantly different", "showlegend": False,
                     "hovertemplate": ", ".join(text(models[i]) for i in group)
                                      + ": not significantly different<extra></extra>"})
        level -= 0.2
    title = (f"Mean {ranking.label} on {ranking.where}: the models dotted on one grey line "
             f"are not significantly different ({ranking.test}, Holm-adjusted)"
             if ranking.significant
             else f"Mean {ranking.label} on {ranking.where}: no Holm-adjusted {ranking.test} "
                  f"finds a difference ({stats.format_p(ranking.p)}), so every model is joined")
    spread = max(means) - min(means) or 0.01
    layout = _layout(title, f"mean {ranking.label}", "", height=260 + 20 * len(models),
                     showlegend=False)
    layout["xaxis"].update(range=[min(means) - 0.15 * spread, max(means) + 0.15 * spread])
    layout["yaxis"].update(visible=False, range=[level - 0.2, 1.0])
    return {"data": data, "layout": layout}


def metric_figures(run) -> tuple:
    """The figures metric plugins bring (MetricSpec.figure), and what went wrong: a list of
    (id suffix, title, figure) and {metric: error}. Each model's held-out predictions of its
    successful folds are pooled; model names come escaped, as Plotly shows them."""
    predictions = {}
    for model in run.models:
        folds = run.ok_folds(model)
        if folds:
            predictions[text(model)] = (np.concatenate([f.y_true for f in folds]),
                                        np.concatenate([f.arrays["y_prob"] for f in folds]))
    out, errors = [], {}
    for name, spec in (getattr(run, "metrics", None) or {}).items():
        if spec.figure is None or not predictions:
            continue
        try:
            fig = spec.figure(predictions, len(run.classes))
            title = fig.get("layout", {}).get("title", {}).get("text") or spec.label or name
            out.append((f"metric-{name}", title, fig))
        except Exception as exc:  # a plugin's figure must never cost the report
            errors[name] = (f"the figure of metric '{name}' (plugin {spec.plugin}) raised "
                            f"{type(exc).__name__}: {str(exc)[:200]}")
    return out, errors


def learning_curve_figure(curve: dict, dataset: str, style=None) -> dict:
    """Accuracy against the number of training images (log axis), one line per model: the
    mean over folds with a band of +- one standard deviation (zoo.judge.verdict.learning_curve)."""
    data, style = [], style or styles(curve["models"])
    for model in curve["models"]:
        named, color = _named(style, model)
        points = [(r["images"], r["models"][model]) for r in curve["rows"]
                  if r["models"].get(model, {}).get("mean") is not None]
        if not points:
            continue
        x = _round([p[0] for p in points], 1)
        mean = np.array([p[1]["mean"] for p in points])
        std = np.array([p[1]["std"] for p in points])
        data.append({"type": "scatter", "x": x + x[::-1],   # the band within 0..1
                     "y": _round(np.minimum(mean + std, 1)) + _round(np.maximum(mean - std,
                                                                                0))[::-1],
                     "fill": "toself", "mode": "lines",
                     "fillcolor": _rgba(color, 0.15), "line": {"width": 0},
                     "hoverinfo": "skip", "showlegend": False,
                     "legendgroup": named["legendgroup"]})
        data.append({"type": "scatter", "x": x, "y": _round(mean), "mode": "lines+markers",
                     **named, "line": {"color": color, "width": 2.5},
                     "customdata": [[p[1]["std"], p[1]["folds"]] for p in points],
                     "hovertemplate": "%{x:,.0f} images: %{y:.4f} ± %{customdata[0]:.4f} "
                                      "(%{customdata[1]} folds)<extra>%{meta}</extra>"})
    layout = _layout(f"Learning curves — {dataset} (accuracy on {curve['where']})",
                     "Training images (log scale)", "Accuracy (mean ± std over folds)")
    images = [r["images"] for r in curve["rows"] if r["images"]]
    layout["xaxis"].update(type="log", **log_ticks(min(images, default=1),
                                                   max(images, default=10)))
    return {"data": data, "layout": layout}


def cost_figure(run, source: str):
    """Accuracy (on ``source``: the official test split, else the held-out folds) against
    latency on one image, one point per model: the mean accuracy with its 95% interval over
    folds, the median latency with the range over folds; the Pareto front (the models that
    no other is both faster and more accurate than) joined and marked. None when no fold
    measured a latency."""
    points = [p for p in (_cost_point(run, m, source) for m in run.models) if p is not None]
    if not points:
        return None
    points += _export_points(run, points)
    front, best = [], -np.inf
    for p in sorted(points, key=lambda p: (p[1], -p[4])):
        if p[4] > best:
            front.append(p)
            best = p[4]
    data = [{"type": "scatter", "mode": "lines", "x": _round([p[1] for p in front]),
             "y": _round([p[4] for p in front]), "name": "Pareto front",
             "line": {"color": "#999", "dash": "dash"}, "hoverinfo": "skip"}]
    on_front = {p[0] for p in front}
    data += [_cost_trace(p, _style(run, p[0].split(" (")[0]), p[0] in on_front,
                         exported=" (" in p[0]) for p in points]
    where = "the official test split" if source == "test" else "the held-out folds"
    layout = _layout(f"Accuracy ({where}) against latency on one image, on this run's device"
                     " — stars: the Pareto front", "latency, ms (median of 50 calls; bars: "
                     "range over folds)", "accuracy (mean; bars: 95% CI over folds)",
                     showlegend=False)
    layout["xaxis"].update(type="log", **log_ticks(min(p[2] for p in points),
                                                   max(p[3] for p in points), " ms"))
    return {"data": data, "layout": layout}


def _export_points(run, points) -> list:
    """A point per export of a model (zoo export model): its own latency, measured when it
    was exported, and the accuracy of the model it came from (its answers agree)."""
    accuracy = {p[0]: p[4:] for p in points}
    return [(f"{e['model']} ({e['format']})", e["latency_ms"], e["latency_ms"],
             e["latency_ms"], *accuracy[e["model"]])
            for e in getattr(run, "exports", []) if e["model"] in accuracy]


def _cost_point(run, model: str, source: str):
    """(model, median latency, lowest, highest, mean accuracy, half the 95% interval) over
    the model's folds that measured both; None when none did."""
    folds = [f for f in run.ok_folds(model) if f.facts.get("latency_ms") is not None]
    acc = [(f.test_scores if source == "test" else f.scores).get("accuracy") for f in folds]
    pairs = [(a, f.facts["latency_ms"]) for a, f in zip(acc, folds, strict=True)
             if a is not None]
    if not pairs:
        return None
    a, lat = np.array(pairs).T
    return (model, float(np.median(lat)), float(lat.min()), float(lat.max()),
            *comparisons.mean_interval(a))


def _cost_trace(point: tuple, style: tuple, on_front: bool, exported: bool = False) -> dict:
    """One model's point; an export (``exported``) as a diamond at its own latency, with the
    accuracy of the model it was exported from."""
    m, lat, low, high, acc, half = point
    (name, colour), front = style, " (Pareto front)" if on_front else ""
    if exported:
        name = f"{name} ({m.rsplit(' (', 1)[1]}"
    return {"type": "scatter", "mode": "markers+text", "x": [round(lat, 3)],
            "y": [round(acc, 4)], "text": [text(name)], "textposition": "top center",
            "name": text(name), "marker": {"size": 13 if on_front else 9,
                                           "symbol": "star" if on_front else
                                           "diamond" if exported else "circle",
                                           "color": colour},
            # the 95% interval, within what accuracy can take (0..1)
            "error_y": {"type": "data", "symmetric": False,
                        "array": [round(min(half, 1 - acc), 4)],
                        "arrayminus": [round(min(half, acc), 4)]},
            "error_x": {"type": "data", "symmetric": False, "array": [round(high - lat, 3)],
                        "arrayminus": [round(lat - low, 3)]},
            "hovertemplate": f"{text(m)}: accuracy %{{y:.4f}} ± {half:.4f}, "
                             f"latency %{{x:.2f}} ms{front}<extra></extra>"}


def tuning_figure(view: dict, model: str):
    """Every trial of ``model``'s searches: its inner score against each tuned setting, a
    panel per setting (a log axis for a log range), a colour per outer fold; open circles:
    pruned trials (scored where they stopped), stars: the trials each fold chose. None when
    the model has no trials."""
    d = view["models"].get(model)
    if not d or not d["trials"] or not d["params"]:
        return None
    metric = view["tuning"]["metric"].replace("_", " ")
    chosen = {(r["fold"] if view["tuning"]["scope"] == "fold" else "all", r.get("best_trial"))
              for r in d["rows"]}
    folds = sorted({t.get("fold") for t in d["trials"]}, key=lambda f: -1 if f is None else f)
    data, layout = [], _layout(f"Tuning trials of {model}: inner {metric} against each "
                               "setting", "", metric, height=380, showlegend=True)
    domains = _columns(len(d["params"]))
    for i, p in enumerate(d["params"]):
        axis = "" if i == 0 else str(i + 1)
        kind = {"type": "log"} if p.log else {"type": "category"} if p.choices else {}
        layout[f"xaxis{axis}"] = _axis(text(p.key), domain=domains[i], anchor=f"y{axis}", **kind)
        if axis:
            layout[f"yaxis{axis}"] = _axis("", anchor=f"x{axis}", matches="y")
        for j, fold in enumerate(folds):
            data += _trial_traces(d["trials"], p, fold, PALETTE[j % len(PALETTE)], axis, chosen)
    return {"data": data, "layout": layout}


def _trial_traces(trials: list, p, fold, colour: str, axis: str, chosen: set) -> list:
    """The trained and the pruned trials of one outer fold's search in the panel of setting
    ``p`` (a trace each; none for a kind with no trial)."""
    mine = [t for t in trials if t.get("fold") == fold and t.get("score") is not None
            and p.key in t.get("settings", {})]
    out = []
    for kind in ("trained", "pruned"):
        ts = [t for t in mine if bool(t.get("pruned")) == (kind == "pruned")]
        if ts:
            out.append(_trial_trace(ts, p, fold, kind, colour, axis, chosen))
    return out


def _trial_trace(ts: list, p, fold, kind: str, colour: str, axis: str, chosen: set) -> dict:
    name = text("whole training set" if fold is None else f"fold {fold + 1}")
    where = "all" if fold is None else fold + 1
    best = [(where, t["trial"]) in chosen for t in ts]
    open_ = "circle-open" if kind == "pruned" else "circle"
    return {
        "type": "scatter", "mode": "markers", "xaxis": f"x{axis}", "yaxis": f"y{axis}",
        "legendgroup": name, "showlegend": not axis and kind == "trained", "name": name,
        "x": [str(t["settings"][p.key]) if p.choices else t["settings"][p.key] for t in ts],
        "y": _round([t["score"] for t in ts]),
        "marker": {"color": colour, "symbol": ["star" if b else open_ for b in best],
                   "size": [14 if b else 8 for b in best]},
        "hovertemplate": f"{name}, trial %{{customdata}} ({kind}): {text(p.key)} %{{x}}, "
                         "score %{y:.4f}<extra></extra>",
        "customdata": [t["trial"] + 1 for t in ts]}


def dataset_figures(run, ranking=None, rows=()) -> list:
    """(id suffix, title, figure) for every figure of one dataset's section; ``ranking``: the
    omnibus test of the lead source (zoo.judge.comparisons.Ranking) when three or more models were
    compared, ``rows`` that source's pairwise comparisons."""
    out = [
        ("roc", "ROC", roc_figure(run)),
        ("pr", "Precision-recall", pr_figure(run)),
        ("loss", "Loss per epoch", history_figure(run, "loss", "Loss")),
        ("acc", "Accuracy per epoch", history_figure(run, "accuracy", "Accuracy")),
        ("cm", "Confusion matrices", confusion_figure(run)),
        ("f1", "F1 per class", per_class_f1_figure(run)),
    ]
    if ranking:
        style = {m: _style(run, m) for m in ranking.models}
        out.insert(0, ("cd", "Which models differ",
                       critical_difference_figure(ranking, rows, style)))
    source = "test" if getattr(run, "y_test", None) is not None and \
        run.info["dataset"].get("test_samples") else "cv"
    cost = cost_figure(run, source)
    if cost is not None:
        out.append(("cost", "Accuracy against cost", cost))
    return out


def to_json(figure: dict) -> str:
    """JSON safe to embed in a <script> block: no '</script>' or '<!--' can end it."""
    out = json.dumps(figure, separators=(",", ":"), allow_nan=False)
    return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
