"""How good are the built-in models under zoo's protocol? Two measurements on the real Sign
MNIST (found through $ZOO_TEST_DATA):

1. ``--per-epoch`` (default): for each model, fold 1 of a 10-fold split of the training CSV
   (9/10 of it, 24,709 images), trained the way `zoo run` trains (zoo.grid.train.FoldRunner: the
   protocol's optimizer, schedule, loss, augmentation in the input pipeline, XLA where the
   model asks for it), printing the official test split's accuracy after every epoch and
   the seconds each epoch took.

       ZOO_TEST_DATA=../shared/data python benchmarks/accuracy.py --preset paper --epochs 40
       ZOO_TEST_DATA=../shared/data python benchmarks/accuracy.py --models vit:stem=conv

2. ``--curve 0.1,0.25,0.5``: one learning curve, `zoo run` itself with --train-sizes (and
   --folds 3), then the report's learning-curve table, printed.

       ZOO_TEST_DATA=../shared/data python benchmarks/accuracy.py --curve 0.1,0.25,0.5 \\
           --epochs 5 --dataset sign-mnist-small --results /tmp/curve

Protocol settings not given come from the preset (default: quick).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def protocol_from(args, **extra):
    from zoo.grid.protocol import resolve

    return resolve(preset=args.preset, epochs=args.epochs, lr=args.lr, schedule=args.schedule,
                   warmup=args.warmup, weight_decay=args.weight_decay,
                   label_smoothing=args.label_smoothing, augment=args.augment, **extra)


def per_epoch(args, registry, data_dir):
    import keras

    from zoo import options
    from zoo.grid.protocol import make_splits
    from zoo.grid.train import FoldRunner, _tf_dataset

    ds = registry.datasets["sign-mnist"].load(data_dir)
    protocol = protocol_from(args, folds=10)
    fold_of = make_splits(ds.y, protocol)
    test = _tf_dataset(ds.x_test, ds.y_test, 512)
    print(f"sign-mnist: fold 1 of 10 ({int((fold_of != 0).sum())} training images), "
          f"{len(ds.x_test)} official test images; {protocol.epochs} epochs, batch "
          f"{protocol.batch_size}, {protocol.recipe()}; keras {keras.__version__}", flush=True)

    class TestEachEpoch(keras.callbacks.Callback):
        def __init__(self, name):
            super().__init__()
            self.name, self.best = name, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.t0
            prob = self.model.predict(test, verbose=0)
            acc = float((prob.argmax(axis=1) == ds.y_test).mean())
            self.best = max(self.best, acc)
            print(f"{self.name} epoch {epoch + 1:3d}: {seconds:6.1f} s, train loss "
                  f"{logs['loss']:.4f}, test accuracy {acc:.4f} (best {self.best:.4f})",
                  flush=True)

    original_fit = keras.Model.fit
    for name in args.models:
        spec = options.resolve(name, registry.models)
        runner = FoldRunner(spec, ds, protocol)
        callback = TestEachEpoch(name)

        def fit(self, *a, callbacks=None, _cb=callback, **kw):
            return original_fit(self, *a, callbacks=list(callbacks or []) + [_cb], **kw)

        keras.Model.fit = fit
        try:
            start = time.perf_counter()
            facts, arrays, _ = runner.run(0, fold_of)
        finally:
            keras.Model.fit = original_fit
        acc = float((arrays["test_prob"].argmax(axis=1) == ds.y_test).mean())
        print(f"{name}: {facts['params']:,} parameters, XLA {facts['xla']}, "
              f"{time.perf_counter() - start:.0f} s in all; final official-test accuracy "
              f"{acc:.4f}, held-out fold accuracy "
              f"{float((arrays['y_prob'].argmax(axis=1) == arrays['y_true']).mean()):.4f}",
              flush=True)
        keras.backend.clear_session()


def curve(args, registry, data_dir):
    import zoo
    from zoo.judge import verdict
    from zoo.judge.facts import load_results

    settings = {k: getattr(args, k) for k in ("preset", "epochs", "lr", "schedule", "warmup",
                                              "weight_decay", "label_smoothing", "augment")
                if getattr(args, k) is not None}
    start = time.perf_counter()
    done = zoo.run(args.models, datasets=[args.dataset], data_dir=data_dir, folds=args.folds,
                   train_sizes=args.curve, results=args.results, keep_models="none",
                   quiet=True, render=False, **settings)
    print(f"{args.dataset}: {args.folds} folds, sizes {args.curve} and 1.0, "
          f"{done.result.trained} cells: {time.perf_counter() - start:.0f} s")
    for run in load_results(args.results)[0]:
        said = verdict.learning_curve(run)
        for row in said["rows"]:
            cells = "  ".join(f"{m} {row['models'][m]['text']}" for m in said["models"])
            tests = "; ".join(f"{c.a} − {c.b}: {c.mean_diff * 100:+.1f} points (95% CI "
                              f"{c.ci_low * 100:+.1f} to {c.ci_high * 100:+.1f}), {c.verdict}"
                              for c in row["comparisons"])
            print(f"  {row['images']:>6,.0f} images ({row['size']:g}): {cells}  {tests}")
        print(" ", said["sentence"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "vit"],
                        help="models or variants, e.g. cnn vit:stem=conv")
    parser.add_argument("--preset", default=None, choices=["quick", "paper"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--schedule", default=None, choices=["constant", "cosine"])
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--label-smoothing", type=float, default=None)
    parser.add_argument("--augment", type=float, default=None)
    parser.add_argument("--curve", default=None, metavar="SIZES",
                        help="run one learning curve at these sizes instead")
    parser.add_argument("--folds", type=int, default=3, help="(--curve) folds")
    parser.add_argument("--dataset", default="sign-mnist", help="(--curve) dataset")
    parser.add_argument("--results", default="/tmp/zoo-curve", help="(--curve) facts folder")
    args = parser.parse_args()

    from zoo.backend import import_tf
    from zoo.plugins import get_registry

    import_tf()
    data_dir = os.environ.get("ZOO_TEST_DATA") or os.environ.get("ZOO_DATA_DIR")
    registry = get_registry()
    (curve if args.curve else per_epoch)(args, registry, data_dir)


if __name__ == "__main__":
    main()
