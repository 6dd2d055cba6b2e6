"""How good are the built-in models' defaults? Train each on the full Sign MNIST training CSV
data and print the official test-split accuracy after every epoch, with seconds per epoch.

    ZOO_TEST_DATA=../shared/data python benchmarks/accuracy.py [--epochs 10] [--models cnn,vit]

Uses zoo's own plugin specs, optimizer and input pipeline settings (Adam, batch 128).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--models", default="cnn,vit")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    import keras

    from zoo.plugins import get_registry
    from zoo.train import _tf_dataset

    registry = get_registry()
    data_dir = os.environ.get("ZOO_TEST_DATA") or os.environ.get("ZOO_DATA_DIR")
    ds = registry.datasets["sign-mnist"].load(data_dir)
    train = _tf_dataset(ds.x, ds.y, args.batch_size, seed=0)
    test = _tf_dataset(ds.x_test, ds.y_test, 512)
    print(f"sign-mnist: {len(ds.x)} train, {len(ds.x_test)} test; batch {args.batch_size}, "
          f"Adam lr {args.lr}, keras {keras.__version__}", flush=True)
    for name in args.models.split(","):
        keras.utils.set_random_seed(0)
        model = registry.models[name].build(ds.input_shape, ds.num_classes)
        model.compile(optimizer=keras.optimizers.Adam(args.lr),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        print(f"{name}: {model.count_params():,} parameters", flush=True)
        for epoch in range(1, args.epochs + 1):
            t0 = time.perf_counter()
            model.fit(train, epochs=1, verbose=0, shuffle=False)
            seconds = time.perf_counter() - t0
            _, acc = model.evaluate(test, verbose=0)
            print(f"{name} epoch {epoch:2d}: {seconds:5.1f} s, test accuracy {acc:.4f}",
                  flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
