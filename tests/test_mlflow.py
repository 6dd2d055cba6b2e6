"""`zoo export mlflow` and `zoo run --mlflow`: runs in MLflow, against a local file store (a
file: URI, no server, no network), read back with MlflowClient and checked field by field."""
import mlflow   # keras-zoo[mlflow]; part of the test extra
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats as sps

import zoo
from conftest import TinyModelPlugin, TinyPlugin
from zoo.cli import cli
from zoo.grid.fakes import make_facts
from zoo.judge import verdict
from zoo.judge.facts import load_run
from zoo.store import RunStore, read_json


def parents(client, exp, run_id):
    return client.search_runs([exp], filter_string=f"tags.`zoo.run_id` = '{run_id}' and "
                                                   "tags.`zoo.parent` = 'yes'")


def children(client, exp, parent):
    return client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")


@pytest.fixture
def made(tmp_path):
    results = tmp_path / "results"
    (entry,) = make_facts(results, models={"cnn": 0.95, "vit": 0.6}, folds=3, samples=300,
                          test_samples=150, epochs=4)
    store = RunStore(results, entry["dataset"], entry["run_id"])
    return results, store, f"file:{tmp_path / 'mlruns'}"


def test_a_parent_per_model_with_params_intervals_and_the_verdict(made):
    results, store, uri = made
    out = CliRunner().invoke(cli, ["export", "mlflow", "--results", str(results),
                                   "--tracking-uri", uri, "--experiment", "study"])
    assert out.exit_code == 0, out.output
    assert f"run {store.run_id}: 2 models logged to {uri} (experiment study)" in out.output
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("study").experiment_id
    found = {r.data.tags["zoo.model"]: r for r in parents(client, exp, store.run_id)}
    assert sorted(found) == ["cnn", "vit"]
    run = load_run(store)
    said = verdict.conclude(run)
    cnn = found["cnn"].data
    assert cnn.params["protocol.folds"] == "3" and cnn.params["protocol.epochs"] == "4"
    assert cnn.params["dataset"] == "alpha" and cnn.params["plugin"] == "plugin-cnn"
    acc = np.array([f.scores["accuracy"] for f in run.ok_folds("cnn")])
    half = sps.t.ppf(0.975, 2) * acc.std(ddof=1) / np.sqrt(3)
    assert cnn.metrics["accuracy_mean"] == pytest.approx(acc.mean())
    assert cnn.metrics["accuracy_ci_low"] == pytest.approx(acc.mean() - half)
    assert cnn.metrics["accuracy_ci_high"] == pytest.approx(acc.mean() + half)
    test_acc = np.mean([f.test_scores["accuracy"] for f in run.ok_folds("cnn")])
    assert cnn.metrics["test_accuracy_mean"] == pytest.approx(test_acc)
    c = next(c for c in said.comparisons[said.lead] if c.primary)
    assert cnn.tags["zoo.vs.vit.p_holm"] == f"{c.p_holm:.6g}"
    assert cnn.tags["zoo.vs.vit.verdict"] == c.verdict and c.verdict.startswith("cnn ahead")
    assert cnn.tags["zoo.headline"] == said.headline
    artifacts = {a.path for a in client.list_artifacts(found["cnn"].info.run_id, "report")}
    assert "report/plotly.min.js" in artifacts and "report/runs" in artifacts
    page = client.list_artifacts(found["cnn"].info.run_id, f"report/runs/{store.run_id}")
    assert {a.path.rsplit("/", 1)[1] for a in page} >= {"index.html", "metrics.csv"}


def test_a_child_per_fold_with_its_metrics_per_epoch(made):
    results, store, uri = made
    zoo.api.export_mlflow(results, tracking_uri=uri)
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("zoo").experiment_id
    parent = next(r for r in parents(client, exp, store.run_id)
                  if r.data.tags["zoo.model"] == "vit")
    folds = {r.data.tags["zoo.fold"]: r for r in children(client, exp, parent.info.run_id)}
    assert sorted(folds) == ["1", "2", "3"]
    facts = read_json(store.fold_paths("vit", 1)[0])
    history = client.get_metric_history(folds["2"].info.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3]
    assert [m.value for m in history] == pytest.approx(facts["history"]["loss"])
    run = load_run(store)
    fold = run.ok_folds("vit")[1]
    assert folds["2"].data.metrics["heldout_accuracy"] == pytest.approx(fold.scores["accuracy"])
    assert folds["2"].data.params["lr"] == str(facts["lr"]) and folds["2"].info.status == \
        "FINISHED"


def test_exporting_again_replaces_instead_of_duplicating(made):
    results, store, uri = made
    first = zoo.api.export_mlflow(results, tracking_uri=uri)[store.run_id]
    again = zoo.api.export_mlflow(results, run=store.run_id[:5], tracking_uri=uri)[store.run_id]
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("zoo").experiment_id
    live = parents(client, exp, store.run_id)
    assert sorted(r.info.run_id for r in live) == sorted(again)
    assert not set(first) & set(again)
    everything = client.search_runs([exp], filter_string=f"tags.`zoo.run_id` = "
                                                         f"'{store.run_id}'")
    assert len(everything) == 2 + 2 * 3   # two parents, three folds each: nothing twice


def test_zoo_run_logs_each_fold_as_it_finishes(register_plugin, tmp_path, monkeypatch):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    uri = f"file:{tmp_path / 'mlruns'}"
    seen = []
    real = zoo.show.tracker.log_fold
    monkeypatch.setattr(zoo.show.tracker, "log_fold",
                        lambda *a, **k: seen.append(a[5]) or real(*a, **k))
    out = CliRunner().invoke(cli, ["run", "dense", "--dataset", "tiny", "--folds", "2",
                                   "--epochs", "1", "--batch-size", "8", "--quiet", "--mlflow",
                                   uri, "--results", str(tmp_path / "r"), "--out",
                                   str(tmp_path / "o")], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert seen == [0, 1, 0, 1]   # live as each fold finished, then again in the final export
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("zoo").experiment_id
    (entry,) = read_json(tmp_path / "r" / "last_run.json")["runs"]
    (parent,) = parents(client, exp, entry["run_id"])
    assert parent.data.tags["zoo.model"] == "dense"
    assert len(children(client, exp, parent.info.run_id)) == 2
    models = client.list_artifacts(children(client, exp, parent.info.run_id)[0].info.run_id,
                                   "model")
    assert [a.path.rsplit("/", 1)[1] for a in models][0].endswith(".keras")


def test_without_mlflow_installed_one_line_says_what_to_install(made, monkeypatch):
    import builtins

    results, store, uri = made
    real = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name.startswith("mlflow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(zoo.ZooError, match=r"pip install 'keras-zoo\[mlflow\]'"):
        zoo.api.export_mlflow(results, tracking_uri=uri)
