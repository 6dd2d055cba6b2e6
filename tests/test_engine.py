"""The run loop, written once for every executor: plan, resume, failures, Ctrl-C and the
executor contract, with trainers that train nothing (zoo.grid.fakes.FakeRunnerFactory): milliseconds,
no TensorFlow."""
import os

import numpy as np
import pytest

import zoo
from conftest import make_images
from zoo.grid import engine, interrupt
from zoo.grid.cells import Cell, Prepared
from zoo.errors import PluginError, WriteError, ZooError
from zoo.grid.executors import LocalExecutor
from zoo.grid.protocol import Protocol, make_splits
from zoo.store import RunStore, read_json
from zoo.grid.fakes import FakeRunnerFactory

PROTOCOL = Protocol(folds=3, epochs=2, batch_size=8)


def dataset_spec(name="tiny", test=True):
    def load(data_dir=None):
        x, y, xt, yt = make_images(12, 3, test_per_class=4 if test else 0)
        return zoo.Dataset(name=name, x=x, y=y, x_test=xt, y_test=yt,
                           class_names=["a", "b", "c"], source="made in the test")

    return zoo.DatasetSpec(name=name, load=load, plugin="test")


def model_spec(name):
    return zoo.ModelSpec(name=name, build=lambda shape, classes: None, plugin="test",
                         version="1")


def no_check(specs, shapes):
    return {}


def run(tmp_path, trainers, models=("a", "b"), datasets=None, check=no_check, **kwargs):
    lines = []
    result = engine.run([model_spec(m) for m in models], datasets or [dataset_spec()],
                        kwargs.pop("protocol", PROTOCOL), tmp_path / "results",
                        echo=lines.append, executor=LocalExecutor(runners=trainers.handing()),
                        check=check, **kwargs)
    return result, lines


def store_of(tmp_path, dataset="tiny"):
    entry = next(r for r in read_json(tmp_path / "results" / "last_run.json")["runs"]
                 if r["dataset"] == dataset)
    return RunStore(tmp_path / "results", dataset, entry["run_id"])


def test_every_cell_is_run_once_and_a_rerun_resumes(tmp_path):
    seen = []
    result, lines = run(tmp_path, FakeRunnerFactory(on_cell=seen.append))
    assert result.trained == 6 and result.resumed == 0 and result.failed == 0
    assert sorted(seen) == [(m, k, 1.0) for m in "ab" for k in range(3)]
    store = store_of(tmp_path)
    fold_of = store.read_splits()
    for m in "ab":
        for k in range(3):
            facts, arrays = store.read_fold(m, k)
            assert facts["status"] == "ok" and facts["environment"]["zoo"] == zoo.__version__
            assert (arrays["held_out_index"] == np.flatnonzero(fold_of == k)).all()
    assert any(line.startswith("[done] tiny / b / fold 3/3") for line in lines)
    seen.clear()
    again, lines = run(tmp_path, FakeRunnerFactory(on_cell=seen.append))
    assert again.trained == 0 and again.resumed == 6 and seen == []
    assert "[skip] tiny / a / fold 1/3: already done" in lines


def test_one_trainer_per_dataset_and_model_not_per_fold(tmp_path):
    trainers = FakeRunnerFactory()
    run(tmp_path, trainers)
    assert trainers.made == ["a", "b"]


def test_a_cell_that_raises_is_a_failed_fold_and_the_rest_goes_on(tmp_path):
    trainers = FakeRunnerFactory(raising={("a", 1): RuntimeError("out of memory")})
    result, lines = run(tmp_path, trainers)
    assert result.trained == 6 and result.failed == 1 and not result.errors
    assert "[failed] tiny / a / fold 2/3: error: RuntimeError: out of memory" in lines
    facts, arrays = store_of(tmp_path).read_fold("a", 1)
    assert facts["status"] == "error" and arrays == {}
    # a failed fold is not a result: the next run trains it again, and only it
    seen = []
    again, _ = run(tmp_path, FakeRunnerFactory(on_cell=seen.append))
    assert seen == [("a", 1, 1.0)] and again.resumed == 5


