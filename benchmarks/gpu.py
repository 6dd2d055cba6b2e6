"""zoo on a GPU machine, self-contained: Sign Language MNIST (``$ZOO_TEST_DATA/sign_mnist.npz``,
else scikit-learn's digits), the study's CNN and ViT, one fold of 5 epochs through zoo's fold
runner (its input pipeline, its placement on the backend's devices), against plain
``model.fit`` on the same arrays with the same model and batch. Prints images per second per
model, seconds per epoch, peak device memory and the ratio zoo / plain fit. Meant for a
machine with JAX and no TensorFlow (the backend is $KERAS_BACKEND, else jax).

    python benchmarks/gpu.py           # on the GPU machine: the output goes to results/gpu.txt
    python benchmarks/gpu.py --quick   # on a CPU: 500 images, 2 epochs, in under 2 minutes
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# not this folder: its statistics.py would stand in for the standard library's (PyTorch
# imports that)
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402


def data(quick: bool, images=None):
    """(x uint8, y, name): Sign MNIST's training split when $ZOO_TEST_DATA has it."""
    folder = os.environ.get("ZOO_TEST_DATA")
    path = Path(folder) / "sign_mnist.npz" if folder else None
    if path is not None and path.exists():
        with np.load(path) as a:
            x, y = a["x_train"], a["y_train"]
        name = "Sign MNIST"
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = np.round(d.images * (255 / 16)).astype(np.uint8)
        y, name = d.target, "digits (no $ZOO_TEST_DATA)"
    if x.ndim == 3:
        x = x[..., None]
    classes = np.unique(y)
    y = np.searchsorted(classes, y).astype(np.int64)   # 24 letters -> 0..23
    if quick or images:
        x, y = x[:images or 500], y[:images or 500]
    return x, y, len(classes), name


def plain_fit(spec, x, y, held, classes, protocol, seed, jit_compile):
    """Each epoch's seconds of plain model.fit on float arrays (the baseline), watching the
    held-out fold ``held`` (x, y) each epoch as a zoo fold does, the first epoch (which
    traces and compiles) left out."""
    from zoo.backend import start_keras

    keras = start_keras()
    model = plain_model(spec, x.shape[1:], classes, protocol, seed, jit_compile)
    xf = x.astype(np.float32) / 255
    watch = (held[0].astype(np.float32) / 255, held[1])
    stamps = []   # as zoo's side: from the end of the first epoch (which compiles) on
    model.fit(xf, y, batch_size=protocol.batch_size, epochs=protocol.epochs,
              verbose=0, shuffle=True, validation_data=watch,
              callbacks=[keras.callbacks.LambdaCallback(
                  on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter()))])
    return epoch_seconds(stamps)


def plain_model(spec, input_shape, classes, protocol, seed, jit_compile):
    """The baseline's model: ``spec`` built with ``seed`` and compiled as zoo compiles it
    (the recipe's optimizer and loss, accuracy as a metric, zoo's choice of XLA)."""
    from zoo.backend import start_keras
    from zoo.grid.recipe import loss_for, optimizer_for

    keras = start_keras()
    keras.utils.set_random_seed(seed)
    model = spec.build(input_shape, classes)
    model.compile(optimizer=optimizer_for(protocol), loss=loss_for(protocol),
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def epoch_seconds(stamps) -> list:
    """Each epoch's seconds from the times at which consecutive epochs ended."""
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--quick", action="store_true", help="500 images, 2 epochs: a CPU check")
    args.add_argument("--images", type=int, default=None, help="the first N images only")
    args.add_argument("--epochs", type=int, default=None,
                      help="epochs (default 5; quick 2; at least 2)")
    args.add_argument("--json", action="store_true", help="one JSON line per model too")
    opts = args.parse_args()
    quick = opts.quick

    from zoo.backend import start_keras

    keras = start_keras()   # on JAX or PyTorch: without importing TensorFlow

    import zoo
    from zoo.grid.protocol import Protocol, held_out, make_splits, training
    from zoo.grid.train import RunnerFactory
    from zoo.plugins import get_registry

    x, y, classes, name = data(quick, opts.images)
    epochs = max(2, opts.epochs or (2 if quick else 5))   # the first is not timed
    protocol = Protocol(folds=5, epochs=epochs, batch_size=128, lr=1e-3, augment=0.0,
                        backend=keras.backend.backend())
    ds = zoo.Dataset(name="bench", x=x, y=y, class_names=[str(c) for c in range(classes)])
    fold_of = make_splits(ds.y, protocol)
    stamps = []   # when each epoch ended: zoo's s/epoch leaves out the first, as plain fit's does
    factory = RunnerFactory(on_epoch=lambda key, epoch, of, logs: stamps.append(
        time.perf_counter()))
    print(f"backend {keras.backend.backend()}; {factory.describe()}")
    print(f"{name}: {len(x):,} images of {'x'.join(map(str, x.shape[1:]))}; one fold of "
          f"{epochs} epochs, batch {protocol.batch_size}, no augmentation\n")
    print(f"{'model':6} {'images/s':>9} {'s/epoch':>8} {'plain s/epoch':>14} {'ratio':>6} "
          f"{'peak memory':>12}")
    registry = get_registry()
    for model in ("cnn", "vit"):
        spec = registry.models[model]
        runner = factory(spec, type("Prepared", (), {"dataset": ds, "protocol": protocol,
                                                     "transforms": ()})())
        stamps.clear()
        trained = runner.run(0, fold_of, key=("bench", model))
        zoo_epochs = epoch_seconds(stamps)
        part, held = training(fold_of, 0), held_out(fold_of, 0)
        plain_epochs = plain_fit(spec, x[part], y[part], (x[held], y[held]), classes,
                                 protocol, seed=1, jit_compile=runner.model.jit_compile)
        per_epoch, plain = float(np.mean(zoo_epochs)), float(np.mean(plain_epochs))
        train = len(part)
        memory = trained.facts.peak_memory_bytes   # zoo's own figure (None on a CPU)
        said = f"{memory / 2 ** 20:,.0f} MiB" if memory else "- (CPU)"
        print(f"{model:6} {train / per_epoch:9,.0f} {per_epoch:8.2f} {plain:14.2f} "
              f"{per_epoch / plain:6.2f} {said:>12}", flush=True)
        if opts.json:
            print("JSON " + json.dumps({"model": model, "backend": keras.backend.backend(),
                                        "zoo": per_epoch, "plain": plain, "images": train,
                                        "zoo_epochs": zoo_epochs,
                                        "plain_epochs": plain_epochs}))
        RunnerFactory.release()
    print("\nseconds per epoch leave out the first epoch (tracing and compiling) on both "
          "sides, and both watch the held-out fold each epoch; images/s counts the fold's "
          "training images")


if __name__ == "__main__":
    main()
