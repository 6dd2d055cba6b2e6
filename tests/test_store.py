import os

import numpy as np
import pytest

from zoo import store
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


def test_fold_round_trip_and_done_marker(tmp_path):
    s = store.RunStore(tmp_path, "my data", "abc")
    assert not s.has_fold("cnn", 0)
    s.write_fold("cnn", 0, {"status": "ok"}, {"y_prob": np.eye(3, dtype=np.float32)})
    assert s.has_fold("cnn", 0) and not s.has_fold("cnn", 1)
    facts, arrays = s.read_fold("cnn", 0)
    assert facts["status"] == "ok" and (arrays["y_prob"] == np.eye(3)).all()
    assert s.path == tmp_path / "my_data" / "abc"


def test_npz_is_read_without_pickle(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ZooError, match="evil.npz: not a readable facts file .*allow_pickle=False"):
        store.read_npz(path)


def test_safe_name():
    assert store.safe_name("../<b>x</b>") == "__b_x__b_"
    assert store.safe_name("..") == "_"
