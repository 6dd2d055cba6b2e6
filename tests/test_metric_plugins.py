"""Metric plugins: the register_metrics hook, zoo's core metrics (scored whatever plugins load)
and the built-in metrics plugin, plugin metrics in the tables, the comparisons and metrics.csv,
and a metric that brings its own figure."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

import zoo
from conftest import ROOT
from zoo import metrics
from zoo.show import report
from zoo.plugins import get_registry
from zoo.grid.fakes import make_facts
from zoo_plugins import metrics as builtin


def test_core_metrics_are_zoos_own_and_the_plugin_adds_two():
    registry = get_registry()
    names = list(registry.metrics)
    assert names[:9] == list(metrics.METRICS)
    assert all(registry.metrics[n].plugin == "zoo" for n in metrics.METRICS)
    assert registry.metrics["ece"].plugin == "metrics"
    assert registry.plugins["metrics"].metrics == ["top_5_accuracy", "ece"]
    assert registry.metrics["log_loss"].higher_is_better is False
    assert registry.metrics["ece"].figure is builtin.reliability_figure


def test_every_core_metric_is_scored_without_the_metrics_plugin(tmp_path):
    """ZOO_PLUGINS leaving the metrics plugin out: nothing of the core goes missing."""
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.6}, folds=3)
    code = ("from zoo.show import report; import sys\n"
            f"c = report.build_context({str(tmp_path)!r})\n"
            "print(sorted(c['metrics'])); print(sorted(c['datasets'][0]['run'].folds['cnn'][0].scores))")
    env = {**os.environ, "ZOO_PLUGINS": "cnn,vit,digits"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    listed, scored = done.stdout.splitlines()
    assert listed == scored == str(sorted(metrics.METRICS))


def test_a_plugin_cannot_take_a_core_metrics_name(register_plugin):
    class Impostor:
        @zoo.hookimpl
        def register_metrics(self, register):
            register(zoo.MetricSpec(name="accuracy", function=lambda y, p, n: 0.0))

    register_plugin(Impostor(), "impostor")
    registry = get_registry()
    assert registry.metrics["accuracy"].plugin == "zoo"
    assert registry.plugins["impostor"].errors == [
        "metric 'accuracy' is already registered by zoo itself; this one was ignored"]


def test_top_5_accuracy_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 12, 300)
    p = rng.dirichlet(np.ones(12), 300)
    assert builtin.top_k_accuracy(y, p, 12) == pytest.approx(
        skm.top_k_accuracy_score(y, p, k=5, labels=np.arange(12)))
    assert builtin.top_k_accuracy(y[:10] % 3, p[:10, :3] / p[:10, :3].sum(1, keepdims=True),
                                  3) == 1.0


def test_expected_calibration_error_is_the_weighted_gap_per_bin():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 500)
    p = rng.dirichlet(np.ones(4) * 0.5, 500)
    conf, right = p.max(1), p.argmax(1) == y
    total = 0.0
    for b in range(15):   # the plain loop: bins (b/15, (b+1)/15]
        inside = (conf > b / 15) & (conf <= (b + 1) / 15)
        if inside.any():
            total += inside.sum() * abs(conf[inside].mean() - right[inside].mean())
    assert builtin.expected_calibration_error(y, p, 4) == pytest.approx(total / 500)
    # a model that is right exactly as often as it is confident is calibrated
    y2 = np.array([0, 0, 0, 1])
    p2 = np.tile([0.75, 0.25], (4, 1))
    assert builtin.expected_calibration_error(y2, p2, 2) == pytest.approx(0.0)


def brier(y_true, y_prob, n_classes):
    onehot = np.eye(n_classes)[y_true]
    return float(((y_prob - onehot) ** 2).sum(axis=1).mean())


class BrierPlugin:
    @zoo.hookimpl
    def register_metrics(self, register):
        register(zoo.MetricSpec(name="brier", function=brier, higher_is_better=False,
                                label="Brier score", bounds=(0.0, 2.0)))


class Broken:
    @zoo.hookimpl
    def register_metrics(self, register):
        def boom(y_true, y_prob, n_classes):
            raise ZeroDivisionError("no")

        register(zoo.MetricSpec(name="boom", function=boom))


def test_a_plugin_metric_is_in_the_tables_the_comparisons_and_metrics_csv(register_plugin,
                                                                         tmp_path):
    register_plugin(BrierPlugin(), "brier-plugin")
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.6}, folds=4, test_samples=100)
    context = report.build_context(tmp_path)
    d = context["datasets"][0]
    run = d["run"]
    f = run.ok_folds("cnn")[0]
    assert f.scores["brier"] == pytest.approx(brier(f.y_true, f.arrays["y_prob"], 5))
    cnn = next(r for r in d["summary"] if r["model"] == "cnn")
    assert cnn["cells"]["brier"]["mean"] == pytest.approx(
        np.mean([g.scores["brier"] for g in run.ok_folds("cnn")]))
    assert cnn["cells"]["brier"]["best"]            # lower is better, and cnn is better
    assert any(c.metric == "brier" and c.label == "Brier score"
               for c in d["comparisons"]["cv"])
    path = report.render(tmp_path, tmp_path / "out")
    html = path.read_text()
    assert "<th>Brier score</th>" in html and "Top-5 accuracy" in html
    assert "Reliability diagram" in html
    with open(path.parent / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {"brier", "top_5_accuracy", "ece"} <= set(rows[0])
    assert float(rows[0]["brier"]) >= 0


def test_top_5_accuracy_on_5_classes_or_fewer_is_marked_trivial_and_not_compared(tmp_path):
    """With 5 classes top-5 accuracy is 1.0 whatever the model: marked, never bold, never a
    comparison; with 10 it is a score like any other."""
    make_facts(tmp_path / "five", models={"cnn": 0.9, "vit": 0.6}, folds=4, classes=5)
    d = report.build_context(tmp_path / "five")["datasets"][0]
    cell = next(r for r in d["summary"] if r["model"] == "cnn")["cells"]["top_5_accuracy"]
    assert cell["text"] == "1.0000 ± 0.0000 (trivial: 5 classes)" and not cell["best"]
    assert not any(c.metric == "top_5_accuracy" for c in d["comparisons"]["cv"])
    make_facts(tmp_path / "ten", models={"cnn": 0.9, "vit": 0.6}, folds=4, classes=10)
    d = report.build_context(tmp_path / "ten")["datasets"][0]
    cell = next(r for r in d["summary"] if r["model"] == "cnn")["cells"]["top_5_accuracy"]
    assert "trivial" not in cell["text"] and cell["mean"] is not None
    assert any(c.metric == "top_5_accuracy" for c in d["comparisons"]["cv"])


def test_a_metric_that_raises_is_reported_for_its_plugin_and_the_rest_renders(
        register_plugin, tmp_path):
    register_plugin(Broken(), "boom-plugin")
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.6}, folds=3)
    path = report.render(tmp_path, tmp_path / "out")
    html = path.read_text()
    assert "metric &#39;boom&#39; (plugin boom-plugin) raised ZeroDivisionError: no" in html \
        or "metric 'boom' (plugin boom-plugin) raised ZeroDivisionError: no" in html
    assert 'data-metric="accuracy"' in html and "Conclusion." in html
    context = report.build_context(tmp_path)
    assert all(c.metric != "boom" for c in context["datasets"][0]["comparisons"]["cv"])


def test_top_5_accuracy_breaks_ties_as_scikit_learn_does():
    # every class equally likely: scikit-learn puts the higher class indices first
    p = np.full((1, 8), 1 / 8)
    assert builtin.top_k_accuracy(np.array([0]), p, 8) == skm.top_k_accuracy_score(
        [0], p, k=5, labels=np.arange(8)) == 0.0
    assert builtin.top_k_accuracy(np.array([7]), p, 8) == 1.0
    rng = np.random.default_rng(2)
    y = rng.integers(0, 8, 2000)
    p = rng.integers(0, 4, (2000, 8)).astype(float)   # many ties at the 5th place
    p /= p.sum(axis=1, keepdims=True) + (p.sum(axis=1, keepdims=True) == 0)
    assert builtin.top_k_accuracy(y, p, 8) == pytest.approx(
        skm.top_k_accuracy_score(y, p, k=5, labels=np.arange(8)))


class Wrong:
    """Metrics that go wrong in every way a plugin's can."""

    @zoo.hookimpl
    def register_metrics(self, register):
        register(zoo.MetricSpec(name="text", function=lambda y, p, n: "0.5"))
        register(zoo.MetricSpec(name="nothing", function=lambda y, p, n: None))
        register(zoo.MetricSpec(name="infinite", function=lambda y, p, n: float("inf")))
        register(zoo.MetricSpec(name="fine", function=lambda y, p, n: np.float32(0.25)))


