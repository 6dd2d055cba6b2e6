"""Checking what a model plugin builds, before anything trains on it: a keras.Model whose
output is one probability vector per image. A plugin's mistake costs seconds, not the hours
the other models would train first."""
from __future__ import annotations

import functools
import inspect
import os
import warnings

import numpy as np

from zoo.backend import start_keras
from zoo.errors import ConfigError, PluginError


def build_checked(spec, input_shape, num_classes: int):
    """``spec.build(input_shape, num_classes)``, checked: a keras.Model whose output is
    (None, num_classes). A plugin's mistake raises PluginError naming model and plugin."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    who = f"model '{spec.name}' (plugin {spec.plugin})"
    try:
        model = spec.build(tuple(input_shape), int(num_classes))
    except ConfigError as exc:   # an option value the model cannot use: the user's to fix
        raise ConfigError(f"{who}: {exc}") from None
    except Exception as exc:
        raise PluginError(f"{who}: build failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise PluginError(f"{who}: build() returned {type(model).__name__}, expected a "
                          "keras.Model")
    shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    if shape is None or shape[1:] != (num_classes,):
        raise PluginError(f"{who}: output shape {model.output_shape}, expected (None, "
                          f"{num_classes}) class probabilities")
    problem = probability_problem(_outputs(model, input_shape))
    if problem:
        raise PluginError(f"{who}: its outputs are not class probabilities ({problem}): "
                          "apply softmax as the last layer (Dense(num_classes, "
                          "activation='softmax'))")
    return model


#: how far a row of probabilities may sum from 1 (float16 and float32 rounding)
TOLERANCE = 1e-3


def _outputs(model, input_shape):
    """The model's outputs for a few made-up images: black, white and noise."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros((1, *input_shape)), np.ones((1, *input_shape)),
                        rng.random((2, *input_shape))]).astype("float32")
    from keras import ops  # lazy: Keras starts its backend (4 s); only training needs it

    return ops.convert_to_numpy(model(x, training=False)).astype("float64")


def probability_problem(prob) -> str:
    """What is wrong with rows that should be class probabilities, or ''. Rows with NaN or
    infinity are left to training, which reports a model that diverges as a failed fold."""
    prob = prob[np.isfinite(prob).all(axis=1)]
    if not len(prob):
        return ""
    sums = prob.sum(axis=1)
    if prob.min() < -TOLERANCE:
        return f"values from {prob.min():.3g} to {prob.max():.3g}; probabilities are >= 0"
    if np.abs(sums - 1).max() > TOLERANCE:
        return f"rows sum to {sums.min():.4g}..{sums.max():.4g}, not 1"
    return ""


def check_models(specs, shapes, warn=None) -> dict:
    """Build every model once for every (input shape, number of classes) in ``shapes`` and
    check its output. Returns {(model, shape): the error}: a PluginError (the plugin's
    mistake), or a ConfigError (the model cannot take that shape or option value, as a
    patch size that does not tile the image: the user's choice, not a bug). Variants of one
    model that build the same architecture are told to ``warn`` (see :func:`same_builds`)."""
    keras = start_keras()   # on TensorFlow: quietly (a bare `import keras` is noisy)

    errors, built, notes = {}, {}, []
    for spec in specs:
        for shape in shapes:
            try:
                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always")
                    built[spec.base or spec.name, spec.name, shape] = \
                        architecture(build_checked(spec, *shape))
                notes += [f"model '{spec.name}' on {shape[0]} images: {w.message}"
                          for w in said if _from_plugin(w, spec)]
            except (PluginError, ConfigError) as exc:
                errors[spec.name, shape] = exc
            finally:
                keras.backend.clear_session()
    for line in list(dict.fromkeys(notes)) + same_builds(built):
        (warn or (lambda text: None))(line)
    return errors


def _from_plugin(warning, spec) -> bool:
    """A warning the plugin's own ``build`` gave (what a user should know about the model on
    that dataset), not one of Keras' or TensorFlow's."""
    build = spec.build
    while isinstance(build, functools.partial):
        build = build.func
    try:
        return os.path.samefile(warning.filename, inspect.getsourcefile(build))
    except (TypeError, OSError):
        return False


def architecture(model) -> tuple:
    """What makes two built models the same network: each layer's class, its configuration
    (its name left out: Keras numbers names per build) and its output shape, and the number
    of parameters."""
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        layers.append((type(layer).__name__, repr(sorted(config.items(), key=str)),
                       _shapes(getattr(layer, "output", None))))
    return tuple(layers), int(model.count_params())


def _shapes(output) -> str:
    """A layer's output shape(s), without the tensors' names (numbered per build)."""
    outputs = output if isinstance(output, (list, tuple)) else [output]
    return repr([tuple(o.shape) if hasattr(o, "shape") else None for o in outputs])


def same_builds(built: dict) -> list:
    """``built``: {(base model, name, shape): architecture}. One line for every group of
    variants of one model (``vit:patch_size=4``, ``vit:patch_size=7``) that built the same
    architecture on a shape: an option that changes nothing (a ``build`` that ignores it)
    would make an ablation of identical models."""
    groups = {}
    for (base, name, shape), arch in built.items():
        groups.setdefault((base, shape, arch), []).append(name)
    return [f"{' and '.join(names)} build the same architecture ({arch[1]:,} parameters, "
            f"the same layers) on {shape[0]} x {shape[1]} classes: the option(s) that tell "
            f"them apart change nothing in the model; is the option passed to build?"
            for (base, shape, arch), names in groups.items() if len(set(names)) > 1]
