"""Hostile and hand-edited input, third campaign (#30): every case gets one line naming the
file and what was expected, never a traceback or a hang, and the rest of the results still
render."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from zoo.cli import cli
from zoo.errors import ZooError
from zoo.grid.fakes import make_facts
from zoo.store import RunStore, read_json, read_last_run, read_npz, write_npz


def report(results, out):
    return CliRunner().invoke(cli, ["report", "--results", str(results), "--out", str(out)])


def two_datasets(tmp_path, **facts):
    make_facts(tmp_path / "r", datasets=("alpha", "beta"), folds=3, **facts)
    last = read_json(tmp_path / "r" / "last_run.json")
    return {e["dataset"]: RunStore(tmp_path / "r", e["dataset"], e["run_id"])
            for e in last["runs"]}


def edit_json(path, change):
    data = read_json(path)
    change(data)
    path.write_text(json.dumps(data))


def edit_npz(path, **arrays):
    write_npz(path, **{**read_npz(path), **arrays})


RUN_EDITS = {
    "folds as a string": (lambda d: d["protocol"].update(folds="2"), "'folds' is '2'"),
    "10^9 folds": (lambda d: d["protocol"].update(folds=10 ** 9), "'folds' is 1000000000"),
    "an empty class list": (lambda d: d["dataset"].update(classes=[]), "'classes' is []"),
    "models not a list": (lambda d: d.update(models="cnn"), "'models' is 'cnn'"),
}


@pytest.mark.parametrize("case", sorted(RUN_EDITS))
def test_a_broken_run_json_leaves_that_run_out_and_the_rest_renders(tmp_path, case):
    stores = two_datasets(tmp_path)
    change, said = RUN_EDITS[case]
    edit_json(stores["alpha"].path / "run.json", change)
    r = report(tmp_path / "r", tmp_path / "o")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{stores['alpha'].path / 'run.json'}: {said}" in r.output
    html = (tmp_path / "o" / "index.html").read_text()
    assert "beta" in html and "report: " in r.output


FOLD_EDITS = {   # n: the held-out images of the fold
    "all-NaN probabilities": ("npz", lambda n: {"y_prob": np.full((n, 5), np.nan, np.float32)},
                              "'y_prob' holds probabilities that are not finite"),
    "a label of 99": ("npz", lambda n: {"y_true": np.full(n, 99)},
                      "'y_true' holds labels outside 0..4"),
    "probabilities of the wrong width": ("npz", lambda n: {"y_prob": np.full((n, 3), 1 / 3,
                                                                              np.float32)},
                                         "'y_prob' has the shape (N, 3); expected (N, 5)"),
    "a history value 'abc'": ("json", lambda d: d["history"].update(loss="abc"),
                              "'history' is"),
    "the .npz deleted": ("delete", None, "the predictions are missing"),
}


@pytest.mark.parametrize("case", sorted(FOLD_EDITS))
def test_a_broken_fold_is_named_and_left_out_and_the_rest_renders(tmp_path, case):
    stores = two_datasets(tmp_path)
    kind, edit, said = FOLD_EDITS[case]
    meta, data = stores["alpha"].fold_paths("cnn", 1)
    n = len(read_npz(data)["y_true"])
    said = said.replace("N", str(n))
    if kind == "npz":
        edit_npz(data, **edit(n))
    elif kind == "json":
        edit_json(meta, edit)
    else:
        data.unlink()
    r = report(tmp_path / "r", tmp_path / "o")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    named = meta if kind == "json" else data
    assert f"{named}: {said}" in r.output and "delete it" in r.output
    html = (tmp_path / "o" / "index.html").read_text()
    assert "alpha" in html and "beta" in html   # the rest of alpha renders too


def test_unreadable_test_split_labels_leave_that_run_out_and_the_rest_renders(tmp_path):
    stores = two_datasets(tmp_path, test_samples=40)
    labels = stores["alpha"].path / "test_labels.npz"
    labels.write_bytes(labels.read_bytes()[:40])   # truncated
    r = report(tmp_path / "r", tmp_path / "o")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert f"{labels}: not a readable facts file" in r.output
    html = (tmp_path / "o" / "index.html").read_text()
    assert "beta" in html and "report: " in r.output


@pytest.mark.parametrize("content, said", [
    ([1, 2], "not a readable facts file (expected an object with a list of runs)"),
    ({"runs": "alpha"}, "not a readable facts file"),
    ({"runs": [{"dataset": "alpha", "run_id": "../../elsewhere"}]},
     "the run 'alpha' / '../../elsewhere' does not name a folder inside"),
    ({"runs": [{"dataset": "alpha", "run_id": "/etc"}]}, "'/etc' does not name a folder"),
])
def test_a_hand_edited_last_run_is_refused_in_one_line(tmp_path, content, said):
    """A run id of '../../elsewhere' once made `zoo serve` load facts and models from
    outside --results."""
    make_facts(tmp_path / "r")
    (tmp_path / "r" / "last_run.json").write_text(json.dumps(content))
    r = report(tmp_path / "r", tmp_path / "o")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert said in r.output and "last_run.json" in r.output
    with pytest.raises(ZooError, match="last_run.json"):
        read_last_run(tmp_path / "r")
    # `zoo serve` finds runs by their folders inside --results, never through last_run.json:
    # here it finds the made-up run, which kept no model
    r = CliRunner().invoke(cli, ["serve", "--results", str(tmp_path / "r"), "--port", "0"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"no kept models in {tmp_path / 'r'}" in r.output and "elsewhere" not in r.output
