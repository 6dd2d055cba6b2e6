"""zoo's overhead over plain Keras, and the wall time of `zoo run --all` on the default data.

    python benchmarks/overhead.py            # Sign MNIST if $ZOO_TEST_DATA is set, else digits

1. One epoch of the CNN through zoo's FoldRunner (its PyDataset pipeline, strategy scope, model
   reset, held-out monitoring) vs a plain ``model.fit`` of the same model on the same arrays
   with the same validation data, in one process, no augmentation in either (the plain fit
   has none). Both are warmed up (traced) first; each is then timed REPEATS times,
   alternating, and the best time of each is compared. Target: ratio <= 1.05. The same
   fold with zoo's default augmentation (strength 1, in the input pipeline) is timed
   too: the price of augmenting, not overhead.
2. One tuning trial cell (zoo.grid.cells.run_cell: the inner split, settings applied, training
   on the inner-training part, scoring the inner-validation part, its facts) vs a plain
   ``model.fit`` of the same model for the same epochs on the same inner-training images
   (no augmentation in either), at 1 and at 3 epochs a trial. Warmed up, then REPEATS
   alternating, best of each. Target: ratio <= 1.10. A trial also scores its inner-
   validation part, which a plain fit does not; the same work by hand (fit, then predict
   the inner-validation images) is printed as a second baseline.
3. `zoo run --all` in a fresh process on the bundled digits (quick preset). Target < 3 min
   on a 2-core machine.
"""
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPEATS = 3


def dataset():
    from zoo.plugins import get_registry

    registry = get_registry()
    data_dir = os.environ.get("ZOO_TEST_DATA")
    if data_dir:
        return registry.datasets["sign-mnist"].load(data_dir), registry
    return registry.datasets["digits"].load(None), registry


def fold_overhead():
    import keras
    import numpy as np

    from zoo.grid.protocol import Protocol, make_splits
    from zoo.grid.train import FoldRunner

    ds, registry = dataset()
    spec = registry.models["cnn"]
    protocol = Protocol(folds=10, epochs=1, batch_size=128, lr=1e-3, augment=0.0)
    fold_of = make_splits(ds.y, protocol)
    train, held = np.flatnonzero(fold_of != 0), np.flatnonzero(fold_of == 0)

    runner = FoldRunner(spec, ds, protocol)
    keras.utils.set_random_seed(0)
    plain = spec.build(ds.input_shape, ds.num_classes)
    plain.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    xt, yt, xv, yv = ds.x[train], ds.y[train], ds.x[held], ds.y[held]

    def plain_fit():
        t0 = time.perf_counter()
        plain.fit(xt, yt, batch_size=128, epochs=1, validation_data=(xv, yv), verbose=0)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    runner.run(0, fold_of)
    zoo_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain_fit()
    plain_first = time.perf_counter() - t0
    zoo_times, zoo_walls, plain_times = [], [], []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        facts = runner.run(0, fold_of).facts
        zoo_walls.append(time.perf_counter() - t0)
        zoo_times.append(facts.fit_seconds)
        plain_times.append(plain_fit())
    print(f"data: {ds.name}, {len(train)} training images, {len(held)} held out; CNN "
          f"{plain.count_params():,} parameters; one epoch, batch 128")
    print(f"first call (tracing included): zoo fold {zoo_first:.1f} s, plain fit {plain_first:.1f} s")
    print(f"plain model.fit:          best {min(plain_times):.2f} s  (all: "
          + ", ".join(f"{t:.2f}" for t in plain_times) + ")")
    print(f"zoo FoldRunner fit:       best {min(zoo_times):.2f} s  (all: "
          + ", ".join(f"{t:.2f}" for t in zoo_times) + ")")
    print(f"zoo fold incl. reset + predictions: best {min(zoo_walls):.2f} s")
    print(f"ratio fit zoo / plain: {min(zoo_times) / min(plain_times):.3f}  (target <= 1.05)")
    augmented = FoldRunner(spec, ds, replace(protocol, augment=1.0))
    augmented.run(0, fold_of)
    aug_times = [augmented.run(0, fold_of).facts.fit_seconds for _ in range(REPEATS)]
    print(f"zoo FoldRunner fit with augmentation 1 (the default): best {min(aug_times):.2f} s, "
          f"{min(aug_times) / min(zoo_times):.2f}x the unaugmented fit")
    print(f"ratio whole fold / plain fit: {min(zoo_walls) / min(plain_times):.3f}")


