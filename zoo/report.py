"""Facts -> metrics, statistics and Plotly figures -> Jinja2 -> reports/index.html.

A pure function of the saved facts; never imports tensorflow. Writes index.html,
plotly.min.js (once, beside it), metrics.csv and facts.json.
"""
from __future__ import annotations

import csv
import importlib.resources
import io
import itertools
import json
import time
from pathlib import Path

import jinja2
import numpy as np

from zoo import __version__, stats
from zoo.errors import ZooError
from zoo.facts import load_results
from zoo.metrics import METRICS
from zoo.store import atomic_write_bytes

#: columns of the summary table besides the metrics: key -> (label, higher is better)
EXTRA = {
    "fit_seconds": ("Fit s / fold", False),
    "predict_images_per_second": ("Predict img/s", True),
    "params": ("Parameters", False),
}
#: metrics compared pairwise in the statistics section
COMPARED = ("accuracy", "f1", "mcc", "roc_auc")
CEILING = 0.995


def _mean_std(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _fmt(mean, std=None, key=""):
    if mean is None:
        return "—"
    if key == "params":
        return f"{int(mean):,}"
    if key in ("fit_seconds",):
        return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")
    if key == "predict_images_per_second":
        return f"{mean:,.0f}" + (f" ± {std:,.0f}" if std is not None else "")
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def _summary_rows(run, source: str) -> list:
    """One row per model: mean ± std of each column over its successful folds."""
    rows = []
    columns = dict(METRICS) if source == "test" else {**METRICS, **EXTRA}
    for model in run.models:
        folds = run.folds[model]
        ok = run.ok_folds(model)
        row = {"model": model, "folds_ok": len(ok), "folds": len(folds),
               "failed": [f"fold {f.fold + 1}: {f.facts.get('status')}: {f.facts.get('reason')}"
                          for f in folds if not f.ok], "cells": {}}
        for key in columns:
            if key in METRICS:
                vals = [(f.test_scores if source == "test" else f.scores).get(key) for f in ok]
            else:
                vals = [f.facts.get(key) for f in ok]
            mean, std = _mean_std(vals)
            row["cells"][key] = {"mean": mean, "std": std, "text": _fmt(mean, std, key),
                                 "best": False}
        rows.append(row)
    for key, (_, higher) in columns.items():
        means = [r["cells"][key]["mean"] for r in rows if r["cells"][key]["mean"] is not None]
        if len(means) > 1:
            best = max(means) if higher else min(means)
            for r in rows:
                r["cells"][key]["best"] = r["cells"][key]["mean"] == best
    return rows


def _fold_rows(run) -> list:
    rows = []
    for model in run.models:
        for f in run.folds[model]:
            rows.append({"model": model, "fold": f.fold + 1, "status": f.facts.get("status"),
                         "reason": f.facts.get("reason", ""),
                         "epochs": f.facts.get("epochs_run"), "lr": f.facts.get("lr"),
                         "fit_seconds": f.facts.get("fit_seconds"),
                         "scores": f.scores, "test_scores": f.test_scores})
    return rows


def _comparisons(run, source: str) -> list:
    models = [m for m in run.models if len(run.ok_folds(m)) >= 2]
    out = []
    n = run.info["dataset"]["samples"]
    k = run.info["protocol"]["folds"]
    n_test = n / k
    n_train = n - n_test
    for a, b in itertools.combinations(models, 2):
        fa = {f.fold: f for f in run.ok_folds(a)}
        fb = {f.fold: f for f in run.ok_folds(b)}
        common = sorted(set(fa) & set(fb))
        if len(common) < 2:
            continue
        for metric in COMPARED:
            key = "test_scores" if source == "test" else "scores"
            xa = [getattr(fa[i], key)[metric] for i in common]
            xb = [getattr(fb[i], key)[metric] for i in common]
            if not (np.isfinite(xa).all() and np.isfinite(xb).all()):
                continue
            label, higher = METRICS[metric]
            out.append(stats.compare(a, xa, b, xb, metric, label, higher, n_train, n_test,
                                     ceiling=CEILING))
    return out


def _conclusion(run, comparisons: list, source: str) -> str:
    where = "the official test split" if source == "test" else "the held-out folds"
    main = [c for c in comparisons if c["metric"] == "accuracy"]
    if not main:
        return (f"Only one model has results on {run.name}; there is nothing to compare."
                if len(run.models) <= 1 else "Too few successful folds to compare models.")
    parts = [c["verdict"][0].upper() + c["verdict"][1:] + f" ({c['a']} vs {c['b']})."
             for c in main]
    if all(c["at_ceiling"] for c in main):
        parts.append("Every model sits at the ceiling: these scores cannot rank them.")
    return f"On {where}: " + " ".join(parts)


def _leakage(run):
    """The leakage check of the split this run used (None for runs made without it)."""
    leak = run.info.get("leakage")
    if not leak:
        return None
    used = leak["used"]
    rows = []
    for kind, check in leak["checks"].items():
        rows.append({"kind": kind, "used": kind == used, **check})
    return {"rows": rows, "used": used, "note": leak.get("note", ""),
            "groups": leak.get("groups"), "flagged": leak["checks"][used]["leakage"],
            "reasons": leak["checks"][used]["reasons"],
            "threshold": leak["checks"][used]["near_copy_threshold"]}


def _trust_note(run, leak) -> str:
    flagged = leak is not None and leak["flagged"]
    if run.info["dataset"].get("test_samples"):
        why = ("its held-out folds share near-copies with the folds the models trained on "
               "(see the leakage check)" if flagged else
               "held-out folds can share near-copies of training images")
        return ("Trust the official test-split scores: that split was never used for training "
                f"or model selection, while on {run.name} {why}.")
    if flagged:
        return ("This dataset has no official test split and its held-out folds share "
                "near-copies with the training folds: the cross-validation scores are "
                "optimistic. Rerun with --split grouped for an honest estimate.")
    return ("This dataset has no official test split: the scores are cross-validation "
            "estimates on held-out folds, and the leakage check found no near-copies across "
            "folds." if leak is not None else
            "This dataset has no official test split: the scores are cross-validation "
            "estimates on held-out folds.")


GALLERY = 8


def _true_labels(fold, indices) -> list:
    """The true class of held-out samples of ``fold``, given by dataset index."""
    true_of = dict(zip(fold.arrays["held_out_index"].tolist(), fold.y_true.tolist(),
                       strict=True))
    return [true_of[int(i)] for i in indices]


def _image_uri(pixels) -> str:
    """A small image as a PNG data URI, enlarged to about 96 pixels wide."""
    from zoo import png

    return png.data_uri(pixels, max(1, 96 // pixels.shape[1]))


def _understanding(run) -> dict:
    """Galleries of the most confidently wrong held-out images and saliency maps, as PNG
    data URIs, from the facts each fold saved."""
    from zoo import png

    classes = run.classes
    out = {"models": [], "samples": []}
    for model in run.models:
        folds = run.ok_folds(model)
        items = []
        for f in folds:
            a = f.arrays
            if "wrong_images" not in a:
                continue
            for i, img, true, pred, conf in zip(a["wrong_index"], a["wrong_images"],
                                                _true_labels(f, a["wrong_index"]),
                                                a["wrong_pred"], a["wrong_confidence"],
                                                strict=True):
                items.append((float(conf), int(i), img, true, int(pred), f.fold + 1))
        items.sort(key=lambda t: -t[0])
        gallery = [{"src": _image_uri(img), "true": classes[t], "pred": classes[p],
                    "confidence": conf, "index": i, "fold": fold}
                   for conf, i, img, t, p, fold in items[:GALLERY]]
        maps = {}
        first = next((f for f in folds if f.fold == 0), None)
        if first is not None and "explain_images" in first.arrays:
            images = first.arrays["explain_images"]
            for key, value in first.arrays.items():
                if key.startswith("explain_") and key not in ("explain_images", "explain_index"):
                    method = key[len("explain_"):].replace("_", "-")
                    maps[method] = [_image_uri(png.overlay(img, m))
                                    for img, m in zip(images, value, strict=True)]
            if not out["samples"]:
                labels = _true_labels(first, first.arrays["explain_index"])
                out["samples"] = [{"class": classes[t], "src": _image_uri(img)}
                                  for t, img in zip(labels, images, strict=True)]
        errors = first.facts.get("explain_errors", {}) if first is not None else {}
        declared = run.info.get("specs", {}).get(model, {}).get("explain", [])
        out["models"].append({"name": model, "gallery": gallery, "maps": maps,
                              "errors": errors, "declared": declared})
    return out


def build_context(results_dir) -> dict:
    runs, skipped = load_results(results_dir)
    datasets = []
    facts_out = []
    for run in runs:
        leak = _leakage(run)
        has_test = bool(run.info["dataset"].get("test_samples"))
        cv_cmp = _comparisons(run, "cv")
        test_cmp = _comparisons(run, "test") if has_test else []
        lead = "test" if has_test else "cv"
        datasets.append({
            "run": run, "name": run.name, "info": run.info, "has_test": has_test,
            "summary": _summary_rows(run, "cv"),
            "test_summary": _summary_rows(run, "test") if has_test else [],
            "folds": _fold_rows(run),
            "comparisons": {"test": test_cmp, "cv": cv_cmp},
            "conclusion": _conclusion(run, test_cmp if has_test else cv_cmp, lead),
            "trust": _trust_note(run, leak),
            "leakage": leak,
            "understanding": _understanding(run),
            "specs": run.info.get("specs", {}),
            "params": {m: run.folds[m][0].facts.get("params") for m in run.models},
            "wall_seconds": sum(f.facts.get("wall_seconds", 0) for fs in run.folds.values()
                                for f in fs),
        })
        for model, folds in run.folds.items():
            for f in folds:
                facts_out.append({"dataset": run.name, "run_id": run.store.run_id,
                                  "model": model, "fold": f.fold + 1, "facts": f.facts,
                                  "scores": f.scores, "test_scores": f.test_scores})
    envs = [r.info.get("environment", {}) for r in runs]
    devices = sorted({d for r in runs for fs in r.folds.values() for f in fs
                      for d in f.facts.get("devices", {}).get("devices", [])})
    return {"datasets": datasets, "skipped": skipped, "facts": facts_out,
            "environment": envs[0] if envs else {}, "devices": devices,
            "metrics": METRICS, "extra": EXTRA, "compared": COMPARED,
            "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "zoo_version": __version__}


def metrics_csv(context) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = list(METRICS)
    writer.writerow(["dataset", "model", "fold", "split", "status", "epochs", "lr",
                     "fit_seconds"] + keys)
    for d in context["datasets"]:
        for row in d["folds"]:
            for split, scores in (("held-out fold", row["scores"]),
                                  ("official test", row["test_scores"])):
                if split == "official test" and not d["has_test"]:
                    continue
                writer.writerow([d["name"], row["model"], row["fold"], split, row["status"],
                                 row["epochs"], row["lr"], row["fit_seconds"]]
                                + [scores.get(k, "") for k in keys])
    return buf.getvalue()


def template_env() -> jinja2.Environment:
    folder = importlib.resources.files("zoo.templates")
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)),
                              autoescape=jinja2.select_autoescape(["html"], default=True),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def render(results_dir="results", out_dir="reports", context=None) -> Path:
    """Render the report for the last `zoo run` in ``results_dir`` into ``out_dir``
    (``context``: one :func:`build_context` already made for it)."""
    from zoo import figures

    context = context or build_context(results_dir)
    if not context["datasets"]:
        kept = Path(out_dir) / "index.html"
        raise ZooError(f"no results to show: {Path(results_dir) / 'last_run.json'} lists no "
                       "finished run; " + (f"{kept} was left as it was" if kept.exists()
                                           else "no report was written"))
    for i, d in enumerate(context["datasets"]):
        d["figures"] = [{"id": f"fig-{i}-{key}", "title": title, "json": figures.to_json(fig)}
                        for key, title, fig in figures.dataset_figures(d["run"])]
    html = template_env().get_template("index.html").render(**context)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"cannot create the report folder {out}: {exc.strerror}") from None
    _write_plotlyjs(out)
    atomic_write_bytes(out / "metrics.csv", metrics_csv(context).encode())
    atomic_write_bytes(out / "facts.json", json.dumps(
        {"zoo": __version__, "folds": context["facts"], "skipped": context["skipped"]},
        indent=1, default=_jsonable).encode())
    atomic_write_bytes(out / "index.html", html.encode())
    return out / "index.html"


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _write_plotlyjs(out: Path) -> None:
    """plotly.min.js once beside index.html (no CDN, not inlined per figure)."""
    from plotly.offline import get_plotlyjs

    target = out / "plotly.min.js"
    js = get_plotlyjs().encode()
    if not target.exists() or target.stat().st_size != len(js):
        atomic_write_bytes(target, js)
