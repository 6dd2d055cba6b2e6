"""The `zoo` command end to end, and its errors."""

import json
import re

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


@pytest.mark.slow
def test_run_all_end_to_end(runner, tmp_path):
    results, out, empty = tmp_path / "results", tmp_path / "reports", tmp_path / "no-data"
    empty.mkdir()
    r = invoke(runner, "run", "--all", "--folds", "2", "--epochs", "1", "--data-dir", str(empty),
               "--results", str(results), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "skipping dataset sign-mnist" in r.output
    assert "[done] digits / cnn / fold 2/2" in r.output and "[done] digits / vit / fold 1/2" in r.output
    assert "ETA" in r.output
    assert "digits: On the held-out folds, " in r.output  # the conclusion, in the terminal
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
    assert "unknown model 'cnm'; did you mean 'cnn'? known models: cnn, hub, vit" in r.output
    assert "Traceback" not in r.output


def test_unknown_dataset(runner):
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "sign-mnis"])
    assert r.exit_code == 2 and "did you mean 'sign-mnist'?" in r.output


def test_unavailable_dataset_says_how_to_get_it(runner, tmp_path):
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "sign-mnist", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "datamunge/sign-language-mnist" in r.output


@pytest.mark.parametrize("args, message", [
    (["--folds", "1"], "folds: expected an integer from 2 to 1,000, got 1"),
    (["--epochs", "0"], "epochs: expected an integer from 1 to 100,000, got 0"),
    (["--batch-size", "0"], "batch_size: expected an integer from 1 to 1,048,576, got 0"),
    (["--folds", "500"], "500 folds need at least 500 samples of every class"),
    (["--metric", "recall"], "metric: expected one of accuracy, f1, mcc, roc_auc"),
    (["--repeats", "30"], "repeats: expected an integer from 1 to 20"),
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
    # CliRunner records exc_info for every SystemExit, so look at what was raised: without
    # --debug the error is printed and the command exits; with it, the error itself escapes
    plain = runner.invoke(cli, ["run", "cnm"])
    assert isinstance(plain.exception, SystemExit) and plain.exit_code == 2
    assert "Error: unknown model 'cnm'" in plain.output
    debug = runner.invoke(cli, ["--debug", "run", "cnm"])
    assert isinstance(debug.exception, zoo.ConfigError)
    assert "unknown model 'cnm'" in str(debug.exception)
    assert "Error: unknown model" not in debug.output


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "seed: expected an integer 0..4294966, got -1"),
    (["--seed", "99999999999"], "seed: expected an integer 0..4294966"),
])
def test_a_bad_seed_is_an_option_error_not_a_plugin_error(runner, tmp_path, args, message):
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "digits", "--results",
                            str(tmp_path / "r"), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "plugin" not in r.output


@pytest.mark.parametrize("line, message", [
    ("epochs = true", "epochs: expected an integer from 1 to 100,000, got True"),
    ("folds = false", "folds: expected an integer from 2 to 1,000, got False"),
    ("lr = true", "lr: expected a learning rate > 0 (e.g. 1e-3), got True"),
    ("seed = true", "seed: expected an integer"),
])
def test_booleans_are_not_numbers_in_zoo_toml(runner, tmp_path, line, message):
    (tmp_path / "zoo.toml").write_text(line + "\n")
    r = runner.invoke(cli, ["run", "cnn", "--config", str(tmp_path / "zoo.toml"),
                            "--results", str(tmp_path / "r")])
    assert r.exit_code == 2 and message in r.output, r.output


def test_report_without_results(runner, tmp_path):
    r = runner.invoke(cli, ["report", "--results", str(tmp_path)])
    assert r.exit_code == 1 and "no results in" in r.output


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_run_whose_every_cell_failed_exits_1_and_never_hides_the_earlier_one(
        runner, tmp_path, register_plugin):
    """A batch size past int64 once failed every fold inside TensorFlow, exited 0 and moved
    the pointer to the all-failed run, hiding the earlier good one."""
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(DivergingPlugin(), "diverging")
    results, out = tmp_path / "results", tmp_path / "out"
    args = ["--dataset", "tiny", "--folds", "2", "--epochs", "1", "--batch-size", "8",
            "--results", str(results), "--out", str(out)]
    assert invoke(runner, "run", "dense", *args).exit_code == 0
    good = read_json(results / "last_run.json")
    r = invoke(runner, "run", "diverging", *args)
    assert r.exit_code == 1, r.output
    assert "error: every cell that trained failed (2)" in r.output
    assert read_json(results / "last_run.json") == good
    assert "dense" in (out / "index.html").read_text()