def test_a_plugin_error_drops_that_model_on_that_dataset(tmp_path):
    seen = []
    trainers = FakeRunnerFactory(raising={("a", 0): PluginError("model 'a' (plugin test): bad")},
                            on_cell=seen.append)
    result, lines = run(tmp_path, trainers)
    assert [c for c in seen if c[0] == "a"] == [("a", 0, 1.0)]   # its other folds never ran
    assert result.trained == 3 and [s["name"] for s in result.errors] == ["a"]
    assert "error: model 'a' (plugin test): bad" in lines


def test_a_model_failing_its_check_never_trains_and_the_others_do(tmp_path):
    seen = []

    def check(specs, shapes):
        return {("b", shapes[0]): "model 'b' (plugin test): build failed: no"}

    result, lines = run(tmp_path, FakeRunnerFactory(on_cell=seen.append), check=check)
    assert {c[0] for c in seen} == {"a"} and result.trained == 3
    assert "error: model 'b' (plugin test): build failed: no (on tiny; nothing of it was " \
           "trained)" in lines


def test_a_write_error_where_the_cell_ran_stops_the_run_keeping_what_finished(tmp_path):
    trainers = FakeRunnerFactory(raising={("a", 2): WriteError("/tmp/x.keras", "No space left")})
    with pytest.raises(ZooError, match="cannot write /tmp/x.keras: No space left"):
        run(tmp_path, trainers)
    store = store_of(tmp_path)
    assert store.has_fold("a", 0) and store.has_fold("a", 1) and not store.has_fold("a", 2)
    assert not store.has_fold("b", 0)


def test_ctrl_c_during_a_cell_keeps_that_cell_and_stops(tmp_path):
    seen = []

    def press_ctrl_c(cell):
        seen.append(cell)
        if cell == ("a", 1, 1.0):
            interrupt.CTRL_C.set()   # what the SIGINT handler does

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, FakeRunnerFactory(on_cell=press_ctrl_c))
    assert seen == [("a", 0, 1.0), ("a", 1, 1.0)]
    store = store_of(tmp_path)
    assert store.has_fold("a", 1) and not store.has_fold("a", 2)
    assert not interrupt.CTRL_C.is_set()   # cleared on the way out


