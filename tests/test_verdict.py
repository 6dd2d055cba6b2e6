"""The conclusion claims no more than the statistics support (zoo.verdict)."""
import re

import numpy as np
import pytest
from click.testing import CliRunner

from zoo import metrics, report, stats, verdict
from zoo.facts import DatasetRun, Fold, load_results
from zoo.testing import make_facts


def run_with_accuracies(accuracies: dict, n=500, classes=5, histories=None, sizes=None,
                        failed=(), y_test=None, test_accuracies=None):
    """A DatasetRun whose folds have exactly the given held-out accuracies (model -> list)."""
    folds = {}
    k = len(next(iter(accuracies.values())))
    y = np.arange(n) % classes
    for model, accs in accuracies.items():
        folds[model] = []
        for fold, acc in enumerate(accs):
            right = int(round(acc * n))
            pred = np.where(np.arange(n) < right, y, (y + 1) % classes)
            prob = np.full((n, classes), 0.01, np.float32)
            prob[np.arange(n), pred] = 1 - 0.01 * (classes - 1)
            facts = {"status": "diverged" if (model, fold) in failed else "ok", "fold": fold,
                     "reason": "nan" if (model, fold) in failed else "",
                     "history": (histories or {}).get(model, {"val_loss": [1.0, 0.5, 0.5, 0.5,
                                                                            0.5]}),
                     "epochs": 5, "epochs_run": 5, **((sizes or {}).get((model, fold), {}))}
            arrays = {"y_true": y, "y_prob": prob}
            f = Fold(model, fold, facts, arrays, n_classes=classes)
            if f.ok:
                f.scores = metrics.scores(y, prob, classes, counts=f.counts)
            folds[model].append(f)
    info = {"dataset": {"name": "d", "samples": n * k, "test_samples": 0,
                        "classes": [f"c{i}" for i in range(classes)]},
            "protocol": {"folds": k}, "models": list(accuracies)}
    return DatasetRun(None, info, None, folds)


def test_zero_variance_differences_say_the_test_cannot_decide():
    # the example: one more correct image in each of two folds
    run = run_with_accuracies({"A": [0.902, 0.904], "B": [0.900, 0.902]})
    said = verdict.conclude(run)
    acc = next(c for c in said.comparisons["cv"] if c.metric == "accuracy")
    assert acc.undecidable and np.isnan(acc.p) and not acc.significant
    assert acc.verdict.startswith("undecided: every shared fold gives the same difference")
    text = said.conclusion
    assert "cannot be told apart by the test" in text and "t statistic is undefined" in text
    assert "ahead" not in text and "< 0.001" not in text


def test_p_values_read_p_less_than_not_p_equals_less_than(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.4}, folds=10, samples=1000)
    html = report.render(tmp_path, tmp_path / "out").read_text()
    text = report.build_context(tmp_path)["datasets"][0]["conclusion"]
    assert "p < 0.001" in text
    assert "p = < 0.001" not in html and "p = &lt; 0.001" not in html


def test_model_names_appear_exactly_as_registered():
    run = run_with_accuracies({"cnn": [0.95, 0.96, 0.95, 0.97, 0.96, 0.95],
                               "vit": [0.80, 0.81, 0.80, 0.82, 0.80, 0.81]})
    text = verdict.conclude(run).conclusion
    assert "cnn is ahead of vit" in text
    assert "Cnn" not in text and "Vit" not in text


def test_the_ceiling_note_never_shares_a_sentence_with_a_significant_difference():
    run = run_with_accuracies({"a": [0.999, 0.998, 0.999, 0.999, 0.998, 0.999, 0.999, 0.998],
                               "b": [0.996, 0.996, 0.997, 0.996, 0.996, 0.997, 0.996, 0.996]})
    text = verdict.conclude(run).conclusion
    sentences = re.split(r"(?<=\.) (?=[A-Z])", text)
    ceiling = [s for s in sentences if "ceiling" in s]
    assert ceiling and all("ahead" not in s and "significant" not in s for s in ceiling)
    assert any("a is ahead of b" in s for s in sentences)