def test_a_metric_must_return_a_finite_number(register_plugin, tmp_path):
    register_plugin(Wrong(), "wrong")
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.6}, folds=3)
    context = report.build_context(tmp_path)
    fold = context["datasets"][0]["run"].ok_folds("cnn")[0]
    assert np.isnan(fold.scores["text"]) and np.isnan(fold.scores["nothing"])
    assert np.isnan(fold.scores["infinite"]) and fold.scores["fine"] == 0.25
    reasons = {s["name"]: s["reason"] for s in context["skipped"] if s["what"] == "metric"}
    assert reasons == {
        "text": "metric 'text' (plugin wrong) returned '0.5' (str); expected a finite number",
        "nothing": "metric 'nothing' (plugin wrong) returned None (NoneType); expected a "
                   "finite number",
        "infinite": "metric 'infinite' (plugin wrong) returned inf; expected a finite number"}


def test_the_cli_names_every_failing_metric_and_its_plugin(register_plugin, tmp_path):
    from click.testing import CliRunner

    from zoo.cli import cli

    register_plugin(Broken(), "boom-plugin")
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.6}, folds=3)
    r = CliRunner().invoke(cli, ["report", "--results", str(tmp_path), "--out",
                                 str(tmp_path / "out")])
    assert r.exit_code == 1, r.output
    assert "error: metric 'boom' (plugin boom-plugin) raised ZeroDivisionError: no" in r.output
    assert (tmp_path / "out" / "index.html").exists()


def test_check_plugin_exercises_a_plugins_metrics(register_plugin):
    from zoo.testing import check_plugin

    with pytest.raises(AssertionError) as failed:
        check_plugin(Wrong())
    text = str(failed.value)
    assert "metric text on good predictions returned '0.5' (str); expected a finite number" \
        in text
    assert "metric nothing on good predictions returned None" in text
    assert "metric fine" not in text
    check = check_plugin(BrierPlugin())
    assert check.passed == ["metric brier: a finite number on good, poor and perfect "
                            "predictions"]
