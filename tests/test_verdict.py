"""The conclusion claims no more than the statistics support (zoo.judge.verdict)."""
import re
from html import escape

import numpy as np
import pytest
from click.testing import CliRunner

from scipy import stats as sps

from zoo import metrics
from zoo.show import report
from zoo.judge import stats, verdict
from zoo.judge.facts import DatasetRun, Fold, load_results
from zoo.grid.fakes import make_facts


def run_with_accuracies(accuracies: dict, n=500, classes=5, histories=None, sizes=None,
                        failed=(), y_test=None, test_accuracies=None, protocol=None):
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
            "protocol": {"folds": k, **(protocol or {})}, "models": list(accuracies)}
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
    assert "With 3 folds of non-zero difference, Wilcoxon's signed-rank test cannot reach " \
        "p < 0.05" in said.conclusion


ACCURACIES = {"a": [0.90, 0.93, 0.91, 0.95, 0.92, 0.94],
              "b": [0.89, 0.90, 0.92, 0.91, 0.90, 0.91],
              "c": [0.70, 0.72, 0.71, 0.73, 0.70, 0.71]}


@pytest.mark.parametrize("metric", [None, "f1"])
def test_the_primary_metric_is_one_holm_family_and_the_others_another(metric):
    run = run_with_accuracies(ACCURACIES, protocol={"metric": metric} if metric else None)
    rows = verdict.conclude(run).comparisons["cv"]
    main = metric or "accuracy"
    first = [r for r in rows if r.primary]
    rest = [r for r in rows if not r.primary]
    assert {r.metric for r in first} == {main} and len(first) == 3
    assert [r.role for r in first] == ["primary"] * 3 and rows[:3] == first
    assert len(rest) == 3 * (len(verdict.COMPARED) - 1) and main not in {r.metric for r in rest}
    for family in (first, rest):
        assert all(r.family == len(family) for r in family)
        assert [r.p_holm for r in family] == pytest.approx(stats.holm([r.p for r in family]))
        assert all(r.significant == (r.p_holm < 0.05) for r in family)
    assert "Holm-adjusted over 3 tests (3 pairs of models, the primary metric)" in \
        first[0].verdict
    assert f"(3 pairs of models × {len(verdict.COMPARED) - 1} metrics, secondary)" in \
        rest[0].verdict


def test_claims_on_another_primary_metric_follow_it():
    # a beats b in accuracy in every fold, but the primary metric is f1 of the same folds
    run = run_with_accuracies(ACCURACIES, protocol={"metric": "f1"})
    said = verdict.conclude(run)
    assert said.primary == "F1 (macro)" and said.rankings["cv"].metric == "f1"
    assert all(c.metric == "f1" and c.primary for c in said.comparisons["cv"][:3])
    assert "by mean F1 (macro): a 0.9250, b 0.9050, c 0.7117" in said.conclusion
    assert "points of F1 (macro) on the held-out folds" in said.headline
    assert "of accuracy" not in said.headline


def test_three_models_differ_when_a_holm_adjusted_pair_does(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.85, "mlp": 0.5}, folds=6, samples=600,
               test_samples=300)
    context = report.build_context(tmp_path)
    d = context["datasets"][0]
    f = d["friedman"]["test"]
    main = [c for c in d["comparisons"]["test"] if c.primary]
    assert f.models == ["cnn", "vit", "mlp"] and f.test == "t test over images and fold models"
    assert f.p == min(c.p_holm for c in main) < 0.05 and f.significant and f.pairs == 3
    cv = d["friedman"]["cv"]
    assert cv.test == "corrected t-test" and cv.metric == "accuracy"
    text = d["conclusion"]
    assert text.startswith("On the official test split, the models differ (the smallest "
                           "Holm-adjusted p of the 3 pairwise tests, t test over images and "
                           "fold models: ")
    assert "by mean accuracy: cnn" in text and "ranked" not in text
    surviving = [c for c in d["comparisons"]["test"] if c.metric == "accuracy"
                 and c.significant]
    assert surviving
    for c in surviving:
        assert f"{c.better} ahead of" in text
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert '<table class="friedman">' in html and "Which models differ" in html
    assert "the smallest of the 3 Holm-adjusted pairwise p-values" in html.replace(
        "The smallest", "the smallest")


