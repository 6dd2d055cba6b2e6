"""Equal tuning budget (zoo.tune.space, zoo.tune.search): the search space and its errors, nested
trials that never see a held-out fold or the test split, resume and extension, pruning, the
report. The run loop's tests use trainers that train nothing (zoo.grid.fakes.FakeRunnerFactory);
the end-to-end ones train on the digits for an epoch."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from conftest import make_images
from zoo.grid import engine, interrupt, settings
from zoo.show import report
from zoo.tune import search, space
from zoo.cli import cli
from zoo.errors import ConfigError
from zoo.grid.executors import LocalExecutor
from zoo.grid.protocol import Protocol, tuning_split
from zoo.store import RunStore, read_json
from zoo.grid.fakes import FakeRunnerFactory

PROTOCOL = Protocol(folds=3, epochs=2, batch_size=8)


def dataset_spec(name="tiny", test=True, per_class=12):
    def load(data_dir=None):
        x, y, xt, yt = make_images(per_class, 3, test_per_class=4 if test else 0)
        return zoo.Dataset(name=name, x=x, y=y, x_test=xt, y_test=yt,
                           class_names=["a", "b", "c"], source="made in the test")

    return zoo.DatasetSpec(name=name, load=load, plugin="test")


def build(input_shape, num_classes, width: int = 8, act: str = "relu"):
    return None


def model_spec(name):
    return zoo.ModelSpec(name=name, build=build, plugin="test", version="1")


MODELS = [model_spec("a"), model_spec("b")]


def tune(*entries, models=MODELS, protocol=PROTOCOL, **kwargs):
    return space.parse(list(entries), models, protocol, **kwargs)


def run(tmp_path, tuning, trainers=None, models=MODELS, protocol=PROTOCOL, dataset=None,
        executor=None, **kwargs):
    lines = []
    trainers = trainers or FakeRunnerFactory()
    result = engine.run(models, [dataset or dataset_spec()], protocol, tmp_path / "results",
                        echo=lines.append,
                        executor=executor or LocalExecutor(runners=trainers.handing()),
                        check=lambda specs, shapes: {}, tuning=tuning, tuner=search.Tuner,
                        **kwargs)
    return result, lines


def store_of(tmp_path, dataset="tiny"):
    entry = next(r for r in read_json(tmp_path / "results" / "last_run.json")["runs"]
                 if r["dataset"] == dataset)
    return RunStore(tmp_path / "results", dataset, entry["run_id"])


def choices(store, models=("a", "b"), folds=3):
    return {(m, k): store.fold_facts(m, k)["settings"] for m in models for k in range(folds)}


# -- the space -------------------------------------------------------------------------------
def test_ranges_log_ranges_choices_and_model_options():
    t = tune("lr=1e-4..1e-2:log", "weight_decay=0..0.1", "label_smoothing=0,0.1",
             "a:width=4,8", "warmup=0..1", trials=5)
    by = {p.key: p for p in t.params}
    assert (by["lr"].low, by["lr"].high, by["lr"].log) == (1e-4, 1e-2, True)
    assert (by["weight_decay"].low, by["weight_decay"].log) == (0.0, False)
    assert by["label_smoothing"].choices == (0.0, 0.1)
    assert by["a:width"].choices == (4, 8) and by["warmup"].integer
    assert t.trials == 5 and t.metric == "accuracy" and t.scope == "fold" and not t.prune
    # a model's options only for that model; the protocol settings for every model
    assert [p.key for p in t.for_model(MODELS[1])] == ["lr", "weight_decay",
                                                       "label_smoothing", "warmup"]
    assert "a:width" in [p.key for p in t.for_model(MODELS[0])]
    # the number of trials is not part of what identifies the search (more extend it)
    assert t.identity() == tune("lr=1e-4..1e-2:log", "weight_decay=0..0.1",
                                "label_smoothing=0,0.1", "a:width=4,8", "warmup=0..1",
                                trials=9).identity()
    assert tune("lr=1e-4..1e-2").identity() != tune("lr=1e-4..1e-2:log").identity()


def test_zoo_toml_holds_the_same_and_a_flag_wins():
    table = {"lr": "1e-4..1e-2:log", "label_smoothing": [0, 0.1], "a:act": ["relu", "gelu"],
             "trials": 7, "metric": "log_loss", "scope": "once", "prune": True}
    t = tune("lr=1e-3..1e-1", table=table, trials=3)
    by = {p.key: p for p in t.params}
    assert (by["lr"].low, by["lr"].log) == (1e-3, False)   # the flag's entry
    assert by["label_smoothing"].choices == (0.0, 0.1) and by["a:act"].choices == ("relu",
                                                                                "gelu")
    assert (t.trials, t.metric, t.scope, t.prune) == (3, "log_loss", "once", True)
    assert tune() is None


@pytest.mark.parametrize("entry, message", [
    ("foo=1..2", "'foo' cannot be tuned (not a protocol setting); tunable settings: lr"),
    ("epochs=1..5", "'epochs' cannot be tuned (the same for every trial"),
    ("lr=1e-2..1e-4", "the range 1e-2..1e-4 is empty"),
    ("lr=1e-3..1e-3", "is empty"),
    ("weight_decay=0..0.1:log", "a log range must stay above 0; got 0..0.1"),
    ("lr=1e-4..1e-2:ln", "unknown scale ':ln'"),
    ("label_smoothing=a,b", "label_smoothing: 'a' is not a number"),
    ("lr=0..1", "lr: expected a learning rate > 0"),
    ("warmup=0..5", "warmup: expected an integer number of epochs from 0 to 1"),
    ("warmup=0.5..1", "warmup takes whole numbers"),
    ("schedule=constant,linear", "schedule: expected one of constant, cosine, got 'linear'"),
    ("schedule=a..b", "schedule is not a number, so it takes choices"),
    ("lr=1e-3", "one value is not a search"),
    ("lr=1e-3,1e-3", "listed twice"),
    ("lr", "expected SETTING=LOW..HIGH"),
    ("a:nope=1,2", "model 'a' (plugin test) has no option 'nope'; accepted options: width=8"),
    ("resnet:depth=1,2", "'resnet' is not among this run's models (a, b)"),
    ("a:width=4,x", "option 'width': expected an integer, got 'x'"),
    ("a:width=1.5..4", "width takes whole numbers"),
    ("a:act=relu..tanh", "act is not a number"),
    ("lr=nan..1", "is not a finite number"),
    # three dots were read as 1e-4..0.001, a search ten times narrower than typed
    ("lr=1e-4...1e-2", "expected exactly LOW..HIGH or LOW..HIGH:log, two dots"),
    ("lr=1e-4..1e-3..1e-2", "expected exactly LOW..HIGH"),
    ("lr=1e-4....1e-2:log", "expected exactly LOW..HIGH"),
])
def test_every_bad_space_is_refused_with_one_line_naming_it(entry, message):
    with pytest.raises(ConfigError) as exc:
        tune(entry)
    assert message in str(exc.value) and f"--tune {entry}" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"trials": 0}, "trials: expected an integer from 1"),
    ({"trials": True}, "trials: expected an integer"),
    ({"metric": "f1"}, "tune_metric: expected one of accuracy, log_loss, got 'f1'"),
    ({"scope": "twice"}, "tune_scope: expected one of fold, once"),
    ({"prune": "yes"}, "prune: expected true or false"),
])
def test_bad_search_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        tune("lr=1e-4..1e-2", **kwargs)


def test_search_settings_without_a_space_say_what_is_missing():
    with pytest.raises(ConfigError, match="--trials: nothing is tuned; add --tune"):
        tune(trials=4)


def test_the_command_line_refuses_a_bad_space_before_anything_trains(tmp_path):
    out = CliRunner().invoke(cli, ["run", "cnn", "-d", "digits", "--results",
                                   str(tmp_path / "r"), "--tune", "lr=1e-2..1e-4:log"])
    assert out.exit_code == 2
    assert "Error: --tune lr=1e-2..1e-4:log: the range 1e-2..1e-4 is empty" in out.output
    assert not (tmp_path / "r").exists()
    toml = tmp_path / "zoo.toml"
    toml.write_text('[tune]\nlr = "1e-4..1e-2:log"\n"vit:patch_size" = [4, "x"]\n')
    out = CliRunner().invoke(cli, ["run", "cnn", "vit", "-d", "digits", "--config", str(toml),
                                   "--results", str(tmp_path / "r")])
    assert out.exit_code == 2 and "zoo.toml [tune] vit:patch_size" in out.output
    assert "option 'patch_size': expected an integer or None, got 'x'" in out.output
    toml.write_text('tune = 3\n')
    out = CliRunner().invoke(cli, ["run", "cnn", "--config", str(toml)])
    assert out.exit_code == 2 and "'tune' must be a table" in out.output


def test_a_cells_settings_reach_the_protocol_and_the_options():
    spec, protocol = settings.apply(MODELS[0], PROTOCOL, (("lr", 0.01), ("a:width", 4),
                                                       ("label_smoothing", 0.1)))
    assert protocol.lr == 0.01 and protocol.label_smoothing == 0.1 and protocol.epochs == 2
    assert spec.name == "a" and spec.options == {"width": 4} and spec.build.keywords == {
        "width": 4}
    # a compiled model depends on the loss and the options, not on the learning rate
    assert settings.compiled_key((("lr", 0.01), ("a:width", 4))) == (("a:width", 4),)


# -- the inner split ---------------------------------------------------------------------------
def test_the_inner_split_is_stratified_grouped_and_the_same_every_time():
    y = np.repeat(np.arange(4), 25)
    positions = np.arange(0, 100, 1)[np.arange(100) % 5 != 0]   # an outer training part
    train, val = tuning_split(positions, y, seed=3)
    assert set(train) | set(val) == set(positions) and not set(train) & set(val)
    assert abs(len(val) / len(positions) - 0.2) < 0.03
    assert np.bincount(y[val]).min() >= 4       # every class in the validation part
    again = tuning_split(positions, y, seed=3)
    assert (again[0] == train).all() and (again[1] == val).all()
    groups = np.arange(100) // 4                 # near-copies come in fours
    train, val = tuning_split(positions, y, groups, seed=3)
    assert not set(groups[train]) & set(groups[val])


# -- the run loop --------------------------------------------------------------------------------
def test_trials_never_see_the_held_out_fold_or_the_test_split(tmp_path):
    result, lines = run(tmp_path, tune("lr=1e-4..1e-2:log", trials=5))
    store = store_of(tmp_path)
    fold_of = store.read_splits()
    n = len(fold_of)
    for m in ("a", "b"):
        for k in range(3):
            trials = store.read_trials(m, k)
            assert sorted(trials) == list(range(5))
            for number in trials:
                a = store.read_trial_arrays(m, k, number)
                seen = np.concatenate([a["train_index"], a["validation_index"]])
                # indices into the training images only (the test split is another array),
                # none of them in the held-out fold
                assert seen.max() < n and (fold_of[seen] != k).all()
                assert not set(a["train_index"]) & set(a["validation_index"])
    assert result.trained == 6 and result.trials == 30


def test_every_model_gets_the_same_budget_and_its_best_trials_settings(tmp_path):
    run(tmp_path, tune("lr=1e-4..1e-2:log", "label_smoothing=0,0.1", trials=6),
        FakeRunnerFactory(skill={"a": 0.9, "b": 0.7}))
    store = store_of(tmp_path)
    for m in ("a", "b"):
        for k in range(3):
            trials = store.read_trials(m, k)
            assert len(trials) == 6 and {t["epochs"] for t in trials.values()} == {2}
            best = max(trials.values(), key=lambda t: (t["score"], -t["trial"]))
            facts = store.fold_facts(m, k)
            assert facts["settings"] == best["settings"]
            assert facts["tuned"]["best_trial"] == best["trial"]
            assert facts["tuned"]["trials"] == 6 and facts["lr"] == best["settings"]["lr"]
    # the searches differ only by their fold: each model's fold k asks the same settings
    assert [t["settings"] for t in store.read_trials("a", 1).values()] == \
        [t["settings"] for t in store.read_trials("b", 1).values()]


def test_trials_that_change_only_the_learning_rate_reuse_one_compiled_model(tmp_path):
    trainers = FakeRunnerFactory()
    run(tmp_path, tune("lr=1e-4..1e-2:log", trials=4), trainers)
    assert trainers.made == ["a", "b"]
    trainers = FakeRunnerFactory()
    run(tmp_path / "2", tune("label_smoothing=0,0.1", trials=4), trainers)
    assert len(trainers.made) > 2   # the loss is compiled in: a new model for another one


def test_a_killed_search_resumes_to_the_same_choices(tmp_path):
    tuning = tune("lr=1e-4..1e-2:log", "weight_decay=0..0.1", trials=7)
    run(tmp_path / "whole", tuning)
    reference = choices(store_of(tmp_path / "whole"))
    seen = []

    def kill(cell):
        seen.append(cell)
        if cell == ("a", 1, "trial", 5):        # in the middle of the second wave
            interrupt.CTRL_C.set()

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", tuning, FakeRunnerFactory(on_cell=kill))
    store = store_of(tmp_path / "killed")
    assert sorted(store.read_trials("a", 1)) == list(range(6))
    assert not store.has_fold("a", 1) and store.has_fold("a", 0)
    seen.clear()
    result, _ = run(tmp_path / "killed", tuning, FakeRunnerFactory(on_cell=seen.append))
    assert ("a", 1, "trial", 6) in seen and ("a", 1, "trial", 5) not in seen
    assert not any(c[:2] == ("a", 0) for c in seen)   # fold 1 was finished
    assert choices(store_of(tmp_path / "killed")) == reference
    assert result.resumed == 1


def test_more_trials_extend_a_finished_search(tmp_path):
    run(tmp_path, tune("lr=1e-4..1e-2:log", trials=4))
    first = store_of(tmp_path)
    before = {k: first.read_trials("a", k) for k in range(3)}
    seen = []
    run(tmp_path, tune("lr=1e-4..1e-2:log", trials=9), FakeRunnerFactory(on_cell=seen.append))
    store = store_of(tmp_path)
    assert store.path == first.path              # the same run, extended
    assert sorted(c[3] for c in seen if c[:3] == ("a", 0, "trial")) == [4, 5, 6, 7, 8]
    for k in range(3):
        after = store.read_trials("a", k)
        assert all(after[n] == before[k][n] for n in range(4)) and len(after) == 9
    # the same 9 trials as a search of 9 from the start
    run(tmp_path / "nine", tune("lr=1e-4..1e-2:log", trials=9))
    assert choices(store_of(tmp_path / "nine")) == choices(store)


def test_pruning_stops_trials_below_the_best_third_of_earlier_waves(tmp_path):
    protocol = Protocol(folds=2, epochs=9, batch_size=8)
    assert search.rungs(9) == (1, 3) and search.rungs(2) == (1,) and search.rungs(1) == ()
    run(tmp_path, tune("lr=1e-4..1e-1:log", trials=12, prune=True, protocol=protocol),
        protocol=protocol, models=MODELS[:1])
    store = store_of(tmp_path)
    trials = store.read_trials("a", 0)
    pruned = [t for t in trials.values() if t["pruned"]]
    assert pruned and all(t["epochs_run"] < 9 for t in pruned)
    assert all(t["epochs_run"] == 9 for t in trials.values() if not t["pruned"])
    for t in pruned:   # below the best third of the earlier waves at the epoch it stopped
        e = str(t["epochs_run"])
        earlier = sorted((o["rung_scores"][e] for n, o in trials.items()
                          if n < t["trial"] // search.WAVE * search.WAVE
                          and e in o["rung_scores"]), reverse=True)
        assert len(earlier) >= search.ETA
        assert t["rung_scores"][e] < earlier[len(earlier) // search.ETA - 1]
    facts = store.fold_facts("a", 0)
    assert facts["tuned"]["pruned"] == len(pruned) and not trials[
        facts["tuned"]["best_trial"]]["pruned"]
    assert facts["tuned"]["epochs"] == sum(t["epochs_run"] for t in trials.values()) < 12 * 9


def test_with_scope_once_one_search_chooses_for_every_fold(tmp_path):
    run(tmp_path, tune("lr=1e-4..1e-2:log", trials=4, scope="once"),
        dataset=dataset_spec(test=False))
    store = store_of(tmp_path)
    assert len(store.read_trials("a", None)) == 4 and not store.read_trials("a", 0)
    for m in ("a", "b"):
        assert len({json.dumps(store.fold_facts(m, k)["settings"]) for k in range(3)}) == 1
    for number in range(4):    # the whole training set, nothing else (no test split here)
        a = store.read_trial_arrays("a", None, number)
        assert len(a["train_index"]) + len(a["validation_index"]) == 36
    context = report.build_context(tmp_path / "results")
    sentence = context["datasets"][0]["conclusion"]
    assert "chosen once on the whole training set" in sentence
    assert "held-out scores are optimistic" in sentence and "use --tune-scope fold" in sentence


def test_a_model_whose_trials_all_fail_trains_with_the_untuned_settings_and_says_so(tmp_path):
    trainers = FakeRunnerFactory(raising={("b", "trial"): RuntimeError("out of memory")})
    result, lines = run(tmp_path, tune("lr=1e-4..1e-2:log", trials=3), trainers)
    store = store_of(tmp_path)
    assert all(t["status"] == "error" and "out of memory" in t["reason"]
               for t in store.read_trials("b", 0).values())
    facts = store.fold_facts("b", 0)
    assert facts["status"] == "ok" and facts["tuned"]["fallback"] and \
        facts["lr"] == PROTOCOL.lr and facts["settings"] == {}
    context = report.build_context(tmp_path / "results")
    assert "no trial of b trained to the end; it used the untuned settings there" in \
        context["datasets"][0]["conclusion"]
    seen = []   # rerun: the trials that raised are tried again (as a fold that raised is)
    run(tmp_path, tune("lr=1e-4..1e-2:log", trials=3), FakeRunnerFactory(on_cell=seen.append))
    assert ("b", 0, "trial", 0) in seen and not any(c[0] == "a" for c in seen)
    assert not store.fold_facts("b", 0)["tuned"]["fallback"]


def tuned_report(tmp_path):
    """A tuned run (8 trials over lr and warmup, more warmup always better), rendered."""
    def more_warmup_is_better(model, settings):
        return 0.5 + 0.1 * settings["warmup"] - 0.01 * abs(math.log10(settings["lr"]) + 3)

    run(tmp_path, tune("lr=1e-4..1e-2:log", "warmup=0..1", trials=8),
        FakeRunnerFactory(trial_score=more_warmup_is_better))
    return report.render(tmp_path / "results", tmp_path / "out")


def test_the_report_shows_the_choices_and_flags_a_range_too_narrow(tmp_path):
    path = tuned_report(tmp_path)
    html = path.read_text()
    context = report.build_context(tmp_path / "results")
    d = context["datasets"][0]
    assert d["tuning"]["models"]["a"]["edges"] and "(upper end)" in html
    assert "The range may be too narrow for a: best warmup at the upper bound in 3 of 3 " \
        "folds." in d["conclusion"]
    assert d["conclusion"].startswith("Every model was compared at tuned settings: each got "
                                      "the same search, 8 trials of at most 2 epochs in each "
                                      "of the 3 outer folds")
    assert "<h3>Tuning" in html and html.count('id="fig-0-tune-') == 2
    rows = (tmp_path / "out" / "metrics.csv").read_text().splitlines()
    assert sum(",tuning trial " in r for r in rows) == 2 * 3 * 8
    assert all(r.endswith('"') for r in rows[1:] if ",held-out fold," in r)   # settings column
    facts = json.loads((tmp_path / "out" / "facts.json").read_text())
    assert len(facts["trials"]) == 48 and {"settings", "score"} <= set(facts["trials"][0])


@pytest.mark.browser
def test_a_tuned_report_draws_every_figure_in_headless_chromium(tmp_path):
    from chrome import Chrome

    path = tuned_report(tmp_path)
    chrome = Chrome("--allow-file-access-from-files")
    try:
        chrome.goto(path.as_uri())
        chrome.wait("document.body.dataset.figuresRendered !== undefined")
        placeholders = chrome.js("document.querySelectorAll('div.figure').length")
        assert chrome.js("document.body.dataset.figuresRendered") == str(placeholders)
        # both models' trial figures, with a panel per tuned setting (lr, warmup)
        assert chrome.js("document.querySelectorAll('[id^=fig-0-tune-] .main-svg').length") \
            >= 2
        assert chrome.js("document.querySelectorAll('[id^=fig-0-tune-] .xtitle, "
                         "[id^=fig-0-tune-] .x2title').length") == 4
        assert chrome.js("document.getElementById('js-errors').textContent") == ""
        assert chrome.errors == []
    finally:
        chrome.close()


# -- end to end ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_tuned_run_on_the_digits_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["run", "cnn", "-d", "digits", "--folds", "2", "--epochs", "1", "--tune",
            "lr=1e-3..1e-2:log", "--tune", "label_smoothing=0,0.1", "--trials", "3"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "tuning: lr 0.001..0.01:log, label_smoothing 0.0,0.1; 3 trials per model" in \
        out.output
    assert "digits / cnn / trial 3 in fold 2/2: accuracy" in out.output
    assert "trained 2 fold(s) and 6 tuning trial(s), resumed 0" in out.output
    entry = read_json(tmp_path / "results" / "last_run.json")["runs"][0]
    store = RunStore(tmp_path / "results", "digits", entry["run_id"])
    fold_of = store.read_splits()
    for k in range(2):
        trials = store.read_trials("cnn", k)
        assert len(trials) == 3 and all(t["status"] == "ok" for t in trials.values())
        for n in trials:
            a = store.read_trial_arrays("cnn", k, n)
            assert (fold_of[a["train_index"]] != k).all()
            assert (fold_of[a["validation_index"]] != k).all()
        assert store.fold_facts("cnn", k)["tuned"]["trials"] == 3
    html = (tmp_path / "reports" / "index.html").read_text()
    (tmp_path / "reports" / "index.html").unlink()
    again = CliRunner().invoke(cli, ["report"])     # re-rendered from facts, nothing trained
    assert again.exit_code == 0, again.output
    assert (tmp_path / "reports" / "index.html").read_text().count("tuning trial") == \
        html.count("tuning trial")
    rerun = CliRunner().invoke(cli, args)
    assert "trained 0 fold(s), resumed 2" in rerun.output and "[start]" not in rerun.output


@pytest.mark.slow
@pytest.mark.ray
def test_local_and_ray_choose_the_same_settings(tmp_path):
    from zoo.grid.executors.ray import RayExecutor
    from zoo.plugins import get_registry

    models = [get_registry().models[m] for m in ("cnn", "vit")]
    tuning = tune("lr=1e-4..1e-2:log", "vit:patch_size=2,4", models=models, trials=6)
    run(tmp_path / "local", tuning, models=models)
    run(tmp_path / "ray", tuning, models=models,
        executor=RayExecutor(cpus_per_task=1, runners=FakeRunnerFactory))
    local, ray = store_of(tmp_path / "local"), store_of(tmp_path / "ray")
    assert choices(local, ("cnn", "vit")) == choices(ray, ("cnn", "vit"))
    assert ray.read_trials("vit", 0)[0]["worker"].startswith("127.0.0.1 pid ")


def test_a_real_trial_scores_its_inner_split_and_stops_at_a_rung_below_the_threshold():
    from conftest import TinyPlugin, tiny_dense
    from zoo.grid.protocol import make_splits
    from zoo.grid.train import FoldRunner, inner_score

    ds = TinyPlugin().load()
    protocol = Protocol(folds=3, epochs=4, batch_size=8, lr=1e-2, seed=1)
    fold_of = make_splits(ds.y, protocol)
    spec = zoo.ModelSpec(name="dense", build=tiny_dense, plugin="tests", version="0")
    runner = FoldRunner(spec, ds, protocol)
    trained = runner.trial(1, fold_of, 0, rungs=((1, None), (3, None)))
    facts, arrays = trained.facts.to_dict(), trained.arrays
    assert facts["status"] == "ok" and not facts["pruned"] and facts["epochs_run"] == 4
    assert set(facts["rung_scores"]) == {"1", "3"} and 0 <= facts["score"] <= 1
    assert (fold_of[arrays["train_index"]] != 1).all()
    assert (fold_of[arrays["validation_index"]] != 1).all()
    # the score is the accuracy of the trained model on the inner validation part
    val = arrays["validation_index"]
    assert facts["score"] == pytest.approx(inner_score(
        ds.y[val], runner.model.predict(ds.x[val], verbose=0), "accuracy"))
    model = runner.model
    pruned = runner.trial(1, fold_of, 1, rungs=((1, 1.01), (3, None))).facts.to_dict()  # unreachable
    assert pruned["pruned"] and pruned["epochs_run"] == 1
    assert pruned["score"] == pruned["rung_scores"]["1"]
    assert runner.model is model           # one compiled model for every trial
    loss = runner.trial(1, fold_of, 2, metric="log_loss").facts.to_dict()
    assert loss["metric"] == "log_loss" and loss["score"] > 0


def test_learning_curve_points_and_the_final_model_use_the_chosen_settings(tmp_path):
    protocol = Protocol(folds=3, epochs=2, batch_size=8, train_sizes=(0.5, 1.0))
    seen = []
    result, _ = run(tmp_path, tune("lr=1e-4..1e-2:log", trials=4, protocol=protocol),
                    FakeRunnerFactory(on_cell=seen.append), protocol=protocol, keep="final")
    store = store_of(tmp_path)
    for m in ("a", "b"):
        by_fold = [store.fold_facts(m, k)["settings"] for k in range(3)]
        assert [store.fold_facts(m, k, 0.5)["settings"] for k in range(3)] == by_fold
        assert store.has_final(m)
        final = read_json(store.model_path(m).with_suffix(".json"))
        assert final["settings"] in by_fold   # the choice of the most folds
    assert result.trained == 12 and result.failed == 0
