"""One CNN epoch and one ViT epoch on Sign Language MNIST on every installed Keras backend,
through zoo's fold runner (its one input pipeline, benchmarks/gpu.py) and through plain
``model.fit`` on float arrays with the same model, batch and held-out fold watched each
epoch: the ratio zoo / plain fit per backend (goal: <= 1.05), and each backend against
TensorFlow. Each backend runs in its own process (a process runs one backend), ROUNDS times
alternating, keeping each side's best (this VM's timings are bimodal). No augmentation on
either side (plain fit has none); the first, compiling epoch is left out.

    ZOO_TEST_DATA=../shared/data python benchmarks/backends.py   # about 10 minutes on 2 cores
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS, IMAGES, EPOCHS = 2, 3000, 3


def installed() -> list:
    sys.path.insert(0, str(ROOT))
    from zoo.backend import installed as versions

    return [name for name, version in versions().items() if version]


def one(backend: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--images",
                           str(IMAGES), "--epochs", str(EPOCHS), "--json"], env=env,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise SystemExit(f"{backend}: {done.stderr[-2000:]}")
    rows = [json.loads(line[5:]) for line in done.stdout.splitlines() if line.startswith("JSON ")]
    return {r["model"]: r for r in rows}


def main():
    backends = installed()
    start = time.perf_counter()
    best = {}
    for _ in range(ROUNDS):
        for backend in backends:
            for model, r in one(backend).items():
                key = (backend, model)
                old = best.get(key, {"zoo": float("inf"), "plain": float("inf")})
                best[key] = {"zoo": min(old["zoo"], r["zoo"]),
                             "plain": min(old["plain"], r["plain"]), "images": r["images"]}
    print(f"Sign MNIST, the first {IMAGES:,} training images (one fold of 5: "
          f"{next(iter(best.values()))['images']:,} trained on), batch 128, {EPOCHS} epochs "
          f"(the first left out), best of {ROUNDS} rounds\n")
    print(f"{'backend':11} {'model':6} {'zoo s/epoch':>12} {'plain s/epoch':>14} "
          f"{'zoo/plain':>10} {'zoo vs tensorflow':>18}")
    for (backend, model), r in best.items():
        base = best.get(("tensorflow", model))
        versus = f"{r['zoo'] / base['zoo']:.2f}" if base else "-"
        print(f"{backend:11} {model:6} {r['zoo']:12.2f} {r['plain']:14.2f} "
              f"{r['zoo'] / r['plain']:10.2f} {versus:>18}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
