"""Learning curves (--train-sizes): nested stratified subsets, cells per (fold, size) that
resume, the report's curve section and its sentence on crossing."""
import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import TinyModelPlugin, TinyPlugin
from zoo.grid import protocol as proto
from zoo.show import report
from zoo.judge import verdict
from zoo.cli import cli
from zoo.errors import ConfigError
from zoo.judge.facts import load_results
from zoo.store import RunStore, read_json
from zoo.grid.fakes import make_facts
from zoo.grid.train import nested_subset


# -- the subsets ---------------------------------------------------------------------------
def test_subsets_are_nested_stratified_and_fixed_by_the_seed():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 1000)
    positions = np.flatnonzero(rng.random(1000) < 0.8)
    counts = np.bincount(y[positions], minlength=5)
    previous = set()
    for size in (0.1, 0.25, 0.5):
        subset = nested_subset(positions, y, size, seed=7)
        assert set(subset) <= set(positions)
        assert previous <= set(subset)            # each smaller subset inside the larger
        previous = set(subset)
        got = np.bincount(y[subset], minlength=5)  # every class at its share, rounded
        assert (np.abs(got - size * counts) <= 0.5 + 1e-9).all()
        np.testing.assert_array_equal(subset, nested_subset(positions, y, size, seed=7))
    assert not np.array_equal(nested_subset(positions, y, 0.5, seed=7),
                              nested_subset(positions, y, 0.5, seed=8))
    np.testing.assert_array_equal(nested_subset(positions, y, 1.0, seed=7), positions)


def test_a_tiny_share_keeps_one_image_of_every_class():
    y = np.repeat(np.arange(4), [50, 50, 50, 3])
    subset = nested_subset(np.arange(len(y)), y, 0.1, seed=0)
    assert sorted(set(y[subset])) == [0, 1, 2, 3]


# -- the option ------------------------------------------------------------------------------
def test_sizes_are_parsed_sorted_and_always_include_the_whole_part():
    assert proto.parse_sizes("0.5, 0.1,0.25") == (0.1, 0.25, 0.5, 1.0)
    assert proto.parse_sizes([0.5, 1]) == (0.5, 1.0)
    p = proto.resolve(toml={"train_sizes": [0.25, 0.5]})
    assert p.train_sizes == (0.25, 0.5, 1.0)


@pytest.mark.parametrize("value, says", [
    ("0.1,abc", "'abc' is not a number"),
    ("0,0.5", "'0' is not a fraction above 0 and up to 1"),
    ("1.5", "'1.5' is not a fraction"),
    ([True], "True is not a number"),
])
def test_bad_sizes_name_the_option_and_the_value(value, says):
    with pytest.raises(ConfigError, match="train_sizes: " + says.replace("(", r"\(")):
        proto.parse_sizes(value)


def test_a_bad_size_on_the_command_line_is_a_usage_error():
    r = CliRunner().invoke(cli, ["run", "cnn", "-d", "digits", "--train-sizes", "0.5,2"])
    assert r.exit_code == 2
    assert "--train-sizes: '2' is not a fraction above 0 and up to 1" in r.output


def test_the_sizes_are_not_part_of_the_run_id():
    fingerprint = "data"
    assert proto.Protocol().run_id(fingerprint) == proto.Protocol(
        train_sizes=(0.1, 1.0)).run_id(fingerprint)


# -- a real run on tiny data --------------------------------------------------------------
def _run(tmp_path, *extra):
    return CliRunner().invoke(cli, [
        "run", "dense", "cnn:dense=8", "--dataset", "tiny", "--folds", "2",
        "--epochs", "1", "--batch-size", "8", "--results", str(tmp_path / "results"),
        "--out", str(tmp_path / "out"), "--keep-models", "folds", *extra])


