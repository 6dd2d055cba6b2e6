"""Wall time of the test suite on this machine: the fast tier (-m "not slow") and everything,
each in a fresh pytest process, as CI runs it (the README's command, `python -m pytest -n
auto`: pytest-xdist, a worker per core; CI=true, ZOO_TEST_DATA set).

    ZOO_TEST_DATA=../shared/data python benchmarks/suite.py [--workers N]

Prints seconds and pytest's summary line for each; the ratio is the fast tier's share.
``--workers 0`` times the suite in one process (no xdist), as it ran before.
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


def timed(workers: str, *args):
    env = {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "2",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", workers, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - t0
    summary = [line for line in done.stdout.splitlines()
               if re.search(r"\d+ (passed|failed)", line)]
    return seconds, summary[-1] if summary else done.stdout[-500:]


def main():
    if not os.environ.get("ZOO_TEST_DATA"):
        sys.exit("set ZOO_TEST_DATA to the folder with sign_mnist.npz (CI: ../shared/data)")
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="auto", help="pytest-xdist's -n (0: one process)")
    workers = parser.parse_args().workers
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; pytest -n {workers}")
    fast, fast_line = timed(workers, "-m", "not slow")
    print(f"fast tier (-m 'not slow'): {fast:.0f} s  [{fast_line}]")
    full, full_line = timed(workers)
    print(f"everything:                {full:.0f} s  [{full_line}]")
    print(f"fast tier / everything: {fast / full:.2f}")


if __name__ == "__main__":
    main()
