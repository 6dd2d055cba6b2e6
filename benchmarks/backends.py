"""One CNN epoch and one ViT epoch on Sign Language MNIST on every installed Keras backend,
through zoo's fold runner (the one fit every cell makes: its input pipeline, its guards and
learning-rate callback, the held-out fold watched each epoch) and through plain
``model.fit`` on float arrays (the same model compiled alike, batch and watched held-out
fold): the ratio zoo / plain fit per backend (goal: <= 1.05), and each backend against
TensorFlow.

This VM's speed wanders by half from minute to minute (the same matrix product takes 1.1 to
1.7 s), which swamps a 5% goal when the two sides are timed minutes apart. So the two are
timed in pairs: in each of ROUNDS rounds, in one process per backend, zoo's fit and plain fit
run EPOCHS epochs each, back to back (alternating which goes first); a side's figure for the
round is its best epoch after the first, and the round's ratio compares the two. The ratio
printed is the median over the rounds (and the range); seconds per epoch are each side's
best over all rounds. The first fit of each side (tracing and compiling) is not timed. No
augmentation on either side (plain fit has none).

    ZOO_TEST_DATA=../shared/data python benchmarks/backends.py   # about 15 minutes on 2 cores
    ... python benchmarks/backends.py --images 27455 --rounds 3 --epochs 2 --backend tensorflow
        # the whole training part (epochs of about 30 s), one backend
"""
import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

# not this folder: its statistics.py would stand in for the standard library's (PyTorch and
# this script import that)
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import statistics  # noqa: E402
ROUNDS, IMAGES, EPOCHS = 4, 3000, 3


def options(argv=None):
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--images", type=int, default=IMAGES, help="the first N training images")
    args.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of the paired fits")
    args.add_argument("--epochs", type=int, default=EPOCHS, help="epochs a side in a round (>= 2)")
    args.add_argument("--backend", action="append", help="only this backend (repeatable)")
    args.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = args.parse_args(argv)
    if opts.epochs < 2:
        args.error("--epochs: expected at least 2 (the first epoch of a fit is not timed)")
    return opts


def child(opts):
    """One backend ($KERAS_BACKEND): a JSON line per model with each round's best epochs."""
    from zoo.backend import start_keras

    keras = start_keras()
    import numpy as np

    import zoo
    from zoo.grid.protocol import Protocol, held_out, make_splits, training
    from zoo.grid.train import RunnerFactory, fold_seed
    from zoo.plugins import get_registry

    gpu = _sibling("gpu")   # its images (labels 0..23), baseline model and epoch timing
    x, y, classes, _ = gpu.data(False, opts.images)
    protocol = Protocol(folds=5, epochs=opts.epochs, batch_size=128, lr=1e-3, augment=0.0,
                        backend=keras.backend.backend())
    ds = zoo.Dataset(name="bench", x=x, y=y, class_names=[str(c) for c in range(classes)])
    fold_of = make_splits(ds.y, protocol)
    part, held = training(fold_of, 0), held_out(fold_of, 0)
    xf, watch = x[part].astype(np.float32) / 255, (x[held].astype(np.float32) / 255, y[held])
    stamps = []
    factory = RunnerFactory(on_epoch=lambda key, epoch, of, logs: stamps.append(
        time.perf_counter()))
    clock = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter()))
    prepared = type("Prepared", (), {"dataset": ds, "protocol": protocol, "transforms": ()})()
    registry = get_registry()
    for name in ("cnn", "vit"):
        runner = factory(registry.models[name], prepared)

        def zoo_fit(runner=runner, name=name):
            runner.prepare(0)   # the fold's start: fresh weights, zeroed optimizer
            runner._fit(("bench", name), part, fold_seed(protocol, 0), runner._batches(held))

        plain = gpu.plain_model(registry.models[name], x.shape[1:], classes, protocol, seed=1,
                                jit_compile=runner.prepare(0).jit_compile)

        def plain_fit(plain=plain):
            plain.fit(xf, y[part], batch_size=protocol.batch_size, epochs=opts.epochs, verbose=0,
                      shuffle=True, validation_data=watch, callbacks=[clock])

        rounds = paired({"zoo": zoo_fit, "plain": plain_fit}, stamps, gpu.epoch_seconds,
                        opts.rounds)
        print("JSON " + json.dumps({"backend": keras.backend.backend(), "model": name,
                                    "images": int(len(part)), "total": int(len(x)),
                                    "rounds": rounds}), flush=True)
        del plain, runner
        RunnerFactory.release()


def paired(sides: dict, stamps: list, epoch_seconds, rounds_: int) -> list:
    """``rounds_`` rounds of each side's fit back to back, alternating which goes first: per
    round, each side's best epoch after the first (``stamps``: when each epoch ended, turned
    into seconds by ``epoch_seconds``). The first fit of each side traces and compiles and
    is not timed."""
    for fit in sides.values():
        fit()
    rounds = []
    for r in range(rounds_):
        best = {}
        for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            stamps.clear()
            sides[side]()
            best[side] = min(epoch_seconds(stamps))
        rounds.append(best)
    return rounds


def _sibling(name: str):
    """benchmarks/<name>.py as a module (this folder is not on sys.path: above)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(opts):
    start = time.perf_counter()
    args = ["--images", str(opts.images), "--rounds", str(opts.rounds), "--epochs",
            str(opts.epochs)]
    rows = _sibling("each_backend").each_backend(__file__, args, opts.backend)
    print(f"Sign MNIST, the first {rows[0]['total']:,} training images (one fold of 5: "
          f"{rows[0]['images']:,} trained on, the rest watched), batch "
          f"128; {opts.rounds} rounds of {opts.epochs} epochs a side, back to back; a round's figure is "
          "each side's best epoch after the first\n")
    print(f"{'backend':11} {'model':6} {'zoo s/epoch':>12} {'plain s/epoch':>14} "
          f"{'zoo/plain median':>17} {'(range)':>13} {'zoo vs tensorflow':>18}")
    best = {(r["backend"], r["model"]): min(x["zoo"] for x in r["rounds"]) for r in rows}
    for r in rows:
        ratios = sorted(x["zoo"] / x["plain"] for x in r["rounds"])
        base = best.get(("tensorflow", r["model"]))
        zoo_best = best[(r["backend"], r["model"])]
        versus = f"{zoo_best / base:.2f}" if base else "-"
        print(f"{r['backend']:11} {r['model']:6} {zoo_best:12.2f} "
              f"{min(x['plain'] for x in r['rounds']):14.2f} "
              f"{statistics.median(ratios):17.3f} {f'({ratios[0]:.2f}-{ratios[-1]:.2f})':>13} "
              f"{versus:>18}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    opts = options()
    if opts.child:
        child(opts)
    else:
        main(opts)
