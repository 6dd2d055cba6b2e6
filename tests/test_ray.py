"""The fold grid on Ray: a local two-node cluster gives the local executor's facts, a worker
killed mid-fold loses nothing, a plugin missing on a worker is named, Ctrl-C keeps what
finished. Ray stays on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, set in conftest)."""
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT, TinyModelPlugin, TinyPlugin
from zoo.cli import cli
from zoo.store import RunStore, read_json

import ray  # noqa: E402  (the ray extra; .ci/run installs it)

RUN = ["run", "cnn", "--dataset", "digits", "--folds", "2", "--epochs", "1",
       "--keep-models", "none"]

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def facts_of(results, sizes=(1.0,)):
    run = read_json(results / "last_run.json")["runs"][0]
    store = RunStore(results, run["dataset"], run["run_id"])
    out = {}
    for model in ("cnn",):
        for k in range(2):
            for size in sizes:
                out[model, k, size] = store.read_fold(model, k, size)
    return out


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_a_two_node_cluster_gives_the_local_executors_facts(two_nodes, tmp_path):
    """... learning-curve cells included: the same nested subsets, the same augmentation."""
    local, remote = tmp_path / "local", tmp_path / "ray"
    runner = CliRunner()
    curve = ["--train-sizes", "0.5"]
    r = runner.invoke(cli, [*RUN, *curve, "--quiet", "--results", str(local), "--out",
                            str(tmp_path / "r1")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, [*RUN, *curve, "--executor", "ray", "--address", two_nodes.address,
                            "--cpus-per-task", "2", "--results", str(remote), "--out",
                            str(tmp_path / "r2")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "executor: Ray, 2 nodes, 4 CPUs, 0 GPUs; 2 slots of 2 CPUs each" in r.output
    assert "ETA" in r.output and re.search(r"\[start\] digits / cnn / fold 1/2 on 127\.0\.0\.1 "
                                           r"pid \d+", r.output)
    a, b = facts_of(local, (0.5, 1.0)), facts_of(remote, (0.5, 1.0))
    for key in a:
        (fa, xa), (fb, xb) = a[key], b[key]
        assert fa["status"] == fb["status"] == "ok"
        assert fa["history"] == fb["history"], key
        for name in ("y_prob", "held_out_index"):
            assert np.array_equal(xa[name], xb[name]), (key, name)
        assert fb["worker"].startswith("127.0.0.1 pid ")
        # bit-identical at equal threads per cell (2 here: --cpus-per-task 2, 2 cores)
        assert fa["threads"] == fb["threads"] == 2
    workers = {b[key][0]["worker"] for key in b}
    assert len(workers) == 2   # both slots were used
    assert "cnn" in (tmp_path / "r2" / "index.html").read_text()


def test_a_model_missing_on_the_workers_is_named_with_the_node(register_plugin, tmp_path):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")   # registered in this process only
    r = CliRunner().invoke(cli, ["run", "dense", "cnn:dense=16", "--dataset", "tiny", "--folds", "2",
                                 "--epochs", "1", "--batch-size", "8", "--executor", "ray",
                                 "--cpus-per-task", "2", "--quiet", "--results",
                                 str(tmp_path / "results"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1, r.output
    assert re.search(r"model 'dense' \(plugin dense\) is not installed on the Ray worker at "
                     r"127\.0\.0\.1 pid \d+: install the same plugins on every node", r.output)
    assert "Traceback" not in r.output and "pickl" not in r.output.lower()
    run = read_json(tmp_path / "results" / "last_run.json")["runs"][0]
    store = RunStore(tmp_path / "results", "tiny", run["run_id"])
    # the rest went on, a variant's options reaching the workers
    for k in range(2):
        facts, _ = store.read_fold("cnn:dense=16", k)
        assert facts["status"] == "ok" and facts["options"] == {"dense": 16}
    assert not store.has_fold("dense", 0)


def zoo_process(*args, tf_log_level="3"):
    """`zoo ...` in a process of its own, stdout and stderr together; ``tf_log_level`` None:
    TensorFlow's C++ logging as a user gets it (zoo's own default)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": tf_log_level}
    if tf_log_level is None:
        del env["TF_CPP_MIN_LOG_LEVEL"]
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)


def read_until(proc, pattern, seen):
    for line in proc.stdout:
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"ended before {pattern!r}:\n" + "".join(seen))


def test_a_worker_killed_mid_fold_is_replaced_and_nothing_is_lost(tmp_path):
    results = tmp_path / "results"
    proc = zoo_process("run", "cnn", "--dataset", "digits", "--folds", "3", "--epochs", "8", "-v",
                       "--executor", "ray", "--cpus-per-task", "2", "--results", str(results),
                       "--out", str(tmp_path / "out"), tf_log_level=None)
    seen = []
    try:
        pid = int(read_until(proc, r"\[start\] digits / cnn / fold 2/3 on 127\.0\.0\.1 pid (\d+)",
                             seen).group(1))
        read_until(proc, rf"pid={pid}.*Epoch 2/8", seen)  # the worker is inside fold 2
        os.kill(pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert "[retry] digits / cnn / fold 2/3: its worker on 127.0.0.1 pid" in out
    # Ray's and TensorFlow's start-up lines (the driver's and the workers') stay out of it
    assert "Token authentication" not in out and "absl::InitializeLog" not in out
    assert not re.search(r"^(\(\w+ pid=\d+\) )?I\d{4} \d\d:\d\d", out, re.M), out
    assert "trained 3 fold(s), resumed 0, failed 0" in out
    run = read_json(results / "last_run.json")["runs"][0]
    store = RunStore(results, "digits", run["run_id"])
    workers = set()
    for k in range(3):
        facts, _ = store.read_fold("cnn", k)
        assert facts["status"] == "ok"
        workers.add(facts["worker"])
    assert f"127.0.0.1 pid {pid}" not in store.read_fold("cnn", 1)[0]["worker"]


def test_ctrl_c_cancels_the_rest_and_keeps_finished_folds(tmp_path):
    results = tmp_path / "results"
    proc = zoo_process("run", "cnn", "--dataset", "digits", "--folds", "3", "--epochs", "4",
                       "--executor", "ray", "--cpus-per-task", "2", "--results", str(results),
                       "--out", str(tmp_path / "out"), tf_log_level=None)
    seen = []
    try:
        read_until(proc, r"\[done\] digits / cnn / fold 1/3", seen)
        read_until(proc, r"\[start\] digits / cnn / fold 2/3", seen)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert "interrupted: finished folds are saved" in out and "Traceback" not in out
    run = read_json(results / "last_run.json")["runs"][0]
    store = RunStore(results, "digits", run["run_id"])
    assert store.has_fold("cnn", 0) and not store.has_fold("cnn", 2)
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]


def test_without_ray_installed_the_executor_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from click.testing import CliRunner\nfrom zoo.cli import cli\n"
            f"r = CliRunner().invoke(cli, ['run', 'cnn', '--dataset', 'digits', '--folds', '2', "
            f"'--epochs', '1', '--executor', 'ray', '--results', {str(tmp_path)!r}])\n"
            "print(r.exit_code); print(r.output)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    code_line, *rest = done.stdout.splitlines()
    assert code_line == "2", done.stdout + done.stderr
    assert "--executor ray needs Ray: pip install 'keras-zoo[ray]'" in "\n".join(rest)


def test_a_memory_mapped_dataset_goes_to_workers_as_its_file(tmp_path):
    """What the Ray executor registers for np.memmap: a whole memory-mapped .npy file goes as
    (path, offset, shape, dtype) and opens memory-mapped on the worker; a slice of one goes
    as its values; a file the worker cannot see is named with what a cluster needs."""
    import pickle

    from zoo.errors import PluginError
    from zoo.grid.executors.ray import mapped_reference, open_mapped

    x = np.arange(2 * 3 * 4 * 1, dtype=np.uint8).reshape(2, 3, 4, 1)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    ref = mapped_reference(mapped)
    assert ref[0] == "file" and ref[1] == str(tmp_path / "x.npy") and len(pickle.dumps(ref)) < 300
    again = open_mapped(pickle.loads(pickle.dumps(ref)))
    assert isinstance(again, np.memmap) and not again.flags.writeable
    np.testing.assert_array_equal(again, x)
    part = mapped_reference(mapped[1:])
    assert part[0] == "values"
    np.testing.assert_array_equal(open_mapped(part), x[1:])
    (tmp_path / "x.npy").unlink()
    with pytest.raises(PluginError, match=r"x\.npy: this Ray worker cannot open the memory-mapped "
                                          r"image cache .*shared filesystem"):
        open_mapped(ref)


@pytest.mark.parametrize("backend", ["torch"])
def test_a_tuned_run_on_ray_trains_on_another_backend_without_tensorflow(tmp_path, backend):
    """The backend reaches every Ray worker (each starts Keras on it; TensorFlow is blocked in
    the driver and, through the environment Ray passes on, in the workers) and tuning's
    trials run there: trial facts and fold facts say the backend, nothing failed. PyTorch
    here (JAX passed too, in 65 s against 54: the suite keeps one; tuning's own tests run on
    both in CI's JAX and PyTorch passes)."""
    blocker = tmp_path / "blocker" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("TensorFlow is blocked here")\n')
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(blocker.parent), str(ROOT)])
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "run", "cnn", "-d", "digits", "--folds", "2",
         "--epochs", "1", "--tune", "lr=1e-3..1e-2:log", "--trials", "2", "--backend", backend,
         "--executor", "ray", "--cpus-per-task", "2", "--keep-models", "none", "-q",
         "--results", str(results), "--out", str(tmp_path / "out")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    run = read_json(results / "last_run.json")["runs"][0]
    store = RunStore(results, "digits", run["run_id"])
    folds = [store.read_fold("cnn", k)[0] for k in range(2)]
    assert [f["status"] for f in folds] == ["ok", "ok"]
    assert {f["devices"]["backend"] for f in folds} == {backend}
    assert all(f["worker"].startswith("127.0.0.1 pid ") for f in folds)
    assert {f["environment"]["backend"] for f in folds} == {backend}
    trials = sorted(store.path.rglob("trial-*.json"))
    assert len(trials) == 4   # 2 trials in each of 2 outer folds
    assert {read_json(t)["environment"]["backend"] for t in trials} == {backend}
    assert {read_json(t)["status"] for t in trials} == {"ok"}
    for f in folds:   # each fold trained on the lr its own search chose
        assert f["tuned"]["trials"] == 2 and f["tuned"]["failed"] == 0
        assert f["settings"]["lr"] == f["tuned"]["settings"]["lr"]
