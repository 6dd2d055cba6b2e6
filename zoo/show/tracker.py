"""Runs in MLflow (`zoo export mlflow`, `zoo run --mlflow URI`): one parent MLflow run per
model and dataset, with the protocol, the recipe and the tuned settings as params, each
metric's mean and 95% interval over the folds as metrics, and the primary comparisons'
Holm-adjusted p and verdict as tags; one child run per fold with its metrics per epoch; the
run's report page and metrics.csv, and the kept models, as artifacts.

Exporting a run again replaces what an earlier export of it logged (found by its tags), so
nothing is duplicated. A ``file:`` tracking URI needs no server: MLflow 3 keeps such stores
in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``, which zoo sets for them.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path


from zoo import metrics as zmetrics
from zoo.errors import ConfigError, ZooError
from zoo.judge import comparisons as cmp, verdict
from zoo.schema import fold_count
from zoo.show import report

DEFAULT_EXPERIMENT = "zoo"
#: MLflow's longest tag value
TAG_CHARS = 5000


def client(uri: str):
    """An MlflowClient on ``uri`` (a ``file:`` store allowed); ZooError when MLflow is not
    installed."""
    try:
        from mlflow.tracking import MlflowClient  # lazy: an optional package, 1 s to import
    except ImportError:
        raise ZooError("MLflow is not installed: pip install 'keras-zoo[mlflow]'") from None
    if not isinstance(uri, str) or not uri:
        raise ConfigError("--tracking-uri: expected a URI like file:/path/mlruns or "
                          "http://host:5000")
    if uri.startswith("file:") or "://" not in uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def experiment_id(mlf, name: str) -> str:
    found = mlf.get_experiment_by_name(name)
    return found.experiment_id if found is not None else mlf.create_experiment(name)


def export_run(run, uri: str, experiment: str = DEFAULT_EXPERIMENT) -> list:
    """Log ``run`` (a loaded zoo.judge.facts.DatasetRun): a parent per model, a child per fold;
    replaces an earlier export of the same run. Returns the parents' MLflow run ids."""
    mlf = client(uri)
    exp = experiment_id(mlf, experiment)
    said = verdict.conclude(run)
    with tempfile.TemporaryDirectory() as folder:
        report.render_run(run.store.root, folder, run.store.run_id)   # page, csv, plotly.js
        return [_model(mlf, exp, run, said, model, Path(folder)) for model in run.models]


def _model(mlf, exp: str, run, said, model: str, pages: Path) -> str:
    _forget(mlf, exp, run.store.run_id, model)
    parent = mlf.create_run(exp, run_name=f"{model} on {run.name}",
                            tags=_tags(run, said, model)).info.run_id
    mlf.log_batch(parent, metrics=_summary_metrics(run, model), params=_params(run, model))
    mlf.log_artifacts(parent, str(pages), "report")   # runs/<id>/index.html, metrics.csv
    final = run.store.model_path(model)
    if final.exists():
        mlf.log_artifact(parent, str(final), "model")
    for fold in run.folds.get(model, []):
        log_fold(mlf, exp, parent, run, model, fold.fold, fold.facts, fold.scores)
    mlf.set_terminated(parent)
    return parent


def log_fold(mlf, exp: str, parent: str, run_or_store, model: str, fold: int, facts: dict,
             scores: dict) -> str:
    """A fold's child run: its metrics per epoch, its held-out scores, its kept model."""
    store = getattr(run_or_store, "store", run_or_store)
    child = mlf.create_run(exp, run_name=f"{model} fold {fold + 1}", tags={
        "mlflow.parentRunId": parent, "zoo.run_id": store.run_id, "zoo.model": model,
        "zoo.fold": str(fold + 1), "zoo.status": str(facts.get("status", ""))}).info.run_id
    from mlflow.entities import Param  # lazy: as in client()

    logged = _fold_metrics(facts, scores)
    params = [Param(k, str(facts[k])) for k in ("seed", "lr", "epochs", "epochs_run",
                                                "batch_size", "train_samples",
                                                "held_out_samples") if facts.get(k) is not None]
    for start in range(0, max(1, len(logged)), 1000):   # MLflow's batch limit
        mlf.log_batch(child, metrics=logged[start:start + 1000],
                      params=params if start == 0 else [])
    kept = store.model_path(model, fold)
    if kept.exists():
        mlf.log_artifact(child, str(kept), "model")
    mlf.set_terminated(child, "FINISHED" if facts.get("status") == "ok" else "FAILED")
    return child


