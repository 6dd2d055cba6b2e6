"""One fold: inside the strategy scope, build (once) and reset the model, fit on k-1 folds,
predict the held-out fold and the official test split. Returns facts, computes no metric,
writes nothing.

The recipe (optimizer, loss, schedule) comes from zoo.grid.recipe, the model check from
zoo.grid.checks, Ctrl-C handling from zoo.grid.interrupt; this module only runs folds.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from zoo.grid import interrupt
from zoo.grid.augment import TRANSFORMS, augmenter
from zoo.backend import import_tf
from zoo.grid.batches import batches
from zoo.grid.checks import build_checked
from zoo.grid.distribute import as_placement, choose_strategy, describe, where_line
from zoo.grid.explain import explain
from zoo.grid.protocol import fold_seed, held_out, training, trial_split
from zoo.grid.recipe import loss_for, optimizer_for, schedule_callback
from zoo.grid.settings import oriented
from zoo.schema import Facts, FinalFacts, FoldFacts, TrialFacts
from zoo.grid.modelio import model_bytes
import gc
import os


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


def inner_split(y: np.ndarray, fraction: float, seed: int):
    """Positions (into y) of an inner train / validation split, stratified when possible."""
    from sklearn.model_selection import train_test_split  # lazy: scikit-learn takes 1 s to import

    positions = np.arange(len(y))
    try:
        return train_test_split(positions, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class too small to stratify
        return train_test_split(positions, test_size=fraction, random_state=seed)


class RunnerFactory:
    """Makes the fold runners of one process: one placement for ``devices`` on the process's
    Keras backend (zoo.grid.distribute), Keras' progress lines at ``verbose``, ``on_epoch``
    told of every epoch's end. zoo.grid.cells.RunnerCache calls it with a model spec and a
    prepared dataset. Executors take the class itself (``runners=``) and make one where
    cells run."""

    def __init__(self, devices=None, verbose: int = 0, on_epoch=None):
        self.strategy = choose_strategy(devices)
        self.verbose, self.on_epoch = verbose, on_epoch
        #: the backend's intra-op threads, which its reductions depend on (0: every core)
        self.threads = _threads(self.strategy.backend) or (os.cpu_count() or 1)

    def __call__(self, spec, prepared) -> "FoldRunner":
        return FoldRunner(spec, prepared.dataset, prepared.protocol, self.strategy,
                          verbose=self.verbose, transforms=prepared.transforms,
                          on_epoch=self.on_epoch)

    def describe(self) -> str:
        return where_line(self.strategy)

    @staticmethod
    def release() -> None:
        """Free a finished model's graph and variables before the next one."""
        import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

        keras.backend.clear_session()
        gc.collect()