def test_failed_folds_compare_on_the_shared_folds_and_the_summary_agrees(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.7}, folds=4, failed={("alpha", "vit", 1)})
    context = report.build_context(tmp_path)
    d = context["datasets"][0]
    assert "Compared on the 3 of 4 folds where every model succeeded (failed: vit fold 2)" \
        in d["conclusion"]
    run = d["run"]
    shared = [0, 2, 3]
    cnn = next(r for r in d["summary"] if r["model"] == "cnn")
    expected = np.mean([f.scores["accuracy"] for f in run.ok_folds("cnn") if f.fold in shared])
    assert cnn["cells"]["accuracy"]["mean"] == pytest.approx(expected)
    assert cnn["left_out"] == [2] and cnn["folds_ok"] == 3
    acc = next(c for c in d["comparisons"]["cv"] if c.metric == "accuracy")
    assert acc.folds == [1, 3, 4] and acc.mean_a == pytest.approx(expected)
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert "fold 2 left out to average over the folds every compared model finished" in html


def test_a_model_with_fewer_than_two_good_folds_is_named_as_not_compared():
    run = run_with_accuracies({"cnn": [0.9, 0.91, 0.92], "vit": [0.8, 0.81, 0.79],
                               "mlp": [0.5, 0.5, 0.5]}, failed={("mlp", 0), ("mlp", 1)})
    said = verdict.conclude(run)
    assert said.not_compared == ["mlp"]
    assert "mlp was not compared: it finished 1 fold successfully" in said.conclusion
    assert all("mlp" not in (c.a, c.b) for c in said.comparisons["cv"])


def test_intervals_stay_within_what_the_metric_can_take():
    # two folds and wildly different scores: the plain interval would run past +-1
    run = run_with_accuracies({"a": [0.95, 0.10], "b": [0.20, 0.60]})
    rows = verdict.conclude(run).comparisons["cv"]
    assert {c.metric for c in rows} == set(verdict.COMPARED)
    clipped = 0
    for c in rows:
        low, high = metrics.BOUNDS[c.metric]
        assert -(high - low) <= c.ci_low <= c.ci_high <= high - low, c.metric
        clipped += c.ci_low == -(high - low) or c.ci_high == high - low
    assert clipped   # the plain intervals did run past what the metrics can take


def test_the_corrected_t_test_uses_each_folds_actual_sizes():
    accs = {"a": [0.90, 0.93, 0.91, 0.95], "b": [0.89, 0.90, 0.92, 0.91]}
    sizes = {(m, k): {"train_samples": 1350, "held_out_samples": 500}
             for m in accs for k in range(4)}
    run = run_with_accuracies(accs, sizes=sizes)
    c = next(c for c in verdict.conclude(run).comparisons["cv"] if c.metric == "accuracy")
    a = [f.scores["accuracy"] for f in run.ok_folds("a")]
    b = [f.scores["accuracy"] for f in run.ok_folds("b")]
    assert c.p == pytest.approx(stats.corrected_ttest(a, b, 1350, 500)["p"])
    # not n - n/k (1500) as before
    assert c.p != pytest.approx(stats.corrected_ttest(a, b, 1500, 500)["p"])


def test_few_folds_say_that_wilcoxon_cannot_reach_significance():
    run = run_with_accuracies({"a": [0.9, 0.92, 0.91], "b": [0.8, 0.81, 0.82]})
    said = verdict.conclude(run)
    acc = next(c for c in said.comparisons["cv"] if c.metric == "accuracy")
    assert acc.second_p == pytest.approx(0.25)  # exact: 2 / 2^3
    assert "cannot reach p < 0.05" in acc.second_note
    assert "With 3 folds, Wilcoxon's signed-rank test cannot reach p < 0.05" in said.conclusion


def test_pairwise_tests_are_holm_adjusted_over_the_family():
    run = run_with_accuracies({"a": [0.90, 0.93, 0.91, 0.95, 0.92, 0.94],
                               "b": [0.89, 0.90, 0.92, 0.91, 0.90, 0.91],
                               "c": [0.70, 0.72, 0.71, 0.73, 0.70, 0.71]})
    rows = verdict.conclude(run).comparisons["cv"]
    assert len(rows) == 3 * len(verdict.COMPARED) and all(r.family == len(rows) for r in rows)
    assert [r.p_holm for r in rows] == pytest.approx(stats.holm([r.p for r in rows]))
    assert all(r.significant == (r.p_holm < 0.05) for r in rows)


