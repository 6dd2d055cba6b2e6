"""Augmentation, a protocol setting: the same random rotations, shifts and zooms for every
model, applied in the input pipeline (tf.data) to training batches only.

Kept out of the models, so that a kept model holds no augmentation at inference and a
model free of random layers can be XLA-compiled (the ViT trains about 30% faster so on a
CPU). Seeded by the fold: one fold sees the same augmented images whichever model trains.
No flips: a mirrored hand sign can be another letter.
"""
from __future__ import annotations

#: strength 1: rotations up to 0.04 of a turn (14 degrees), shifts up to 8% of the image,
#: zoom up to 10% (images under 16 pixels: shifts of 10% only, about one pixel)
ROTATION, SHIFT, ZOOM, SMALL_SHIFT = 0.04, 0.08, 0.10, 0.10


def augmenter(input_shape, strength: float, seed: int):
    """A keras.Sequential of random layers for ``input_shape`` at ``strength`` (0: None)."""
    if not strength:
        return None
    import keras
    from keras import layers

    s = float(strength)
    if input_shape[0] < 16:  # tiny images (8x8 digits): a one-pixel shift is already a lot
        return keras.Sequential([layers.RandomTranslation(
            min(SMALL_SHIFT * s, 0.5), min(SMALL_SHIFT * s, 0.5), seed=seed)], name="augment")
    return keras.Sequential([
        layers.RandomRotation(min(ROTATION * s, 0.5), fill_mode="nearest", seed=seed),
        layers.RandomTranslation(min(SHIFT * s, 0.5), min(SHIFT * s, 0.5),
                                 fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom(min(ZOOM * s, 0.9), fill_mode="nearest", seed=seed + 2),
    ], name="augment")


def describe(strength: float) -> str:
    if not strength:
        return "none"
    return (f"strength {strength:g}: rotation up to {ROTATION * strength * 360:.0f} degrees, "
            f"shift up to {SHIFT * strength:.0%}, zoom up to {ZOOM * strength:.0%} "
            "(images under 16 px: shift only), training batches only")
