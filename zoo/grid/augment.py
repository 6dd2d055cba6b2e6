"""Augmentation, a protocol setting: the same random rotations, shifts and zooms for every
model, applied in the input pipeline (zoo.grid.batches) to training batches only, by Keras'
random layers (on JAX and PyTorch with their resampling done in one call over the batch:
:class:`OneCallAffine`).

Kept out of the models, so that a kept model holds no augmentation at inference and a
model free of random layers can be XLA-compiled (the ViT trains about 30% faster so on a
CPU). Seeded by the fold: one fold sees the same augmented images whichever model trains.
No flips: a mirrored hand sign can be another letter.

A dataset says which transforms keep its labels (``DatasetSpec.augment``): classes defined
by position or orientation break under shifts or rotations. Images under 16 pixels a side
are only shifted, whatever the dataset allows.
"""
from __future__ import annotations

#: strength 1: rotations up to 0.04 of a turn (14 degrees), shifts up to 8% of the image,
#: zoom up to 10% (images under 16 pixels: shifts of 10% only, about one pixel)
ROTATION, SHIFT, ZOOM, SMALL_SHIFT = 0.04, 0.08, 0.10, 0.10
#: every transform zoo applies, by name
TRANSFORMS = ("rotate", "shift", "zoom")


def allowed(declared) -> tuple:
    """A dataset's declaration as transform names: True (every one zoo has), False or ()
    (none), or names among :data:`TRANSFORMS`. ValueError for anything else."""
    if declared is True:
        return TRANSFORMS
    if declared is False or declared is None:
        return ()
    names = (declared,) if isinstance(declared, str) else tuple(declared)
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ValueError(f"augment: unknown transform(s) {', '.join(map(repr, unknown))}; "
                         f"expected True, False or names among {', '.join(TRANSFORMS)}")
    return tuple(n for n in TRANSFORMS if n in names)


def effective(input_shape, transforms=TRANSFORMS) -> tuple:
    """The transforms applied to images of ``input_shape``: tiny ones are only shifted."""
    if input_shape[0] < 16:
        return tuple(t for t in transforms if t == "shift")
    return tuple(transforms)


def augmenter(input_shape, strength: float, seed: int, transforms=TRANSFORMS):
    """A keras.Sequential of random layers for ``input_shape`` at ``strength`` (0, or no
    transform allowed: None)."""
    transforms = effective(input_shape, transforms)
    if not strength or not transforms:
        return None
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it
    from keras import layers  # lazy: Keras starts its backend (4 s); only training and kept models need it

    s = float(strength)
    if input_shape[0] < 16:  # tiny images (8x8 digits): a one-pixel shift is already a lot
        layers_ = [layers.RandomTranslation(min(SMALL_SHIFT * s, 0.5), min(SMALL_SHIFT * s, 0.5),
                                            seed=seed)]
    else:
        made = {"rotate": lambda: layers.RandomRotation(min(ROTATION * s, 0.5),
                                                        fill_mode="nearest", seed=seed),
                "shift": lambda: layers.RandomTranslation(min(SHIFT * s, 0.5), min(SHIFT * s, 0.5),
                                                          fill_mode="nearest", seed=seed + 1),
                "zoom": lambda: layers.RandomZoom(min(ZOOM * s, 0.9), fill_mode="nearest",
                                                  seed=seed + 2)}
        layers_ = [made[t]() for t in transforms]
    if keras.backend.backend() != "tensorflow":
        for layer in layers_:   # TensorFlow has a batched kernel of its own
            layer.backend = OneCallAffine(layer.backend)
    return keras.Sequential(layers_, name="augment")


class OneCallAffine:
    """A random layer's backend (Keras' DynamicBackend) with ``image.affine_transform``
    done in one call over the whole batch: Keras' own, on PyTorch and NumPy, resamples image
    by image in a Python loop (128 images of 28x28 through rotation, shift and zoom: 166 ms
    on PyTorch here, 23 ms so; benchmarks/results/augment.txt). The layers draw and build
    their transforms as ever; only the resampling differs, by float rounding
    (tests/test_backends.py)."""

    def __init__(self, backend):
        self._inner = backend

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        return _Image(value) if name == "image" else value


class _Image:
    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return affine_transform if name == "affine_transform" else getattr(self._module, name)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Keras' ``ops.image.affine_transform`` for affine transforms (the last two of each
    row's eight numbers zero, as the random layers make them), as one
    ``ops.image.map_coordinates`` over the batch per channel: output pixel (row y, column x)
    of image b reads input (b, b0 x + b1 y + b2, a0 x + a1 y + a2), interpolated within the
    image (the batch coordinate is a whole number)."""
    import keras  # lazy: Keras starts its backend (4 s); only training needs it
    from keras import ops

    channels_first = (data_format or keras.config.image_data_format()) == "channels_first"
    images, transform = ops.convert_to_tensor(images), ops.convert_to_tensor(transform)
    single = len(images.shape) == 3
    if single:
        images = ops.expand_dims(images, 0)
    if len(transform.shape) == 1:
        transform = ops.expand_dims(transform, 0)
    if channels_first:
        images = ops.transpose(images, (0, 2, 3, 1))
    b, h, w, c = images.shape
    dtype = transform.dtype
    rows = ops.reshape(ops.arange(h, dtype=dtype), (1, h, 1))
    cols = ops.reshape(ops.arange(w, dtype=dtype), (1, 1, w))
    t = [ops.reshape(transform[:, i], (b, 1, 1)) for i in range(6)]
    coordinates = ops.stack([
        ops.broadcast_to(ops.reshape(ops.arange(b, dtype=dtype), (b, 1, 1)), (b, h, w)),
        ops.broadcast_to(t[3] * cols + t[4] * rows + t[5], (b, h, w)),
        ops.broadcast_to(t[0] * cols + t[1] * rows + t[2], (b, h, w))])
    order = {"nearest": 0, "bilinear": 1}[interpolation]
    out = ops.stack([ops.image.map_coordinates(images[..., i], coordinates, order=order,
                                               fill_mode=fill_mode, fill_value=fill_value)
                     for i in range(c)], axis=-1)   # a channel at a time: 2-D interpolation
    if channels_first:
        out = ops.transpose(out, (0, 3, 1, 2))
    return out[0] if single else out


def describe(strength: float, transforms=TRANSFORMS) -> str:
    if not strength:
        return "none"
    if not transforms:
        return "none: the dataset's labels do not survive it"
    parts = {"rotate": f"rotation up to {ROTATION * strength * 360:.0f} degrees",
             "shift": f"shift up to {SHIFT * strength:.0%}",
             "zoom": f"zoom up to {ZOOM * strength:.0%}"}
    return (f"strength {strength:g}: " + ", ".join(parts[t] for t in transforms)
            + " (images under 16 px: shift only), training batches only")
