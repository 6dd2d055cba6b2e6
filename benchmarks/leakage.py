"""Random vs grouped k-fold on the full Sign Language MNIST, next to the official test split.

    ZOO_TEST_DATA=../shared/data python benchmarks/leakage.py [--epochs 3] [--model cnn]

Prints: the leakage check's time and peak memory; the 1-nearest-neighbour score on held-out
folds under a random (stratified) and a grouped split, and on the test split; then one fold of
a model trained under each split, scored on its held-out fold and on the test split.
"""
import argparse
import os
import resource
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args()

    from zoo.grid import leakage
    from zoo import metrics
    from zoo.plugins import get_registry
    from zoo.grid.protocol import Protocol, make_splits

    registry = get_registry()
    ds = registry.datasets["sign-mnist"].load(os.environ["ZOO_TEST_DATA"])
    protocol = Protocol(folds=args.folds, epochs=args.epochs, batch_size=128, lr=1e-3)
    before = rss_mb()
    t0 = time.perf_counter()
    random_folds = make_splits(ds.y, protocol)
    random_check = leakage.check(ds.x, ds.y, random_folds, ds.x_test, ds.y_test)
    check_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    groups = leakage.groups(ds.x, ds.y, random_check["near_copy_threshold"])
    groups_s = time.perf_counter() - t0
    grouped = replace(protocol, split="grouped")
    grouped_folds = make_splits(ds.y, grouped, groups)
    grouped_check = leakage.check(ds.x, ds.y, grouped_folds, ds.x_test, ds.y_test)
    print(f"data: {len(ds.x)} train x {ds.x[0].size} pixels, {len(ds.x_test)} test")
    print(f"leakage check: {check_s:.1f} s; grouping near-copies: {groups_s:.1f} s "
          f"({len(set(groups.tolist()))} groups); peak memory {rss_mb():.0f} MB "
          f"(+{rss_mb() - before:.0f} MB)")
    print(f"{'split':<12}{'held-out 1-NN':>15}{'test 1-NN':>11}{'held-out NN dist':>18}"
          f"{'test NN dist':>14}")
    for name, c in (("random", random_check), ("grouped", grouped_check)):
        print(f"{name:<12}{c['fold']['one_nn_accuracy']:>15.3f}{c['test']['one_nn_accuracy']:>11.3f}"
              f"{c['fold']['median_distance']:>18.3f}{c['test']['median_distance']:>14.3f}")

    from zoo.grid.train import FoldRunner

    spec = registry.models[args.model]
    print(f"\n{args.model}, fold 1 of {args.folds}, {args.epochs} epochs, Adam lr 1e-3:")
    print(f"{'split':<12}{'held-out acc':>14}{'test acc':>10}{'held-out F1':>13}{'test F1':>9}")
    for name, p, fold_of in (("random", protocol, random_folds),
                             ("grouped", grouped, grouped_folds)):
        facts, arrays, _ = FoldRunner(spec, ds, p).run(0, fold_of)
        held = metrics.scores(arrays["y_true"], arrays["y_prob"], ds.num_classes)
        test = metrics.scores(ds.y_test, arrays["test_prob"], ds.num_classes)
        print(f"{name:<12}{held['accuracy']:>14.4f}{test['accuracy']:>10.4f}"
              f"{held['f1']:>13.4f}{test['f1']:>9.4f}", flush=True)


if __name__ == "__main__":
    main()
