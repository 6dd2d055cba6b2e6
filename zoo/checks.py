"""Checking what a model plugin builds, before anything trains on it: a keras.Model whose
output is one probability vector per image. A plugin's mistake costs seconds, not the hours
the other models would train first."""
from __future__ import annotations

from zoo.errors import PluginError


def build_checked(spec, input_shape, num_classes: int):
    """``spec.build(input_shape, num_classes)``, checked: a keras.Model whose output is
    (None, num_classes). A plugin's mistake raises PluginError naming model and plugin."""
    import keras

    who = f"model '{spec.name}' (plugin {spec.plugin})"
    try:
        model = spec.build(tuple(input_shape), int(num_classes))
    except Exception as exc:
        raise PluginError(f"{who}: build failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise PluginError(f"{who}: build() returned {type(model).__name__}, expected a "
                          "keras.Model")
    shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    if shape is None or shape[1:] != (num_classes,):
        raise PluginError(f"{who}: output shape {model.output_shape}, expected (None, "
                          f"{num_classes}) class probabilities")
    return model


def check_models(specs, shapes) -> dict:
    """Build every model once for every (input shape, number of classes) in ``shapes`` and
    check its output. Returns {(model, shape): error text}."""
    import keras

    from zoo.distribute import import_tf

    import_tf()
    errors = {}
    for spec in specs:
        for shape in shapes:
            try:
                build_checked(spec, *shape)
            except PluginError as exc:
                errors[spec.name, shape] = str(exc)
            finally:
                keras.backend.clear_session()
    return errors
