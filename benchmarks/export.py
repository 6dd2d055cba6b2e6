"""What an exported model costs on one image, against the Keras model it came from: the
study's CNN and ViT (as zoo's plugins build them for Sign MNIST: 28x28 gray, 24 classes)
exported as ONNX, LiteRT and a SavedModel through zoo.grid.export, each checked (top-1
agreement, largest difference in a probability) and timed by its own runtime on this
machine (median of 50 calls on one image, after 5 untimed; the same for Keras'
predict_on_batch, in the same process). The models are untrained: latency does not depend on
the weights, and agreement is checked all the same.

    python benchmarks/export.py            # about a minute on 2 cores
"""
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from zoo.errors import ZooError  # noqa: E402
from zoo.grid import export  # noqa: E402
from zoo.grid.modelio import model_bytes  # noqa: E402
from zoo.plugins import get_registry  # noqa: E402

ROUNDS = 3


def main():
    registry = get_registry()
    x = np.random.default_rng(0).random((200, 28, 28, 1)).astype(np.float32)
    print("one image, median ms of 50 calls (best of 3 rounds); ratio = export / Keras\n")
    print(f"{'model':6} {'format':12} {'Keras ms':>9} {'export ms':>10} {'ratio':>6} "
          f"{'top-1 agreement':>16} {'max |diff|':>11} {'size':>9}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for name in ("cnn", "vit"):
            spec = registry.models[name]
            model = spec.build((28, 28, 1), 24)
            model.predict(x[:2], verbose=0)
            kept = Path(folder) / f"{name}.keras"
            kept.write_bytes(model_bytes(model))
            custom = spec.custom_objects() if spec.custom_objects else None
            chosen = export.Chosen(name, kept, None, "untrained")
            for fmt in ("onnx", "litert", "saved_model"):
                try:
                    rounds = [export.export(chosen, fmt, Path(folder) / f"{name}-{fmt}"
                                            f"{export.FORMATS[fmt][0]}", x, custom)
                              for _ in range(ROUNDS)]
                except ZooError as exc:
                    print(f"{name:6} {fmt:12} not exported: {exc}", flush=True)
                    continue
                keras_ms = min(r["keras_latency_ms"] for r in rounds)
                export_ms = min(r["latency_ms"] for r in rounds)
                r = rounds[0]
                print(f"{name:6} {fmt:12} {keras_ms:9.2f} {export_ms:10.2f} "
                      f"{export_ms / keras_ms:6.2f} {r['top1_agreement']:16.2%} "
                      f"{r['max_abs_diff']:11.1e} {r['size_bytes'] / 1e6:7.1f} MB", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
