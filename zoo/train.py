"""One fold: inside the strategy scope, build (once) and reset the model, fit on k-1 folds,
predict the held-out fold and the official test split. Returns facts, computes no metric."""
from __future__ import annotations

import contextlib
import math
import platform
import signal
import threading
import time

import numpy as np

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


def _tf_dataset(x, y, batch, seed=None, drop_remainder=False):
    tf = import_tf()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


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
                    optimizer=keras.optimizers.Adam(learning_rate=self.protocol.lr),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                    jit_compile=bool(self.spec.jit_compile and self.replicas == 1))
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

    # -- one fold ------------------------------------------------------------------------
    def run(self, fold: int, fold_of: np.ndarray):
        """Train on every fold but ``fold``; return (facts, arrays, model) for the store:
        the trained model only when its predictions are usable (None when it diverged)."""
        import keras

        p, ds = self.protocol, self.dataset
        seed = fold_seed(p, fold)
        train_idx = np.flatnonzero(fold_of != fold)
        held_idx = np.flatnonzero(fold_of == fold)
        model = self.prepare(fold)
        batch = p.batch_size * self.replicas
        # Several replicas: drop the ragged last batch so every replica gets an even share
        # (synchronized BatchNorm aborts on an uneven batch under MirroredStrategy).
        drop = self.replicas > 1

        fit_idx = train_idx
        if p.early_stopping:
            inner_fit, inner_val = inner_split(ds.y[train_idx], p.inner_validation, seed)
            fit_idx, val_idx = train_idx[inner_fit], train_idx[inner_val]
            validation = "inner split of the training folds"
        else:
            val_idx = held_idx
            validation = "held-out fold (monitoring only)"
        train_data = _tf_dataset(ds.x[fit_idx], ds.y[fit_idx], batch, seed=seed,
                                 drop_remainder=drop and len(fit_idx) >= batch)
        val_data = _tf_dataset(ds.x[val_idx], ds.y[val_idx], batch)
        callbacks = [keras.callbacks.TerminateOnNaN(), _stop_on_ctrl_c()]
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

        arrays.update(self._understanding(model, held_idx, arrays["y_prob"], fold))

        facts = {
            "dataset": ds.name, "model": self.spec.name, "fold": fold, "folds": p.folds,
            "status": status, "reason": reason, "seed": seed,
            "history": hist, "history_validation": validation,
            "epochs_run": len(hist.get("loss", [])), "epochs": p.epochs, "lr": p.lr,
            "batch_size": p.batch_size, "global_batch_size": batch,
            "train_samples": int(len(fit_idx)), "held_out_samples": int(len(held_idx)),
            "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "predict_images_per_second": len(held_idx) / predict_seconds if predict_seconds else 0,
            "params": int(model.count_params()),
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
        batch = p.batch_size * self.replicas
        data = _tf_dataset(ds.x, ds.y, batch, seed=fold_seed(p, p.folds),
                           drop_remainder=self.replicas > 1 and len(ds.y) >= batch)
        start = time.perf_counter()
        history = model.fit(data, epochs=p.epochs, verbose=self.verbose, shuffle=False)
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
