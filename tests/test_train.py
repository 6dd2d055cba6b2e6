"""One fold through FoldRunner, on tiny data."""
import numpy as np
import pytest

import zoo
from conftest import TinyPlugin, tiny_dense
from zoo.errors import PluginError
from zoo.grid.protocol import Protocol, make_splits
from zoo.grid.train import FoldRunner

PROTOCOL = Protocol(folds=3, epochs=2, batch_size=8, lr=1e-2, seed=1)


def tiny(**kw):
    return TinyPlugin(**kw).load()


def ran(trained) -> tuple:
    """(facts as written, arrays, model) of what a runner trained."""
    return trained.facts.to_dict(), trained.arrays, trained.model


def spec(build=tiny_dense, name="dense"):
    return zoo.ModelSpec(name=name, build=build, plugin="tests", version="0")


def test_a_fold_saves_facts_not_metrics():
    ds = tiny()
    fold_of = make_splits(ds.y, PROTOCOL)
    facts, arrays, _ = ran(FoldRunner(spec(), ds, PROTOCOL).run(1, fold_of))
    held = np.flatnonzero(fold_of == 1)
    assert facts["status"] == "ok" and facts["fold"] == 1
    assert (arrays["held_out_index"] == held).all()
    assert (arrays["y_true"] == ds.y[held]).all()
    assert arrays["y_prob"].shape == (len(held), 3)
    assert np.allclose(arrays["y_prob"].sum(1), 1, atol=1e-5)
    assert arrays["test_prob"].shape == (len(ds.x_test), 3)
    assert len(facts["history"]["loss"]) == 2 and len(facts["history"]["val_loss"]) == 2
    assert facts["history_validation"].startswith("held-out fold")
    assert facts["train_samples"] == len(ds.y) - len(held)
    assert facts["params"] > 0 and facts["fit_seconds"] > 0
    assert facts["predict_images_per_second"] > 0
    assert facts["devices"]["replicas"] == 1
    assert "accuracy" not in facts


def test_reusing_the_model_gives_the_same_fold_as_a_fresh_model():
    ds = tiny()
    fold_of = make_splits(ds.y, PROTOCOL)
    reused = FoldRunner(spec(), ds, PROTOCOL)
    reused.run(0, fold_of)
    facts_a, arrays_a, _ = ran(reused.run(2, fold_of))
    facts_b, arrays_b, _ = ran(FoldRunner(spec(), ds, PROTOCOL).run(2, fold_of))
    assert facts_a["history"] == facts_b["history"]
    assert np.array_equal(arrays_a["y_prob"], arrays_b["y_prob"])


def test_the_optimizer_state_is_reset_between_folds():
    ds = tiny()
    fold_of = make_splits(ds.y, PROTOCOL)
    runner = FoldRunner(spec(), ds, PROTOCOL)
    runner.run(0, fold_of)
    assert int(runner.model.optimizer.iterations.numpy()) > 0
    runner.prepare(1)
    assert int(runner.model.optimizer.iterations.numpy()) == 0
    assert float(runner.model.optimizer.learning_rate.numpy()) == pytest.approx(PROTOCOL.lr)


def test_early_stopping_watches_an_inner_split_never_the_held_out_fold():
    ds = tiny(n_per_class=20)
    p = Protocol(folds=2, epochs=3, batch_size=8, lr=1e-2, early_stopping=1,
                 inner_validation=0.25)
    fold_of = make_splits(ds.y, p)
    facts, _, _ = ran(FoldRunner(spec(), ds, p).run(0, fold_of))
    assert facts["history_validation"].startswith("inner split")
    assert facts["train_samples"] == int((fold_of != 0).sum() * 0.75)


def test_wrong_output_shape_is_a_plugin_error():
    import keras

    def bad(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(num_classes + 1)(keras.layers.Flatten()(inputs)))

    ds = tiny()
    with pytest.raises(PluginError, match=r"output shape \(None, 4\), expected \(None, 3\)"):
        FoldRunner(spec(bad, "bad"), ds, PROTOCOL).run(0, make_splits(ds.y, PROTOCOL))


