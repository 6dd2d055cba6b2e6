"""The real Sign Language MNIST, read from the exact Kaggle CSVs."""
import numpy as np
import pytest
from click.testing import CliRunner

from zoo.cli import cli
from zoo.plugins import get_registry
from zoo.store import RunStore, read_json
from zoo_plugins import sign_mnist


@pytest.mark.slow
def test_the_kaggle_csvs_load_with_letters_as_classes(sign_csv_dir, sign_data_dir):
    spec = get_registry().datasets["sign-mnist"]
    assert spec.check_available(sign_csv_dir)[0]
    ds = spec.load(sign_csv_dir).validate()
    assert ds.x.shape == (27455, 28, 28, 1) and ds.x_test.shape == (7172, 28, 28, 1)
    assert ds.class_names == list("ABCDEFGHIKLMNOPQRSTUVWXY")
    assert set(np.unique(ds.y)) == set(range(24))
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    raw = np.load(sign_data_dir / "sign_mnist.npz")
    assert np.array_equal(ds.x[..., 0], raw["x_train"] / np.float32(255))
    # Kaggle label 10 is K, the 10th letter present (J is absent)
    k = int(np.flatnonzero(raw["y_train"] == 10)[0])
    assert ds.class_names[ds.y[k]] == "K"
    from_npz = spec.load(sign_data_dir)
    assert np.array_equal(from_npz.y_test, ds.y_test)


@pytest.mark.slow
def test_zoo_run_on_real_sign_mnist(sign_subset_dir, tmp_path):
    results, out = tmp_path / "results", tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "cnn", "--dataset", "sign-mnist", "--data-dir",
                                 str(sign_subset_dir), "--folds", "2", "--epochs", "1", "--quiet",
                                 "--results", str(results), "--out", str(out)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    run = read_json(results / "last_run.json")["runs"][0]
    store = RunStore(results, "sign-mnist", run["run_id"])
    info = store.read_run()
    assert info["dataset"]["samples"] == 288 and info["dataset"]["test_samples"] == 144
    for k in range(2):
        facts, arrays = store.read_fold("cnn", k)
        assert facts["status"] == "ok"
        assert arrays["y_prob"].shape == (144, 24) and arrays["test_prob"].shape == (144, 24)
    html = (out / "index.html").read_text()
    assert "Official test split" in html and "K" in html


def test_a_corrupt_csv_stops_before_any_training(kaggle_csv_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    lines = (kaggle_csv_dir / "sign_mnist_train.csv").read_bytes().split(b"\r\n")
    lines[7] = lines[7].replace(b",", b",x", 1)
    (bad / "sign_mnist_train.csv").write_bytes(b"\r\n".join(lines))
    (bad / "sign_mnist_test.csv").write_bytes((kaggle_csv_dir / "sign_mnist_test.csv").read_bytes())
    results = tmp_path / "results"
    r = CliRunner().invoke(cli, ["run", "cnn", "--dataset", "sign-mnist", "--data-dir", str(bad),
                                 "--folds", "2", "--epochs", "1", "--quiet",
                                 "--results", str(results), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert f"{bad / 'sign_mnist_train.csv'}, line 8: pixel1 is 'x" in r.output
    assert not list(results.rglob("fold-*.json"))


def test_kaggle_format_csvs_load_without_the_real_data(kaggle_csv_dir):
    ds = get_registry().datasets["sign-mnist"].load(kaggle_csv_dir).validate()
    assert ds.x.shape == (288, 28, 28, 1) and ds.x_test.shape == (144, 28, 28, 1)
    assert ds.class_names == list("ABCDEFGHIKLMNOPQRSTUVWXY") and ds.num_classes == 24
    assert set(np.unique(ds.y).tolist()) == set(range(24))


def test_without_the_data_variable_the_real_data_tests_are_deselected_not_failed(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_TEST_DATA", "CI")}
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"] + [
        f"tests/test_sign_mnist.py::{name}" for name in (
            "test_the_kaggle_csvs_load_with_letters_as_classes",
            "test_zoo_run_on_real_sign_mnist", "test_remap_is_contiguous")]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tests that need the real Sign Language MNIST are deselected" in done.stdout
    assert "1 passed, 2 deselected" in done.stdout
    # in CI a missing data folder is an error, never a silent deselection
    done = subprocess.run(args, cwd=root, env={**env, "CI": "true"}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0 and "CI must run every test" in done.stdout + done.stderr


def test_the_studys_small_dataset_is_the_test_csv_alone(kaggle_csv_dir):
    registry = get_registry()
    full = registry.datasets["sign-mnist"].load(kaggle_csv_dir)
    small = registry.datasets["sign-mnist-small"].load(kaggle_csv_dir).validate()
    assert small.name == "sign-mnist-small" and not small.has_test
    assert np.array_equal(small.x, full.x_test) and np.array_equal(small.y, full.y_test)
    assert small.class_names == full.class_names
    assert "test CSV alone" in small.source and "no official test split" in small.notes[0]


def test_remap_is_contiguous():
    assert sign_mnist._remap(np.array([0, 8, 10, 24])).tolist() == [0, 8, 9, 23]
