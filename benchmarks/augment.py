"""Augmentation's cost per batch on every installed Keras backend: Keras' random layers as
they come against zoo's augmenter (the same layers, whose resampling runs in one call over
the batch beside TensorFlow: zoo.grid.augment.OneCallAffine).

A batch of 128 random images at the sizes zoo trains on (8x8 digits: a shift only; 28x28
Sign MNIST and 64x64x3 photos: rotation, shift and zoom), through zoo.grid.batches.augmented
as the input pipeline calls it; milliseconds per batch, the best of ROUNDS rounds of BATCHES
batches (this VM's timings are bimodal), the two sides alternating. Each backend runs in its
own process. On TensorFlow both sides are Keras' (its kernel is batched already).

    python benchmarks/augment.py   # about 3 minutes on 2 cores
"""
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROUNDS, BATCHES, BATCH = 3, 5, 128
SHAPES = ((8, 8, 1), (28, 28, 1), (64, 64, 3))


def child():
    sys.path.insert(0, str(ROOT))
    from zoo.backend import start_keras

    keras = start_keras()
    import numpy as np

    from zoo.grid.augment import augmenter
    from zoo.grid.batches import augmented

    for shape in SHAPES:
        x = np.random.default_rng(0).random((BATCH, *shape)).astype(np.float32)
        keras_own = augmenter(shape, 1.0, 3)
        for layer in keras_own.layers:   # the layers' own backend: Keras' resampling
            layer.backend = getattr(layer.backend, "_inner", layer.backend)
        sides = {"keras": keras_own, "zoo": augmenter(shape, 1.0, 3)}
        best = {}
        for r in range(ROUNDS):
            for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                augmented(sides[side], x, r)   # a warm-up batch (JAX compiles)
                start = time.perf_counter()
                for i in range(BATCHES):
                    augmented(sides[side], x, r * BATCHES + i)
                took = (time.perf_counter() - start) / BATCHES * 1000
                best[side] = min(best.get(side, took), took)
        print("JSON " + json.dumps({"backend": keras.backend.backend(), "shape": shape,
                                    "layers": len(keras_own.layers), **best}), flush=True)


def main():
    sys.path.insert(0, str(HERE))
    from each_backend import each_backend

    start = time.perf_counter()
    rows = each_backend(__file__)
    print(f"ms per batch of {BATCH} images (best of {ROUNDS} rounds of {BATCHES} batches)\n")
    print(f"{'backend':11} {'images':>8} {'layers':>6} {'keras ms':>9} {'zoo ms':>7} "
          f"{'keras/zoo':>9}")
    for r in rows:
        size = "x".join(map(str, r["shape"]))
        print(f"{r['backend']:11} {size:>8} {r['layers']:6d} {r['keras']:9.1f} {r['zoo']:7.1f} "
              f"{r['keras'] / r['zoo']:9.2f}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
