"""A small Vision Transformer: patch embedding, class token, learned position embedding,
pre-norm multi-head self-attention blocks, MLP head. Keras layers and ops only."""
import functools

import zoo


@functools.cache
def _layers():
    import keras
    from keras import layers, ops

    @keras.saving.register_keras_serializable(package="zoo_vit")
    class ClassTokenAndPosition(layers.Layer):
        """Prepends a learned class token and adds a learned position embedding."""

        def build(self, input_shape):
            _, tokens, dim = input_shape
            self.cls = self.add_weight(shape=(1, 1, dim), initializer="zeros", name="cls")
            self.pos = self.add_weight(shape=(1, tokens + 1, dim), name="pos",
                                       initializer=keras.initializers.RandomNormal(stddev=0.02))

        def call(self, x):
            cls = ops.broadcast_to(self.cls, (ops.shape(x)[0], 1, ops.shape(x)[2]))
            return ops.concatenate([cls, x], axis=1) + self.pos

    @keras.saving.register_keras_serializable(package="zoo_vit")
    class ClassToken(layers.Layer):
        """Selects the class token (position 0) of a token sequence."""

        def call(self, x):
            return x[:, 0]

        def compute_output_shape(self, input_shape):
            return (input_shape[0], input_shape[2])

    return ClassTokenAndPosition, ClassToken


def custom_objects() -> dict:
    return {cls.__name__: cls for cls in _layers()}


def patch_size_for(input_shape):
    """A 4x4 grid of patches when the image divides evenly (28x28 -> 7, 8x8 -> 2)."""
    h, w = input_shape[:2]
    if h % 4 == 0 and w % 4 == 0 and h == w:
        return h // 4
    for p in (7, 4, 2, 1):
        if h % p == 0 and w % p == 0:
            return p


def check_patch_size(patch_size: int, input_shape) -> None:
    """A patch size must tile the image exactly: no edge pixels are dropped."""
    h, w = input_shape[:2]
    fits = [p for p in range(1, min(h, w) + 1) if h % p == 0 and w % p == 0]
    if patch_size not in fits:
        raise zoo.ConfigError(
            f"vit: patch_size {patch_size} does not tile {h}x{w} images"
            + (" (it must be at least 1)" if patch_size < 1 else "")
            + f"; use one of {', '.join(map(str, fits))}, or leave it out for a 4x4 grid")


def build(input_shape, num_classes, patch_size: int | None = None, dim=64, depth=4, heads=4,
          mlp_ratio=2, dropout=0.1, stem="patch"):
    """``patch_size``: the side of the square patches, which must tile the image exactly;
    None (the default) picks a 4x4 grid of patches where the image allows it. ``stem``:
    "patch", the plain ViT's linear patch embedding; "conv", two 3x3 convolutions at full
    resolution before it (early convolutions, Xiao et al. 2021), which give the patches
    local features and the same number of tokens."""
    import keras
    from keras import layers

    ClassTokenAndPosition, ClassToken = _layers()
    p = patch_size_for(input_shape) if patch_size is None else patch_size
    check_patch_size(p, input_shape)
    if stem not in ("patch", "conv"):
        raise zoo.ConfigError(f"vit: stem: expected 'patch' or 'conv', got {stem!r}")
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if stem == "conv":
        for i, width in enumerate((dim // 2, dim // 2)):
            x = layers.Conv2D(width, 3, padding="same", activation="gelu",
                              name=f"stem_conv{i + 1}")(x)
    x = layers.Conv2D(dim, p, strides=p, name="patch_embed")(x)
    grid = (input_shape[0] // p) * (input_shape[1] // p)
    x = layers.Reshape((grid, dim))(x)
    x = ClassTokenAndPosition(name="cls_pos")(x)
    for i in range(depth):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1")(x)
        h = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout,
                                      name=f"block{i}_attn")(h, h)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2")(x)
        h = layers.Dense(dim * mlp_ratio, activation="gelu", name=f"block{i}_mlp1")(h)
        h = layers.Dropout(dropout)(h)
        h = layers.Dense(dim, name=f"block{i}_mlp2")(h)
        x = layers.Add()([x, h])
    x = layers.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    x = ClassToken(name="cls_token")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="vit")


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        # XLA makes the ViT about 30% faster on a CPU (the CNN 2x slower, so not there); it
        # is possible since augmentation moved out of the models into zoo's input pipeline
        name="vit", build=build, jit_compile=True, explain=("attention",), custom_objects=custom_objects,
        description="ViT: 4x4 patches, class token, 4 pre-norm attention blocks (dim 64, 4 heads)",
    ))
