"""One fold: inside the strategy scope, build (once) and reset the model, fit on k-1 folds,
predict the held-out fold and the official test split. Returns facts, computes no metric."""
from __future__ import annotations

import contextlib
import functools
import math
import platform
import signal
import threading
import time

import numpy as np

from zoo.augment import augmenter
from zoo.distribute import describe, import_tf
from zoo.errors import PluginError
from zoo.explain import explain


def environment() -> dict:
    tf = import_tf()
    import keras
    import sklearn

    import zoo

    return {"zoo": zoo.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "system": platform.system(), "processor": platform.processor()}


def fold_seed(protocol, fold: int) -> int:
    return protocol.seed * 1000 + fold


def _tf_dataset(x, y, batch, seed=None, drop_remainder=False, augment=None):
    """Batches of (x, y), shuffled with ``seed`` (each epoch anew) when given; ``augment``, a
    Keras layer of random transformations, applied to each training batch."""
    tf = import_tf()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch, drop_remainder=drop_remainder)
    if augment is not None:
        # one batch after the other: the random layers draw from a seeded state that each
        # call advances, so parallel calls would hand the draws to batches in any order
        # (prefetch still overlaps the augmentation with training)
        ds = ds.map(lambda images, labels: (augment(images, training=True), labels))
    return ds.prefetch(tf.data.AUTOTUNE)


def nested_subset(positions: np.ndarray, y: np.ndarray, size: float, seed: int) -> np.ndarray:
    """The training images of a learning-curve point: ``size`` of ``positions`` (indices into
    ``y``), stratified (that share of every class, at least one image each), drawn so that a
    smaller size's subset lies inside every larger one's (one random order per class, cut at
    different lengths). Depends only on the positions, labels and seed: the same for every
    model."""
    positions = np.asarray(positions)
    if size >= 1:
        return positions
    rng = np.random.default_rng(seed)
    labels = y[positions]
    keep = []
    for c in np.unique(labels):
        members = positions[labels == c]
        order = rng.permutation(len(members))
        keep.append(members[order[:max(1, int(round(size * len(members))))]])
    return np.sort(np.concatenate(keep))


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


def _schedule(protocol, steps_per_epoch: int):
    """A callback that sets the learning rate before every batch (the optimizer's rate is a
    variable: the compiled train step is reused; a Keras schedule object would bake the
    number of steps into it, and that differs between folds and training sizes)."""
    import keras

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
    import keras
    from keras import ops

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
    import keras

    if protocol.weight_decay:
        return keras.optimizers.AdamW(learning_rate=protocol.lr,
                                      weight_decay=protocol.weight_decay)
    return keras.optimizers.Adam(learning_rate=protocol.lr)