def test_repeats_train_every_fold_of_every_split_and_a_rerun_resumes(tmp_path):
    seen = []
    protocol = Protocol(folds=2, epochs=1, repeats=2)
    result, lines = run(tmp_path, FakeRunnerFactory(on_cell=seen.append), protocol=protocol)
    assert result.trained == 8 and sorted(seen) == [(m, k, 1.0) for m in "ab"
                                                    for k in range(4)]
    store = store_of(tmp_path)
    splits = store.read_splits()
    assert splits.shape[0] == 2 and (splits[0] != splits[1]).any()
    for k in range(4):   # fold 3 of the run is fold 1 of the second split
        _, arrays = store.read_fold("a", k)
        assert (arrays["held_out_index"] == np.flatnonzero(splits[k // 2] == k % 2)).all()
    assert any(line.startswith("[done] tiny / b / fold 4/4") for line in lines)
    seen.clear()
    again, _ = run(tmp_path, FakeRunnerFactory(on_cell=seen.append), protocol=protocol)
    assert again.trained == 0 and again.resumed == 8 and seen == []


def test_last_run_points_at_a_run_only_once_it_has_results(tmp_path):
    run(tmp_path, FakeRunnerFactory())
    first = read_json(tmp_path / "results" / "last_run.json")

    def everything_broken(specs, shapes):
        return {(s.name, shape): f"model '{s.name}': broken" for s in specs for shape in shapes}

    result, _ = run(tmp_path, FakeRunnerFactory(), protocol=Protocol(folds=2, epochs=1),
                    check=everything_broken)
    assert result.runs == [] and len(result.errors) == 2
    assert read_json(tmp_path / "results" / "last_run.json") == first


def test_learning_curve_cells_and_a_final_model(tmp_path):
    seen = []
    protocol = Protocol(folds=2, epochs=1, train_sizes=(0.5, 1.0))
    result, lines = run(tmp_path, FakeRunnerFactory(on_cell=seen.append), models=("a",),
                        protocol=protocol, keep="final")
    assert sorted(seen) == [("a", k, s) for k in range(2) for s in (0.5, 1.0)]
    assert result.trained == 4
    assert any(line.startswith("[final] tiny / a / final model") for line in lines)
    assert store_of(tmp_path).has_final("a")


def test_a_dataset_that_fails_to_load_is_skipped_and_the_rest_runs(tmp_path):
    def broken(data_dir=None):
        raise zoo.DataError("/data/x.csv", "unknown label 99", line=7)

    bad = zoo.DatasetSpec(name="bad", load=broken, plugin="test")
    result, lines = run(tmp_path, FakeRunnerFactory(), datasets=[bad, dataset_spec()])
    assert [r["dataset"] for r in result.runs] == ["tiny"] and result.trained == 6
    assert "error: dataset bad: /data/x.csv, line 7: unknown label 99" in lines


# -- the executor contract -------------------------------------------------------------------
def prepared():
    spec = dataset_spec()
    ds = spec.load()
    return {"tiny": Prepared(ds, PROTOCOL, make_splits(ds.y, PROTOCOL))}


def check_contract(executor):
    """What the engine relies on: outcomes of every cell handed over, each once, cells handed
    over while iterating included, never more outstanding than the slots."""
    specs = {"cnn": model_spec("cnn")}
    cells = [Cell("tiny", "cnn", k, 3) for k in range(3)]
    with executor.session(prepared(), specs, "none", 0, expected=len(cells), say=print):
        assert executor.slots >= 1 and executor.describe()
        assert executor.outstanding() == 0
        queue = list(cells)
        while queue and executor.outstanding() < executor.slots:
            executor.submit(queue.pop(0))
        assert 1 <= executor.outstanding() <= executor.slots
        got = []
        for outcome in executor.as_completed():
            got.append(outcome)
            while queue and executor.outstanding() < executor.slots:
                executor.submit(queue.pop(0))
        assert executor.outstanding() == 0
    assert sorted(o.cell.fold for o in got) == [0, 1, 2]
    for o in got:
        assert o.facts.status == "ok" and not o.error and not o.stop
        assert (o.arrays["held_out_index"] == np.flatnonzero(
            prepared()["tiny"].fold_of == o.cell.fold)).all()
    return got


def test_the_local_executor_keeps_the_contract():
    got = check_contract(LocalExecutor(runners=FakeRunnerFactory))
    assert [o.cell.fold for o in got] == [0, 1, 2] and all(o.where == "" for o in got)


@pytest.mark.ray
@pytest.mark.slow
def test_the_ray_executor_keeps_the_contract():
    from zoo.grid.executors.ray import RayExecutor

    got = check_contract(RayExecutor(cpus_per_task=1, runners=FakeRunnerFactory))
    assert all(o.where.startswith("127.0.0.1 pid ") for o in got)
    # the same cells give the same facts wherever they run
    local = {o.cell.fold: o for o in check_contract(LocalExecutor(runners=FakeRunnerFactory))}
    for o in got:
        assert np.array_equal(o.arrays["y_prob"], local[o.cell.fold].arrays["y_prob"])


def test_the_run_loop_needs_no_tensorflow(tmp_path):
    """The engine, the plan, the store and the local executor import no TensorFlow: the run
    loop's tests take milliseconds, and a driver that hands every cell to Ray stays light."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys, pathlib; sys.path.insert(0, 'tests')\n"
            "import test_engine as t\n"
            f"result, _ = t.run(pathlib.Path({str(tmp_path)!r}), t.FakeRunnerFactory())\n"
            "assert result.trained == 6, result\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_default_split_groups_near_copies_when_the_leakage_check_fires(tmp_path):
    """#21: the default was 'stratified', so a run warned of leaky folds and then trained on
    them. 'auto' groups near-copies when the check fires, and says so."""
    assert Protocol().split == "auto"

    def leaky(data_dir=None):
        x, y, _, _ = make_images(8, 3)
        x = np.concatenate([x, x + 0.001, x - 0.001]).clip(0, 1)   # near-copies
        return zoo.Dataset(name="leaky", x=x, y=np.tile(y, 3), class_names=["a", "b", "c"])

    result, lines = run(tmp_path, FakeRunnerFactory(), datasets=[zoo.DatasetSpec(
        name="leaky", load=leaky, plugin="test")], protocol=Protocol(folds=3, epochs=1))
    store = store_of(tmp_path, "leaky")
    info = store.read_run()
    assert info["leakage"]["used"] == "grouped" and info["protocol"]["split"] == "grouped"
    assert "leaky: split chosen automatically: grouped, since the leakage check flagged a " \
           "stratified split" in lines
    assert not any(line.startswith("warning: leaky: held-out folds leak") for line in lines)
    # copies of one image never straddle two folds
    fold_of = store.read_splits()
    assert all(len(set(fold_of[[i, i + 24, i + 48]])) == 1 for i in range(24))


def test_an_interrupted_run_with_results_renders_as_partial(tmp_path):
    """zoo report died on a run interrupted after its first cell ('dict object' has no
    attribute 'finished_at'); now it renders what the run has and says it is partial."""
    from zoo.show import report

    run(tmp_path, FakeRunnerFactory(), protocol=Protocol(folds=3, epochs=1))

    def stop_after_one(cell):
        if cell == ("a", 1, 1.0):
            interrupt.CTRL_C.set()

    with pytest.raises(KeyboardInterrupt):   # new settings: a new run, stopped early
        run(tmp_path, FakeRunnerFactory(on_cell=stop_after_one), protocol=Protocol(folds=3,
                                                                              epochs=2))
    context = report.build_context(tmp_path / "results")
    d = context["datasets"][0]
    assert d["info"]["protocol"]["epochs"] == 2          # the pointer moved: it has results
    assert d["partial"].startswith("2 of 6 cells have results: this run was interrupted")
    html = report.render(tmp_path / "results", tmp_path / "out", context=context).read_text()
    assert "Partial run." in html and "not finished" in html


def test_a_second_run_of_the_same_run_folder_is_refused_while_the_first_trains(tmp_path):
    """Two identical `zoo run`s at once both trained everything."""
    run(tmp_path, FakeRunnerFactory(), models=("a",))
    store = store_of(tmp_path)
    seen = []
    with store.lock():   # as if another `zoo run` were training it now
        with pytest.raises(ZooError, match=rf"{store.path}: another `zoo run` \(pid "
                                           rf"{os.getpid()}\) is training this run now"):
            run(tmp_path, FakeRunnerFactory(on_cell=seen.append), models=("a",))
    assert seen == []
    again, _ = run(tmp_path, FakeRunnerFactory(), models=("a",))   # free again
    assert again.resumed == 3


def test_every_cell_records_its_tensorflow_threads(tmp_path):
    """TensorFlow's reductions depend on the thread count: Ray and local runs are
    bit-identical only at equal threads per cell, so each cell's facts say how many."""
    from zoo.grid.cells import RunnerCache, run_cell

    trainers = FakeRunnerFactory()
    trainers.threads = 3
    p = prepared()["tiny"]
    out = run_cell(Cell("tiny", "a", 0, 3), model_spec("a"), p, RunnerCache(trainers))
    assert out.facts.threads == 3
    plain = run_cell(Cell("tiny", "a", 1, 3), model_spec("a"), p, RunnerCache(FakeRunnerFactory()))
    assert plain.facts.threads is None and "threads" not in plain.facts.to_dict()


class Recording(FakeRunnerFactory):
    """Fake trainers that note the augmentations each (dataset, model) was given."""

    def __call__(self, spec, prepared):
        self.made.append((spec.name, prepared.transforms))
        return super().__call__(spec, prepared)


def test_a_dataset_says_which_augmentations_keep_its_labels(tmp_path):
    from zoo.show import report

    def spec(name, allowed):
        s = dataset_spec(name)
        s.augment = allowed
        return s

    trainers = Recording()
    run(tmp_path, trainers, models=("a",), datasets=[spec("fixed", False),
                                                      spec("tiny", ("shift",))])
    assert [m[1] for m in trainers.made if isinstance(m, tuple)] == [(), ("shift",)]
    context = report.build_context(tmp_path / "results")
    recipes = {d["name"]: d["recipe"] for d in context["datasets"]}
    assert recipes["fixed"].endswith("(none applied: the dataset's labels do not survive it)")
    assert recipes["tiny"].endswith("augmentation 1 (shift)")
    # what an 8x8 dataset gets anyway does not change the run's id; narrowing it does
    ids = {}
    for allowed in (True, ("shift",), False):
        res, _ = run(tmp_path / str(allowed), FakeRunnerFactory(), models=("a",),
                     datasets=[spec("tiny", allowed)])
        ids[allowed] = res.runs[0]["run_id"]
    assert ids[True] == ids[("shift",)] != ids[False]


def test_an_unknown_augmentation_names_the_dataset_and_its_plugin(tmp_path):
    bad = dataset_spec("tiny")
    bad.augment = ("flip",)
    result, lines = run(tmp_path, FakeRunnerFactory(), datasets=[bad])
    assert result.runs == []
    assert "error: dataset tiny: dataset 'tiny' (plugin test): augment: unknown transform(s) " \
           "'flip'; expected True, False or names among rotate, shift, zoom" in lines


def test_a_loader_that_takes_a_seed_gets_the_runs_seed(tmp_path):
    seeds = []

    def load(data_dir, seed):
        seeds.append(seed)
        return dataset_spec().load(data_dir)

    spec = zoo.DatasetSpec(name="tiny", load=load, plugin="test")
    run(tmp_path, FakeRunnerFactory(), models=("a",), datasets=[spec],
        protocol=Protocol(folds=3, epochs=1, seed=42))
    assert seeds == [42]
    run(tmp_path / "one", FakeRunnerFactory(), models=("a",))   # load(data_dir) still works


def test_the_live_view_shows_each_running_cell_and_the_grid():
    """On a terminal: a bar for the grid with its ETA, and a live line per running cell
    (epoch k/N, loss, accuracy, its ETA); event lines print above them."""
    import io
    import re

    from rich.console import Console

    from zoo.grid.progress import LiveProgress

    screen = io.StringIO()
    live = LiveProgress(console=Console(file=screen, force_terminal=True, width=160))
    live.total = 2
    a, b = Cell("tiny", "cnn", 0, 2), Cell("tiny", "cnn", 1, 2)
    live.started(a)
    live.epoch(a, 2, 5, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.7})
    live.bars.refresh()
    frame = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "tiny / cnn / fold 1/2" in frame and "epoch 2/5, loss 0.5000, accuracy 0.8000, ETA" \
        in frame and "0 of 2 folds, ETA " in frame and "(estimate)" in frame
    live.finished(a, 12.0)
    live.started(b)
    live.finished(b, 10.0, "diverged", "training loss became nan in epoch 1")
    live.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "[done] tiny / cnn / fold 1/2 in 0:12" in text
    assert "[failed] tiny / cnn / fold 2/2: diverged: training loss became nan in epoch 1" in text
    assert live.done == 2 and not live.cells


def test_the_grid_counts_folds_and_says_a_share_when_trials_count_in():
    """Trials count as a fraction of a fold; "25.2 of 30.4 folds" said nothing a user knows."""
    from zoo.grid.progress import done_of

    assert done_of(3, 6) == "3 of 6 folds" and done_of(3.0, 6.0) == "3 of 6 folds"
    assert done_of(25.2, 30.4) == "83% of the training (folds and tuning trials)"


def test_plain_lines_when_stdout_is_no_terminal(capsys):
    from zoo.grid import progress

    assert not progress.for_terminal(print).live   # pytest captures stdout: no terminal
    assert not progress.for_terminal(print, verbose=True).live
