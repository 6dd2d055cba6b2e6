"""The shared training recipe: learning-rate schedule, weight decay, label smoothing and
augmentation in the input pipeline, the same for every model; XLA where it pays."""
import math

import numpy as np
import pytest

import zoo
from conftest import TinyPlugin, tiny_dense
from zoo.grid.augment import augmenter
from zoo.plugins import get_registry
from zoo.grid.protocol import Protocol, make_splits
from zoo.grid.recipe import learning_rate_at, loss_for, optimizer_for
from zoo.grid.batches import batches
from zoo.grid.train import FoldRunner


def test_warm_up_then_cosine_decay():
    lr = [learning_rate_at(s, 1.0, 100, 10, "cosine") for s in range(100)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert lr[10] == pytest.approx(1.0)                     # the peak right after warm-up
    assert lr[55] == pytest.approx(0.5, abs=0.01)           # half-way through the decay
    assert lr[99] < 0.001 and all(a >= b for a, b in zip(lr[10:], lr[11:], strict=False))
    assert [learning_rate_at(s, 0.3, 50, 0, "constant") for s in (0, 49)] == [0.3, 0.3]
    assert learning_rate_at(2, 0.3, 50, 5, "constant") == pytest.approx(0.18)


def _fold(protocol, build=tiny_dense, name="dense", **kw):
    ds = TinyPlugin(n_per_class=20).load()
    runner = FoldRunner(zoo.ModelSpec(name=name, build=build, **kw), ds, protocol)
    trained = runner.run(0, make_splits(ds.y, protocol))
    facts, arrays = trained.facts.to_dict(), trained.arrays
    return runner, facts, arrays


def test_the_schedule_reaches_the_optimizer_during_fit():
    runner, facts, _ = _fold(Protocol(folds=2, epochs=3, batch_size=8, lr=0.01,
                                      schedule="cosine", warmup=1))
    # 30 training images, batch 8: 4 steps an epoch, 12 in all; the last is step 11
    assert float(runner.model.optimizer.learning_rate.numpy()) == pytest.approx(
        learning_rate_at(11, 0.01, 12, 4, "cosine"))
    assert facts["status"] == "ok"
    runner.prepare(1)   # the next fold starts at the base rate again
    assert float(runner.model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_weight_decay_and_label_smoothing():
    import keras

    assert type(optimizer_for(Protocol())).__name__ == "Adam"
    adamw = optimizer_for(Protocol(weight_decay=0.05))
    assert type(adamw).__name__ == "AdamW" and adamw.weight_decay == pytest.approx(0.05)
    assert loss_for(Protocol()) == "sparse_categorical_crossentropy"
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], dtype="float32")
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(
        np.eye(3, dtype="float32")[y], p)
    got = loss_for(Protocol(label_smoothing=0.1))(y, p)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    _, facts, _ = _fold(Protocol(folds=2, epochs=1, batch_size=8, label_smoothing=0.1,
                                 weight_decay=0.01))
    assert facts["status"] == "ok" and np.isfinite(facts["history"]["loss"]).all()


def test_augmentation_is_seeded_new_each_epoch_and_for_training_batches_only():
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
    y = np.zeros(32, dtype="int64")

    def epochs(seed, n=2):
        ds = batches(x, y, None, 16, augment=augmenter((28, 28, 1), 1.0, seed), seed=seed)
        out = []
        for _ in range(n):
            out.append(np.concatenate([ds[i][0] for i in range(len(ds))]))
            ds.on_epoch_end()
        return out

    first, second = epochs(5)
    assert not np.allclose(first, second)                   # new transformations each epoch
    np.testing.assert_array_equal(first, epochs(5, 1)[0])   # the same for the same fold seed
    assert not np.allclose(first, epochs(6, 1)[0])
    assert augmenter((28, 28, 1), 0.0, 1) is None
    plain = batches(x, y, None, 16)                          # held-out / test batches
    np.testing.assert_array_equal(np.concatenate([plain[i][0] for i in range(len(plain))]), x)


def _centres(images):
    """The centre of brightness of each image: (row, column)."""
    rows, cols = np.indices(images.shape[1:3])
    mass = images[..., 0].sum(axis=(1, 2))
    return np.stack([(images[..., 0] * rows).sum(axis=(1, 2)) / mass,
                     (images[..., 0] * cols).sum(axis=(1, 2)) / mass], axis=1)


def test_a_shift_moves_each_image_down_and_right_by_two_draws():
    """A shift's vertical and horizontal parts are two random numbers. Keras' layers given a
    plain integer seed draw the same number for both, which moved every image along the
    diagonal only; zoo's draws follow one another from the batch's seed."""
    from zoo.grid.batches import _Draws, augmented

    x = np.zeros((64, 28, 28, 1), dtype=np.float32)
    x[:, 12:16, 12:16] = 1.0                                # a square in the middle
    shift = augmenter((28, 28, 1), 1.0, 3, ("shift",))
    moved = _centres(augmented(shift, x, 11)) - _centres(x)
    down, right = moved[:, 0], moved[:, 1]
    assert down.std() > 0.5 and right.std() > 0.5           # both directions move
    assert np.mean(np.abs(down - right) > 0.1) > 0.8        # not along the diagonal
    assert abs(np.corrcoef(down, right)[0, 1]) < 0.6        # independent draws
    np.testing.assert_array_equal(augmented(shift, x, 11), augmented(shift, x, 11))
    draws = _Draws.of(shift)                                # on TensorFlow a tf.function:
    seeds = np.array([11], dtype=np.int64)                  # the same as op by op
    np.testing.assert_allclose(np.asarray(draws(x, seeds)), np.asarray(draws._eager(x, seeds)),
                               atol=1e-6)


