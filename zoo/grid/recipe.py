"""The training recipe every model shares: optimizer, loss, learning-rate schedule.

All of it comes from protocol settings (zoo.grid.protocol), so a recipe is the same for every model
of a run. The learning rate is set before every batch by a callback rather than a Keras
schedule object: the optimizer's rate is a variable, so one compiled train step serves every
fold and training size (a schedule object would bake the number of steps into it).
"""
from __future__ import annotations

import functools
import math


def learning_rate_at(step: int, base: float, total_steps: int, warmup_steps: int = 0,
                     schedule: str = "constant") -> float:
    """The learning rate for training step ``step`` (0-based) of ``total_steps``: a linear
    warm-up to ``base`` over ``warmup_steps``, then ``base`` (constant) or a cosine decay from
    ``base`` to 0 at the last step (cosine)."""
    if warmup_steps and step < warmup_steps:
        return base * (step + 1) / warmup_steps
    if schedule == "constant":
        return base
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def schedule_callback(protocol, steps_per_epoch: int):
    """A Keras callback that sets the optimizer's learning rate before every batch."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    total = protocol.epochs * steps_per_epoch
    warmup = protocol.warmup * steps_per_epoch

    class Schedule(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate = learning_rate_at(
                self.step, protocol.lr, total, warmup, protocol.schedule)
            self.step += 1

    return Schedule()


def loss_for(protocol):
    """Sparse categorical cross-entropy, with the protocol's label smoothing."""
    if not protocol.label_smoothing:
        return "sparse_categorical_crossentropy"
    return _smoothed()(protocol.label_smoothing)


@functools.cache
def _smoothed():
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it
    from keras import ops  # lazy: Keras starts its backend (4 s); only training and kept models need it

    @keras.saving.register_keras_serializable(package="zoo")
    class SmoothedSparseCrossentropy(keras.losses.Loss):
        """Cross-entropy of integer labels against probabilities, the target smoothed: the
        true class gets 1 - s + s/C, every other class s/C (as CategoricalCrossentropy's
        label_smoothing, which sparse labels lack)."""

        def __init__(self, smoothing=0.1, name="smoothed_sparse_crossentropy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.smoothing = float(smoothing)

        def call(self, y_true, y_pred):
            classes = ops.shape(y_pred)[-1]
            target = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), classes,
                                 dtype=y_pred.dtype)
            target = target * (1 - self.smoothing) + self.smoothing / classes
            eps = keras.backend.epsilon()
            return -ops.sum(target * ops.log(ops.clip(y_pred, eps, 1 - eps)), axis=-1)

        def get_config(self):
            return {**super().get_config(), "smoothing": self.smoothing}

    return SmoothedSparseCrossentropy


def optimizer_for(protocol):
    """Adam at the protocol's learning rate; AdamW (decoupled weight decay) when it sets one."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    if protocol.weight_decay:
        return keras.optimizers.AdamW(learning_rate=protocol.lr,
                                      weight_decay=protocol.weight_decay)
    return keras.optimizers.Adam(learning_rate=protocol.lr)
