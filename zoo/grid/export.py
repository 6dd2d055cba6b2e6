"""The chosen model leaves zoo: a kept model exported (Keras' own format, ONNX, LiteRT or a
TensorFlow SavedModel, through Keras' ``Model.export``), with proof that it still answers the
same: the exported file is loaded back by its own runtime and checked against the Keras model
on up to :data:`PARITY_IMAGES` images (largest difference in probabilities, top-1 agreement),
and both are timed on one image on this machine.

Which model: the final model (``--keep-models final``), trained on all the training data,
when the run kept one; else the fold model with the best held-out score on the primary
metric, named as such.
"""
from __future__ import annotations

import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.grid.modelio import load_model
from zoo.grid.train import as_float
from zoo.store import read_json, safe_name, write_json

#: format -> (the file's suffix, Keras' name for it, the backend that can write it)
FORMATS = {"keras": (".keras", None, None),
           "onnx": (".onnx", "onnx", ("tensorflow", "torch", "jax")),
           "litert": (".tflite", "litert", ("tensorflow",)),
           "saved_model": ("", "tf_saved_model", ("tensorflow",))}
#: the least share of images on which the export's top class must be the Keras model's
AGREEMENT = 0.999
PARITY_IMAGES = 1000
LATENCY_CALLS, WARM_UP = 50, 5


@dataclass
class Chosen:
    """The kept model to export and what it is, in words."""
    model: str
    path: Path
    fold: int | None            # None: the final model
    what: str                   # 'the final model (all 1,797 training images)', ...


def choose(run, model: str, metric: str) -> Chosen:
    """The final model when the run kept one, else the best fold's by held-out ``metric``."""
    store = run.store
    if model not in run.info.get("models", []):
        raise ZooError(f"MODEL: {model!r} is not in run {store.run_id} ({run.name}); its "
                       f"models: {', '.join(run.info.get('models', []))}")
    final = store.model_path(model)
    if final.exists():
        meta = final.with_suffix(".json")
        facts = read_json(meta) if meta.exists() else {}
        images = facts.get("train_samples")
        return Chosen(model, final, None, "the final model, trained on all the training data"
                      + (f" ({images:,} images)" if images else ""))
    higher = run.metrics[metric].higher_is_better if metric in run.metrics else True
    kept = [f for f in run.ok_folds(model) if store.model_path(model, f.fold).exists()]
    if not kept:
        raise ZooError(f"run {store.run_id} ({run.name}) kept no model of {model}: run it with "
                       "--keep-models final (or folds)")
    def rank(fold):   # a fold without a finite score never wins, whichever way is better
        score = fold.scores.get(metric)
        scored = isinstance(score, (int, float)) and np.isfinite(score)
        return (scored, (score if higher else -score) if scored else 0.0)

    best = max(kept, key=rank)
    return Chosen(model, store.model_path(model, best.fold), best.fold,
                  f"fold {best.fold + 1}'s model (the best held-out {metric} of the "
                  f"{len(kept)} kept folds: {best.scores.get(metric, float('nan')):.4f})")


def export(chosen: Chosen, fmt: str, target: Path, images: np.ndarray,
           custom_objects=None) -> dict:
    """Write ``chosen`` as ``fmt`` at ``target``, load it back with its own runtime and check
    it against the Keras model on ``images``; the facts (saved beside it as
    <target>.parity.json). Raises ZooError when the export does not answer the same."""
    import keras  # lazy: Keras starts its backend (4 s); only exporting needs it

    suffix, keras_name, backends = FORMATS[fmt]
    backend = keras.backend.backend()
    if backends is not None and backend not in backends:
        raise ZooError(f"--format {fmt}: the {backend} backend cannot write it; "
                       f"{' or '.join(backends)} can (KERAS_BACKEND=...)")
    model = load_model(chosen.path, custom_objects)
    x = as_float(images)
    expected = np.asarray(model.predict(x, verbose=0), dtype=np.float32)
    _remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "keras":
            shutil.copyfile(chosen.path, target)
        else:
            model(x[:1], training=False)   # Keras exports on JAX only a model it has called
            model.export(str(target), format=keras_name, verbose=False)
        run = _runtime(fmt, target, custom_objects)
        got = run(x)
    except ImportError as exc:
        how = ("pip install jax2onnx: Keras writes ONNX on JAX through it" if backend == "jax"
               else "pip install 'keras-zoo[export]'")
        raise ZooError(f"--format {fmt}: {_first_line(exc)} ({how})") from None
    except Exception as exc:   # a converter that cannot write a layer, a runtime that refuses it
        _remove(target)
        raise ZooError(f"--format {fmt}: {chosen.model} could not be exported and loaded back "
                       f"by its runtime: {type(exc).__name__}: {_first_line(exc)}; another "
                       "--format may take it") from None
    agreement = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    facts = {"model": chosen.model, "format": fmt, "path": str(target), "source": chosen.what,
             "kept_model": str(chosen.path), "images": int(len(x)),
             "max_abs_diff": float(np.max(np.abs(got - expected))) if len(x) else 0.0,
             "top1_agreement": agreement, "backend": backend,
             "latency_ms": _latency(run, x[:1]),
             "keras_latency_ms": _latency(lambda b: model.predict_on_batch(b), x[:1]),
             "size_bytes": _size(target)}
    write_json(Path(str(target) + ".parity.json"), facts)
    if agreement < AGREEMENT:
        raise ZooError(f"{target}: the {fmt} export agrees with the Keras model on the top "
                       f"class of only {agreement:.2%} of {len(x):,} images (at least "
                       f"{AGREEMENT:.1%} expected; largest difference in a probability "
                       f"{facts['max_abs_diff']:.2e}); the numbers are in {target}.parity.json")
    return facts


def target_path(out: Path, run, model: str, fmt: str) -> Path:
    """<out>/<model>-<dataset>-<run id>.<suffix>."""
    return Path(out) / (f"{safe_name(model)}-{safe_name(run.name)}-{run.store.run_id}"
                        + FORMATS[fmt][0])


def _runtime(fmt: str, path: Path, custom_objects):
    """x -> probabilities, from the exported file through its own runtime."""
    if fmt == "keras":
        again = load_model(path, custom_objects)
        return lambda x: np.asarray(again.predict_on_batch(x), dtype=np.float32)
    if fmt == "onnx":
        import onnxruntime  # lazy: an optional package (keras-zoo[export])

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: np.asarray(session.run(None, {name: x.astype(np.float32)})[0])
    import tensorflow as tf  # lazy: LiteRT and SavedModel files are TensorFlow's

    if fmt == "saved_model":
        loaded = tf.saved_model.load(str(path))
        return lambda x: np.asarray(loaded.serve(tf.constant(x, tf.float32)))
    with warnings.catch_warnings():   # tf.lite's interpreter says LiteRT's own is newer
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path))

    def litert(x):
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x.astype(np.float32))
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))

    return litert


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else "")[:400]


def _latency(run, one: np.ndarray) -> float:
    """Median milliseconds of one image's answer, after a few untimed calls."""
    for _ in range(WARM_UP):
        run(one)
    times = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        run(one)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
