"""Runs over time: every run kept under a results folder, what each one says, and what
changed between two of them (`zoo runs`, the report's index of runs, `zoo diff`).

A run is one dataset under one protocol: RESULTS/<dataset>/<run id>. Its status comes from
its facts: finished, interrupted (cells missing, no finish time), failed (every cell failed)
or unreadable (its run.json is not zoo's; the others are listed all the same).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from zoo.errors import ZooError
from zoo.judge import comparisons as cmp, verdict, words
from zoo.judge.facts import load_run
from zoo.schema import fold_count
from zoo.store import find_runs


@dataclass
class RunEntry:
    """One run as the index lists it."""
    run_id: str
    dataset: str
    started: str
    finished: str
    models: list
    protocol: str                # the protocol in a few words
    status: str                  # finished, interrupted, failed, or unreadable: why
    cells: str = ""              # 'cells with results of expected'
    headline: str = ""           # the conclusion's plain line ('' when nothing compared)
    page: str = ""               # its report page, relative to the index ('' when none)
    store: object = field(default=None, repr=False)


def protocol_words(protocol: dict) -> str:
    """'5-fold x 3 repeats, 20 epochs, batch 128, lr 0.001, claims on f1'."""
    repeats = int(protocol.get("repeats") or 1)
    text = f"{protocol.get('folds')}-fold" + (f" x {repeats} repeats" if repeats > 1 else "")
    text += (f", {protocol.get('epochs')} epochs, batch {protocol.get('batch_size')}, "
             f"lr {protocol.get('lr'):g}" if isinstance(protocol.get("lr"), (int, float))
             else "")
    metric = protocol.get("metric") or cmp.MAIN
    return text + (f", claims on {metric}" if metric != cmp.MAIN else "")


def status(run) -> tuple:
    """(status, 'cells with results of expected') of a loaded run."""
    sizes = len(run.info.get("train_sizes") or [1.0])
    expected = len(run.info.get("models", [])) * fold_count(run.info["protocol"]) * sizes
    folds = run.all_folds()
    ok = sum(f.ok for f in folds)
    cells = f"{len(folds)} of {expected} cells"
    if folds and not ok:
        return "failed", cells
    if not run.info.get("finished_at") or len(folds) < expected:
        return "interrupted", cells
    return ("finished" if ok == len(folds) else
            f"finished, {len(folds) - ok} cell{'s' * (len(folds) - ok != 1)} failed"), cells


def entries(root, headlines: bool = True) -> list:
    """Every run under ``root``, newest first; ``headlines``: judge each one for its
    conclusion's plain line (a second or so a run with an official test split)."""
    return [e for e, _ in walk(root, headlines)]


def walk(root, headlines: bool = True):
    """(RunEntry, the loaded run or None when unreadable) of every run under ``root``, newest
    first, one at a time: a caller that needs the run too (the report's pages) loads it
    once, and never holds every run's predictions at once."""
    for store in find_runs(root):
        try:
            run = load_run(store)
        except (ZooError, OSError, ValueError, KeyError, TypeError) as exc:
            yield RunEntry(store.run_id, store.dataset, "", "", [], "",
                           f"unreadable: {exc}", store=store), None
            continue
        state, cells = status(run)
        headline = ""
        if headlines and len(run.models) > 1:
            said = verdict.conclude(run)
            headline = said.headline or said.conclusion.split(". ")[0]
        yield RunEntry(
            store.run_id, run.name, str(run.info.get("started_at", "")),
            str(run.info.get("finished_at", "")), list(run.info.get("models", [])),
            protocol_words(run.info["protocol"]), state, cells, headline,
            store=store), run


def lines(items: list) -> list:
    """`zoo runs`: one block per run, newest first."""
    out = []
    for e in items:
        when = e.started.replace("T", " ")[:16] or "?"
        out.append(f"{e.run_id}  {when}  {e.dataset}  {', '.join(e.models) or '—'}  "
                   f"[{e.status}{'; ' + e.cells if e.cells else ''}]")
        if e.protocol:
            out.append(f"    {e.protocol}")
        if e.headline:
            out.append(f"    {e.headline}")
    return out or ["no runs yet: `zoo run` makes one"]


# -- what changed between two runs ----------------------------------------------------------
def diff(run_a, run_b) -> dict:
    """What changed from run A to run B (two loaded runs): settings, models and their
    plugins, package versions, the data; every shared model's mean scores (the primary
    metric first, then every other metric compared); and, when both used the same data and
    splits, each shared model compared fold by fold on the primary metric with the report's
    statistics (Holm over the shared models)."""
    main = cmp.primary(run_a)
    shared = [m for m in run_a.models if m in run_b.models]
    metrics = [main] + [m for m in cmp.compared_metrics(run_a) if m != main]
    out = {"a": run_a.store.run_id, "b": run_b.store.run_id, "metric": main,
           "label": words.said(cmp.meta(run_a, main)[0]), **_what_changed(run_a, run_b),
           "scores": [{"model": m, "source": source, "metric": metric,
                       "label": words.said(cmp.meta(run_a, metric)[0]), "a": ma, "b": mb,
                       "change": mb - ma}
                      for m in shared for source in ("cv", "test") for metric in metrics
                      for ma, mb in [(_mean(run_a, m, metric, source),
                                      _mean(run_b, m, metric, source))]
                      if ma is not None and mb is not None],
           "paired": [], "why_not": ""}
    if out["same_splits"] and shared:
        out["paired"] = _paired(run_a, run_b, shared, main)
    elif not out["data"]["same"]:
        out["why_not"] = ("the runs used different data (dataset fingerprints differ), so "
                          "only their summaries are compared")
    elif shared:
        out["why_not"] = ("the runs used different splits (another seed, number of folds, "
                          "repeats or split kind), so their folds do not pair up and only "
                          "their summaries are compared")
    return out


