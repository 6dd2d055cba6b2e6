"""Facts + verdict -> Plotly figures -> Jinja2 -> reports/index.html. Renders only: the
conclusion comes from zoo.judge.verdict, the galleries from zoo.show.galleries.

A pure function of the saved facts; never imports tensorflow. Writes index.html,
plotly.min.js (once, beside it), metrics.csv and facts.json.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
import importlib.resources
import io
import json
import time
from pathlib import Path

import jinja2
import numpy as np

from zoo import __version__
from zoo.judge import comparisons, history, tuned, verdict, words
from zoo.show import galleries
from zoo.errors import ZooError
from zoo.judge.facts import load_results, load_run
from zoo import metrics as zmetrics
from zoo.schema import fold_count
from zoo.store import atomic_write_bytes, find_run, last_run_path
from plotly.offline import get_plotlyjs
from zoo.grid.protocol import FIELDS, Protocol
from zoo.show import figures

#: columns of the summary table besides the metrics: key -> (label, higher is better)
EXTRA = {
    "fit_seconds": ("Fit s / fold", False),
    "predict_images_per_second": ("Predict img/s", True),
    "latency_ms": ("Latency ms (1 image)", False),
    "size_bytes": ("Size on disk", False),
    "peak_memory_bytes": ("Peak train memory", False),
    "params": ("Parameters", False),
}


_mean_std = comparisons.mean_std


def _fmt(mean, std=None, key=""):
    if mean is None:
        return "—"
    if key == "params":
        return f"{int(mean):,}"
    if key in ("fit_seconds",):
        return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")
    if key == "latency_ms":
        return f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")
    if key in ("size_bytes", "peak_memory_bytes"):
        return f"{mean / 1e6:,.1f} MB" if mean >= 1e5 else f"{mean / 1e3:,.0f} kB"
    if key == "predict_images_per_second":
        return f"{mean:,.0f}" + (f" ± {std:,.0f}" if std is not None else "")
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def _summary_rows(run, source: str, said, training=None) -> list:
    """One row per model: mean ± std of each column, and (held-out folds) whether its
    training had levelled off. The models that were compared are averaged over the folds
    they all finished (the folds the conclusion speaks of); any other model over its own
    successful folds. The best of each column is marked."""
    scored = zmetrics.table(run.metrics)
    columns = dict(scored) if source == "test" else {**scored, **EXTRA}
    rows = [_summary_row(run, model, source, said, training, scored, columns)
            for model in run.models]
    for key, (_, higher) in columns.items():
        means = [r["cells"][key]["mean"] for r in rows if r["cells"][key]["mean"] is not None]
        if len(means) > 1:
            best = max(means) if higher else min(means)
            for r in rows:
                r["cells"][key]["best"] = r["cells"][key]["mean"] == best
    return rows


def _summary_row(run, model: str, source: str, said, training, scored, columns) -> dict:
    folds, ok, left_out = run.folds[model], run.ok_folds(model), []
    shared = set(said.shared)
    if model in said.compared and len(shared) >= 2:
        left_out = [f.fold + 1 for f in ok if f.fold not in shared]
        ok = [f for f in ok if f.fold in shared]
    row = {"model": model, "folds_ok": len(ok), "folds": len(folds),
           "failed": [f"fold {f.fold + 1}: {f.facts.get('status')}: {f.facts.get('reason')}"
                      for f in folds if not f.ok], "cells": {},
           "left_out": left_out, "training": (training or {}).get(model)}
    for key in columns:
        if key in scored:
            vals = [(f.test_scores if source == "test" else f.scores).get(key) for f in ok]
        else:
            vals = [f.facts.get(key) for f in ok]
        row["cells"][key] = _cell(run, key, *_mean_std(vals))
    return row


def _cell(run, key: str, mean, std) -> dict:
    """A table cell; a metric that says nothing on this dataset (top-5 accuracy on 5
    classes) is marked trivial and never bold."""
    if comparisons.trivial(run, key):
        return {"mean": None, "std": std, "best": False,
                "text": f"{_fmt(mean, std, key)} (trivial: {len(run.classes)} classes)"}
    return {"mean": mean, "std": std, "text": _fmt(mean, std, key), "best": False}


def _recipe(saved: dict, transforms=None) -> str:
    """The training recipe of a saved protocol in words (settings a run made before they
    existed take their defaults, which is what it ran with), with the augmentations the
    dataset allowed (runs made before datasets declared them: not said)."""
    return Protocol(**{k: v for k, v in saved.items() if k in FIELDS}).recipe(transforms)


def _fold_rows(run, sizes=(1.0,)) -> list:
    """A row per fold of every model, at each of ``sizes`` (learning-curve points)."""
    rows = []
    for size in sizes:
        for model in run.models:
            for f in run.folds_at(model, size):
                rows.append({"model": model, "fold": f.fold + 1, "train_size": size,
                             "status": f.facts.get("status"),
                             "reason": f.facts.get("reason", ""),
                             "epochs": f.facts.get("epochs_run"), "lr": f.facts.get("lr"),
                             "fit_seconds": f.facts.get("fit_seconds"),
                             "settings": f.facts.get("settings", {}),
                             "scores": f.scores, "test_scores": f.test_scores})
    return rows


def skipped_here(run, skipped) -> list:
    """(model, reason) of every model skipped on this run's dataset (it could not take the
    dataset, or its plugin failed there): never trained, so never missing."""
    return [(s["name"], s["reason"]) for s in skipped
            if s.get("what") == "model" and s.get("dataset") == run.name]


def partial(run, skipped=()) -> str:
    """What is missing from a run that did not finish (interrupted, or still running), in
    words; '' for a finished run. Models skipped on the dataset are not missing cells: a
    rerun would not train them."""
    sizes = len(run.info.get("train_sizes") or [1.0])
    left_out = {m for m, _ in skipped_here(run, skipped)}
    models = [m for m in run.info.get("models", []) if m not in left_out]
    expected = len(models) * fold_count(run.info["protocol"]) * sizes
    have = len(run.all_folds())
    if run.info.get("finished_at") and have >= expected:
        return ""
    return (f"{have} of {expected} cells have results: this run was interrupted or is still "
            "running, and everything below is about the cells that finished. Run the same "
            "command again to finish it.")


@dataclass
class DatasetView:
    """One dataset's part of the report: what the templates, `zoo run`'s closing lines and
    zoo.api read. Typed, so that a renamed part fails where it is made; the templates index
    it as they would a dict (``d["name"]``), and so may callers."""
    run: object
    name: str
    info: dict
    has_test: bool
    summary: list                 # a row per model: held-out folds
    test_summary: list            # a row per model: the official test split ([] without one)
    folds: list                   # a row per fold of every model
    all_folds: list               # the same at every training size
    comparisons: dict             # source -> the pairwise comparisons
    friedman: dict                # source -> the omnibus ranking
    verdict: object               # zoo.judge.verdict's conclusion, whole
    conclusion: str
    headline: str                 # the conclusion's one plain line, said first
    curve: dict | None            # the learning curves' rows and sentence
    trust: str
    leakage: dict
    understanding: dict
    specs: dict
    params: dict
    recipe: str
    wall_seconds: float
    partial: str                  # what an unfinished run lacks ('' when finished)
    skipped_models: list          # (model, reason) of the models skipped on this dataset
    labels: list                  # (label, full name) of each model shortened in figures
    threads: list
    tuning: dict | None
    trials: list
    figures: list = field(default_factory=list)         # set by render
    curve_figure: dict | None = None
    tuning_figures: list = field(default_factory=list)

    def __getitem__(self, key: str):
        return getattr(self, key)


def dataset_view(run, skipped=()) -> DatasetView:
    """Everything the report shows of one dataset's run, judged from its facts."""
    leak = verdict.leakage_view(run)
    has_test = bool(run.info["dataset"].get("test_samples"))
    said = verdict.conclude(run)
    return DatasetView(
        run=run, name=run.name, info=run.info, has_test=has_test,
        summary=_summary_rows(run, "cv", said, said.training),
        test_summary=_summary_rows(run, "test", said) if has_test else [],
        folds=_fold_rows(run), all_folds=_fold_rows(run, run.train_sizes or (1.0,)),
        comparisons=said.comparisons, friedman=said.rankings, verdict=said,
        conclusion=said.conclusion, headline=said.headline,
        curve=verdict.learning_curve(run),
        trust=words.trust_note(run, leak), leakage=leak,
        understanding=galleries.understanding(run), specs=run.info.get("specs", {}),
        params={m: run.folds[m][0].facts.get("params") for m in run.models},
        recipe=_recipe(run.info["protocol"], run.info.get("augment")),
        wall_seconds=sum(f.facts.get("wall_seconds") or 0 for f in run.all_folds()),
        partial=partial(run, skipped), skipped_models=skipped_here(run, skipped),
        labels=[(figures.label(m), m) for m in run.models if figures.label(m) != m],
        threads=sorted({int(f.facts["threads"]) for f in run.all_folds()
                        if f.facts.get("threads")}),
        tuning=said.tuning, trials=tuned.rows_for_csv(run))