@pytest.mark.slow
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
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(WrongOutput(), "wrong")
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
    assert r.exit_code == 1 and f"cannot write {blocker / 'results'}" in r.output
    assert "Traceback" not in r.output


def tiny_run(runner, results, out, *extra, models=("dense",)):
    return runner.invoke(cli, ["run", *models, "--dataset", "tiny", "--folds", "3", "--epochs",
                               "1", "--batch-size", "8", "--quiet", "--results", str(results),
                               "--out", str(out), *extra])


class FailingDataset:
    @zoo.hookimpl
    def register_datasets(self, register):
        def load(data_dir):
            raise zoo.DataError("/data/broken.csv", "not a CSV", line=3)

        register(zoo.DatasetSpec(name="broken", load=load))


def test_a_run_that_trains_nothing_leaves_earlier_results_and_report_alone(
        runner, tmp_path, register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(FailingDataset(), "broken")
    results, out = tmp_path / "results", tmp_path / "out"
    assert tiny_run(runner, results, out).exit_code == 0
    before = (results / "last_run.json").read_bytes()
    report = (out / "index.html").read_text()
    r = runner.invoke(cli, ["run", "dense", "--dataset", "broken", "--folds", "3", "--results",
                            str(results), "--out", str(out)])
    assert r.exit_code == 1 and "/data/broken.csv, line 3: not a CSV" in r.output
    assert "nothing was trained" in r.output
    assert (results / "last_run.json").read_bytes() == before
    assert (out / "index.html").read_text() == report
    r = runner.invoke(cli, ["report", "--results", str(results), "--out", str(out)])
    assert r.exit_code == 0 and "tiny" in (out / "index.html").read_text()
    report = (out / "index.html").read_text()
    # a pointer that lists no run never turns a good report into an empty one silently
    (results / "last_run.json").write_text('{"runs": [], "skipped": []}')
    r = runner.invoke(cli, ["report", "--results", str(results), "--out", str(out)])
    assert r.exit_code == 1 and "no results to show" in r.output
    assert f"{out / 'index.html'} was left as it was" in r.output
    assert (out / "index.html").read_text() == report


def full_disk_on(monkeypatch, fragment):
    """Make every atomic write whose file name contains ``fragment`` fail as on a full disk."""
    import errno
    import os

    from zoo import store

    real = store._write_all

    def write(fd, data, path):
        if fragment in path.name:
            os.close(fd)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, path)

    monkeypatch.setattr(store, "_write_all", write)


def test_a_full_disk_stops_the_run_with_one_line_and_keeps_finished_folds(
        runner, tmp_path, register_plugin, monkeypatch):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    results, out = tmp_path / "results", tmp_path / "out"
    full_disk_on(monkeypatch, "fold-02")
    r = tiny_run(runner, results, out, "--keep-models", "none")
    assert r.exit_code == 1, r.output
    store = RunStore(results, "tiny", read_json(results / "last_run.json")["runs"][0]["run_id"])
    assert f"Error: cannot write {store.fold_paths('dense', 1)[1]}: No space left on device" \
        in r.output
    assert "Traceback" not in r.output and "[failed]" not in r.output
    assert store.has_fold("dense", 0) and not store.has_fold("dense", 1)
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.undo()
    r = tiny_run(runner, results, out, "--keep-models", "none")
    assert r.exit_code == 0 and store.has_fold("dense", 2)


