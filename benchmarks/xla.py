"""Does XLA pay for a model? Seconds per epoch of zoo's fold runner with and without
jit_compile, same model, data and recipe, in one process (augmentation in the input
pipeline, as zoo trains). The first epoch includes tracing and, with XLA, compiling.

    ZOO_TEST_DATA=../shared/data python benchmarks/xla.py [--model vit] [--epochs 3]

Prints each epoch's seconds and the ratio of the later epochs (XLA / no XLA).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="vit")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=0,
                        help="train on this many images (default: fold 1 of 10, 24,709)")
    args = parser.parse_args()

    import dataclasses

    from zoo.backend import import_tf

    import_tf()  # first: TensorFlow's start-up lines are captured there

    import keras
    import numpy as np

    from zoo.plugins import get_registry
    from zoo.grid.protocol import make_splits, resolve
    from zoo.grid.train import FoldRunner

    registry = get_registry()
    ds = registry.datasets["sign-mnist"].load(os.environ.get("ZOO_TEST_DATA"))
    protocol = resolve(folds=10, epochs=args.epochs)
    fold_of = make_splits(ds.y, protocol)
    if args.images:
        fold_of = np.where(np.arange(len(fold_of)) < args.images, 1, 0).astype(np.int32)
    seconds = {}

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    original_fit = keras.Model.fit
    for xla in (False, True):
        spec = dataclasses.replace(registry.models[args.model], jit_compile=xla)
        runner = FoldRunner(spec, ds, protocol)
        runner.XLA_MIN_STEPS = 0
        clock = Clock()
        clock.times = []

        def fit(self, *a, callbacks=None, _clock=clock, **kw):
            return original_fit(self, *a, callbacks=list(callbacks or []) + [_clock], **kw)

        keras.Model.fit = fit
        try:
            facts, _, _ = runner.run(0, fold_of)
        finally:
            keras.Model.fit = original_fit
        seconds[xla] = clock.times
        print(f"{args.model}, XLA {facts['xla']}: {facts['train_samples']} images, epochs "
              + ", ".join(f"{t:.1f}" for t in clock.times) + " s", flush=True)
        keras.backend.clear_session()
    later = {k: float(np.mean(v[1:])) for k, v in seconds.items() if len(v) > 1}
    if len(later) == 2:
        print(f"later epochs: XLA / no XLA = {later[True] / later[False]:.2f}; first epoch "
              f"(tracing, compiling): {seconds[True][0]:.1f} s vs {seconds[False][0]:.1f} s")


if __name__ == "__main__":
    main()