def _with_metric_errors(runs, skipped) -> list:
    """What was skipped, and every plugin metric that raised (named with its plugin, shown
    as missing), once."""
    skipped = list(skipped)
    for run in runs:
        for name, message in run.metric_errors.items():
            if not any(s.get("what") == "metric" and s["name"] == name for s in skipped):
                skipped.append({"what": "metric", "name": name, "reason": message})
    return skipped


def build_context(results_dir, runs=None) -> dict:
    """What the report shows of the last `zoo run` in ``results_dir`` (or of ``runs``,
    loaded runs): a DatasetView per dataset, what was skipped (a plugin's metric that raised
    among it), every fold's facts for facts.json, and the software and devices."""
    runs, skipped = load_results(results_dir) if runs is None else (runs, [])
    skipped = _with_metric_errors(runs, skipped)
    facts_out = [{"dataset": run.name, "run_id": run.store.run_id, "model": f.model,
                  "fold": f.fold + 1, "train_size": f.facts.get("train_size", 1.0),
                  "facts": f.facts, "scores": f.scores, "test_scores": f.test_scores}
                 for run in runs for f in run.all_folds()]
    devices = sorted({d for r in runs for fs in r.folds.values() for f in fs
                      for d in f.facts.get("devices", {}).get("devices", [])})
    style = figures.styles(dict.fromkeys(m for r in runs for m in r.info["models"]))
    for run in runs:   # one colour and one label per model in every figure of the report
        run.style = style
    return {"datasets": [dataset_view(run, skipped) for run in runs], "skipped": skipped,
            "facts": facts_out, "environment": runs[0].info.get("environment", {})
            if runs else {}, "devices": devices,
            "metrics": zmetrics.table(runs[0].metrics) if runs else {}, "extra": EXTRA,
            "compared": comparisons.COMPARED,
            "test_compared": comparisons.TEST_COMPARED, "ceiling": comparisons.CEILING,
            "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "zoo_version": __version__,
            "root": "", "runs": []}