def trial_overhead(epochs: int = 1):
    import keras
    import numpy as np

    from zoo.grid import cells, train
    from zoo.tune import space
    from zoo.grid.protocol import Protocol, make_splits, trial_split

    ds, registry = dataset()
    spec = registry.models["cnn"]
    protocol = Protocol(folds=10, epochs=epochs, batch_size=128, lr=1e-3, augment=0.0)
    fold_of = make_splits(ds.y, protocol)
    tuning = space.Tuning((space.Param("lr", 1e-4, 1e-2, log=True),), trials=1)
    prepared = cells.Prepared(ds, protocol, fold_of, tuning=tuning)
    trainers = cells.RunnerCache(train.RunnerFactory())
    cell = cells.Cell(ds.name, "cnn", 0, 10, trial=0, settings=(("lr", 1e-3),))
    fit_idx, val_idx = trial_split(protocol, ds.y, fold_of, 0)
    xt, yt = train.as_float(ds.x[fit_idx]), ds.y[fit_idx]
    xv, yv = train.as_float(ds.x[val_idx]), ds.y[val_idx]
    keras.utils.set_random_seed(0)
    plain = spec.build(ds.input_shape, ds.num_classes)
    plain.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    def plain_fit():
        t0 = time.perf_counter()
        plain.fit(xt, yt, batch_size=128, epochs=epochs, verbose=0)
        fitted = time.perf_counter() - t0
        accuracy = float(np.mean(plain.predict(xv, batch_size=128, verbose=0).argmax(1) == yv))
        assert 0.0 <= accuracy <= 1.0
        return fitted, time.perf_counter() - t0

    def trial_cell():
        out = cells.run_cell(cell, spec, prepared, trainers)
        assert out.facts.status == "ok", out.facts
        return out.seconds, out.facts.fit_seconds

    trial_cell()
    plain_fit()
    cell_times, fit_times, plain_times, hand_times = [], [], [], []
    for _ in range(REPEATS):
        wall, fit = trial_cell()
        cell_times.append(wall)
        fit_times.append(fit)
        fitted, by_hand = plain_fit()
        plain_times.append(fitted)
        hand_times.append(by_hand)
    print(f"tuning trial: {len(fit_idx)} inner-training images, {len(val_idx)} inner-"
          f"validation images, {epochs} epoch(s), no augmentation")
    print(f"plain model.fit:          best {min(plain_times):.2f} s  (all: "
          + ", ".join(f"{t:.2f}" for t in plain_times) + ")")
    print(f"zoo trial cell, whole:    best {min(cell_times):.2f} s  (all: "
          + ", ".join(f"{t:.2f}" for t in cell_times) + "; its fit alone best "
          f"{min(fit_times):.2f} s)")
    print(f"plain fit + predict of the inner-validation images: best {min(hand_times):.2f} s")
    print(f"ratio trial cell / plain fit: {min(cell_times) / min(plain_times):.3f}  "
          "(target <= 1.10)")
    print(f"ratio trial cell / plain fit + predict (the same work by hand): "
          f"{min(cell_times) / min(hand_times):.3f}")


def run_all_wall():
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "no-data")
        os.mkdir(empty)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "zoo.cli", "run", "--all", "--quiet",
                               "--data-dir", empty, "--results", os.path.join(tmp, "r"),
                               "--out", os.path.join(tmp, "o")], capture_output=True, text=True)
        wall = time.perf_counter() - t0
    status = "ok" if proc.returncode == 0 else f"FAILED: {proc.stderr[-500:]}"
    print(f"`zoo run --all` on digits (quick preset, fresh process): {wall:.1f} s  "
          f"(target < 180 s) {status}")


if __name__ == "__main__":
    fold_overhead()
    trial_overhead(1)
    trial_overhead(3)
    run_all_wall()
