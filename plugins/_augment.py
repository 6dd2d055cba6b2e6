"""Light augmentation shared by the built-in models: small rotations, shifts and zooms.
Active in training only; no flips (a mirrored hand sign can be another letter)."""


def augmentation(input_shape, seed=None):
    import keras

    height = input_shape[0]
    if height < 16:  # tiny images (8x8 digits): a one-pixel shift is already a lot
        return keras.Sequential([keras.layers.RandomTranslation(0.1, 0.1, seed=seed)],
                                name="augment")
    return keras.Sequential([
        keras.layers.RandomRotation(0.04, fill_mode="nearest", seed=seed),
        keras.layers.RandomTranslation(0.08, 0.08, fill_mode="nearest", seed=seed),
        keras.layers.RandomZoom(0.1, fill_mode="nearest", seed=seed),
    ], name="augment")