def metrics_csv(context) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = list(context["metrics"])
    writer.writerow(["dataset", "model", "fold", "train_size", "split", "status", "epochs",
                     "lr", "fit_seconds"] + keys + ["settings"])
    for d in context["datasets"]:
        for row in d["all_folds"]:
            for split, scores in (("held-out fold", row["scores"]),
                                  ("official test", row["test_scores"])):
                if split == "official test" and not d["has_test"]:
                    continue
                writer.writerow([d["name"], row["model"], row["fold"], f"{row['train_size']:g}",
                                 split, row["status"], row["epochs"], row["lr"],
                                 row["fit_seconds"]]
                                + [scores.get(k, "") for k in keys]
                                + [_settings(row["settings"])])
        for t in d["trials"]:   # a tuned run's trials: scored on their inner validation split
            writer.writerow([d["name"], t["model"], t["fold"], 1, f"tuning trial {t['trial']}"
                             + (" (pruned)" if t["pruned"] else ""), t["status"], t["epochs"],
                             t["settings"].get("lr", ""), ""]
                            + [t["score"] if k == t["metric"] else "" for k in keys]
                            + [_settings(t["settings"])])
    return buf.getvalue()


def _settings(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True) if settings else ""


def template_env() -> jinja2.Environment:
    folder = importlib.resources.files("zoo.templates")
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)),
                              autoescape=jinja2.select_autoescape(["html"], default=True),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def render(results_dir="results", out_dir="reports", context=None) -> Path:
    """Render the report for the last `zoo run` in ``results_dir`` into ``out_dir``
    (``context``: one :func:`build_context` already made for it), led by an index of every
    run under ``results_dir``, each with its own page (runs/<run id>/index.html, rendered
    again only when its facts changed)."""
    context = context or build_context(results_dir)
    if not context["datasets"]:
        kept = Path(out_dir) / "index.html"
        raise ZooError(f"no results to show: {last_run_path(results_dir)} lists no "
                       "finished run; " + (f"{kept} was left as it was" if kept.exists()
                                           else "no report was written"))
    out = _folder(Path(out_dir))
    for i, d in enumerate(context["datasets"]):
        _add_figures(i, d, context["skipped"])
    context["runs"] = run_pages(results_dir, out, {d.run.store.path: (d, context)
                                                   for d in context["datasets"]})
    return _write(out, context)


def render_run(results_dir, out_dir, run_id: str) -> Path:
    """One run's page (``run_id``, or a unique start of it), rendered whatever its age."""
    store = find_run(results_dir, run_id)
    out = _folder(Path(out_dir))
    _write_plotlyjs(out)
    return _page(store, out, None, load_run(store))[1]