def inner_split(y: np.ndarray, fraction: float, seed: int):
    """Positions (into y) of an inner train / validation split, stratified when possible."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    try:
        return train_test_split(positions, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class too small to stratify
        return train_test_split(positions, test_size=fraction, random_state=seed)


class FoldRunner:
    """Trains one model on one dataset, fold after fold.

    The model is built and compiled once, inside the strategy scope; each later fold copies
    in the variables of a freshly built model (seeded by the fold) and zeroes the optimizer
    state. That gives every fold the same start as a fresh model would, while the traced
    train step is reused (compiling again costs 15-25 s for the ViT on a CPU).
    """

    def __init__(self, spec, dataset, protocol, strategy=None, verbose: int = 0):
        tf = import_tf()
        self.spec, self.dataset, self.protocol = spec, dataset, protocol
        self.strategy = strategy or tf.distribute.get_strategy()
        self.verbose = verbose
        self.model = None
        self._predict_traced = False
        self.replicas = int(self.strategy.num_replicas_in_sync)

    #: XLA compiles a train step in 15-40 s on a 2-core CPU; below this many training steps
    #: per fold that costs more than it saves (about 30% of each step for the ViT)
    XLA_MIN_STEPS = 2000

    def use_xla(self) -> bool:
        """XLA for a model whose spec asks for it, on one device, when a fold trains long
        enough to pay back the compile time."""
        p = self.protocol
        n = len(self.dataset.y) * (p.folds - 1) / p.folds
        steps = p.epochs * math.ceil(n / (p.batch_size * self.replicas))
        return bool(self.spec.jit_compile and self.replicas == 1 and steps >= self.XLA_MIN_STEPS)

    # -- model ---------------------------------------------------------------------------
    def _build(self, seed: int):
        import keras

        keras.utils.set_random_seed(seed)
        with self.strategy.scope():
            return build_checked(self.spec, self.dataset.input_shape, self.dataset.num_classes)

    def prepare(self, fold: int):
        """A model in its fold-start state: fresh seeded weights, zeroed optimizer."""
        import keras

        seed = fold_seed(self.protocol, fold)
        if self.model is None:
            self.model = self._build(seed)
            with self.strategy.scope():
                self.model.compile(
                    optimizer=optimizer_for(self.protocol), loss=loss_for(self.protocol),
                    metrics=["accuracy"], jit_compile=self.use_xla())
            return self.model
        fresh = self._build(seed)
        with self.strategy.scope():
            for target, source in zip(self.model.variables, fresh.variables, strict=True):
                target.assign(source)
            optimizer = self.model.optimizer
            for v in optimizer.variables:
                if v is getattr(optimizer, "_learning_rate", None):
                    v.assign(self.protocol.lr)
                else:
                    v.assign(np.zeros(v.shape, dtype=v.dtype.name if hasattr(v.dtype, "name")
                                      else v.dtype))
        del fresh
        keras.utils.set_random_seed(seed)
        return self.model

    def _training(self, idx, seed: int):
        """The training batches of the images ``idx`` (None: all of them), shuffled and
        augmented with ``seed``, and the learning-rate callback for their number of steps.
        Several replicas: the ragged last batch is dropped so that every replica gets an even
        share (synchronized BatchNorm aborts on an uneven batch under MirroredStrategy)."""
        p, ds = self.protocol, self.dataset
        x, y = (ds.x, ds.y) if idx is None else (ds.x[idx], ds.y[idx])
        batch = p.batch_size * self.replicas
        drop = self.replicas > 1 and len(y) >= batch
        data = _tf_dataset(x, y, batch, seed=seed, drop_remainder=drop,
                           augment=augmenter(ds.input_shape, p.augment, seed))
        steps = len(y) // batch if drop else math.ceil(len(y) / batch)
        return data, _schedule(p, steps)

    # -- one fold ------------------------------------------------------------------------
    def run(self, fold: int, fold_of: np.ndarray, size: float = 1.0):
        """Train on every fold but ``fold`` (on ``size`` of it, a learning-curve point, when
        below 1); return (facts, arrays, model) for the store: the trained model only when its
        predictions are usable (None when it diverged)."""
        import keras

        p, ds = self.protocol, self.dataset
        seed = fold_seed(p, fold)
        train_idx = nested_subset(np.flatnonzero(fold_of != fold), ds.y, size, seed)
        held_idx = np.flatnonzero(fold_of == fold)
        model = self.prepare(fold)
        batch = p.batch_size * self.replicas

        fit_idx = train_idx
        if p.early_stopping:
            inner_fit, inner_val = inner_split(ds.y[train_idx], p.inner_validation, seed)
            fit_idx, val_idx = train_idx[inner_fit], train_idx[inner_val]
            validation = "inner split of the training folds"
        else:
            val_idx = held_idx
            validation = "held-out fold (monitoring only)"
        train_data, schedule = self._training(fit_idx, seed)
        val_data = _tf_dataset(ds.x[val_idx], ds.y[val_idx], batch)
        callbacks = [keras.callbacks.TerminateOnNaN(), _stop_on_ctrl_c(), schedule]
        if p.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=p.early_stopping, restore_best_weights=True))

        start = time.perf_counter()
        history = model.fit(train_data, validation_data=val_data, epochs=p.epochs,
                            callbacks=callbacks, verbose=self.verbose, shuffle=False)
        fit_seconds = time.perf_counter() - start
        if CTRL_C.is_set():  # stopped at a batch end: this fold is not finished, keep nothing
            raise KeyboardInterrupt
        hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}

        held_data = _tf_dataset(ds.x[held_idx], ds.y[held_idx], batch)
        if not self._predict_traced:  # time predictions, not the tracing of the first call
            model.predict(held_data.take(1), verbose=0)
            self._predict_traced = True
        start = time.perf_counter()
        y_prob = model.predict(held_data, verbose=0)
        predict_seconds = time.perf_counter() - start
        arrays = {"held_out_index": held_idx.astype(np.int32),
                  "y_true": ds.y[held_idx].astype(np.int16),
                  "y_prob": np.asarray(y_prob, dtype=np.float32)}
        if ds.has_test:
            arrays["test_prob"] = np.asarray(
                model.predict(_tf_dataset(ds.x_test, ds.y_test, batch), verbose=0),
                dtype=np.float32)

        status, reason = "ok", ""
        bad_epoch = next((i for i, v in enumerate(hist.get("loss", [])) if not math.isfinite(v)),
                         None)
        if bad_epoch is not None:
            status = "diverged"
            reason = f"training loss became {hist['loss'][bad_epoch]} in epoch {bad_epoch + 1}"
        elif not all(np.isfinite(a).all() for k, a in arrays.items() if k.endswith("prob")):
            status, reason = "diverged", "the model predicted NaN or infinite probabilities"

        if size >= 1:  # the galleries and maps are of the whole-fold models
            arrays.update(self._understanding(model, held_idx, arrays["y_prob"], fold))
        else:
            self._explain_errors = {}

        facts = {
            "dataset": ds.name, "model": self.spec.name, "fold": fold, "folds": p.folds,
            "status": status, "reason": reason, "seed": seed,
            "history": hist, "history_validation": validation,
            "epochs_run": len(hist.get("loss", [])), "epochs": p.epochs, "lr": p.lr,
            "batch_size": p.batch_size, "global_batch_size": batch,
            "train_samples": int(len(fit_idx)), "held_out_samples": int(len(held_idx)),
            "train_size": float(size),
            "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "predict_images_per_second": len(held_idx) / predict_seconds if predict_seconds else 0,
            "params": int(model.count_params()), "xla": bool(model.jit_compile),
            "plugin": self.spec.plugin, "plugin_version": self.spec.version,
            "options": dict(self.spec.options),
            "devices": describe(self.strategy),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model_file": "",
            "explain_errors": self._explain_errors,
        }
        return facts, arrays, model if status == "ok" else None

    #: how many confidently wrong held-out images a fold keeps for the report's gallery
    GALLERY = 8

    def _understanding(self, model, held_idx, y_prob, fold) -> dict:
        """Facts for the report's 'what the models look at': the most confidently wrong
        held-out images (every fold), and saliency maps for one held-out image per class
        (first fold only), as the model's spec declares."""
        ds = self.dataset
        self._explain_errors = {}
        out = {}
        y_true = ds.y[held_idx]
        if not np.isfinite(y_prob).all():
            return out
        pred = y_prob.argmax(axis=1)
        wrong = np.flatnonzero(pred != y_true)
        wrong = wrong[np.argsort(-y_prob[wrong, pred[wrong]], kind="stable")][:self.GALLERY]
        out["wrong_index"] = held_idx[wrong].astype(np.int32)
        out["wrong_pred"] = pred[wrong].astype(np.int16)
        out["wrong_confidence"] = y_prob[wrong, pred[wrong]].astype(np.float32)
        out["wrong_images"] = to_uint8(ds.x[held_idx[wrong]])
        if fold == 0 and self.spec.explain:
            first = [held_idx[y_true == c][0] for c in range(ds.num_classes)
                     if (y_true == c).any()]
            maps, self._explain_errors = explain(self.spec, model, ds.x[first])
            out["explain_index"] = np.asarray(first, dtype=np.int32)
            out["explain_images"] = to_uint8(ds.x[first])
            for method, m in maps.items():
                out["explain_" + method.replace("-", "_")] = m
        return out

    def fit_final(self):
        """After the folds: one model trained on all the training data under the same
        protocol. Returns (facts, model), the model None when it diverged."""
        p, ds = self.protocol, self.dataset
        model = self.prepare(p.folds)  # a seed no fold uses
        data, schedule = self._training(None, fold_seed(p, p.folds))
        start = time.perf_counter()
        history = model.fit(data, epochs=p.epochs, verbose=self.verbose, shuffle=False,
                            callbacks=[schedule])
        hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        ok = all(math.isfinite(v) for v in hist.get("loss", [1.0]))
        return ({"model": self.spec.name, "status": "ok" if ok else "diverged",
                 "history": hist, "fit_seconds": time.perf_counter() - start,
                 "model_file": "", "train_samples": int(len(ds.y))}, model if ok else None)


