"""KerasHub backbones beside the CNN and the ViT: ``zoo run hub:preset=resnet_18_imagenet``.

KerasHub (the maintained home of Keras' pretrained vision models, which absorbed KerasCV)
brings the backbone and its input scaling; this plugin puts them under a classification head:

    image (zoo's [0, 1] pixels, any size; grayscale repeated to 3 channels)
      -> the preset's image converter (resized to its image size, its own scaling)
      -> the backbone (pretrained weights; frozen with trainable=false)
      -> global average pooling -> Dense(num_classes, softmax)

Options: ``preset`` (a KerasHub preset name, such as resnet_18_imagenet,
efficientnet_b0_ra_imagenet or mobilenet_v3_small_100_imagenet, or a local preset folder made
with ``Backbone.save_to_preset``), ``trainable`` (true: fine-tune everything; false: train the
new head on frozen features), ``image_size`` (the side the images are resized to; default:
the preset's, or 224). Weights come through KerasHub's own cache: fetched once when online.
Needs the ``hub`` extra; without it the model is listed as unavailable. Uses zoo's public
names only.
"""
from __future__ import annotations

import importlib.util
import os
import warnings

import zoo

INSTALL = "pip install 'keras-zoo[hub]' (or pip install -e \".[hub]\" in a checkout)"
#: the side images are resized to when neither the option nor the preset says
DEFAULT_SIZE = 224
#: the preset of a `hub` without options
DEFAULT_PRESET = "resnet_18_imagenet"


def available():
    if importlib.util.find_spec("keras_hub") is None:
        return False, f"needs KerasHub: {INSTALL}"
    return True, "KerasHub is installed"


def _keras_hub():
    try:
        if zoo.keras_backend() == "tensorflow":
            zoo.import_tensorflow()   # quietly, before KerasHub imports it
        import keras_hub
    except ImportError:
        raise zoo.ConfigError(f"hub: needs KerasHub: {INSTALL}") from None
    return keras_hub


def _backbone(keras_hub, preset: str, weights: bool = True):
    """The preset's backbone (with its weights); one line when it cannot be had."""
    try:
        return keras_hub.models.Backbone.from_preset(preset, load_weights=weights)
    except (OSError, ConnectionError) as exc:
        raise zoo.ConfigError(
            f"hub: preset '{preset}' cannot be loaded ({type(exc).__name__}: "
            f"{_at_a_word(exc, 160)}): a named preset is downloaded once through "
            "KerasHub's cache, which needs the internet the first time; offline, pass a local "
            "preset folder instead, hub:preset=/path/to/folder (made with "
            "Backbone.save_to_preset)") from None
    except ValueError as exc:
        raise zoo.ConfigError(f"hub: preset '{preset}': {_at_a_word(exc, 200)}") from None
    except Exception as exc:
        if not _out_of_memory(exc):
            raise
        raise zoo.ConfigError(
            f"hub: preset '{preset}': its backbone does not fit in this machine's memory "
            f"({type(exc).__name__}: {_at_a_word(exc, 120)}); check the preset's "
            "config.json (a layer size far too large?) or choose a smaller preset") from None


def _out_of_memory(exc) -> bool:
    """An allocation that failed: Python's MemoryError, or a framework's out-of-memory
    error (TensorFlow's ResourceExhaustedError, 'OOM' and 'out of memory' messages)."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "resourceexhausted" in text or \
        "out of memory" in text or " oom " in f" {text} "


def _at_a_word(exc, limit: int) -> str:
    """The first line of an error, cut at a word (with '...') when longer than ``limit``."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def _converter(keras_hub, preset: str, image_size):
    """The preset's image converter (resizing and scaling as the backbone was trained),
    resized to ``image_size`` when given; None when the preset has none."""
    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except (FileNotFoundError, ValueError):
        return None
    if image_size:
        converter.image_size = (image_size, image_size)
    return converter


def preflight(preset: str = DEFAULT_PRESET, **options):
    """Before any dataset loads (`zoo run` asks): a named preset must be had, its
    configuration fetched or found in KerasHub's cache (not its weights), so that a preset
    that cannot be fetched stops the run at once, not after the datasets' leakage checks. A
    local preset folder is read when the model is built."""
    if os.path.isdir(os.path.expanduser(str(preset))):
        return True, ""
    try:
        _backbone(_keras_hub(), preset, weights=False)
    except zoo.ConfigError as exc:
        return False, str(exc)
    return True, ""


def _size_note(input_shape, side: int) -> None:
    """Say, as a warning zoo shows before training, when images are enlarged inside the
    model: the factor, what it costs, and how to choose the size."""
    h, w = input_shape[:2]
    if side <= max(h, w):
        return
    factor = side * side / (h * w)
    times = f"{factor:.0f}" if factor >= 10 else f"{factor:.1f}"
    warnings.warn(
        f"hub: {w}x{h} images are resized to {side}x{side} inside the model, {times} "
        f"times the pixels, so each image costs about {times} times the compute of its "
        f"own size (on 28x28 Sign MNIST a fold took 280 s against the CNN's 8 s); choose the "
        "size with hub:image_size=N: the preset's size suits its pretrained weights best, "
        "a smaller one (64 or 96 for small images) trains much faster", stacklevel=2)


def build(input_shape, num_classes, preset: str = DEFAULT_PRESET,
          trainable: bool = True, image_size: int | None = None):
    """A classifier on a KerasHub backbone (see the module docstring)."""
    import keras
    from keras import layers

    if input_shape[-1] not in (1, 3):
        raise zoo.ConfigError(f"hub: images of {input_shape[-1]} channels; KerasHub backbones "
                              "take RGB (grayscale is repeated to 3 channels)")
    if image_size is not None and not 8 <= image_size <= 1024:
        raise zoo.ConfigError(f"hub: image_size {image_size}: expected 8 to 1024 pixels")
    keras_hub = _keras_hub()
    backbone = _backbone(keras_hub, preset)
    backbone.trainable = trainable
    converter = _converter(keras_hub, preset, image_size)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if input_shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    if converter is not None:
        x = converter(layers.Rescaling(255.0, name="to_0_255")(x))   # it takes 0-255 pixels
        side = max(converter.image_size or input_shape[:2])
    else:
        side = image_size or DEFAULT_SIZE
        x = layers.Resizing(side, side, name="resize")(x)
    _size_note(input_shape, side)
    features = backbone(x)
    pool = layers.GlobalAveragePooling2D if len(features.shape) == 4 else \
        layers.GlobalAveragePooling1D
    x = pool(name="pool")(features)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="hub")


def custom_objects() -> dict:
    """Importing KerasHub registers its layers and backbones for loading kept models."""
    _keras_hub()
    return {}


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="hub", build=build, available=available, preflight=preflight,
        explain=("grad-cam",),
        custom_objects=custom_objects, in_all=False,   # name it: zoo run hub:preset=NAME
        description="a KerasHub backbone (hub:preset=NAME or a local preset folder), "
                    "fine-tuned or frozen, under a softmax head"))