def test_folds_that_share_training_data_no_longer_make_three_models_differ():
    """Every fold ranks a > b > c, by a hair in most: Friedman's test over the folds (what
    zoo said before) finds that the models differ, treating the folds as independent; their
    training sets overlap, and the corrected pairwise tests find no pair apart, so nothing is
    said to differ."""
    accs = {"a": [0.902, 0.931, 0.903, 0.935, 0.904],
            "b": [0.901, 0.911, 0.902, 0.905, 0.902],
            "c": [0.900, 0.890, 0.901, 0.875, 0.900]}
    assert sps.friedmanchisquare(*accs.values()).pvalue < 0.05   # the old omnibus: "differ"
    said = verdict.conclude(run_with_accuracies(accs))
    r = said.rankings["cv"]
    assert not r.significant and r.p >= 0.05
    assert not any(c.significant for c in said.comparisons["cv"] if c.primary)
    assert "no significant difference among the models" in said.conclusion
    assert "the models differ" not in said.conclusion


def test_the_official_test_split_uses_a_test_made_for_it(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.8}, folds=3, test_samples=200)
    d = report.build_context(tmp_path)["datasets"][0]
    rows = d["comparisons"]["test"]
    assert {r.metric for r in rows} == set(verdict.TEST_COMPARED)
    assert all(r.test == "t test over images and fold models" for r in rows)
    acc = next(r for r in rows if r.metric == "accuracy")
    run = d["run"]
    pa = np.stack([f.arrays["test_prob"].argmax(1) for f in run.ok_folds("cnn")])
    pb = np.stack([f.arrays["test_prob"].argmax(1) for f in run.ok_folds("vit")])
    ref = stats.paired_bootstrap(run.y_test, pa, pb, "accuracy", 5, seed=0)
    assert acc.p == pytest.approx(ref["p"]) and acc.ci_low == pytest.approx(ref["ci_low"])
    assert acc.se == pytest.approx(ref["se"]) and acc.df == pytest.approx(ref["df"])
    ens_a = np.mean([f.arrays["test_prob"] for f in run.ok_folds("cnn")], 0).argmax(1)
    ens_b = np.mean([f.arrays["test_prob"] for f in run.ok_folds("vit")], 0).argmax(1)
    assert acc.second == "McNemar"
    assert acc.second_p == pytest.approx(stats.mcnemar_exact(run.y_test, ens_a, ens_b)["p"])
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert "bootstrap of 2000 resamples of the test images" in html
    assert "McNemar's exact test" in html


def test_an_under_trained_model_is_named_in_the_tables_and_the_conclusion(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.9}, folds=3, epochs=5,
               improving=("vit",))
    d = report.build_context(tmp_path)["datasets"][0]
    assert d["verdict"].training["vit"]["state"] == "still improving"
    assert d["verdict"].training["cnn"]["state"] == "levelled off"
    assert "vit was still improving when training stopped" in d["conclusion"]
    # no difference is claimed (3 folds): a longer budget may change the results, not a
    # ranking that was never made
    assert not any(c.significant for c in d["comparisons"]["cv"] if c.metric == "accuracy")
    assert "a longer budget may change these results" in d["conclusion"]
    assert "this ranking" not in d["conclusion"]
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
    import zoo.show.report as r

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


FIVE = {"A": [.800, .790, .795, .805, .812], "B": [.812, .800, .821, .815, .810],
        "C": [.818, .822, .810, .825, .814], "D": [.829, .821, .835, .826, .825],
        "E": [.838, .844, .832, .841, .840]}


def test_the_figure_joins_exactly_the_pairs_the_words_do_not_separate():
    """The issue's five models: Nemenyi's diagram joined E and C while the words said E is
    ahead of C, and separated A and E while the words found no difference. Now both come
    from the same Holm-adjusted pairwise tests."""
    from zoo.judge import comparisons

    said = verdict.conclude(run_with_accuracies(FIVE, n=2000))
    ranking, rows = said.rankings["cv"], said.comparisons["cv"]
    assert ranking.significant
    groups = [{ranking.models[i] for i in g} for g in comparisons.groups(ranking, rows)]
    main = {frozenset((c.a, c.b)): c for c in rows if c.metric == "accuracy"}
    assert len(main) == 10
    for pair, c in main.items():
        joined = any(pair <= g for g in groups)
        assert joined == (not c.significant), (sorted(pair), c.p_holm, groups)
        said_ahead = any(f"{x} ahead of {y} by" in said.conclusion
                         for x, y in ((c.a, c.b), (c.b, c.a)))
        assert said_ahead == c.significant, sorted(pair)


