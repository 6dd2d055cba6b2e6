"""Augmentation, a protocol setting: the same random rotations, shifts and zooms for every
model, applied in the input pipeline (tf.data) to training batches only.

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
        return keras.Sequential([layers.RandomTranslation(
            min(SMALL_SHIFT * s, 0.5), min(SMALL_SHIFT * s, 0.5), seed=seed)], name="augment")
    made = {"rotate": lambda: layers.RandomRotation(min(ROTATION * s, 0.5),
                                                    fill_mode="nearest", seed=seed),
            "shift": lambda: layers.RandomTranslation(min(SHIFT * s, 0.5), min(SHIFT * s, 0.5),
                                                      fill_mode="nearest", seed=seed + 1),
            "zoom": lambda: layers.RandomZoom(min(ZOOM * s, 0.9), fill_mode="nearest",
                                              seed=seed + 2)}
    return keras.Sequential([made[t]() for t in transforms], name="augment")


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
