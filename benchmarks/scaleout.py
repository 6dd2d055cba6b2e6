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


def workload():
    """(dataset spec, model specs): a 5,000-image Sign MNIST subset or digits."""
    import numpy as np

    import zoo
    from zoo.plugins import get_registry

    registry = get_registry()
    models = [registry.models["cnn"], registry.models["vit"]]
    data_dir = os.environ.get("ZOO_TEST_DATA")
    if not data_dir:
        return registry.datasets["digits"], models
    full = registry.datasets["sign-mnist"].load(data_dir)
    take = np.random.default_rng(0).choice(len(full.y), 5000, replace=False)

    def load(_):
        return zoo.Dataset(name="sign-mnist-5000", x=full.x[take], y=full.y[take],
                           x_test=full.x_test, y_test=full.y_test,
                           class_names=full.class_names, source=f"{full.source}, 5,000 images")

    return zoo.DatasetSpec(name="sign-mnist-5000", load=load, plugin="benchmark"), models


def timed(executor, dspec, models, protocol) -> float:
    from zoo.grid import engine

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = engine.run(models, [dspec], protocol, Path(tmp) / "results", quiet=True,
                            keep="none", executor=executor)
        seconds = time.perf_counter() - t0
    assert result.trained == 2 * protocol.folds and not result.failed, result
    return seconds


def main():
    from zoo.grid.executors import LocalExecutor
    from zoo.grid.executors.ray import RayExecutor
    from zoo.grid.protocol import Protocol

    dspec, models = workload()
    protocol = Protocol(folds=4, epochs=2, batch_size=128, lr=1e-3)
    cpus = os.cpu_count() or 1
    runs = [("local executor", LocalExecutor()),
            ("Ray, 1 slot", RayExecutor(cpus_per_task=cpus)),
            ("Ray, 2 slots", RayExecutor(cpus_per_task=max(cpus / 2, 0.5)))]
    print(f"workload: {dspec.name}, cnn + vit, {protocol.folds} folds x {protocol.epochs} "
          f"epochs; {cpus} CPUs")
    base = None
    for name, executor in runs:
        seconds = timed(executor, dspec, models, protocol)
        base = base or seconds
        print(f"{name:<16} {seconds:7.1f} s   ratio {seconds / base:.2f}", flush=True)


if __name__ == "__main__":
    main()
