"""The leakage check and the grouped k-fold."""
import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from conftest import TinyModelPlugin
from zoo.grid import leakage
from zoo.cli import cli
from zoo.grid.protocol import Protocol, make_splits
from zoo.store import RunStore, read_json


def leaky(n_photos=60, copies=5, classes=3, seed=0):
    """Each 'photo' augmented into near-copies (like Sign MNIST's train CSV), plus an
    independent test split of fresh photos."""
    rng = np.random.default_rng(seed)

    def photos(n):
        y = np.arange(n) % classes
        base = rng.uniform(0, 1, (n, 8, 8, 1)).astype(np.float32)
        base[np.arange(n), y, :, 0] = 1.0
        return base, y

    base, y = photos(n_photos)
    x = np.repeat(base, copies, axis=0) + rng.normal(0, 0.01, (n_photos * copies, 8, 8, 1))
    x_test, y_test = photos(n_photos // 2)
    return np.clip(x, 0, 1).astype(np.float32), np.repeat(y, copies), x_test, y_test, \
        np.repeat(np.arange(n_photos), copies)


def test_nearest_matches_brute_force_in_any_chunk_size():
    rng = np.random.default_rng(0)
    q, r = rng.random((37, 5)), rng.random((53, 5))
    full = np.linalg.norm(q[:, None] - r[None], axis=2)
    for chunk in (1, 7, 512):
        d, i = leakage.nearest(q, r, chunk=chunk)
        assert (i == full.argmin(1)).all() and np.allclose(d, full.min(1), atol=1e-5)


def test_random_folds_of_near_copies_are_flagged():
    x, y, xt, yt, _ = leaky()
    fold_of = make_splits(y, Protocol(folds=5))
    r = leakage.check(x, y, fold_of, xt, yt)
    assert r["leakage"]
    assert r["fold"]["median_distance"] < 0.5 * r["test"]["median_distance"]
    assert r["fold"]["one_nn_accuracy"] == 1.0 and r["fold"]["near_copies"] > 0.9
    assert any("closer to their training folds" in reason for reason in r["reasons"])


def test_independent_data_is_not_flagged():
    x, y, xt, yt, _ = leaky(copies=1, n_photos=200)
    r = leakage.check(x, y, make_splits(y, Protocol(folds=5)), xt, yt)
    assert not r["leakage"] and r["reasons"] == []
    assert r["distance_ratio"] > 0.8


def test_without_a_test_split_the_near_copy_share_decides():
    x, y, _, _, _ = leaky()
    r = leakage.check(x, y, make_splits(y, Protocol(folds=5)))
    assert "test" not in r and r["leakage"]
    assert "have a near-copy in their training folds" in r["reasons"][0]


def test_groups_join_the_copies_of_each_photo():
    x, y, _, _, photo = leaky()
    groups = leakage.groups(x, y)
    # the same partition as the photos (labels may differ)
    assert len(np.unique(groups)) == len(np.unique(photo))
    for g in np.unique(groups):
        assert len(np.unique(photo[groups == g])) == 1


def test_grouped_folds_keep_copies_together_and_remove_the_leak():
    x, y, xt, yt, photo = leaky()
    groups = leakage.groups(x, y)
    p = Protocol(folds=5, split="grouped")
    fold_of = make_splits(y, p, groups)
    for g in np.unique(groups):
        assert len(np.unique(fold_of[groups == g])) == 1
    assert not leakage.check(x, y, fold_of, xt, yt)["leakage"]


class LeakyPlugin:
    @zoo.hookimpl
    def register_datasets(self, register):
        def load(data_dir=None):
            x, y, xt, yt, _ = leaky()
            return zoo.Dataset(name="leaky", x=x, y=y, x_test=xt, y_test=yt,
                               class_names=["a", "b", "c"])
        register(zoo.DatasetSpec(name="leaky", load=load))


@pytest.mark.slow
def test_split_auto_chooses_grouped_and_the_report_warns(register_plugin, tmp_path):
    register_plugin(LeakyPlugin(), "leaky")
    register_plugin(TinyModelPlugin(), "dense")
    results, out = tmp_path / "results", tmp_path / "out"
    args = ["run", "dense", "--dataset", "leaky", "--folds", "3", "--epochs", "1",
            "--results", str(results), "--out", str(out)]
    # a stratified split, asked for: it leaks, and zoo says so
    r = CliRunner().invoke(cli, args + ["--split", "stratified", "--quiet"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "warning: leaky: held-out folds leak" in r.output
    html = (out / "index.html").read_text()
    assert "Leakage between folds." in html and "--split grouped" in html

    # the default, auto, groups the near-copies and says so
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "split chosen automatically: grouped" in r.output
    assert "held-out folds leak" not in r.output
    run = read_json(results / "last_run.json")["runs"][0]
    info = RunStore(results, "leaky", run["run_id"]).read_run()
    assert info["protocol"]["split"] == "grouped" and info["leakage"]["groups"] == 60
    html = (out / "index.html").read_text()
    assert "Leakage between folds." not in html
    assert "grouped (used)" in html and "stratified" in html
    # no sentence beside "no leakage found" says that held-out folds share near-copies
    assert "no leakage found in the grouped split used" in html
    assert "held-out folds can share near-copies" not in html
    assert "the leakage check found no near-copies across them in the grouped split used" in html


def test_sign_mnist_random_folds_are_flagged(sign_data_dir):
    from zoo_plugins.sign_mnist import load

    ds = load(sign_data_dir)
    r = leakage.check(ds.x, ds.y, make_splits(ds.y, Protocol(folds=10)), ds.x_test, ds.y_test)
    assert r["leakage"]
    assert r["fold"]["one_nn_accuracy"] > 0.99 and r["test"]["one_nn_accuracy"] < 0.9
    assert r["fold"]["median_distance"] < 0.3 * r["test"]["median_distance"]


def test_large_images_are_compared_at_32_pixels_a_side():
    """Photos of 128x128x3 are 49,152 values a row: averaged over 4x4 blocks first, so the
    check costs what 32x32 images do, and a near-copy is still one."""
    rng = np.random.default_rng(0)
    x = rng.random((6, 128, 96, 3)).astype(np.float32)
    flat = leakage._flat(x)
    assert flat.shape == (6, 32 * 24 * 3)
    assert np.allclose(flat[0].reshape(32, 24, 3)[0, 0], x[0, :4, :4].mean(axis=(0, 1)))
    assert leakage._flat(np.zeros((2, 28, 28, 1))).shape == (2, 784)   # as before
    copy = np.clip(x[:1] + rng.normal(0, 0.01, x[:1].shape), 0, 1)
    d, i = leakage.nearest(copy, x)
    assert i[0] == 0 and d[0] < 0.2 * leakage.nearest(x[1:2], x[2:])[0][0]
