"""zoo's input pipeline (a keras.utils.PyDataset, zoo.grid.batches) against Grain doing the
same work, on every installed Keras backend: the measurement behind batches.py's choice.

Both gather each shuffled batch of 128 by index from the uint8 array of Sign Language MNIST's
first IMAGES training images and scale it to float32 in [0, 1]; no augmentation. Grain is
timed two ways: its MapDataset handed to ``fit`` as it is (read in the training loop, as
zoo's PyDataset is) and as an IterDataset with Grain's threaded prefetching
(``ReadOptions(num_threads=2, prefetch_buffer_size=4)``).

1. The pipeline alone: milliseconds per batch over one epoch, no model.
2. The CNN: seconds per epoch with each pipeline and with plain ``model.fit`` on float arrays
   (the baseline: no pipeline at all), one compiled model, the best of EPOCHS epochs after a
   warm-up fit, ROUNDS rounds alternating the order. This VM's timings are bimodal, so each
   side keeps its best.

Each backend runs in its own process.

    pip install grain
    ZOO_TEST_DATA=../shared/data python benchmarks/pipelines.py   # about 10 minutes on 2 cores
    ... python benchmarks/pipelines.py --quick   # 600 images, 2 epochs, 1 round: a check
"""
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IMAGES, BATCH, EPOCHS, ROUNDS = 3000, 128, 3, 2
if "--quick" in sys.argv:
    IMAGES, EPOCHS, ROUNDS = 600, 2, 1
SIDES = ("plain", "zoo", "grain", "grain+threads")


def load():
    import numpy as np

    folder = os.environ.get("ZOO_TEST_DATA")
    if not folder or not (Path(folder) / "sign_mnist.npz").exists():
        raise SystemExit("set $ZOO_TEST_DATA to the folder of sign_mnist.npz")
    with np.load(Path(folder) / "sign_mnist.npz") as a:
        x, y = a["x_train"][:IMAGES, ..., None], a["y_train"][:IMAGES]
    return x, np.searchsorted(np.unique(y), y).astype(np.int64)


def pipelines(x, y, seed=1):
    """{side: a fresh input for fit}: every pipeline over every image, reshuffled by seed."""
    import grain
    import numpy as np

    from zoo.grid.batches import batches

    def gather(at):
        at = np.sort(at)
        return np.multiply(x[at], np.float32(1 / 255), dtype=np.float32), y[at]

    def grain_map():
        return grain.MapDataset.range(len(y)).shuffle(seed=seed).batch(BATCH).map(gather)

    return {"zoo": lambda: batches(x, y, None, BATCH, seed=seed),
            "grain": grain_map,
            "grain+threads": lambda: grain_map().to_iter_dataset(
                grain.ReadOptions(num_threads=2, prefetch_buffer_size=4))}


def alone(make) -> float:
    """Milliseconds per batch of iterating one epoch of the pipeline, no model."""
    data = make()
    start = time.perf_counter()
    if hasattr(data, "__getitem__") and hasattr(data, "on_epoch_end"):   # the PyDataset
        n = len(data)
        for i in range(n):
            data[i]
    else:
        n = sum(1 for _ in data)
    return (time.perf_counter() - start) * 1000 / n


def child():
    from zoo.backend import start_keras

    keras = start_keras()
    import numpy as np

    from zoo.plugins import get_registry

    x, y = load()
    classes = int(y.max()) + 1
    made = pipelines(x, y)
    per_batch = {side: min(alone(make) for _ in range(2)) for side, make in made.items()}

    keras.utils.set_random_seed(0)
    model = get_registry().models["cnn"].build(x.shape[1:], classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    xf = x.astype(np.float32) / 255
    made["plain"] = None
    stamps = []
    clock = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: stamps.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter()))

    def fit(side, epochs):
        stamps.clear()
        if side == "plain":
            model.fit(xf, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0,
                      callbacks=[clock])
        else:
            model.fit(made[side](), epochs=epochs, verbose=0, callbacks=[clock])
        return [stamps[i + 1] - stamps[i] for i in range(0, len(stamps), 2)]

    for side in SIDES:   # warm-up: every pipeline traced and compiled for, ragged batch too
        fit(side, 1)
    best = {side: float("inf") for side in SIDES}
    for r in range(ROUNDS):
        for side in (SIDES if r % 2 == 0 else SIDES[::-1]):
            best[side] = min(best[side], *fit(side, EPOCHS)[1:])
    print("JSON " + json.dumps({"backend": keras.backend.backend(), "per_batch_ms": per_batch,
                                "epoch": best}))


def main():
    from each_backend import each_backend   # benchmarks/ is the script's folder: on sys.path

    start = time.perf_counter()
    rows = each_backend(__file__, sys.argv[1:])
    import grain  # noqa: F401  (its version, printed)
    from importlib.metadata import version

    print(f"Sign MNIST, the first {IMAGES:,} training images, batch {BATCH}, no augmentation; "
          f"grain {version('grain')}, keras {version('keras')}\n")
    print("1. the pipeline alone, milliseconds per batch (best of 2 epochs)")
    print(f"{'backend':11}" + "".join(f"{s:>15}" for s in SIDES[1:]))
    for r in rows:
        print(f"{r['backend']:11}" + "".join(f"{r['per_batch_ms'][s]:15.2f}" for s in SIDES[1:]))
    print(f"\n2. the CNN, seconds per epoch (best of {EPOCHS - 1} epochs x {ROUNDS} rounds after "
          "a warm-up), ratio to plain fit in brackets")
    print(f"{'backend':11}" + "".join(f"{s:>18}" for s in SIDES))
    for r in rows:
        e = r["epoch"]
        print(f"{r['backend']:11}" + "".join(
            f"{e[s]:10.2f} ({e[s] / e['plain']:.2f})" for s in SIDES))
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
        sys.path.insert(0, str(ROOT))
        child()
    else:
        main()
