"""A compact convolutional network: conv blocks with batch norm and pooling, dense head."""
import math

import zoo


def build(input_shape, num_classes, filters=(32, 64, 128), dense=128, dropout=0.4,
          head="flatten"):
    # no augmentation layers: augmentation is a protocol setting, applied in zoo's input
    # pipeline to every model alike (zoo.grid.augment)
    import keras
    from keras import layers

    sync = several_replicas()
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    # as many 2x2 poolings as the image allows (28x28: three; 8x8: two)
    pools = max(0, min(len(filters), int(math.log2(min(input_shape[:2]) / 2))))
    for i, f in enumerate(filters):
        # two convolutions in the middle blocks; one at full resolution (where a second
        # would cost a third of the network's compute) and one in the last block
        for j in range(2 if 0 < i < len(filters) - 1 else 1):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}_{j + 1}")(x)
            # synchronized: one set of moving statistics across replicas under MirroredStrategy
            # (only there: other backends have no such thing and refuse it)
            # momentum 0.9: the moving statistics settle within the few hundred steps of a
            # short budget (0.99 left test accuracy at chance after one epoch)
            x = layers.BatchNormalization(momentum=0.9, synchronized=sync,
                                          name=f"bn{i + 1}_{j + 1}")(x)
            x = layers.Activation("relu")(x)
        if i < pools:
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        x = layers.Dropout(0.1)(x)
    # flatten keeps where things are (a sign is a hand shape *in place*); "gap" averages it away
    x = layers.Flatten(name="flatten")(x) if head == "flatten" else \
        layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(dense, activation="relu", name="fc")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="cnn")


def several_replicas() -> bool:
    """True inside a TensorFlow distribution strategy scope of two or more replicas, the one
    place a synchronized BatchNorm means something; False on every other Keras backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync > 1


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="cnn", build=build, explain=("grad-cam",),
        description="CNN: 3 conv blocks (batch norm, max pooling), dense head with dropout",
    ))
