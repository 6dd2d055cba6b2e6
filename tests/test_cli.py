"""The `zoo` command end to end, and its errors."""

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from conftest import TinyModelPlugin, TinyPlugin
from zoo.cli import cli
from zoo.store import RunStore, read_json


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_run_all_end_to_end(runner, tmp_path):
    results, out, empty = tmp_path / "results", tmp_path / "reports", tmp_path / "no-data"
    empty.mkdir()
    r = invoke(runner, "run", "--all", "--folds", "2", "--epochs", "1", "--data-dir", str(empty),
               "--results", str(results), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "skipping dataset sign-mnist" in r.output
    assert "[done] digits / cnn / fold 2/2" in r.output and "[done] digits / vit / fold 1/2" in r.output
    assert "ETA" in r.output
    assert "digits: On the held-out folds: " in r.output  # the conclusion, in the terminal
    last = read_json(results / "last_run.json")
    assert [x["dataset"] for x in last["runs"]] == ["digits"]
    assert any(s["name"] == "sign-mnist" for s in last["skipped"])
    store = RunStore(results, "digits", last["runs"][0]["run_id"])
    fold_of = store.read_splits()
    assert len(fold_of) == 1797 and set(fold_of.tolist()) == {0, 1}
    for model in ("cnn", "vit"):
        for k in range(2):
            facts, arrays = store.read_fold(model, k)
            assert facts["status"] == "ok"
            # every model was trained and scored on the same split
            assert (arrays["held_out_index"] == np.flatnonzero(fold_of == k)).all()
            assert facts["environment"]["tensorflow"] and facts["params"] > 0
    html = (out / "index.html").read_text()
    assert "digits" in html and "cnn" in html and "vit" in html
    assert (out / "plotly.min.js").exists()
    # galleries and saliency maps from the facts: 8 wrong images and 10 class samples a model
    assert "cnn: most confidently wrong" in html and "vit (attention)" in html
    assert html.count("data:image/png") == 2 * 8 + 10 + 2 * 10
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 4
    # re-render without training, elsewhere
    r = invoke(runner, "report", "--results", str(results), "--out", str(tmp_path / "again"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again" / "index.html").exists()
    # the same command again resumes: nothing is trained
    r = invoke(runner, "run", "--all", "--folds", "2", "--epochs", "1", "--data-dir", str(empty),
               "--results", str(results), "--out", str(out))
    assert r.exit_code == 0 and "trained 0 fold(s), resumed 4" in r.output
    # different settings start a new run and leave the old one intact
    r = invoke(runner, "run", "cnn", "--folds", "2", "--epochs", "1", "--seed", "5", "--quiet",
               "--data-dir", str(empty), "--results", str(results), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert len(list((results / "digits").iterdir())) == 2
    assert store.has_fold("vit", 1)


def test_unknown_model_lists_known_ones_and_suggests(runner):
    r = runner.invoke(cli, ["run", "cnm"])
    assert r.exit_code == 2
    assert "unknown model 'cnm'; did you mean 'cnn'? known models: cnn, vit" in r.output
    assert "Traceback" not in r.output


def test_unknown_dataset(runner):
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "sign-mnis"])
    assert r.exit_code == 2 and "did you mean 'sign-mnist'?" in r.output


def test_unavailable_dataset_says_how_to_get_it(runner, tmp_path):
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "sign-mnist", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "datamunge/sign-language-mnist" in r.output


@pytest.mark.parametrize("args, message", [
    (["--folds", "1"], "folds: expected an integer >= 2, got 1"),
    (["--epochs", "0"], "epochs: expected an integer > 0, got 0"),
    (["--batch-size", "0"], "batch_size: expected an integer > 0, got 0"),
    (["--folds", "500"], "500 folds need at least 500 samples of every class"),
])
def test_bad_protocol_options(runner, tmp_path, args, message):
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "digits", "--results",
                            str(tmp_path / "r"), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_nothing_to_run(runner):
    r = runner.invoke(cli, ["run"])
    assert r.exit_code == 2 and "name the models to run" in r.output


def test_bad_zoo_toml(runner, tmp_path):
    (tmp_path / "zoo.toml").write_text("folds = 3\nepochs 2\n")
    r = runner.invoke(cli, ["run", "cnn", "--config", str(tmp_path / "zoo.toml")])
    assert r.exit_code == 2 and "zoo.toml: invalid TOML" in r.output and "line 2" in r.output
    (tmp_path / "zoo.toml").write_text("foldz = 3\n")
    r = runner.invoke(cli, ["run", "cnn", "--config", str(tmp_path / "zoo.toml")])
    assert r.exit_code == 2 and "unknown key 'foldz'" in r.output


def test_debug_shows_the_traceback(runner):
    r = runner.invoke(cli, ["--debug", "run", "cnm"])
    assert r.exit_code != 0 and r.exc_info is not None


def test_report_without_results(runner, tmp_path):
    r = runner.invoke(cli, ["report", "--results", str(tmp_path)])
    assert r.exit_code == 1 and "no results in" in r.output


def test_unwritable_report_folder_keeps_the_facts(runner, tmp_path):
    results = tmp_path / "results"
    empty = tmp_path / "empty"
    empty.mkdir()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the report folder should be")
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "digits", "--folds", "2", "--epochs", "1",
                            "--quiet", "--results", str(results), "--out", str(blocker / "out")])
    assert r.exit_code == 1
    assert "cannot create the report folder" in r.output and "facts in" in r.output
    runs = read_json(results / "last_run.json")["runs"]
    store = RunStore(results, "digits", runs[0]["run_id"])
    assert store.has_fold("cnn", 0) and store.has_fold("cnn", 1)
    r = runner.invoke(cli, ["report", "--results", str(results), "--out", str(tmp_path / "ok")])
    assert r.exit_code == 0 and (tmp_path / "ok" / "index.html").exists()


