"""Interrupting `zoo run` (kill -9 or Ctrl-C) loses at most the fold in progress, and the next
identical run resumes there with the same final results as an uninterrupted run."""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from zoo.store import RunStore, read_json

# -v: Keras' line per epoch, so that the tests know when a fold is under way
ARGS = ["run", "cnn", "--dataset", "digits", "--folds", "3", "--epochs", "4", "-v", "--out"]

pytestmark = pytest.mark.slow


def start(results, out):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", *ARGS, str(out), "--results",
                             str(results)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def run_until(proc, marker, timeout=240):
    """Read output until a line containing ``marker``; return everything read."""
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError("process ended before " + marker + ":\n" + "".join(seen))


def finish(results, out):
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", *ARGS, str(out), "--results",
                           str(results)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def store_of(results):
    run = read_json(results / "last_run.json")["runs"][0]
    return RunStore(results, run["dataset"], run["run_id"])


def scores_csv(report):
    """metrics.csv without the timing column, which differs from run to run."""
    with open(report / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        del row["fit_seconds"]
    return rows


def no_partial_files(folder):
    leftovers = [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    return not leftovers


def test_kill_9_mid_fold_then_resume_matches_an_uninterrupted_run(tmp_path):
    killed = tmp_path / "killed"
    proc = start(killed, tmp_path / "r1")
    run_until(proc, "[start] digits / cnn / fold 2/3")
    run_until(proc, "Epoch 2/4")  # fold 2 has trained an epoch and has three to go
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    store = store_of(killed)
    assert store.has_fold("cnn", 0) and not store.has_fold("cnn", 1)
    read_json(store.fold_paths("cnn", 0)[0])  # a complete, readable file
    out = finish(killed, tmp_path / "r1")
    assert "[skip] digits / cnn / fold 1/3: already done" in out
    assert "[start] digits / cnn / fold 2/3" in out
    assert "trained 2 fold(s), resumed 1" in out

    clean = tmp_path / "clean"
    finish(clean, tmp_path / "r2")
    a, b = store_of(killed), store_of(clean)
    for k in range(3):
        fa, xa = a.read_fold("cnn", k)
        fb, xb = b.read_fold("cnn", k)
        assert fa["history"] == fb["history"]
        assert np.array_equal(xa["y_prob"], xb["y_prob"])
    assert scores_csv(tmp_path / "r1") == scores_csv(tmp_path / "r2")
    assert no_partial_files(killed)


def test_sigterm_then_ctrl_c_keep_finished_folds_and_the_same_command_resumes(tmp_path):
    """Both stop training at the end of the current batch and leave through the same doors:
    the finished folds are kept, the run folder's lock released, and the same command
    resumes. SIGTERM (kill, a job scheduler's stop) in fold 2; the resumed run skips fold 1,
    trains fold 2 and is stopped by Ctrl-C (SIGINT) in fold 3."""
    results = tmp_path / "results"
    stops = [(signal.SIGTERM, 143, "terminated", "fold 2/3", 1),
             (signal.SIGINT, 130, "interrupted", "fold 3/3", 2)]
    for sig, code, said, fold, kept in stops:
        proc = start(results, tmp_path / "r")
        before = run_until(proc, f"[start] digits / cnn / {fold}")
        run_until(proc, "Epoch 2/4")
        proc.send_signal(sig)
        rest = proc.communicate(timeout=120)[0]
        assert proc.returncode == code, before + rest
        assert f"{said}: finished folds are saved" in rest and "Traceback" not in rest
        store = store_of(results)
        assert all(store.has_fold("cnn", k) for k in range(kept))
        assert not store.has_fold("cnn", kept)
        assert no_partial_files(results)
    # the second run resumed the first: the lock was released, fold 1 skipped
    assert "another `zoo run`" not in before and "[skip] digits / cnn / fold 1/3" in before
