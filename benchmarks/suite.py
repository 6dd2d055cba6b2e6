"""Wall time of the test suite on this machine, each part in a fresh pytest process, as CI runs
it (`python -m pytest -n auto`: pytest-xdist, a worker per core; CI=true, ZOO_TEST_DATA set).

    ZOO_TEST_DATA=../shared/data python benchmarks/suite.py [--workers N] [--parts ...]

The parts:

- ``tensorflow``: everything on TensorFlow (the README's command, first part);
- ``jax-backends``, ``torch-backends``: the fast tests of the modules marked ``backends`` on
  JAX and on PyTorch (its second and third parts);
- ``tensorflow-fast``: the fast tier (``-m "not slow"``) on TensorFlow, what a developer runs
  while working;
- ``jax-fast``, ``torch-fast``: the whole fast tier on JAX and on PyTorch, what CI would run
  instead of the marked modules if it ran every backend's fast tier.

Prints seconds and pytest's summary line for each part, then the README command's total and
the total with every backend's whole fast tier in its place, each as a ratio to the first.
``--workers 0`` runs each part in one process (no xdist).
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: part: (Keras backend, pytest's -m expression, or None for everything)
PARTS = {
    "tensorflow": ("tensorflow", None),
    "jax-backends": ("jax", "backends and not slow"),
    "torch-backends": ("torch", "backends and not slow"),
    "tensorflow-fast": ("tensorflow", "not slow"),
    "jax-fast": ("jax", "not slow"),
    "torch-fast": ("torch", "not slow"),
}
README = ("tensorflow", "jax-backends", "torch-backends")
EVERY_FAST_TIER = ("tensorflow", "jax-fast", "torch-fast")


def timed(workers: str, backend: str, marker: str | None):
    env = {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "2",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "KERAS_BACKEND": backend}
    args = ["-m", marker] if marker else []
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", workers, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - t0
    summary = [line for line in done.stdout.splitlines()
               if re.search(r"\d+ (passed|failed)", line)]
    return seconds, summary[-1] if summary else done.stdout[-500:]


def total(times: dict, parts) -> float | None:
    return sum(times[p] for p in parts) if all(p in times for p in parts) else None


def main():
    if not os.environ.get("ZOO_TEST_DATA"):
        sys.exit("set ZOO_TEST_DATA to the folder with sign_mnist.npz (CI: ../shared/data)")
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="auto", help="pytest-xdist's -n (0: one process)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, of: {', '.join(PARTS)} (default: all)")
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; expected some of "
                     f"{', '.join(PARTS)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; pytest -n {args.workers}")
    times = {}
    for part in parts:
        backend, marker = PARTS[part]
        times[part], line = timed(args.workers, backend, marker)
        what = f"-m '{marker}'" if marker else "everything"
        print(f"{part:16} {backend:10} {what:26} {times[part]:6.0f} s  [{line}]", flush=True)
    readme, every = total(times, README), total(times, EVERY_FAST_TIER)
    if readme:
        print(f"\nthe README's command ({' + '.join(README)}): {readme:.0f} s "
              f"({readme / 60:.1f} minutes)")
    if readme and every:
        print(f"with every backend's whole fast tier ({' + '.join(EVERY_FAST_TIER)}): "
              f"{every:.0f} s ({every / 60:.1f} minutes), {every / readme:.2f} x the README's")
    if "tensorflow-fast" in times and "tensorflow" in times:
        print(f"TensorFlow's fast tier / everything: "
              f"{times['tensorflow-fast'] / times['tensorflow']:.2f}")


if __name__ == "__main__":
    main()