def _what_changed(run_a, run_b) -> dict:
    a, b = run_a.info, run_b.info
    shared = [m for m in run_a.models if m in run_b.models]
    same_data = a["dataset"].get("fingerprint") == b["dataset"].get("fingerprint")
    specs_a, specs_b = a.get("specs") or {}, b.get("specs") or {}
    return {"settings": _changed(a["protocol"], b["protocol"]),
            "environment": _changed(a.get("environment") or {}, b.get("environment") or {}),
            "models": {"only_a": [m for m in run_a.models if m not in run_b.models],
                       "only_b": [m for m in run_b.models if m not in run_a.models],
                       "changed": _changed({m: specs_a.get(m) for m in shared},
                                           {m: specs_b.get(m) for m in shared})},
            "data": {"same": same_data, "a": a["dataset"].get("fingerprint"),
                     "b": b["dataset"].get("fingerprint"), "dataset_a": run_a.name,
                     "dataset_b": run_b.name},
            "same_splits": same_data and _same_splits(run_a, run_b)}


def _same_splits(run_a, run_b) -> bool:
    fa, fb = run_a.fold_of, run_b.fold_of
    return fa is not None and fb is not None and np.shape(fa) == np.shape(fb) and \
        bool((np.asarray(fa) == np.asarray(fb)).all())


def _changed(a: dict, b: dict) -> dict:
    """key -> (value in A, value in B) for every key whose value differs."""
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _mean(run, model, metric, source):
    key = "test_scores" if source == "test" else "scores"
    values = [getattr(f, key).get(metric) for f in run.ok_folds(model)]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def _paired(run_a, run_b, shared, metric) -> list:
    """Each shared model, run B against run A, on the folds both finished, with the test
    the report uses on that source; one Holm family over the models (per source)."""
    merged = copy.copy(run_a)
    tag = {m: (f"{m} (A)", f"{m} (B)") for m in shared}
    merged.folds = {t: run.folds[m] for m in shared
                    for t, run in zip(tag[m], (run_a, run_b), strict=True)}
    merged.curves = {}
    for cache in ("_test_predictions", "_test_ensembles"):   # computed again, by tag
        merged.__dict__.pop(cache, None)
    merged.info = {**run_a.info, "models": [t for m in shared for t in tag[m]]}
    sources = ["cv"] + (["test"] if verdict.has_test(run_a) and verdict.has_test(run_b)
                        and metric in cmp.TEST_COMPARED else [])
    rows = []
    for source in sources:
        found = [c for c in (cmp.compare(merged, *reversed(tag[m]), metric, source)
                             for m in shared) if c is not None]
        rows += words.describe(cmp.adjust(found))
    return rows


def _grouped(scores: list) -> dict:
    """(model, source) -> its score rows, in order."""
    out = {}
    for s in scores:
        out.setdefault((s["model"], s["source"]), []).append(s)
    return out


def diff_lines(d: dict) -> list:
    """`zoo diff`: what changed, then how the scores moved."""
    out = [f"A = {d['a']} ({d['data']['dataset_a']}), B = {d['b']} ({d['data']['dataset_b']})"]
    for title, changed in (("settings", d["settings"]), ("software", d["environment"]),
                           ("model options and plugins", d["models"]["changed"])):
        out += [f"{title}: {k}: {va!r} -> {vb!r}" for k, (va, vb) in changed.items()] or \
            [f"{title}: the same"]
    if d["models"]["only_a"] or d["models"]["only_b"]:
        out.append(f"models only in A: {', '.join(d['models']['only_a']) or '—'}; only in B: "
                   f"{', '.join(d['models']['only_b']) or '—'}")
    out.append("data: the same (fingerprint " + str(d["data"]["a"]) + ")" if d["data"]["same"]
               else f"data: different ({d['data']['a']} -> {d['data']['b']})")
    for (model, source), scores in _grouped(d["scores"]).items():
        out.append(f"{model} on {cmp.SOURCES[source]}: " + "; ".join(
            f"{s['label']} {s['a']:.4f} -> {s['b']:.4f} ({words.size(s['change'], s['metric'])})"
            for s in scores))
    if d["paired"]:
        out.append("paired by fold (the same splits), B − A:")
        out += [f"  {c.a.rsplit(' (', 1)[0]} on {cmp.SOURCES[c.source]}: {c.verdict}"
                for c in d["paired"]]
    elif d["why_not"]:
        out.append(f"not paired: {d['why_not']}")
    return out