def test_no_grouping_is_drawn_when_the_omnibus_test_finds_nothing(tmp_path):
    from zoo.judge import comparisons
    from zoo.show import figures

    said = verdict.conclude(run_with_accuracies({"A": [.8, .81, .79], "B": [.81, .8, .8],
                                                 "C": [.79, .8, .81]}))
    ranking = said.rankings["cv"]
    assert not ranking.significant
    assert comparisons.groups(ranking, said.comparisons["cv"]) == [ranking.order()]
    title = figures.critical_difference_figure(ranking, said.comparisons["cv"])[
        "layout"]["title"]["text"]
    assert "no Holm-adjusted corrected t-test finds a difference" in title
    assert "every model is joined" in title


def test_models_are_ordered_by_their_mean_and_ranked_only_when_they_differ():
    said = verdict.conclude(run_with_accuracies({"A": [.8, .8, .5], "B": [.79] * 3,
                                                 "C": [.78] * 3}))
    assert not said.rankings["cv"].significant
    text = said.conclusion
    assert "ranked" not in text and "no significant difference among the models" in text
    assert "mean accuracy: B 0.7900, C 0.7800, A 0.7000" in text   # by the metric, not rank


def test_models_that_share_no_fold_are_not_compared():
    failed = {("a", 0), ("a", 1), ("b", 2), ("b", 3)}
    said = verdict.conclude(run_with_accuracies({"a": [.9, .9, .9, .9], "b": [.8, .8, .8, .8]},
                                                failed=failed))
    assert said.comparisons["cv"] == []
    assert "Compared on the 0 of 4 folds" not in said.conclusion
    assert "No comparison is possible: the models finished different folds (failed: a fold 1, " \
        "a fold 2, b fold 3, b fold 4)" in said.conclusion


def test_holm_counts_only_the_tests_that_gave_a_p():
    # accuracy differs by exactly one image in each fold (undecidable); the other metrics vary
    said = verdict.conclude(run_with_accuracies({"A": [0.902, 0.904, 0.9], "B": [0.900, 0.902,
                                                                               0.898]}))
    rows = [r for r in said.comparisons["cv"] if not r.primary]
    tested = [r for r in rows if np.isfinite(r.p)]
    assert len(tested) < len(rows) and all(r.family == len(tested) for r in rows)
    assert f"Holm-adjusted over {len(tested)} tests" in " ".join(r.verdict for r in tested)
    accuracy = next(r for r in said.comparisons["cv"] if r.primary)
    assert accuracy.undecidable and accuracy.family == 0


def test_wilcoxons_limit_counts_only_non_zero_differences():
    # six folds, one of them without a difference: Wilcoxon drops it, 2 / 2^5 = 0.0625
    said = verdict.conclude(run_with_accuracies({"a": [.90, .91, .92, .90, .93, .88],
                                                 "b": [.80, .82, .83, .81, .85, .88]}))
    acc = next(c for c in said.comparisons["cv"] if c.metric == "accuracy")
    assert acc.nonzero == 5 and acc.second_p >= 0.0625 - 1e-12
    assert "with 5 folds of non-zero difference (1 of 6 gave none) Wilcoxon's test cannot " \
        "reach p < 0.05 (its smallest p is 0.062)" in acc.second_note


def test_not_significant_says_what_the_claim_could_have_found_and_what_repeats_buy():
    """sign-mnist-small, 3 folds: a 57-point gap 'not significant'. The words say how large
    a difference the claim as made finds with 80% power (noncentral t, at its level), and
    how many repeats of the 3-fold split would find this one."""
    run = run_with_accuracies({"cnn": [.80, .45, .65], "vit": [.066, .07, .0635]}, n=2400,
                              classes=24)
    said = verdict.conclude(run)
    acc = next(c for c in said.comparisons["cv"] if c.metric == "accuracy")
    assert not acc.significant and acc.level == 0.05   # one pair: Holm over 1 test
    d = np.array([f.scores["accuracy"] for f in run.ok_folds("cnn")]) - \
        np.array([f.scores["accuracy"] for f in run.ok_folds("vit")])
    se = np.sqrt((1 / 3 + 1 / 2) * d.var(ddof=1))
    assert acc.detectable == pytest.approx(stats.detectable(se, 2, 0.05))
    assert stats.power(acc.detectable, se, 2) == pytest.approx(0.8)
    needed = acc.repeats_needed   # the first number of repeats with enough power
    assert needed and needed > 1

    def enough(r):
        se_r = np.sqrt((1 / (3 * r) + 1 / 2) * d.var(ddof=1))
        return stats.power(d.mean(), se_r, 3 * r - 1) >= 0.8

    assert enough(needed) and not enough(needed - 1)
    assert (f"with 3 folds only a difference of about {acc.detectable * 100:.2f} points or more "
            "is found with 80% power (at the 5% level)") in said.conclusion
    assert f"--repeats {needed} would find the observed one with 80% power" in said.conclusion
    assert "folds would find" not in said.conclusion


