"""A small ResNet for small grayscale images, from keras.layers only."""
import zoo


def residual_block(x, width, stride, name):
    from keras import layers

    shortcut = x
    y = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != width:
        shortcut = layers.Conv2D(width, 1, strides=stride, use_bias=False,
                                 name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=0.9, name=f"{name}_proj_bn")(shortcut)
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def build(input_shape, num_classes, widths=(16, 32, 64), dropout=0.2):
    """Options (zoo run resnet:widths=(8,16,32),dropout=0.1): the width of each residual
    stage, and the dropout before the classifier."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.Activation("relu")(x)
    for i, width in enumerate(widths):
        # downsample only while the feature map is larger than 2x2
        stride = 2 if i > 0 and x.shape[1] > 2 else 1
        x = residual_block(x, width, stride, name=f"stage{i + 1}")
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="resnet")


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(name="resnet", build=build,
                           description="small ResNet: 3 residual stages (16-32-64), GAP head"))
