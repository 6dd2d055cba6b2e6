"""Ray's overhead and scaling on one fixed workload, against the local executor.

    python benchmarks/scaleout.py      # Sign MNIST (5,000-image subset) if $ZOO_TEST_DATA
                                        # is set, else the bundled digits

Workload: CNN + ViT, 4 folds x 2 epochs, through the engine as `zoo run` drives it (fold
cells, store, report-ready facts), each configuration into a fresh results folder:

1. the local executor (in this process, default TensorFlow threads);
2. Ray, 1 slot (``cpus_per_task`` = every CPU of this machine);
3. Ray, 2 slots (``cpus_per_task`` = half of them).

Printed: wall time of each, as a ratio to the local run. Ray's start (``ray.init``, actors
importing TensorFlow) is included, since a user pays it. On a 2-core machine two folds side
by side gain nothing over one fold with two threads (measured), so the figure that matters
here is Ray's overhead at 1 slot (target <= 1.10x); its speed-up is for machines with more
cores, GPUs or nodes.
"""
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1 only

import zoo  # noqa: E402 (after the environment it reads)


class Subset:
    """A 5,000-image Sign MNIST subset as a dataset plugin (registered for the benchmark)."""

    def __init__(self, data_dir):
        self.data_dir = data_dir

    def load(self, _):
        import numpy as np

        from zoo.plugins import get_registry

        full = get_registry().datasets["sign-mnist"].load(self.data_dir)
        take = np.random.default_rng(0).choice(len(full.y), 5000, replace=False)
        return zoo.Dataset(name="sign-mnist-5000", x=full.x[take], y=full.y[take],
                           x_test=full.x_test, y_test=full.y_test,
                           class_names=full.class_names, source=f"{full.source}, 5,000 images")

    @zoo.hookimpl
    def register_datasets(self, register):
        register(zoo.DatasetSpec(name="sign-mnist-5000", load=self.load))


def timed(dataset: str, **executor) -> float:
    """Seconds of `zoo run cnn vit` on ``dataset`` (4 folds x 2 epochs, no report: training
    alone) with the executor settings given, into a fresh results folder."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = zoo.run(["cnn", "vit"], datasets=[dataset], folds=4, epochs=2, batch_size=128,
                       lr=1e-3, results=Path(tmp) / "results", keep_models="none",
                       quiet=True, render=False, **executor)
        seconds = time.perf_counter() - t0
    assert done.result.trained == 2 * 4 and not done.result.failed, done.result
    return seconds


def main():
    import contextlib

    from zoo.testing import registered

    data_dir = os.environ.get("ZOO_TEST_DATA")
    cpus = os.cpu_count() or 1
    runs = [("local executor", {}),
            ("Ray, 1 slot", {"executor": "ray", "cpus_per_task": float(cpus)}),
            ("Ray, 2 slots", {"executor": "ray", "cpus_per_task": max(cpus / 2, 0.5)})]
    with contextlib.ExitStack() as stack:
        dataset = "digits"
        if data_dir:   # a 5,000-image Sign MNIST subset, registered as a plugin would be
            stack.enter_context(registered(Subset(data_dir), "sign-subset"))
            dataset = "sign-mnist-5000"
        print(f"workload: {dataset}, cnn + vit, 4 folds x 2 epochs; {cpus} CPUs")
        base = None
        for name, executor in runs:
            seconds = timed(dataset, **executor)
            base = base or seconds
            print(f"{name:<16} {seconds:7.1f} s   ratio {seconds / base:.2f}", flush=True)


if __name__ == "__main__":
    main()