#: set by :func:`ctrl_c_stops_at_a_batch_end` when the user presses Ctrl-C
CTRL_C = threading.Event()


def _stop_on_ctrl_c():
    import keras

    class StopOnCtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if CTRL_C.is_set():
                self.model.stop_training = True

    return StopOnCtrlC()


@contextlib.contextmanager
def ctrl_c_stops_at_a_batch_end():
    """Within the block, Ctrl-C stops training at the end of the current batch, and the fold
    raises KeyboardInterrupt there, outside TensorFlow (a KeyboardInterrupt raised inside an
    interrupted fit corrupted the heap now and then: free(): invalid next size). Yields a
    dict whose "interrupted" says, after the block, whether Ctrl-C was pressed in it. A
    second Ctrl-C interrupts at once, as usual. Only in the main thread (signals arrive
    there); elsewhere Ctrl-C behaves as usual."""
    state = {"interrupted": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    CTRL_C.clear()

    def handler(signum, frame):
        if CTRL_C.is_set():
            raise KeyboardInterrupt
        CTRL_C.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
        state["interrupted"] = CTRL_C.is_set()
        CTRL_C.clear()


def build_checked(spec, input_shape, num_classes: int):
    """``spec.build(input_shape, num_classes)``, checked: a keras.Model whose output is
    (None, num_classes). A plugin's mistake raises PluginError naming model and plugin."""
    import keras

    who = f"model '{spec.name}' (plugin {spec.plugin})"
    try:
        model = spec.build(tuple(input_shape), int(num_classes))
    except Exception as exc:
        raise PluginError(f"{who}: build failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise PluginError(f"{who}: build() returned {type(model).__name__}, expected a "
                          "keras.Model")
    shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    if shape is None or shape[1:] != (num_classes,):
        raise PluginError(f"{who}: output shape {model.output_shape}, expected (None, "
                          f"{num_classes}) class probabilities")
    return model


def check_models(specs, shapes) -> dict:
    """Build every model once for every (input shape, number of classes) in ``shapes`` and
    check its output, before any fold trains: a plugin's mistake costs seconds, not the
    hours the other models would train first. Returns {(model, shape): error text}."""
    import keras

    import_tf()
    errors = {}
    for spec in specs:
        for shape in shapes:
            try:
                build_checked(spec, *shape)
            except PluginError as exc:
                errors[spec.name, shape] = str(exc)
            finally:
                keras.backend.clear_session()
    return errors


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x) * 255), 0, 255).astype(np.uint8)


