"""Streaming from the memory-mapped cache, measured two ways.

1. Speed: one CNN epoch on Sign Language MNIST's training split (``$ZOO_TEST_DATA``, else
   scikit-learn's digits) through zoo's input pipeline (zoo/grid/batches.py), reading the
   pixels from a memory-mapped .npy file against reading them from an array in memory; the
   file is read once before timing (a warm page cache). ROUNDS rounds, alternating, each
   side's best (this VM's timings are bimodal). Goal: <= 1.10.
2. Memory: `zoo run cnn --images FOLDER` on a folder of made-up 128x128 RGB photos whose
   decoded pixels are more than twice the --memory-limit the run gets, in a subprocess whose
   resident memory is sampled every 20 ms (/proc/PID/status: RssAnon, the process's own
   memory; file pages of the memory-mapped cache are the kernel's page cache and are
   reclaimable, so they are not counted). Growth = that peak less the peak of the same run on
   a folder of FEW such photos (Python, TensorFlow, the model and its training on full
   batches). Goal: growth under half of the decoded size. The same folder in memory (no limit)
   is shown beside it.

    ZOO_TEST_DATA=../shared/data python benchmarks/streaming.py   # about 6 minutes on 2 cores
"""
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")   # zoo's default (gpu.py's is jax)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

ROUNDS = 3
PHOTOS, SIDE = 3000, 128
#: the baseline's photos: enough for full batches of 128 in each fold's training part (the
#: memory of training itself), under a tenth of the pixels
FEW = 300


def epoch_seconds(x, y, model, protocol) -> float:
    from zoo.grid.batches import batches

    data = batches(x, y, None, protocol.batch_size, seed=1)
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return time.perf_counter() - start


def speed():
    import importlib.util

    loader = importlib.util.spec_from_file_location("gpu", ROOT / "benchmarks" / "gpu.py")
    gpu = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(gpu)   # the same data loading as the GPU benchmark
    data = gpu.data

    from zoo.backend import start_keras
    from zoo.grid.protocol import Protocol
    from zoo.grid.recipe import loss_for, optimizer_for
    from zoo.plugins import get_registry

    keras = start_keras()
    x, y, classes, name = data(False)
    protocol = Protocol(folds=5, epochs=1, batch_size=128, lr=1e-3)
    keras.utils.set_random_seed(0)
    model = get_registry().models["cnn"].build(x.shape[1:], classes)
    model.compile(optimizer=optimizer_for(protocol), loss=loss_for(protocol))
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "x.npy", x)
        mapped = np.load(Path(folder) / "x.npy", mmap_mode="r")
        int(np.asarray(mapped).sum() % 7)                     # warm the page cache
        epoch_seconds(x[:1024], y[:1024], model, protocol)    # trace the train step
        best = {"memory": float("inf"), "mapped": float("inf")}
        for _ in range(ROUNDS):
            for side, pixels in (("memory", x), ("mapped", mapped)):
                best[side] = min(best[side], epoch_seconds(pixels, y, model, protocol))
    print(f"1. one CNN epoch on {name} ({len(x):,} images, batch 128), best of {ROUNDS} "
          "rounds alternating")
    print(f"   in memory {best['memory']:.1f} s; memory-mapped {best['mapped']:.1f} s; "
          f"ratio {best['mapped'] / best['memory']:.3f} (goal <= 1.10)\n", flush=True)


def make_photos(folder: Path, count: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        label = i % 4
        (folder / f"c{label}").mkdir(parents=True, exist_ok=True)
        a = rng.integers(0, 200, (SIDE, SIDE, 3), dtype=np.uint8)
        a[8 + 20 * label:40 + 20 * label, 8:40] = 255
        Image.fromarray(a).save(folder / f"c{label}" / f"{i}.png")


def peak_memory(args: list) -> tuple:
    """(peak RssAnon in bytes, the run's exit code, its last output) of `zoo run ARGS`."""
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli", "run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    peak = [0]

    def sample():
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak[0] = max(peak[0], int(line.split()[1]) * 1024)
            except OSError:
                break
            time.sleep(0.02)

    watcher = threading.Thread(target=sample)
    watcher.start()
    out = proc.communicate()[0]
    watcher.join()
    return peak[0], proc.returncode, out.strip().splitlines()[-3:]


def memory():
    decoded = PHOTOS * SIDE * SIDE * 3
    limit = decoded // 2 - 1
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        make_photos(folder / "photos", PHOTOS)
        make_photos(folder / "few", FEW)
        common = ["cnn", "--folds", "2", "--epochs", "1", "--keep-models", "none", "-q",
                  "--image-size", str(SIDE), "--color", "rgb"]
        rows = {}
        for what, images, extra in (
                (f"baseline: {FEW} photos", "few", []),
                ("streamed", "photos", ["--memory-limit", str(limit)]),
                ("in memory", "photos", [])):
            where = folder / what.split(":")[0].replace(" ", "-")
            rows[what] = peak_memory(common + ["--images", str(folder / images),
                                               "--cache-dir", str(where / "cache"),
                                               "--results", str(where / "r"),
                                               "--out", str(where / "o")] + extra)
    print(f"2. zoo run cnn on {PHOTOS:,} photos of {SIDE}x{SIDE} RGB: decoded pixels "
          f"{decoded / 1e6:.0f} MB; --memory-limit {limit / 1e6:.0f} MB (under half of it)")
    base = rows[f"baseline: {FEW} photos"][0]
    for what, (peak, code, tail) in rows.items():
        growth = "" if what.startswith("baseline") else \
            f"; growth {(peak - base) / 1e6:.0f} MB = {(peak - base) / decoded:.2f} of the " \
            "decoded size"
        print(f"   {what:20} peak RssAnon {peak / 1e6:6.0f} MB{growth}"
              + ("" if code == 0 else f" (exit {code}: {tail})"), flush=True)
    print("   goal: the streamed run's growth under 0.50 of the decoded size")


def main():
    start = time.perf_counter()
    if "--memory-only" not in sys.argv:
        speed()
    memory()
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