@pytest.mark.slow
def test_a_full_disk_while_keeping_a_model_or_writing_the_report(
        runner, tmp_path, register_plugin, monkeypatch):
    import errno

    import keras

    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    results, out = tmp_path / "results", tmp_path / "out"

    def no_space(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # where the fold ran: the model cannot even be turned into bytes
    with monkeypatch.context() as m:
        m.setattr(keras.Model, "save", no_space)
        r = tiny_run(runner, results, out)
    assert r.exit_code == 1 and "No space left on device" in r.output
    assert re.search(r"Error: cannot write \S+\.keras: No space left on device", r.output)
    assert "Traceback" not in r.output and "[failed]" not in r.output
    # where the store keeps it
    with monkeypatch.context() as m:
        full_disk_on(m, ".keras")
        r = tiny_run(runner, results, out)
    (run_folder,) = (results / "tiny").iterdir()
    store = RunStore(results, "tiny", run_folder.name)
    assert r.exit_code == 1
    assert f"Error: cannot write {store.model_path('dense', 0)}: No space left on device" \
        in r.output
    assert not store.has_fold("dense", 0)
    # nothing finished, so last_run.json was never pointed at this run
    assert not (results / "last_run.json").exists()
    assert tiny_run(runner, results, out).exit_code == 0
    report = (out / "index.html").read_text()
    with monkeypatch.context() as m:
        full_disk_on(m, "index.html")
        r = runner.invoke(cli, ["report", "--results", str(results), "--out", str(out)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"cannot write {out / 'index.html'}: No space left on device" in r.output
    assert "the facts in" in r.output and (out / "index.html").read_text() == report


@pytest.mark.slow
def test_a_corrupted_facts_file_is_named_with_what_to_do(runner, tmp_path, register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    results, out = tmp_path / "results", tmp_path / "out"
    assert tiny_run(runner, results, out).exit_code == 0
    store = RunStore(results, "tiny", read_json(results / "last_run.json")["runs"][0]["run_id"])
    meta, data = store.fold_paths("dense", 1)
    meta.write_text('{"status": "ok", "hist')
    r = runner.invoke(cli, ["report", "--results", str(results), "--out", str(out)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{meta}: not a readable facts file" in r.output and "delete it" in r.output
    meta.unlink()
    data.write_bytes(data.read_bytes()[:100])
    r = tiny_run(runner, results, out)  # fold 2 is retrained; its broken .npz is replaced
    assert r.exit_code == 0, r.output
    data.write_bytes(b"garbage")
    r = runner.invoke(cli, ["report", "--results", str(results), "--out", str(out)])
    assert r.exit_code == 1 and f"{data}: not a readable facts file" in r.output


@pytest.mark.parametrize("args, toml, message", [
    (["--cpus-per-task", "2"], "", "--cpus-per-task: only for --executor ray"),
    (["--address", "auto", "--gpus-per-task", "1"], "",
     "--address, --gpus-per-task: only for --executor ray"),
    ([], 'executor = "dask"\n', "executor: expected one of local, ray, got 'dask'"),
    ([], 'executor = "ray"\ncpus_per_task = "two"\n', "cpus_per_task: expected a number > 0"),
    ([], 'executor = "ray"\ncpus_per_task = 0\n', "--cpus-per-task: expected a number > 0"),
    ([], 'executor = "ray"\ngpus_per_task = true\n', "gpus_per_task: expected a number >= 0"),
])
def test_executor_settings_are_checked_before_anything_runs(runner, tmp_path, args, toml,
                                                           message):
    config = tmp_path / "zoo.toml"
    config.write_text(toml)
    r = runner.invoke(cli, ["run", "cnn", "--dataset", "digits", "--config", str(config),
                            "--results", str(tmp_path / "r"), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and not (tmp_path / "r").exists()


class WrongOutput:
    @zoo.hookimpl
    def register_models(self, register):
        def build(shape, n):
            import keras

            inputs = keras.Input(shape)
            return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
        register(zoo.ModelSpec(name="wrong", build=build))


def test_a_broken_model_fails_in_seconds_before_any_fold_trains(runner, tmp_path,
                                                                register_plugin):
    # "wrong" comes after "dense": it used to fail only when its own first fold started,
    # after every fold of the models before it had trained
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(WrongOutput(), "wrong")
    results = tmp_path / "results"
    r = invoke(runner, "run", "dense", "wrong", "--dataset", "tiny", "--folds", "2",
               "--epochs", "1", "--batch-size", "8", "--results", str(results), "--out",
               str(tmp_path / "out"))
    assert r.exit_code == 1
    error = r.output.index("error: model 'wrong' (plugin wrong): output shape (None, 2), "
                           "expected (None, 3)")
    assert error < r.output.index("[start] tiny / dense / fold 1/2")
    assert "on tiny; nothing of it was trained" in r.output
    assert "[start] tiny / wrong" not in r.output
    store = RunStore(results, "tiny", read_json(results / "last_run.json")["runs"][0]["run_id"])
    assert store.has_fold("dense", 1) and not store.has_fold("wrong", 0)


def logits(input_shape, num_classes):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))   # no softmax


class LogitsPlugin:
    @zoo.hookimpl
    def register_models(self, register):
        register(zoo.ModelSpec(name="logits", build=logits))


def test_a_model_that_outputs_logits_is_stopped_before_training(runner, tmp_path,
                                                                register_plugin):
    """It passed the checks and trained (log loss 13.9); now the early check says what to
    do, and check_plugin says the same."""
    from zoo.testing import check_plugin

    with pytest.raises(AssertionError, match="apply softmax"):
        check_plugin(LogitsPlugin())
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(LogitsPlugin(), "logits-plugin")
    register_plugin(TinyModelPlugin(), "dense")
    r = runner.invoke(cli, ["run", "logits", "dense", "--dataset", "tiny", "--folds", "2",
                            "--epochs", "1", "--batch-size", "8", "--results",
                            str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 1, r.output
    assert "error: model 'logits' (plugin logits-plugin): its outputs are not class " \
        "probabilities" in r.output and "apply softmax" in r.output
    assert "nothing of it was trained" in r.output


@pytest.mark.parametrize("args, message", [
    (["--executor", "ray", "--address", "garbage"],
     "--address: expected 'auto' or HOST:PORT of a running Ray head (e.g. 192.168.1.10:6379), "
     "got 'garbage'"),
    (["--executor", "ray", "--address", "127.0.0.1:1"],   # loopback, nothing listens there
     "--address 127.0.0.1:1: no Ray head answers there (Connection refused)"),
    (["--executor", "ray", "--cpus-per-task", "nan"], "--cpus-per-task: expected a number > 0, "
                                                      "got nan"),
    (["--executor", "ray", "--cpus-per-task", "inf"], "--cpus-per-task: expected a number > 0"),
    (["--executor", "ray", "--cpus-per-task", "1000"], "--cpus-per-task 1000: this machine has"),
    (["--executor", "ray", "--gpus-per-task", "0.25"], "--gpus-per-task 0.25: no GPU found on "
                                                       "this machine"),
    (["--config", "/dev/zero"], "/dev/zero: not a file; expected a zoo.toml"),
])
def test_hostile_settings_get_one_line_before_ray_starts(runner, tmp_path, monkeypatch, args,
                                                        message):
    import time

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")   # no GPU, whatever this machine has
    t0 = time.monotonic()
    r = runner.invoke(cli, ["run", "cnn", "-d", "digits", "--results", str(tmp_path), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert time.monotonic() - t0 < 15   # refused before Ray starts (which took 17-25 s)


def test_a_huge_config_is_refused_not_read_into_memory(runner, tmp_path):
    big = tmp_path / "zoo.toml"
    big.write_text("# " + "x" * (2 * 1024 * 1024))
    r = runner.invoke(cli, ["run", "cnn", "--config", str(big)])
    assert r.exit_code == 2 and "larger than 1024 KiB" in r.output


def test_a_facts_file_with_an_absurd_number_is_named(runner, tmp_path):
    from zoo.grid.fakes import make_facts

    make_facts(tmp_path, folds=2)
    path = next(tmp_path.rglob("cnn/fold-01.json"))
    facts = read_json(path)
    facts["params"] = 10 ** 400
    path.write_text(json.dumps(facts))
    r = runner.invoke(cli, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{path}: 'params' is 100000" in r.output and "expected a finite number" in r.output