def run_pages(results_dir, out: Path, shown: dict) -> list:
    """The index of every run (zoo.judge.history.RunEntry, newest first), each page rendered
    when its facts are newer than it; ``shown``: run folder -> (the DatasetView the main
    page already made of it, the main page's context): reused, not judged again."""
    items = []
    for e, run in history.walk(results_dir, headlines=False):
        items.append(e)
        if run is not None:   # an unreadable run is listed, with no page
            summary, _ = _page(e.store, out, shown.get(e.store.path), run)
            e.headline, e.page = summary["headline"], f"runs/{e.run_id}/index.html"
    return items


def _page(store, out: Path, shown, run) -> tuple:
    """(summary, path) of one run's page (``run``: the run, loaded): rendered unless an
    up-to-date one exists."""
    folder = out / "runs" / store.run_id
    stamp = _stamp(store.path)
    try:
        summary = json.loads((folder / "summary.json").read_text())
        if summary.get("stamp") == stamp and summary.get("zoo") == __version__ and \
                (folder / "index.html").exists():
            return summary, folder / "index.html"
    except (OSError, ValueError):
        pass
    if shown is None:
        context = build_context(store.root, [run])
    else:
        view, main = shown
        context = {**main, "datasets": [view],
                   "facts": [f for f in main["facts"] if f["run_id"] == store.run_id]}
    context.update(root="../../", runs=[])
    path = _write(_folder(folder), context, plotly=False)
    d = context["datasets"][0]
    summary = {"zoo": __version__, "stamp": stamp, "headline": d.headline or
               d.conclusion.split(". ")[0]}
    atomic_write_bytes(folder / "summary.json", json.dumps(summary).encode())
    return summary, path


def _stamp(folder: Path) -> int:
    """The newest modification time (ns) of a run's files: its page is stale after it."""
    return max((p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()), default=0)


def _folder(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"cannot create the report folder {out}: {exc.strerror}") from None
    return out


def _write(out: Path, context: dict, plotly: bool = True) -> Path:
    """index.html, metrics.csv and facts.json of ``context`` into ``out``."""
    for i, d in enumerate(context["datasets"]):
        if not d.figures:
            _add_figures(i, d, context["skipped"])
    html = template_env().get_template("index.html").render(**context)
    if plotly:
        _write_plotlyjs(out)
    atomic_write_bytes(out / "metrics.csv", metrics_csv(context).encode())
    atomic_write_bytes(out / "facts.json", json.dumps(
        {"zoo": __version__, "folds": context["facts"], "skipped": context["skipped"],
         "trials": [{"dataset": d["name"], **t} for d in context["datasets"]
                    for t in d["trials"]]}, indent=1, default=_jsonable).encode())
    atomic_write_bytes(out / "index.html", html.encode())
    return out / "index.html"


def _add_figures(i: int, d: DatasetView, skipped: list) -> None:
    """The figures of dataset ``d`` (the ``i``-th), as JSON for the page; a plugin metric's
    figure that failed goes into ``skipped``."""
    lead = d.verdict.lead
    plugged, errors = figures.metric_figures(d.run)
    d.figures = [{"id": f"fig-{i}-{key}", "title": title, "json": figures.to_json(fig)}
                 for key, title, fig in figures.dataset_figures(d.run, d.friedman[lead],
                                                                d.comparisons[lead])
                 + plugged]
    skipped += [{"what": "metric figure", "name": name, "reason": reason}
                for name, reason in errors.items()
                if not any(s["reason"] == reason for s in skipped)]
    d.curve_figure = ({"id": f"fig-{i}-curve", "title": "Learning curves", "json":
                       figures.to_json(figures.learning_curve_figure(d.curve, d.name,
                                                                     d.run.style))}
                      if d.curve else None)
    tuning = [(m, figures.tuning_figure(d.tuning, m)) for m in d.run.models] \
        if d.tuning else []
    d.tuning_figures = [{"id": f"fig-{i}-tune-{j}", "title": f"Tuning trials of {m}",
                         "json": figures.to_json(fig)}
                        for j, (m, fig) in enumerate(tuning) if fig is not None]


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _write_plotlyjs(out: Path) -> None:
    """plotly.min.js once beside index.html (no CDN, not inlined per figure)."""
    target = out / "plotly.min.js"
    js = get_plotlyjs().encode()
    if not target.exists() or target.stat().st_size != len(js):
        atomic_write_bytes(target, js)
