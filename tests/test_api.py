"""zoo from Python (zoo.api): zoo.run and zoo.report take what the command takes, with the
same defaults, zoo.toml and checks, and return a Run a notebook shows."""
import subprocess
import sys

import pytest
from click.testing import CliRunner

import zoo
from conftest import TinyModelPlugin, TinyPlugin
from zoo.cli import cli
from zoo.store import read_json


@pytest.fixture
def tiny(register_plugin):
    register_plugin(TinyPlugin(), "tiny-data")
    register_plugin(TinyModelPlugin(), "tiny-model")


@pytest.mark.slow
def test_zoo_run_returns_the_scores_the_conclusion_and_the_report(tmp_path, tiny, capsys):
    done = zoo.run(["dense"], datasets=["tiny"], folds=2, epochs=1, batch_size=8,
                   results=tmp_path / "results", out=tmp_path / "reports")
    assert isinstance(done, zoo.Run)
    assert done.result.trained == 2 and done.result.failed == 0
    assert [(r["dataset"], r["model"], r["split"], r["folds"]) for r in done.rows] == \
        [("tiny", "dense", "official test split", "2 of 2")]
    assert " ± " in done.rows[0]["accuracy"]
    assert done.report == tmp_path / "reports" / "index.html" and done.report.exists()
    assert done.conclusion.startswith("tiny: ") and done.conclusions["tiny"] in \
        done.report.read_text()
    page = done._repr_html_()
    assert "<table>" in page and "dense" in page and "official test split" in page
    assert "tiny" in page and "report: " in page
    printed = capsys.readouterr().out   # progress as in a terminal, to stdout
    assert "protocol: 2-fold" in printed and "[done] tiny / dense / fold 2/2" in printed


@pytest.mark.slow
def test_the_command_and_the_api_make_the_same_run(tmp_path, tiny):
    """One set of settings and defaults: the same run id, splits and scores either way."""
    api = zoo.run("dense", datasets="tiny", folds=2, epochs=1, batch_size=8, seed=3,
                  results=tmp_path / "a", out=tmp_path / "ra", quiet=True)
    r = CliRunner().invoke(cli, ["run", "dense", "-d", "tiny", "--folds", "2", "--epochs", "1",
                                 "--batch-size", "8", "--seed", "3", "--results",
                                 str(tmp_path / "b"), "--out", str(tmp_path / "rb")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    a, b = read_json(tmp_path / "a" / "last_run.json"), read_json(tmp_path / "b" / "last_run.json")
    assert a["runs"][0]["run_id"] == b["runs"][0]["run_id"]
    assert api.rows[0]["accuracy"] in r.output   # the command prints the API's scores
    assert api.conclusions["tiny"] in r.output


@pytest.mark.slow
def test_repeats_and_the_primary_metric_reach_the_run_and_the_report(tmp_path, tiny):
    done = zoo.run(["dense"], datasets=["tiny"], folds=2, repeats=2, metric="f1", epochs=1,
                   batch_size=8, results=tmp_path / "r", out=tmp_path / "o", quiet=True)
    assert done.result.trained == 4 and done.rows[0]["folds"] == "4 of 4"
    path = read_json(tmp_path / "r" / "last_run.json")["runs"][0]["path"]
    protocol = read_json(path + "/run.json")["protocol"]
    assert (protocol["repeats"], protocol["metric"]) == (2, "f1")
    html = done.report.read_text()
    assert "2-fold" in html and "repeated 2 times with new splits" in html
    assert "claims on F1 (macro)" in html


@pytest.mark.slow
def test_zoo_toml_and_the_preset_apply_as_for_the_command(tmp_path, tiny):
    toml = tmp_path / "zoo.toml"
    toml.write_text("folds = 2\nepochs = 1\nbatch_size = 8\n")
    done = zoo.run(["dense"], datasets=["tiny"], config=toml, results=tmp_path / "r",
                   out=tmp_path / "o", quiet=True)
    run_json = read_json(tmp_path / "r" / "last_run.json")["runs"][0]["path"] + "/run.json"
    protocol = read_json(run_json)["protocol"]
    assert protocol["folds"] == 2 and protocol["epochs"] == 1 and protocol["lr"] == 1e-3
    assert done.rows[0]["folds"] == "2 of 2"


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs"),
    ({"epoch": 3}, "epoch"),
    ({"executor": "slurm"}, "executor: expected one of local, ray"),
    ({"keep_models": "some"}, "--keep-models: expected one of"),
    ({"datasets": [1]}, "datasets: expected names"),
    ({"preset": "slow"}, "preset: expected one of"),
    ({"metric": "precision"}, "metric: expected one of accuracy, f1, mcc, roc_auc"),
    ({"repeats": 0}, "repeats: expected an integer from 1 to 20"),
])
def test_a_bad_setting_is_a_config_error_before_anything_trains(tmp_path, tiny, kwargs,
                                                                   message):
    with pytest.raises(zoo.ConfigError, match=message):
        zoo.run(["dense"], **{"datasets": ["tiny"], "results": tmp_path / "r", "quiet": True,
                              **kwargs})
    assert not (tmp_path / "r" / "last_run.json").exists()


@pytest.mark.slow
def test_zoo_report_renders_saved_facts_again(tmp_path, tiny):
    first = zoo.run(["dense"], datasets=["tiny"], folds=2, epochs=1, batch_size=8,
                    results=tmp_path / "r", out=tmp_path / "o", quiet=True)
    again = zoo.report(results=tmp_path / "r", out=tmp_path / "elsewhere")
    assert again.report == tmp_path / "elsewhere" / "index.html" and again.report.exists()
    assert again.rows == first.rows and again.conclusions == first.conclusions
    assert again.result is None and not again.failed
    assert "report: " in again.lines()[-1]


def test_import_zoo_stays_light_until_the_api_is_used():
    code = ("import sys, zoo\n"
            "assert 'zoo.grid.engine' not in sys.modules and 'keras' not in sys.modules\n"
            "zoo.run\n"
            "assert 'zoo.grid.engine' in sys.modules\n"
            "try:\n    zoo.nothing\nexcept AttributeError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "has no attribute 'nothing'" in done.stdout
