"""The input pipeline, one for every Keras backend: a ``keras.utils.PyDataset`` that gathers
each batch by index from a uint8 (or float) array, which may be a memory-mapped file, scales
8-bit pixels to [0, 1], and augments training batches with Keras preprocessing layers.

Every random draw is a pure function of the fold's seed, the epoch and the batch's number:
the order is reshuffled each epoch from ``(seed, epoch)`` and a batch's augmentation is
seeded with ``(seed, epoch, batch)``. The same fold therefore sees the same images in the same
batches on TensorFlow, JAX and PyTorch, whichever thread asks for them and in whatever order
(the augmentation's numbers are each backend's own random generator's).

Why PyDataset rather than tf.data or Grain: it is Keras' own, runs on every backend with no
further dependency, and on TensorFlow Keras wraps it in tf.data with prefetching, so a batch
is gathered while the previous one trains (benchmarks/backends.py measures it against plain
``model.fit`` on arrays). Grain doing the same work (benchmarks/pipelines.py) reads a record
at a time: its shuffled index and batching cost 5-7 ms a batch of 128 small images against
0.05-0.08 ms here (a vectorized gather), and its CNN epochs were 1.22 times plain fit's on
TensorFlow where this pipeline's were 1.06.
"""
from __future__ import annotations

import math
import threading

import numpy as np

#: each epoch's order and each batch's augmentation are seeded from the fold's seed mixed
#: with these (epoch, batch) numbers
_MIX = 1_000_003


def _base():
    import keras  # lazy: Keras starts its backend (4 s); only training needs it

    return keras.utils.PyDataset


def batches(x, y, idx=None, batch_size: int = 128, seed=None, drop_remainder: bool = False,
            augment=None):
    """A PyDataset of ``(x[i], y[i])`` batches over the positions ``idx`` (None: all), shuffled
    every epoch with ``seed`` when given, ``augment`` (a keras.Sequential of random layers)
    applied to training batches. ``x`` may be a numpy memmap: only each batch's images are
    read."""
    return _class()(x, y, idx, batch_size, seed, drop_remainder, augment)


class _Gather:
    """What a batch is; mixed into keras.utils.PyDataset on first use (:func:`_class`), so
    that importing this module does not start Keras."""

    def __init__(self, x, y, idx, batch_size, seed, drop_remainder, augment):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y = x, np.asarray(y)
        self.idx = np.arange(len(self.y)) if idx is None else np.asarray(idx, dtype=np.int64)
        self.batch_size, self.seed, self.augment = int(batch_size), seed, augment
        self.drop = bool(drop_remainder) and len(self.idx) >= self.batch_size
        self.epoch = 0
        self.order = self._order(0)

    def _order(self, epoch: int) -> np.ndarray:
        if self.seed is None:
            return self.idx
        rng = np.random.default_rng([int(self.seed) % (2 ** 32), epoch])
        return self.idx[rng.permutation(len(self.idx))]

    def __len__(self) -> int:
        n = len(self.idx)
        return n // self.batch_size if self.drop else math.ceil(n / self.batch_size)

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order(self.epoch)

    def positions(self, i: int) -> np.ndarray:
        """The images of batch ``i`` of the current epoch, in the order they are read
        (ascending, which a memory-mapped file reads fastest)."""
        return np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])

    def __getitem__(self, i: int):
        at = self.positions(i)
        x = self.x[at]
        if x.dtype == np.uint8:   # 8-bit pixels: scaled to [0, 1] a batch at a time
            x = np.multiply(x, np.float32(1 / 255), dtype=np.float32)
        if self.augment is not None:
            x = augmented(self.augment, x, (int(self.seed) * _MIX + self.epoch) * _MIX + i)
        return x, self.y[at]


_CLASS = {}


def _class():
    """The Batches class: :class:`_Gather` on Keras' PyDataset (imported lazily)."""
    if "Batches" not in _CLASS:
        _CLASS["Batches"] = type("Batches", (_Gather, _base()), {})
    return _CLASS["Batches"]


def augmented(augment, x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` through every random layer of ``augment`` with draws seeded by ``seed`` alone
    (not by the layers' own seed state), as numpy."""
    from keras import ops  # lazy: Keras starts its backend (4 s); only training needs it

    seeds = np.array([(seed + j * 7919) % (2 ** 31 - 1) for j in range(len(augment.layers))],
                     dtype=np.int64)
    draw = _Draws.of(augment)
    with draw.lock:
        out = draw(x, seeds)
    return ops.convert_to_numpy(out).astype(np.float32, copy=False)


class _Draws:
    """How the random layers of one ``augment`` draw, made on its first batch and kept with it.

    Each layer's own ``keras.random.SeedGenerator`` (``layer.generator``) is set to
    ``(seed, 0)`` before the batch: the layer's draws then follow one another from it (a
    shift's horizontal and vertical parts are two draws). Given a plain integer seed, as Keras
    allows, every draw of a layer repeats the same numbers: each image was shifted as far down
    as right, along the diagonal only (zoo.grid.plan.AUGMENT_DRAWS). On TensorFlow the layers run as one
    ``tf.function``, a graph as in the tf.data pipeline before this one; on JAX and PyTorch op
    by op."""

    def __init__(self, augment):
        import keras  # lazy: Keras starts its backend (4 s); only training needs it

        self.layers = list(augment.layers)
        self.lock = threading.Lock()   # one batch at a time: the generators' state is shared
        self.run = self._eager
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # lazy: only the TensorFlow backend needs it

            # a fixed loop over the layers: nothing for autograph to convert
            self.run = tf.function(self._eager, reduce_retracing=True, autograph=False)

    @classmethod
    def of(cls, augment) -> "_Draws":
        draws = getattr(augment, "_zoo_draws", None)
        if draws is None:
            draws = cls(augment)
            augment._zoo_draws = draws
        return draws

    def _eager(self, x, seeds):
        from keras import ops  # lazy: Keras starts its backend (4 s); only training needs it

        out = x
        for j, layer in enumerate(self.layers):
            gen = layer.generator
            gen.state.assign(ops.stack([ops.cast(seeds[j], gen.state.dtype),
                                        ops.zeros((), dtype=gen.state.dtype)]))
            t = layer.get_random_transformation(out, training=True, seed=gen)
            out = layer.transform_images(out, t, training=True)
        return out

    def __call__(self, x, seeds):
        return self.run(x, seeds)