def test_a_build_that_raises_is_a_plugin_error():
    def broken(input_shape, num_classes):
        raise ValueError("no such layer")

    ds = tiny()
    with pytest.raises(PluginError, match="model 'broken' .*build failed: ValueError"):
        FoldRunner(spec(broken, "broken"), ds, PROTOCOL).run(0, make_splits(ds.y, PROTOCOL))


def diverging(input_shape, num_classes):
    """Trains normally for a few steps, then its logits blow up to infinity."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(num_classes, kernel_initializer="ones")(x)
    x = keras.layers.Lambda(lambda t: t * 1e38)(x)
    return keras.Model(inputs, keras.layers.Activation("softmax")(x))


def test_divergence_is_recorded_as_failed_with_the_reason():
    ds = tiny()
    facts, _, _ = ran(FoldRunner(spec(diverging, "diverging"), ds, PROTOCOL).run(
        0, make_splits(ds.y, PROTOCOL)))
    assert facts["status"] == "diverged"
    assert facts["reason"] == "training loss became nan in epoch 1"
    assert facts["epochs_run"] == 1  # stopped after the epoch whose loss was not finite


def test_no_guard_makes_keras_wait_for_every_batch():
    """zoo's guards (a non-finite loss, Ctrl-C) look at an epoch's end and a batch's beginning,
    not at a batch's end, so on JAX and PyTorch Keras goes on dispatching batches instead of
    waiting for every loss (TensorFlow's Keras calls callbacks in line whatever they are)."""
    import keras

    from zoo.grid.train import fit_guards

    guards = fit_guards(keras, seed=1)
    for hook in ("on_batch_end", "on_train_batch_end"):
        assert all(getattr(type(g), hook) is getattr(keras.callbacks.Callback, hook)
                   for g in guards)
    off_tensorflow = keras.config.backend() != "tensorflow"
    assert keras.callbacks.CallbackList(guards)._async_train is off_tensorflow
    # Keras' own TerminateOnNaN looks at every batch's end: with it Keras would wait
    waiting = keras.callbacks.CallbackList([*guards, keras.callbacks.TerminateOnNaN()])
    assert waiting._async_train is False


@pytest.mark.slow
def test_understanding_facts_gallery_and_saliency():
    from zoo_plugins import cnn, vit

    ds = tiny(n_per_class=10)
    p = Protocol(folds=2, epochs=1, batch_size=8, lr=1e-2)
    fold_of = make_splits(ds.y, p)
    for build, method in ((cnn.build, "grad_cam"), (vit.build, "attention")):
        s = zoo.ModelSpec(name=method, build=build, explain=(method.replace("_", "-"),))
        runner = FoldRunner(s, ds, p)
        facts, arrays, _ = ran(runner.run(0, fold_of))
        held = np.flatnonzero(fold_of == 0)
        pred = arrays["y_prob"].argmax(1)
        wrong = held[pred != ds.y[held]]
        assert set(arrays["wrong_index"].tolist()) <= set(wrong.tolist())
        assert len(arrays["wrong_index"]) == min(8, len(wrong))
        conf = arrays["wrong_confidence"]
        assert (np.diff(conf) <= 0).all()
        assert arrays["wrong_images"].dtype == np.uint8
        # one held-out image per class, with a map at the input's resolution, in [0, 1]
        assert ds.y[arrays["explain_index"]].tolist() == [0, 1, 2]
        maps = arrays["explain_" + method]
        assert maps.shape == (3, 8, 8) and maps.min() >= 0 and maps.max() <= 1
        assert facts["explain_errors"] == {}
        # later folds keep the gallery but skip the saliency maps
        _, later, _ = ran(runner.run(1, fold_of))
        assert "wrong_index" in later and "explain_index" not in later


def test_an_unknown_explanation_is_reported_not_fatal():
    ds = tiny()
    s = zoo.ModelSpec(name="dense", build=tiny_dense, explain=("grad-cam", "magic"))
    facts, _, _ = ran(FoldRunner(s, ds, PROTOCOL).run(0, make_splits(ds.y, PROTOCOL)))
    assert facts["status"] == "ok"
    assert "Grad-CAM is not available for this model: it has no spatial feature map" in \
        facts["explain_errors"]["grad-cam"]
    assert facts["explain_errors"]["magic"].startswith("unknown explanation 'magic'")


@pytest.mark.slow
def test_memory_is_not_kept_from_fold_to_fold():
    import gc

    import tensorflow as tf

    def live_variables():
        gc.collect()
        return sum(isinstance(o, tf.Variable) for o in gc.get_objects())

    ds = tiny()
    p = Protocol(folds=6, epochs=1, batch_size=8, lr=1e-2)
    fold_of = make_splits(ds.y, p)
    runner = FoldRunner(spec(), ds, p)
    counts = []
    for fold in range(p.folds):
        runner.run(fold, fold_of)
        counts.append(live_variables())
    assert counts[1] == counts[-1], counts


def test_a_fold_records_what_its_model_costs():
    ds = tiny()
    protocol = Protocol(folds=2, epochs=1, batch_size=8)
    facts, _, model = ran(FoldRunner(spec(), ds, protocol).run(
        0, make_splits(ds.y, protocol)))
    from zoo.grid.modelio import model_bytes

    assert facts["size_bytes"] == len(model_bytes(model))
    q1, q3 = facts["latency_quartiles_ms"]
    assert 0 < q1 <= facts["latency_ms"] <= q3
    assert facts["peak_memory_bytes"] is None   # not measurable on a CPU


def test_a_final_fit_stops_at_a_non_finite_loss():
    ds = tiny()
    trained = FoldRunner(spec(diverging, "diverging"), ds, PROTOCOL).fit_final()
    assert trained.facts.status == "diverged" and trained.model is None
    assert trained.facts.epochs_run == 1   # stopped after that epoch, as a fold is
    assert "not finite" in trained.facts.reason


@pytest.mark.parametrize("kind", ["fold", "trial", "final"])
def test_ctrl_c_stops_every_kind_of_fit_at_a_batch_end_and_raises_outside_keras(kind):
    """The final fit once ignored Ctrl-C until it ended (and a second Ctrl-C raised inside
    Keras' fit): every kind of cell now goes through the one fit with the same guards."""
    from zoo.grid import interrupt

    ds = tiny()
    protocol = Protocol(folds=3, epochs=5, batch_size=8, lr=1e-2, seed=1)
    fold_of = make_splits(ds.y, protocol)
    epochs = []
    runner = FoldRunner(spec(), ds, protocol, on_epoch=lambda *a: epochs.append(a[1]))
    call = {"fold": lambda k: runner.run(0, fold_of, key=k),
            "trial": lambda k: runner.trial(0, fold_of, 0, key=k),
            "final": lambda k: runner.fit_final(key=k)}[kind]
    interrupt.CTRL_C.set()    # what the SIGINT handler does while the fit runs
    try:
        with pytest.raises(KeyboardInterrupt):
            call(("tiny", "dense", 0, 1.0, -1))
    finally:
        interrupt.CTRL_C.clear()
    assert len(epochs) <= 1   # stopped after the next batch, not after 5 epochs


def fake_and_real(kind):
    """The facts of one cell of ``kind`` from the real fold runner and from the fakes."""
    from zoo.grid.cells import Prepared
    from zoo.grid.fakes import FakeRunnerFactory

    ds = tiny()
    fold_of = make_splits(ds.y, PROTOCOL)
    real = FoldRunner(spec(), ds, PROTOCOL)
    fake = FakeRunnerFactory()(spec(), Prepared(ds, PROTOCOL, fold_of))
    calls = {"fold": lambda r: r.run(0, fold_of), "curve": lambda r: r.run(0, fold_of, 0.5),
             "trial": lambda r: r.trial(0, fold_of, 0, rungs=((1, None),)),
             "final": lambda r: r.fit_final()}
    return calls[kind](real).facts, calls[kind](fake).facts


@pytest.mark.parametrize("kind", ["fold", "curve", "trial", "final"])
def test_the_fake_runners_write_the_fields_the_real_one_writes(kind):
    """The contract behind every test that runs on fake trainers: the facts they write have
    the fields, and the types, of a real run's (a renamed key fails here, not in
    `zoo report` on a real run)."""
    real, fake = fake_and_real(kind)
    assert type(real) is type(fake)
    real, fake = real.to_dict(), fake.to_dict()
    assert sorted(real) == sorted(fake)
    assert {k: type(v).__name__ for k, v in real.items()} == \
        {k: type(v).__name__ for k, v in fake.items()}