def test_the_detectable_difference_is_at_the_level_holms_adjustment_starts_at():
    said = verdict.conclude(run_with_accuracies({"a": [.80, .75, .70], "b": [.70, .74, .72],
                                                 "c": [.71, .73, .70]}))
    c = next(c for c in said.comparisons["cv"] if c.primary and not c.significant)
    assert c.family == 3 and c.level == pytest.approx(0.05 / 3)
    assert c.detectable == pytest.approx(stats.detectable(c.se, c.df, 0.05 / 3))
    assert c.detectable > stats.detectable(c.se, c.df, 0.05)
    assert "at level 0.05/3, where Holm's adjustment over 3 tests starts" in c.verdict


def test_no_number_of_repeats_is_promised_when_the_overlap_dominates():
    # a tiny difference with a large spread: repeats cannot shrink n_test/n_train x var
    said = verdict.conclude(run_with_accuracies({"a": [.90, .70, .80], "b": [.80, .80, .79]}))
    c = next(c for c in said.comparisons["cv"] if c.metric == "accuracy")
    assert c.repeats_needed is None and not c.significant
    assert "no number of repeats up to 10 would find the observed one (repeats do not " \
        "shrink the part of the variance that comes from folds sharing training data)" \
        in c.verdict


def test_a_model_at_chance_level_is_named_as_untrained():
    run = run_with_accuracies({"cnn": [.63, .60, .67], "vit": [.066, .07, .0635]}, n=2400,
                              classes=24)
    said = verdict.conclude(run)
    assert list(said.near_chance) == ["vit"]
    assert said.near_chance["vit"]["baseline"] == pytest.approx(1 / 24)
    mean = np.mean([f.scores["accuracy"] for f in run.ok_folds("vit")])
    assert f"vit scores {mean:.4f} in accuracy, within noise of chance with 24 classes " \
        "(0.0417): " \
        "its recipe did not train it, so its result says nothing about its architecture" \
        in said.conclusion
    assert "give it more epochs or another learning rate" in said.conclusion


def test_a_tuned_model_at_chance_level_is_not_told_to_try_another_learning_rate(monkeypatch):
    run = run_with_accuracies({"cnn": [.63, .60, .67], "vit": [.066, .07, .0635]}, n=2400,
                              classes=24)
    monkeypatch.setattr(verdict.tuned, "view", lambda run: {"sentence": "Tuned alike."})
    said = verdict.conclude(run)
    assert said.conclusion.startswith("Tuned alike. ")
    assert "its recipe did not train it" in said.conclusion
    assert "another learning rate" not in said.conclusion
    assert "give it more epochs or a wider search before comparing it (its settings were " \
        "already the best its search found)" in said.conclusion


def test_a_crossing_needs_a_significant_difference_on_both_sides(tmp_path):
    """The issue's reproducer: vit's lead at 160 images had Holm p = 0.994, and the sentence
    still said the curves cross."""
    make_facts(tmp_path, models={"cnn": .70, "vit": .71},
               curves={"cnn": {.25: .95, .5: .70}, "vit": {.25: .40, .5: .71}}, folds=5,
               samples=400, test_samples=300, seed=3)
    curve = report.build_context(tmp_path)["datasets"][0]["curve"]
    sentence = curve["sentence"]
    assert "cross" not in sentence.replace("do not cross", "")
    assert "swap places" in sentence and "not with a significant difference on both sides" \
        in sentence


def test_the_conclusion_leads_with_one_plain_line(tmp_path):
    make_facts(tmp_path / "a", models={"cnn": 0.95, "vit": 0.5}, folds=5, test_samples=300,
               samples=300)
    d = report.build_context(tmp_path / "a")["datasets"][0]
    assert re.fullmatch(r"cnn is better than vit on alpha: \+\d+\.\d\d points of accuracy "
                        r"on the official test split, p [=<] [\d.]+ \(a claim about models "
                        r"trained on these training data\)\.", d.headline), d.headline
    html = report.render(tmp_path / "a", tmp_path / "out").read_text()
    assert html.index(escape(d.headline, quote=False)) < html.index("<b>Conclusion.</b>")
    make_facts(tmp_path / "b", models={"cnn": 0.8, "vit": 0.8}, folds=3, samples=120)
    d = report.build_context(tmp_path / "b")["datasets"][0]
    assert d.headline == ("No model is shown better than another on alpha: no difference in "
                          "accuracy on the held-out folds is significant.")