def _fold_metrics(facts: dict, scores: dict) -> list:
    """A fold's history, one step per epoch, then its held-out scores (heldout_NAME)."""
    from mlflow.entities import Metric  # lazy: as in client()

    now = int(time.time() * 1000)
    history = [Metric(key, float(v), now, step) for key, values in
               (facts.get("history") or {}).items() for step, v in enumerate(values or [])
               if _number(v)]
    return history + [Metric(f"heldout_{k}", float(v), now, 0)
                      for k, v in (scores or {}).items() if _number(v)]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _forget(mlf, exp: str, run_id: str, model: str) -> None:
    """Delete what an earlier export of this run and model logged (parent and children)."""
    query = f"tags.`zoo.run_id` = '{run_id}' and tags.`zoo.model` = '{_quoted(model)}'"
    for found in mlf.search_runs([exp], filter_string=query, max_results=10_000):
        mlf.delete_run(found.info.run_id)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _tags(run, said, model: str) -> dict:
    tags = {"zoo.run_id": run.store.run_id, "zoo.model": model, "zoo.dataset": run.name,
            "zoo.parent": "yes", "zoo.primary_metric": cmp.primary(run),
            "zoo.headline": said.headline[:TAG_CHARS]}
    for c in said.comparisons.get(said.lead, []):
        if c.primary and model in (c.a, c.b):
            other = c.b if c.a == model else c.a
            tags[f"zoo.vs.{other}.p_holm"] = f"{c.p_holm:.6g}"
            tags[f"zoo.vs.{other}.verdict"] = c.verdict[:TAG_CHARS]
    return tags


def _params(run, model: str) -> list:
    from mlflow.entities import Param  # lazy: as in client()

    p = dict(run.info["protocol"])
    spec = (run.info.get("specs") or {}).get(model) or {}
    params = {**{f"protocol.{k}": v for k, v in p.items()},
              "dataset": run.name, "dataset.fingerprint": run.info["dataset"].get("fingerprint"),
              "plugin": spec.get("plugin"), "plugin_version": spec.get("version"),
              **{f"option.{k}": v for k, v in (spec.get("options") or {}).items()},
              "folds_total": fold_count(p)}
    for fold in run.ok_folds(model):   # the settings each outer fold's search chose
        for key, value in ((fold.facts.get("tuned") or {}).get("settings") or {}).items():
            params[f"tuned.fold{fold.fold + 1}.{key}"] = value
    return [Param(k, str(v)[:6000]) for k, v in params.items() if v is not None]


def _summary_metrics(run, model: str) -> list:
    """Each scored metric's mean and 95% interval (t over the model's folds), on the
    held-out folds and (prefixed test_) the official test split."""
    from mlflow.entities import Metric  # lazy: as in client()

    now, out = int(time.time() * 1000), []
    folds = run.ok_folds(model)
    for prefix, key in (("", "scores"), ("test_", "test_scores")):
        for metric in zmetrics.table(run.metrics):
            mean, half = cmp.mean_interval(getattr(f, key).get(metric) for f in folds)
            if mean is None:
                continue
            out += [Metric(f"{prefix}{metric}_mean", mean, now, 0),
                    Metric(f"{prefix}{metric}_ci_low", mean - half, now, 0),
                    Metric(f"{prefix}{metric}_ci_high", mean + half, now, 0)]
    return out


class LiveTracker:
    """`zoo run --mlflow URI`: a child run logged as each fold finishes, under a parent per
    model and dataset made on its first fold; the whole run is exported again at the end
    (:func:`export_run`), which replaces these."""

    def __init__(self, uri: str, experiment: str = DEFAULT_EXPERIMENT):
        self.mlf = client(uri)
        self.uri, self.experiment = uri, experiment
        self.exp = experiment_id(self.mlf, experiment)
        self.parents = {}

    def fold(self, store, model: str, fold: int, facts: dict, arrays: dict,
             n_classes: int) -> None:
        key = (store.run_id, model)
        if key not in self.parents:
            _forget(self.mlf, self.exp, store.run_id, model)
            self.parents[key] = self.mlf.create_run(
                self.exp, run_name=f"{model} on {store.dataset} (running)",
                tags={"zoo.run_id": store.run_id, "zoo.model": model,
                      "zoo.dataset": store.dataset, "zoo.parent": "yes"}).info.run_id
        scores = zmetrics.scores(arrays["y_true"], arrays["y_prob"], n_classes) \
            if facts.get("status") == "ok" and "y_prob" in arrays else {}
        log_fold(self.mlf, self.exp, self.parents[key], store, model, fold, facts, scores)