class FoldRunner:
    """Trains one model on one dataset, fold after fold.

    The model is built and compiled once, inside the strategy scope; each later fold copies
    in the variables of a freshly built model (seeded by the fold) and zeroes the optimizer
    state. That gives every fold the same start as a fresh model would, while the traced
    train step is reused (compiling again costs 15-25 s for the ViT on a CPU).
    """

    def __init__(self, spec, dataset, protocol, strategy=None, verbose: int = 0,
                 transforms=TRANSFORMS, on_epoch=None):
        self.spec, self.dataset, self.protocol = spec, dataset, protocol
        self.transforms, self.on_epoch = tuple(transforms), on_epoch
        self.strategy = as_placement(strategy) if strategy is not None else choose_strategy(None)
        self.verbose = verbose
        self.model = None
        self._predict_traced = False
        self.replicas = int(self.strategy.num_replicas_in_sync)

    #: XLA compiles a train step in 15-40 s on a 2-core CPU; below this many training steps
    #: per fold that costs more than it saves (about 30% of each step for the ViT)
    XLA_MIN_STEPS = 2000

    def use_xla(self):
        """On TensorFlow, XLA for a model whose spec asks for it, on one device, when a fold
        trains long enough to pay back the compile time. On the other backends Keras' own
        choice ("auto"): JAX always compiles its train step (without jax.jit it runs op by
        op, 3-4x slower here), PyTorch runs eagerly."""
        if self.strategy.backend != "tensorflow":
            return "auto"
        p = self.protocol
        n = len(self.dataset.y) * (p.folds - 1) / p.folds
        steps = p.epochs * math.ceil(n / (p.batch_size * self.replicas))
        return bool(self.spec.jit_compile and self.replicas == 1 and steps >= self.XLA_MIN_STEPS)

    # -- model ---------------------------------------------------------------------------
    def _build(self, seed: int):
        import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

        keras.utils.set_random_seed(seed)
        with self.strategy.scope():
            return build_checked(self.spec, self.dataset.input_shape, self.dataset.num_classes)

    def prepare(self, fold):
        """A model in its fold-start state: fresh seeded weights, zeroed optimizer (fold None:
        the final model's, or a search's on the whole training set: :func:`fold_seed`)."""
        import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

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
        y = ds.y if idx is None else ds.y[idx]
        batch = p.batch_size * self.replicas
        drop = self.replicas > 1 and len(y) >= batch
        data = batches(ds.x, ds.y, idx, batch, seed=seed, drop_remainder=drop,
                       augment=self._augmenter())
        steps = len(y) // batch if drop else math.ceil(len(y) / batch)
        return data, schedule_callback(p, steps)

    def _augmenter(self):
        """The random layers, made once per runner: each batch's draws are seeded by the
        fold's seed, the epoch and the batch (zoo.grid.batches), not by the layers' own seed
        state, so one set serves every fold (a set per fold kept its seed variables alive)."""
        if not hasattr(self, "_augment"):
            p = self.protocol
            self._augment = augmenter(self.dataset.input_shape, p.augment, p.seed,
                                      self.transforms)
        return self._augment

    def _report(self, key) -> list:
        """A callback that tells ``on_epoch`` of every epoch's end: the running cell's key
        (zoo.grid.cells.Cell.key, the one place it is built), the epoch, the epochs and
        Keras' logs."""
        if self.on_epoch is None or key is None:
            return []
        import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

        epochs, on_epoch = self.protocol.epochs, self.on_epoch

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                on_epoch(key, epoch + 1, epochs, dict(logs or {}))

        return [Report()]

    def _fit(self, key, idx, seed: int, validation=None, callbacks=()) -> "_Fit":
        """The one fit of every kind of cell (fold, learning-curve point, trial, final model):
        the prepared model on the images ``idx`` (None: all of them), shuffled and augmented
        with ``seed``, with the same guards for all (:func:`fit_guards`): training stops
        after an epoch with a non-finite loss and at a batch end on Ctrl-C (raised here,
        outside Keras, once the fit has returned), under the learning-rate schedule, telling
        ``on_epoch``."""
        import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

        data, schedule = self._training(idx, seed)
        guards = [*fit_guards(keras, seed), schedule]
        gpu = _reset_peak_memory(self.strategy)
        start = time.perf_counter()
        history = self.model.fit(data, validation_data=validation, epochs=self.protocol.epochs,
                                 callbacks=[*guards, *callbacks, *self._report(key)],
                                 verbose=self.verbose, shuffle=False)
        seconds = time.perf_counter() - start
        peak = _peak_memory(gpu)
        interrupt.raise_if_interrupted()   # stopped by Ctrl-C: this cell is not finished
        hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        return _Fit(hist, seconds, peak)

    def _batches(self, idx):
        ds = self.dataset
        return batches(ds.x, ds.y, idx, self.protocol.batch_size * self.replicas)

    # -- one fold ------------------------------------------------------------------------
    def run(self, fold: int, fold_of: np.ndarray, size: float = 1.0, key=None) -> Trained:
        """Train on every fold but ``fold`` (on ``size`` of it, a learning-curve point, when
        below 1) and score the held-out fold and the test split; the trained model only when
        its predictions are usable (None when it diverged)."""
        p, ds = self.protocol, self.dataset
        seed = fold_seed(p, fold)
        train_idx = nested_subset(training(fold_of, fold), ds.y, size, seed)
        held_idx = held_out(fold_of, fold)
        self.prepare(fold)
        fit_idx, val_idx, validation, stopping = self._validation(train_idx, held_idx, seed)
        fit = self._fit(key, fit_idx, seed, self._batches(val_idx), stopping)
        arrays, predict_seconds = self._predictions(held_idx)
        status, reason = _health(fit.history, arrays)
        costs = self._costs(self.model, ds.x[held_idx[:1]]) if size >= 1 else {}
        start = time.perf_counter()
        if size >= 1:  # the galleries and maps are of the whole-fold models
            arrays.update(self._understanding(self.model, held_idx, arrays["y_prob"], fold))
        else:
            self._explain_errors = {}
        facts = FoldFacts(
            dataset=ds.name, model=self.spec.name, fold=fold, folds=p.folds, status=status,
            reason=reason, seed=seed, history=fit.history, history_validation=validation,
            epochs_run=len(fit.history.get("loss", [])), epochs=p.epochs, lr=p.lr,
            batch_size=p.batch_size, global_batch_size=p.batch_size * self.replicas,
            train_samples=int(len(fit_idx)), held_out_samples=int(len(held_idx)),
            train_size=float(size), fit_seconds=fit.seconds, predict_seconds=predict_seconds,
            explain_seconds=time.perf_counter() - start, peak_memory_bytes=fit.peak, **costs,
            predict_images_per_second=len(held_idx) / predict_seconds if predict_seconds else 0,
            params=int(self.model.count_params()), xla=bool(self.model.jit_compile),
            plugin=self.spec.plugin, plugin_version=self.spec.version,
            options=dict(self.spec.options), devices=describe(self.strategy),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            explain_errors=self._explain_errors)
        return Trained(facts, arrays, self.model if status == "ok" else None)

    def _validation(self, train_idx, held_idx, seed: int) -> tuple:
        """(images to fit, images to watch, what they are, extra callbacks): with early
        stopping an inner split of the training part is watched (and stops training),
        otherwise the held-out fold, for monitoring only."""
        p = self.protocol
        if not p.early_stopping:
            return train_idx, held_idx, "held-out fold (monitoring only)", ()
        import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

        inner_fit, inner_val = inner_split(self.dataset.y[train_idx], p.inner_validation, seed)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=p.early_stopping,
                                             restore_best_weights=True)
        return (train_idx[inner_fit], train_idx[inner_val], "inner split of the training folds",
                (stop,))

    def _predictions(self, held_idx) -> tuple:
        """(arrays, seconds): the held-out fold's predictions (timed, after one traced call)
        and the official test split's."""
        ds, model = self.dataset, self.model
        held_data = self._batches(held_idx)
        if not self._predict_traced:  # time predictions, not the tracing of the first call
            model.predict(self._batches(held_idx[:held_data.batch_size]), verbose=0)
            self._predict_traced = True
        start = time.perf_counter()
        y_prob = model.predict(held_data, verbose=0)
        seconds = time.perf_counter() - start
        arrays = {"held_out_index": held_idx.astype(np.int32),
                  "y_true": ds.y[held_idx].astype(np.int16),
                  "y_prob": np.asarray(y_prob, dtype=np.float32)}
        if ds.has_test:
            test = batches(ds.x_test, ds.y_test, None, self.protocol.batch_size * self.replicas)
            arrays["test_prob"] = np.asarray(model.predict(test, verbose=0), dtype=np.float32)
        return arrays, seconds

    #: how many confidently wrong held-out images a fold keeps for the report's gallery
    GALLERY = 8
    #: calls of one image timed for the latency (after WARM_UP untimed ones)
    LATENCY_CALLS, WARM_UP = 50, 5

    def _costs(self, model, one) -> dict:
        """What the model costs beside its accuracy: its size in the Keras format (measured
        once per runner: every fold's model has the same) and its latency on one image, the
        median of LATENCY_CALLS calls after WARM_UP (with the quartiles), on this device."""
        if getattr(self, "_size_bytes", None) is None:
            self._size_bytes = len(model_bytes(model))
        x = as_float(one)
        for _ in range(self.WARM_UP):
            model.predict_on_batch(x)
        times = []
        for _ in range(self.LATENCY_CALLS):
            start = time.perf_counter()
            model.predict_on_batch(x)
            times.append((time.perf_counter() - start) * 1000)
        q1, median, q3 = np.percentile(times, [25, 50, 75])
        return {"size_bytes": self._size_bytes, "latency_ms": float(median),
                "latency_quartiles_ms": [float(q1), float(q3)]}

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
            maps, self._explain_errors = explain(self.spec, model, as_float(ds.x[first]))
            out["explain_index"] = np.asarray(first, dtype=np.int32)
            out["explain_images"] = to_uint8(ds.x[first])
            for method, m in maps.items():
                out["explain_" + method.replace("-", "_")] = m
        return out

    # -- one tuning trial --------------------------------------------------------------
    def trial(self, fold, fold_of: np.ndarray, number: int, rungs=(), groups=None,
              metric: str = "accuracy", key=None) -> Trained:
        """One trial of a search (zoo.tune.search), with this runner's protocol and options:
        train on the inner-training part of outer fold ``fold``'s training part (``fold``
        None: of the whole training set) and score ``metric`` on its inner-validation part.
        The held-out fold and the official test split are never touched. ``rungs``: (epoch,
        threshold) pairs; at each such epoch the score is taken, and below the threshold
        (higher is better; None: no threshold) the trial stops there (pruned). Every trial
        of a fold starts from the same weights, so trials differ by their settings alone.
        The arrays are the inner split's image indices."""
        p, ds = self.protocol, self.dataset
        seed = fold_seed(p, fold)                      # fold None: a seed no fold uses
        fit_idx, val_idx = trial_split(p, ds.y, fold_of, fold, groups)
        self.prepare(fold)
        judge = _Rungs(self._batches(val_idx), ds.y[val_idx], metric, rungs)
        fit = self._fit(key, fit_idx, seed, callbacks=(judge,))
        pruned = judge.pruned_at is not None
        score = judge.scores[judge.pruned_at] if pruned else judge.score(self.model)
        status, reason = "ok", ""
        if not all(math.isfinite(v) for v in fit.history.get("loss", [])) \
                or not math.isfinite(score):
            status, reason = "diverged", "the training loss or the inner score was not finite"
        facts = TrialFacts(
            dataset=ds.name, model=self.spec.name, fold=fold, folds=p.folds, trial=number,
            status=status, reason=reason, metric=metric,
            score=score if math.isfinite(score) else None, pruned=pruned,
            rung_scores={str(e): s for e, s in judge.scores.items()}, epochs=p.epochs,
            epochs_run=len(fit.history.get("loss", [])), history=fit.history, seed=seed,
            train_samples=int(len(fit_idx)), validation_samples=int(len(val_idx)),
            fit_seconds=fit.seconds, lr=p.lr, options=dict(self.spec.options),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        return Trained(facts, {"train_index": fit_idx.astype(np.int32),
                               "validation_index": val_idx.astype(np.int32)})

    # -- the final model ------------------------------------------------------------------
    def fit_final(self, key=None) -> Trained:
        """After the folds: one model trained on all the training data under the same
        protocol, with the same guards as a fold (a non-finite loss stops it; Ctrl-C stops
        it at a batch end); the model None when it diverged."""
        p, ds = self.protocol, self.dataset
        seed = fold_seed(p, None)   # a seed no fold uses
        self.prepare(None)
        fit = self._fit(key, None, seed)
        ok = all(math.isfinite(v) for v in fit.history.get("loss", [1.0]))
        facts = FinalFacts(
            dataset=ds.name, model=self.spec.name, folds=p.folds, seed=seed,
            status="ok" if ok else "diverged",
            reason="" if ok else "the training loss was not finite", history=fit.history,
            epochs=p.epochs, epochs_run=len(fit.history.get("loss", [])),
            train_samples=int(len(ds.y)), fit_seconds=fit.seconds,
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        return Trained(facts, {}, self.model if ok else None)


@dataclass
class _Fit:
    history: dict
    seconds: float
    peak: int | None


@dataclass
class Trained:
    """What a runner hands back for every kind of cell: the facts (zoo.schema), the arrays
    for the store, and the trained model when it is worth keeping (None otherwise)."""
    facts: Facts
    arrays: dict = field(default_factory=dict)
    model: object = None


def _health(history: dict, arrays: dict) -> tuple:
    """(status, reason) of a trained fold: 'diverged' when its training loss or its
    predicted probabilities are not finite."""
    bad = next((i for i, v in enumerate(history.get("loss", [])) if not math.isfinite(v)), None)
    if bad is not None:
        return "diverged", f"training loss became {history['loss'][bad]} in epoch {bad + 1}"
    if not all(np.isfinite(a).all() for k, a in arrays.items() if k.endswith("prob")):
        return "diverged", "the model predicted NaN or infinite probabilities"
    return "ok", ""


def inner_score(y: np.ndarray, prob: np.ndarray, metric: str) -> float:
    """A trial's score: accuracy, or log loss (natural log, probabilities clipped at 1e-15);
    NaN when the probabilities are not finite."""
    prob = np.asarray(prob, dtype=np.float64)
    if not np.isfinite(prob).all():
        return float("nan")
    if metric == "log_loss":
        return float(-np.mean(np.log(np.clip(prob[np.arange(len(y)), y], 1e-15, 1.0))))
    return float(np.mean(prob.argmax(axis=1) == y))


def _Rungs(data, y, metric, rungs):
    """A Keras callback that scores the inner-validation part at every rung epoch and stops
    training when the score falls below that rung's threshold (successive halving)."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    thresholds = {int(e): t for e, t in rungs}

    class Rungs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.scores, self.pruned_at = {}, None

        def score(self, model) -> float:
            return inner_score(y, model.predict(data, verbose=0), metric)

        def on_epoch_end(self, epoch, logs=None):
            e = epoch + 1
            if e not in thresholds or e >= self.params.get("epochs", e + 1):
                return
            s = self.scores[e] = self.score(self.model)
            t = thresholds[e]
            if t is not None and not oriented(s, metric) >= t:
                self.pruned_at = e
                self.model.stop_training = True

    return Rungs()


def _threads(backend: str) -> int:
    """The backend's intra-op threads (0: not capped, every core)."""
    if backend == "tensorflow":
        return import_tf().config.threading.get_intra_op_parallelism_threads()
    if backend == "torch":
        import torch  # lazy: only the torch backend needs it

        return torch.get_num_threads()
    return 0


def fit_guards(keras, seed: int) -> list:
    """The callbacks of every fit: the generators seeded as training begins, training stopped
    at the end of an epoch whose loss is not finite, and at a batch end on Ctrl-C. None looks
    at a batch's end: with such a callback Keras waits for every batch's loss on JAX and
    PyTorch instead of dispatching the next batches (which on a GPU undoes the pipelining)."""
    class StopAtNonFiniteLoss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(loss):
                self.model.stop_training = True

    return [_seeded(keras, seed), StopAtNonFiniteLoss(), interrupt.stop_on_ctrl_c()]


def _seeded(keras, seed: int):
    """A callback that seeds Keras' global generators as training begins, after Keras' first
    fit of a model has built what it builds: PyTorch's Dropout without a seed of its own draws
    from torch's global generator, which that build moves on, so a reused model's fold
    trained otherwise than a fresh model's (tested). Nothing else draws from them there."""
    class Seeded(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            keras.utils.set_random_seed(seed)

    return Seeded()


def _reset_peak_memory(placement):
    """The GPU whose peak memory a fold's training is measured on (its counter reset), or
    None: no backend reports such a figure for the CPU."""
    devices = [d for d in placement.devices if "gpu" in d.lower()]
    if not devices:
        return None
    index = int(devices[0].rsplit(":", 1)[-1])
    try:
        if placement.backend == "tensorflow":
            import_tf().config.experimental.reset_memory_stats(f"GPU:{index}")
        elif placement.backend == "torch":
            import torch  # lazy: only the torch backend needs it

            torch.cuda.reset_peak_memory_stats(index)
        return placement.backend, index
    except (ValueError, RuntimeError, AttributeError):
        return None


def _peak_memory(gpu):
    """Peak bytes on ``gpu`` since the reset (None on the CPU). JAX keeps no resettable
    counter: its figure is the peak since the process started."""
    if gpu is None:
        return None
    backend, index = gpu
    try:
        if backend == "tensorflow":
            return int(import_tf().config.experimental.get_memory_info(f"GPU:{index}")["peak"])
        if backend == "torch":
            import torch  # lazy: only the torch backend needs it

            return int(torch.cuda.max_memory_allocated(index))
        import jax  # lazy: only the JAX backend needs it

        stats = [d for d in jax.devices() if d.platform == "gpu"][index].memory_stats() or {}
        return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None
    except (ValueError, RuntimeError, AttributeError, IndexError, KeyError):
        return None


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Pixels as uint8 0-255, from [0, 1] floats (8-bit pixels are kept as they are)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


def as_float(x: np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 1] (8-bit pixels scaled), what a model takes."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return np.multiply(x, np.float32(1 / 255), dtype=np.float32)
    return x
