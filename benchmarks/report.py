"""Render time and size of the report for synthetic facts of 10 folds x 3 models x
2 datasets x 24 classes (Sign MNIST-sized folds and test split). Targets: < 5 s, < 15 MB.

    python benchmarks/report.py
"""
import tempfile
import time
from pathlib import Path

from zoo.show import report
from zoo.grid.fakes import make_facts


def main():
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        t0 = time.perf_counter()
        make_facts(results, datasets=("sign-mnist", "other"),
                   models={"cnn": 0.97, "vit": 0.95, "resnet": 0.9}, folds=10, classes=24,
                   samples=27455, test_samples=7172, epochs=50)
        made = time.perf_counter() - t0
        t0 = time.perf_counter()
        path = report.render(results, Path(tmp) / "out")
        seconds = time.perf_counter() - t0
        files = {p.name: p.stat().st_size for p in path.parent.iterdir()}
        total = sum(files.values())
        print(f"synthetic facts written in {made:.1f} s")
        print(f"render: {seconds:.2f} s (target < 5 s)")
        print(f"size: {total / 1e6:.2f} MB in total (target < 15 MB): "
              + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(files.items())))


if __name__ == "__main__":
    main()