def test_three_models_get_friedman_nemenyi_and_a_ranked_conclusion(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.85, "mlp": 0.5}, folds=6, samples=600,
               test_samples=300)
    context = report.build_context(tmp_path)
    d = context["datasets"][0]
    f = d["friedman"]["test"]
    assert f.models == ["cnn", "vit", "mlp"] and f.p < 0.05
    text = d["conclusion"]
    assert text.startswith("On the official test split, ranked by accuracy: cnn")
    assert "Friedman's test over 6 folds: the models differ" in text
    assert "Nemenyi's critical difference is" in text
    surviving = [c for c in d["comparisons"]["test"] if c.metric == "accuracy"
                 and c.significant]
    for c in surviving:
        assert f"{c.better} ahead of" in text
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert '<table class="friedman">' in html and "Critical difference" in html
    assert "Nemenyi" in html


def test_the_official_test_split_uses_a_test_made_for_it(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.8}, folds=3, test_samples=200)
    d = report.build_context(tmp_path)["datasets"][0]
    rows = d["comparisons"]["test"]
    assert {r.metric for r in rows} == set(verdict.TEST_COMPARED)
    assert all(r.test == "paired bootstrap" for r in rows)
    acc = next(r for r in rows if r.metric == "accuracy")
    run = d["run"]
    pa = np.stack([f.arrays["test_prob"].argmax(1) for f in run.ok_folds("cnn")])
    pb = np.stack([f.arrays["test_prob"].argmax(1) for f in run.ok_folds("vit")])
    ref = stats.paired_bootstrap(run.y_test, pa, pb, "accuracy", 5, seed=0)
    assert acc.p == pytest.approx(ref["p"]) and acc.ci_low == pytest.approx(ref["ci_low"])
    ens_a = np.mean([f.arrays["test_prob"] for f in run.ok_folds("cnn")], 0).argmax(1)
    ens_b = np.mean([f.arrays["test_prob"] for f in run.ok_folds("vit")], 0).argmax(1)
    assert acc.second == "McNemar"
    assert acc.second_p == pytest.approx(stats.mcnemar_exact(run.y_test, ens_a, ens_b)["p"])
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert "paired bootstrap" in html and "McNemar's exact test" in html


def test_an_under_trained_model_is_named_in_the_tables_and_the_conclusion(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.7}, folds=3, epochs=5,
               improving=("vit",))
    d = report.build_context(tmp_path)["datasets"][0]
    assert d["verdict"].training["vit"]["state"] == "still improving"
    assert d["verdict"].training["cnn"]["state"] == "levelled off"
    assert ("vit was still improving when training stopped" in d["conclusion"]
            and "a longer budget may change this ranking" in d["conclusion"])
    assert "cnn was still improving" not in d["conclusion"]
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert 'data-training="still improving">still improving (3 of 3 folds)' in html
    assert 'data-training="levelled off">levelled off' in html


@pytest.mark.parametrize("losses, state", [
    ([2.0, 1.5, 1.0, 0.6, 0.3], "still improving"),
    ([2.0, 0.5, 0.31, 0.305, 0.3049], "levelled off"),
    ([2.0, 0.5, 0.45, 0.6, 0.7], "levelled off"),           # over-fitting, not improving
    ([2.0, 1.0], "too short to tell"),
])
def test_training_state_from_the_history(losses, state):
    assert verdict.fold_training_state({"history": {"val_loss": losses}}) == state


def test_early_stopping_means_training_levelled_off():
    facts = {"history": {"val_loss": [2.0, 1.0, 0.5]}, "epochs": 50, "epochs_run": 3}
    assert verdict.fold_training_state(facts) == "levelled off"


def test_the_verdict_lives_in_its_own_module_and_the_cli_prints_it(tmp_path):
    import zoo.report as r

    for name in ("_comparisons", "_conclusion", "_understanding", "_trust_note", "_leakage"):
        assert not hasattr(r, name), name
    make_facts(tmp_path / "results", models={"cnn": 0.9, "vit": 0.8}, folds=3)
    out = CliRunner().invoke(r_cli(), ["report", "--results", str(tmp_path / "results"),
                                       "--out", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    runs, _ = load_results(tmp_path / "results")
    assert f"alpha: {verdict.conclude(runs[0]).conclusion}" in out.output


def r_cli():
    from zoo.cli import cli

    return cli