def model_bytes(model) -> bytes:
    """A model in the Keras format, as bytes (what a fold cell hands back to the store)."""
    import os
    import tempfile

    from zoo.errors import WriteError

    try:
        fd, tmp = tempfile.mkstemp(suffix=".keras")
        os.close(fd)
    except OSError as exc:
        raise WriteError(tempfile.gettempdir(), exc.strerror or str(exc)) from None
    try:
        model.save(tmp)
        with open(tmp, "rb") as f:
            return f.read()
    except OSError as exc:  # the worker's temporary folder is full
        raise WriteError(tmp, exc.strerror or str(exc)) from None
    finally:
        os.unlink(tmp)


def save_model(model, path) -> None:
    """Keep a model in the Keras format, atomically (a temporary file, then a rename)."""
    import os
    import tempfile
    from pathlib import Path

    from zoo.errors import WriteError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem, suffix=".keras")
        os.close(fd)
    except OSError as exc:
        raise WriteError(path.parent, exc.strerror or str(exc)) from None
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteError(path, exc.strerror or str(exc)) from None
        raise


def load_model(path, custom_objects=None):
    """Load a kept model with ``safe_mode=True``: no arbitrary code (lambdas) is run."""
    import_tf()  # TensorFlow starts quietly, before Keras imports it
    import keras

    return keras.saving.load_model(path, custom_objects=custom_objects, safe_mode=True,
                                   compile=False)