@pytest.mark.slow
def test_learning_curves_train_every_size_resume_and_render(tmp_path, register_plugin):
    register_plugin(TinyPlugin(n_per_class=20), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    r = _run(tmp_path, "--train-sizes", "0.5")
    assert r.exit_code == 0, r.output
    assert "trained 8 fold(s), resumed 0" in r.output
    assert "[done] tiny / dense / fold 1/2 at 0.5 of its training part" in r.output
    assert "training sizes 0.5, 1" in r.output
    entry = read_json(tmp_path / "results" / "last_run.json")["runs"][0]
    store = RunStore(tmp_path / "results", "tiny", entry["run_id"])
    for model in ("dense", "cnn:dense=8"):
        for k in range(2):
            half, _ = store.read_fold(model, k, 0.5)
            whole, whole_arrays = store.read_fold(model, k)
            assert half["train_size"] == 0.5 and whole["train_size"] == 1.0
            assert half["train_samples"] == whole["train_samples"] // 2
            half_arrays = store.read_fold(model, k, 0.5)[1]
            # the same held-out fold and test split, scored by a model trained on less
            np.testing.assert_array_equal(half_arrays["held_out_index"],
                                          whole_arrays["held_out_index"])
            assert half_arrays["test_prob"].shape == whole_arrays["test_prob"].shape
            # only the whole-fold models are kept, and only they have galleries
            assert store.model_path(model, k).exists()
            assert "wrong_index" in whole_arrays and "wrong_index" not in half_arrays
    assert not list(store.path.glob("*/size-0.5/*.keras"))
    html = (tmp_path / "out" / "index.html").read_text()
    assert "<h3>Learning curves" in html and 'id="fig-0-curve"' in html
    assert "learning curves at 0.5, 1.0 of each fold's training part" in html
    assert "tiny: Learning curves (accuracy on the official test split, t test over images " \
        "and fold models" \
        in r.output

    # the same command resumes every cell; a new size adds only its own cells to the run
    r = _run(tmp_path, "--train-sizes", "0.5")
    assert "trained 0 fold(s), resumed 8" in r.output
    r = _run(tmp_path, "--train-sizes", "0.25,0.5")
    assert r.exit_code == 0, r.output
    assert "trained 4 fold(s), resumed 8" in r.output
    assert read_json(tmp_path / "results" / "last_run.json")["runs"][0]["run_id"] \
        == entry["run_id"]
    assert read_json(store.path / "run.json")["train_sizes"] == [0.25, 0.5, 1.0]
    quarter, _ = store.read_fold("dense", 0, 0.25)
    assert quarter["train_samples"] == round(0.25 * 30 / 3) * 3  # 10 of each class, a quarter
    # and without --train-sizes the run is the same one, its curves still reported
    r = _run(tmp_path)
    assert "trained 0 fold(s), resumed 4" in r.output
    assert "<h3>Learning curves" in (tmp_path / "out" / "index.html").read_text()


# -- the verdict -------------------------------------------------------------------------------
def _curve(tmp_path, models, curves, **kw):
    make_facts(tmp_path / "results", models=models, curves=curves, **kw)
    (run,), _ = load_results(tmp_path / "results")
    return run, verdict.learning_curve(run, n_boot=400)


def test_curves_that_cross_significantly_say_where(tmp_path):
    run, said = _curve(tmp_path, {"cnn": 0.6, "vit": 0.95},
                       {"cnn": {0.1: 0.9, 0.5: 0.7}, "vit": {0.1: 0.3, 0.5: 0.8}},
                       folds=5, samples=400, test_samples=300)
    assert said["sizes"] == [0.1, 0.5, 1.0] and said["lead"] == "test"
    assert [r["images"] for r in said["rows"]] == [32.0, 160.0, 320.0]
    assert said["family"] == 3
    sentence = said["sentence"]
    assert "The curves of cnn and vit cross between 32 images (cnn ahead) and 160 images " \
        "(vit ahead)" in sentence, sentence
    assert "significant at 32 images (cnn ahead" in sentence
    assert "320 images (vit ahead" in sentence
    assert "do not show" not in sentence
    # every row's means come from that size's folds
    cnn_small = [f.test_scores["accuracy"] for f in run.curves["cnn"][0.1]]
    assert said["rows"][0]["models"]["cnn"]["mean"] == pytest.approx(np.mean(cnn_small))


def test_curves_that_do_not_cross_name_the_leader(tmp_path):
    _, said = _curve(tmp_path, {"cnn": 0.95, "vit": 0.5},
                     {"cnn": {0.25: 0.8}, "vit": {0.25: 0.4}}, folds=4, samples=200)
    assert said["lead"] == "cv"
    assert "do not cross: cnn is ahead at every training size" in said["sentence"]
    assert "corrected t-test" in said["sentence"]


def test_a_leader_by_mean_only_is_not_called_ahead_at_every_size(tmp_path):
    """The committed learning curve's case: cnn's mean is the better at every size, by 0.24
    points (p = 0.97) at the smallest; "ahead" is what the tests say, not the means."""
    _, said = _curve(tmp_path, {"cnn": 0.95, "vit": 0.5},
                     {"cnn": {0.25: 0.702}, "vit": {0.25: 0.70}}, folds=4, samples=200)
    small, whole = (r["comparisons"][0] for r in said["rows"])
    assert small.mean_diff > 0 and not small.significant and whole.significant
    sentence = said["sentence"]
    assert "The mean curves of cnn and vit do not cross: cnn's mean is the better at every " \
        "training size, not a significant difference at every one" in sentence, sentence
    assert "is ahead at every training size" not in sentence
    assert "significant at 150 images (cnn ahead" in sentence


def test_a_crossing_within_the_noise_is_not_called_a_change_of_ranking(tmp_path):
    _, said = _curve(tmp_path, {"cnn": 0.70, "vit": 0.71},
                     {"cnn": {0.5: 0.71}, "vit": {0.5: 0.70}}, folds=3, samples=90)
    assert "The mean curves of cnn and vit swap places between 30 images (cnn ahead) and 60 " \
        "images (vit ahead), but not with a significant difference on both sides" \
        in said["sentence"]
    assert "cross" not in said["sentence"].replace("do not cross", "")
    assert "no difference is significant at any size" in said["sentence"]
    assert "do not show that the ranking changes" in said["sentence"]
    assert not any(c.significant for r in said["rows"] for c in r["comparisons"])


def test_no_curves_no_section(tmp_path):
    make_facts(tmp_path / "results", models={"cnn": 0.9, "vit": 0.8})
    (run,), _ = load_results(tmp_path / "results")
    assert verdict.learning_curve(run) is None
    html = report.render(tmp_path / "results", tmp_path / "out").read_text()
    assert "<h3>Learning curves" not in html


def test_the_report_draws_the_curve_on_a_log_axis(tmp_path):
    make_facts(tmp_path / "results", models={"cnn": 0.9, "vit": 0.8},
               curves={"cnn": {0.2: 0.6}, "vit": {0.2: 0.7}}, folds=3, samples=150)
    html = report.render(tmp_path / "results", tmp_path / "out").read_text()
    start = html.index('["fig-0-curve", ') + len('["fig-0-curve", ')
    figure, _ = json.JSONDecoder().raw_decode(html[start:])
    assert figure["layout"]["xaxis"]["type"] == "log"
    lines = [t for t in figure["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"] for t in lines] == ["cnn", "vit"]
    assert lines[0]["x"] == [20.0, 100.0]
    # every point is in the downloads, marked with its training size
    with open(tmp_path / "out" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted({(r["model"], r["train_size"]) for r in rows}) == [
        ("cnn", "0.2"), ("cnn", "1"), ("vit", "0.2"), ("vit", "1")]
    assert len(rows) == 2 * 2 * 3   # models x sizes x folds, held-out rows only
    facts = json.loads((tmp_path / "out" / "facts.json").read_text())["folds"]
    assert sorted({f["train_size"] for f in facts}) == [0.2, 1.0]


def test_hundreds_of_sizes_are_refused():
    with pytest.raises(ConfigError, match="--train-sizes: 200 training sizes; at most 20"):
        proto.parse_sizes(",".join(str(i / 200) for i in range(1, 201)), "--train-sizes")
    assert len(proto.parse_sizes([i / 20 for i in range(1, 20)])) == 20