def test_only_runs_that_shift_images_changed_identity_with_the_draws():
    """Runs augmented before the shift drew two numbers never resume onto folds augmented
    now; runs without augmentation, or without a shift, keep their ids (their folds are the
    same as ever)."""
    from keras import ops

    from zoo.grid.batches import augmented
    from zoo.grid.plan import AUGMENT_DRAWS, _draws

    assert _draws(Protocol(), ("rotate", "shift", "zoom")) == f"|draws={AUGMENT_DRAWS}"
    assert _draws(Protocol(augment=0.0), ("rotate", "shift", "zoom")) == ""
    assert _draws(Protocol(), ("rotate", "zoom")) == ""

    def with_integer_seeds(augment, x, seed):   # how every layer drew before
        for j, layer in enumerate(augment.layers):
            t = layer.get_random_transformation(x, training=True, seed=seed + j * 7919)
            x = layer.transform_images(x, t, training=True)
        return ops.convert_to_numpy(x)

    x = np.random.default_rng(1).random((16, 28, 28, 1)).astype(np.float32)
    kept = augmenter((28, 28, 1), 1.0, 3, ("rotate", "zoom"))      # one number a layer
    np.testing.assert_allclose(augmented(kept, x, 5), with_integer_seeds(kept, x, 5), atol=1e-6)
    changed = augmenter((28, 28, 1), 1.0, 3, ("shift",))
    assert not np.allclose(augmented(changed, x, 5), with_integer_seeds(changed, x, 5))


@pytest.mark.parametrize("name", ["cnn", "vit"])
def test_built_in_models_hold_no_augmentation(name):
    import keras

    model = get_registry().models[name].build((28, 28, 1), 24)
    random_layers = [layer.name for layer in model._flatten_layers()
                     if type(layer).__name__.startswith("Random")]
    assert random_layers == []
    keras.backend.clear_session()


def test_xla_only_where_the_spec_asks_and_a_fold_is_long_enough():
    """TensorFlow's rule; JAX and PyTorch leave it to Keras ("auto": JAX compiles)."""
    import keras

    ds = TinyPlugin(n_per_class=20).load()
    vit = get_registry().models["vit"]
    assert vit.jit_compile and not get_registry().models["cnn"].jit_compile
    if keras.backend.backend() != "tensorflow":
        assert FoldRunner(vit, ds, Protocol(folds=2, epochs=2, batch_size=8)).use_xla() == "auto"
        return
    short = FoldRunner(vit, ds, Protocol(folds=2, epochs=2, batch_size=8))
    assert not short.use_xla()
    steps = math.ceil(30 / 8)
    long = FoldRunner(vit, ds, Protocol(folds=2, epochs=math.ceil(2000 / steps), batch_size=8))
    assert long.use_xla()
    dense = zoo.ModelSpec(name="dense", build=tiny_dense)
    assert not FoldRunner(dense, ds, Protocol(folds=2, epochs=1000, batch_size=8)).use_xla()


def test_an_xla_compiled_fold_trains(monkeypatch):
    """Compiled as the backend compiles: XLA on TensorFlow and JAX, eagerly on PyTorch."""
    import keras

    monkeypatch.setattr(FoldRunner, "XLA_MIN_STEPS", 1)
    _, facts, arrays = _fold(Protocol(folds=2, epochs=1, batch_size=8), jit_compile=True)
    assert facts["xla"] is (keras.backend.backend() != "torch") and facts["status"] == "ok"
    assert np.allclose(arrays["y_prob"].sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_the_vit_conv_stem_keeps_the_tokens_and_trains():
    import keras

    vit = get_registry().models["vit"]
    plain, conv = vit.build((28, 28, 1), 24), vit.build((28, 28, 1), 24, stem="conv")
    assert plain.get_layer("cls_pos").output.shape == conv.get_layer("cls_pos").output.shape
    assert [layer.name for layer in conv.layers if layer.name.startswith("stem_")] == [
        "stem_conv1", "stem_conv2"]
    with pytest.raises(zoo.ConfigError, match="vit: stem: expected 'patch' or 'conv'"):
        vit.build((28, 28, 1), 24, stem="resnet")
    keras.backend.clear_session()
    _, facts, _ = _fold(Protocol(folds=2, epochs=1, batch_size=8),
                        build=lambda shape, n: vit.build(shape, n, stem="conv"), name="vit")
    assert facts["status"] == "ok"