class DivergingPlugin:
    @zoo.hookimpl
    def register_models(self, register):
        from test_train import diverging

        register(zoo.ModelSpec(name="diverging", build=diverging))


def test_a_diverging_model_fails_its_folds_and_the_rest_goes_on(runner, tmp_path,
                                                                register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(DivergingPlugin(), "diverging")
    results, out = tmp_path / "results", tmp_path / "out"
    r = invoke(runner, "run", "diverging", "dense", "--dataset", "tiny", "--folds", "2",
               "--epochs", "2", "--batch-size", "8", "--quiet", "--results", str(results),
               "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "[failed] tiny / diverging / fold 1/2: diverged: training loss became nan" in r.output
    store = RunStore(results, "tiny", read_json(results / "last_run.json")["runs"][0]["run_id"])
    assert store.read_fold("diverging", 1)[0]["status"] == "diverged"
    assert store.read_fold("dense", 1)[0]["status"] == "ok"
    html = (out / "index.html").read_text()
    assert "0 of 2: <b>2 failed</b>, left out of the mean" in html
    assert html.count("diverged: training loss became nan in epoch 1") >= 2
    # a diverged fold is a result: the same command does not retrain it
    r = invoke(runner, "run", "diverging", "dense", "--dataset", "tiny", "--folds", "2",
               "--epochs", "2", "--batch-size", "8", "--results", str(results), "--out", str(out))
    assert "trained 0 fold(s), resumed 4, failed 0" in r.output


def test_a_model_with_the_wrong_output_is_skipped_with_its_reason(runner, tmp_path,
                                                                  register_plugin):
    import keras

    class WrongShape:
        @zoo.hookimpl
        def register_models(self, register):
            def build(shape, n):
                inputs = keras.Input(shape)
                return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
            register(zoo.ModelSpec(name="wrong", build=build))

    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(WrongShape(), "wrong")
    results, out = tmp_path / "results", tmp_path / "out"
    r = invoke(runner, "run", "wrong", "dense", "--dataset", "tiny", "--folds", "2",
               "--epochs", "1", "--batch-size", "8", "--quiet", "--results", str(results),
               "--out", str(out))
    assert r.exit_code == 1
    assert "model 'wrong' (plugin wrong): output shape (None, 2), expected (None, 3)" in r.output
    html = (out / "index.html").read_text()
    assert "Skipped" in html and "output shape (None, 2)" in html
    store = RunStore(results, "tiny", read_json(results / "last_run.json")["runs"][0]["run_id"])
    assert store.has_fold("dense", 1)


def test_an_unwritable_results_folder_is_a_clear_error(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "digits", "--folds", "2", "--epochs", "1",
                            "--quiet", "--results", str(blocker / "results")])
    assert r.exit_code == 1 and "cannot write to" in r.output and "Traceback" not in r.output
