"""Does the ranking survive fair tuning? The CNN and the ViT compared twice under one protocol
on Sign MNIST's small set (the test CSV, 7,172 images, found through $ZOO_TEST_DATA):

1. untuned: the paper preset's shared learning rate (Adam 1e-4) for both;
2. tuned: every model gets the same nested search (`--tune`), TRIALS trials each inside
   each of the 3 outer folds, over lr x weight_decay (and the ViT's patch size), pruned.

Both through `zoo run` in a fresh process, with the same folds, epochs and seed; printed:
each model's held-out accuracy (mean ± std over folds), the settings each fold chose, the
trials' epochs, the wall time, and the report's conclusion in each case.

    ZOO_TEST_DATA=../shared/data python benchmarks/tuning.py [--epochs 8] [--trials 12]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def zoo_run(args, results, extra) -> float:
    data = os.environ.get("ZOO_TEST_DATA")
    if not data:
        sys.exit("set ZOO_TEST_DATA to the folder holding sign_mnist.npz")
    command = [sys.executable, "-m", "zoo.cli", "run", "cnn", "vit", "-d", "sign-mnist-small",
               "--data-dir", data, "--folds", "3", "--epochs", str(args.epochs), "--lr",
               "1e-4", "--seed", "0", "--results", results, "--out", results + "-report",
               "--keep-models", "none", "-q", *extra]
    print("$ zoo " + " ".join(command[3:]), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"zoo run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def show(results, wall) -> None:
    from zoo.show import report

    d = report.build_context(results)["datasets"][0]
    print(f"  wall time {wall / 60:.1f} min")
    for row in d["summary"]:
        print(f"  {row['model']}: held-out accuracy {row['cells']['accuracy']['text']}")
    if d["tuning"]:
        for m, md in d["tuning"]["models"].items():
            for r in md["rows"]:
                chosen = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in sorted(r["settings"].items()))
                print(f"  {m} fold {r['fold']}: chose {chosen} (inner accuracy "
                      f"{r['best_score']:.4f}, trial {r['best_trial'] + 1} of {r['trials']}, "
                      f"{r['pruned']} pruned, {r['epochs']} epochs trained)")
    print("  conclusion: " + d["conclusion"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--results", default=None, help="where to keep the facts")
    args = parser.parse_args()
    root = args.results or tempfile.mkdtemp(prefix="zoo-tuning-")
    print(f"sign-mnist-small, cnn and vit, 3 outer folds, {args.epochs} epochs, seed 0")
    print("1. untuned: Adam lr 1e-4 for both (the paper preset's shared rate)")
    wall = zoo_run(args, os.path.join(root, "untuned"), [])
    show(os.path.join(root, "untuned"), wall)
    space = ["--tune", "lr=1e-4..1e-2:log", "--tune", "weight_decay=0..0.1", "--tune",
             "vit:patch_size=4,7", "--trials", str(args.trials), "--prune"]
    print(f"2. tuned: {args.trials} trials per model in each outer fold, " + " ".join(space))
    wall = zoo_run(args, os.path.join(root, "tuned"), space)
    show(os.path.join(root, "tuned"), wall)


if __name__ == "__main__":
    main()
