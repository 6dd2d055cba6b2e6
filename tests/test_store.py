import dataclasses
import os

import numpy as np
import pytest

from zoo import schema, store
from zoo.grid.fakes import fold_facts
from zoo.errors import ZooError


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    store.write_json(tmp_path / "a" / "x.json", {"v": np.float32(1.5), "n": np.arange(2)})
    assert store.read_json(tmp_path / "a" / "x.json") == {"v": 1.5, "n": [0, 1]}
    assert os.listdir(tmp_path / "a") == ["x.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    store.write_json(path, {"v": 1})

    def broken_replace(src, dst):
        raise KeyboardInterrupt  # as if killed between writing and renaming

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        store.write_json(path, {"v": 2})
    monkeypatch.undo()
    assert store.read_json(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["x.json"]


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ZooError, match="cannot write .*file.sub: Not a directory"):
        store.write_json(blocker / "sub" / "x.json", {})


def facts(**given):
    """A fold's facts, built through the declared format (zoo.schema) as every writer must."""
    return fold_facts(**{"dataset": "d", "model": "m", "status": "ok", "fold": 0, "folds": 3,
                         "history": {"loss": [1.0]}, "epochs": 1, "lr": 0.1,
                         "train_samples": 2, "held_out_samples": 1, "train_size": 1.0,
                         **given})


def test_fold_round_trip_and_done_marker(tmp_path):
    s = store.RunStore(tmp_path, "my data", "abc")
    assert not s.has_fold("cnn", 0)
    s.write_fold("cnn", 0, facts(), {"y_prob": np.eye(3, dtype=np.float32)})
    assert s.has_fold("cnn", 0) and not s.has_fold("cnn", 1)
    read, arrays = s.read_fold("cnn", 0)
    assert read["status"] == "ok" and (arrays["y_prob"] == np.eye(3)).all()
    assert s.path == tmp_path / store.safe_name("my data") / "abc"
    assert s.path.parent.name.startswith("my_data-")


def test_npz_is_read_without_pickle(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ZooError, match="evil.npz: not a readable facts file .*allow_pickle=False"):
        store.read_npz(path)


def test_safe_name():
    assert store.safe_name("cnn") == "cnn" and store.safe_name("sign-mnist") == "sign-mnist"
    for name in ("../<b>x</b>", "..", "vit:patch_size=4", "a/b"):
        folder = store.safe_name(name)
        assert "/" not in folder and ".." not in folder and folder.strip(".") == folder
    assert store.safe_name("../<b>x</b>").startswith("__b_x__b_-")


def test_distinct_names_and_sizes_never_share_a_folder(tmp_path):
    """cnn:filters=(1,6,8) and cnn:filters=(1_6,8) cleaned to one folder and overwrote each
    other's facts; so did training sizes 0.1000001 and 0.1000002."""
    a, b = "cnn:filters=(1,6,8)", "cnn:filters=(1_6,8)"
    assert store.safe_name(a) != store.safe_name(b)
    s = store.RunStore(tmp_path, "d", "run")
    s.write_fold(a, 0, facts(model=a), {})
    s.write_fold(b, 0, facts(model=b), {})
    assert s.read_fold(a, 0)[0]["model"] == a and s.read_fold(b, 0)[0]["model"] == b
    s.write_fold("cnn", 0, facts(train_size=0.1000001), {}, size=0.1000001)
    s.write_fold("cnn", 0, facts(train_size=0.1000002), {}, size=0.1000002)
    assert s.read_fold("cnn", 0, 0.1000001)[0]["train_size"] == 0.1000001
    assert s.read_fold("cnn", 0, 0.1000002)[0]["train_size"] == 0.1000002


def test_runs_made_with_the_old_folder_names_still_read(tmp_path):
    s = store.RunStore(tmp_path, "d", "run")
    old = s.path / "vit_patch_size_4"              # how zoo named the folder before
    store.write_json(old / "fold-01.json", {"status": "ok"})
    store.write_json(old / "size-0.25" / "fold-01.json", {"status": "diverged"})
    assert s.fold_status("vit:patch_size=4", 0) == "ok"
    assert s.fold_status("vit:patch_size=4", 0, 0.25) == "diverged"
    assert s.model_file("vit:patch_size=4", 0) == "vit_patch_size_4/fold-01.keras"


def test_temporaries_left_by_a_killed_writer_are_removed_at_the_next_write(tmp_path):
    """A SIGKILL while the report was written left .index.html*.tmp files for good."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    orphan = tmp_path / f".index.html.{dead}.x1y2.tmp"
    orphan.write_text("half a report")
    live = tmp_path / f".index.html.{os.getpid()}.abcd.tmp"   # a writer still at work
    live.write_text("being written")
    other = tmp_path / f".facts.json.{dead}.zz.tmp"           # another file's: not ours to touch
    other.write_text("x")
    store.atomic_write_bytes(tmp_path / "index.html", b"<html>")
    assert not orphan.exists() and live.exists() and other.exists()
    assert (tmp_path / "index.html").read_bytes() == b"<html>"


# -- the facts format, declared once (zoo.schema) --------------------------------------------
def test_a_new_run_records_its_facts_version_and_every_file_its_kind(tmp_path):
    s = store.RunStore(tmp_path, "d", "run")
    s.write_run({"protocol": {}})
    assert s.read_run()["facts_version"] == schema.FACTS_VERSION
    s.write_fold("cnn", 0, facts(), {})
    written = store.read_json(s.fold_paths("cnn", 0)[0])
    assert written["kind"] == "fold"
    assert set(written) >= {f.name for f in dataclasses.fields(schema.FoldFacts)
                            if f.default is dataclasses.MISSING}


def test_a_run_keeps_the_facts_version_it_was_started_in(tmp_path):
    s = store.RunStore(tmp_path, "d", "run")
    store.write_json(s.path / "run.json", {"protocol": {}})   # made before the format
    store.RunStore(tmp_path, "d", "run").write_run({"protocol": {}, "more": 1})
    assert "facts_version" not in s.read_run()
    assert store.RunStore(tmp_path, "d", "run").facts_version == schema.UNVERSIONED


def test_facts_of_version_1_are_read_with_the_fields_added_since_filled_in(tmp_path):
    """Read by the version run.json records, not by the file's shape: an old fold without
    the fields added since reads, with their defaults (None: not recorded then)."""
    s = store.RunStore(tmp_path, "d", "run")
    store.write_json(s.path / "run.json", {"protocol": {}})
    meta = s.fold_paths("cnn", 0)[0]
    store.write_json(meta, {"status": "ok", "fold": 0, "folds": 3, "history": {"loss": [1.0]},
                            "lr": 0.001})
    got = s.fold_facts("cnn", 0)
    assert got["kind"] == "fold" and got["lr"] == 0.001 and got["explain_errors"] == {}
    assert got["seed"] is None and got["settings"] == {}
    store.write_json(meta, {"status": "error", "fold": 0, "folds": 3, "reason": "boom"})
    assert s.fold_facts("cnn", 0)["kind"] == "failed"


def test_facts_of_version_2_must_have_every_field_of_their_kind(tmp_path):
    s = store.RunStore(tmp_path, "d", "run")
    s.write_run({"protocol": {}})
    meta = s.fold_paths("cnn", 0)[0]
    whole = facts().to_dict()
    for missing in ("seed", "kind"):
        store.write_json(meta, {k: v for k, v in whole.items() if k != missing})
        with pytest.raises(ZooError, match=f"fold-01.json: '{missing}' is"):
            s.fold_facts("cnn", 0)
    store.write_json(meta, {**whole, "history": [1, 2]})
    with pytest.raises(ZooError, match="'history' is \\[1, 2\\]; expected dict"):
        s.fold_facts("cnn", 0)
    store.write_json(meta, {**whole, "kind": "trial"})
    with pytest.raises(ZooError, match="'kind' is 'trial'; expected 'fold' or 'failed'"):
        s.fold_facts("cnn", 0)


def test_facts_from_a_newer_zoo_are_refused_with_what_to_do(tmp_path):
    s = store.RunStore(tmp_path, "d", "run")
    store.write_json(s.path / "run.json", {"protocol": {}, "facts_version": 99})
    s.write_fold("cnn", 0, facts(), {})
    with pytest.raises(ZooError, match="facts version 99 by a newer zoo.*upgrade keras-zoo"):
        s.read_fold("cnn", 0)
    store.write_json(s.path / "run.json", {"protocol": {}, "facts_version": "2"})
    with pytest.raises(ZooError, match="'facts_version' is '2'; expected a whole number"):
        assert store.RunStore(tmp_path, "d", "run").facts_version


def test_facts_are_written_only_through_the_declared_format(tmp_path):
    s = store.RunStore(tmp_path, "d", "run")
    with pytest.raises(TypeError, match="built through zoo.schema"):
        s.write_fold("cnn", 0, {"status": "ok"}, {})
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'seed'"):
        schema.TrialFacts(dataset="d", model="m", status="ok", fold=0, folds=3, trial=0,
                          metric="accuracy", score=0.5, pruned=False, rung_scores={},
                          epochs=1, epochs_run=1, history={}, train_samples=1,
                          validation_samples=1, fit_seconds=0.0, lr=0.1, options={},
                          finished_at="")