def test_holm_says_what_its_tests_are(tmp_path):
    """'Holm-adjusted over 6 tests' beside two models read as a contradiction."""
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.5}, folds=5, samples=300)
    d = report.build_context(tmp_path)["datasets"][0]
    c = next(c for c in d.comparisons["cv"] if c.metric == "f1")
    assert c.family > 1 and c.family_of == f"1 pair of models × {c.family} metrics"
    assert f"Holm-adjusted over {c.family} tests (1 pair of models × {c.family} metrics, " \
        "secondary)" in c.verdict
    main = next(c for c in d.comparisons["cv"] if c.metric == "accuracy")
    assert main.family == 1 and "Holm-adjusted over 1 test (the primary metric)" in \
        main.verdict


def test_a_repeated_run_is_judged_with_the_corrected_repeated_k_fold_t_test(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.8}, folds=3, repeats=2, samples=300,
               test_samples=120, curves={"cnn": {0.5: 0.8}, "vit": {0.5: 0.7}})
    d = report.build_context(tmp_path)["datasets"][0]
    assert {c.k for c in d["curve"]["rows"][0]["comparisons"]} == {6}   # curves: every fold
    run = d["run"]
    assert [f.fold for f in run.ok_folds("cnn")] == list(range(6))
    c = next(c for c in d["comparisons"]["cv"] if c.metric == "accuracy")
    a = [f.scores["accuracy"] for f in run.ok_folds("cnn")]
    b = [f.scores["accuracy"] for f in run.ok_folds("vit")]
    held = np.mean([f.facts["held_out_samples"] for f in run.ok_folds("cnn")])
    train = np.mean([f.facts["train_samples"] for f in run.ok_folds("cnn")])
    # Bouckaert and Frank: (1/(k r) + n_test/n_train) x var over all k x r fold scores,
    # k r - 1 degrees of freedom
    d_ = np.subtract(a, b)
    se = np.sqrt((1 / 6 + held / train) * d_.var(ddof=1))
    assert c.k == 6 and c.df == 5 and c.se == pytest.approx(se)
    assert c.p == pytest.approx(2 * sps.t.sf(abs(d_.mean() / se), 5))
    assert c.test == "corrected repeated k-fold t-test" and c.second == ""  # no Wilcoxon
    assert (c.split_folds, c.repeats) == (3, 2)
    t = next(c for c in d["comparisons"]["test"] if c.metric == "accuracy")
    assert t.k == 6   # the test split: every fold model of both splits
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert "3-fold auto cross-validation, repeated 2 times with new splits" in html
    assert "Bouckaert and Frank&#39;s corrected repeated k-fold t-test" in html or \
        "Bouckaert and Frank's corrected repeated k-fold t-test" in html
    assert "Compared on the" not in d["conclusion"]   # all 6 folds shared: nothing left out


def test_a_primary_metric_the_test_split_does_not_compare_moves_the_claims_to_the_folds(
        tmp_path):
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.6}, folds=3, samples=300,
               test_samples=150, metric="mcc")
    d = report.build_context(tmp_path)["datasets"][0]
    said = d["verdict"]
    assert said.lead == "cv" and said.primary == "MCC"
    assert [c.metric for c in said.comparisons["cv"] if c.primary] == ["mcc"]
    assert not any(c.primary for c in said.comparisons["test"])   # accuracy, F1: secondary
    assert "The claims are made on MCC, the primary metric, which is compared on the " \
        "held-out folds only (the official test split is compared on accuracy and F1)." \
        in said.conclusion
    assert said.headline.startswith("cnn is better than vit on alpha: ")
    assert " points of MCC on the held-out folds, p = " in said.headline
    assert said.headline.endswith("(a claim about models trained on data of this size from "
                                  "this distribution).")


def test_a_lower_is_better_plugin_metric_can_be_the_primary_one(tmp_path):
    # ece (zoo_plugins.metrics): lower is better; the better model is the one with less
    make_facts(tmp_path, models={"cnn": 0.95, "vit": 0.5}, folds=5, samples=500,
               metric="ece")
    said = report.build_context(tmp_path)["datasets"][0]["verdict"]
    main = [c for c in said.comparisons["cv"] if c.primary]
    assert [c.metric for c in main] == ["ece"] and not main[0].higher
    assert said.primary == "ECE (calibration)" and said.rankings["cv"] is None
    assert main[0].significant and main[0].mean_a < main[0].mean_b and main[0].better == "cnn"
    assert said.headline.startswith(f"cnn is better than vit on alpha: "
                                    f"{abs(main[0].mean_diff) * 100:.2f} points less ECE "
                                    "(calibration) on the held-out folds, p < 0.001")
