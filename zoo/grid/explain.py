"""What a model looks at: Grad-CAM for convolutional models, attention rollout for
transformers. A model's spec says which it supports (``ModelSpec.explain``); both work on any
functional Keras model with Conv2D / MultiHeadAttention layers. Maps are (n, height, width)
in [0, 1], at the input's resolution."""
from __future__ import annotations

import numpy as np

SUPPORTED = ("grad-cam", "attention")


def _resize(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    from keras import ops  # lazy: Keras starts its backend (4 s); only training needs it

    out = ops.convert_to_numpy(ops.image.resize(
        maps[..., None].astype(np.float32), (height, width), interpolation="bilinear"))[..., 0]
    lo = out.min(axis=(1, 2), keepdims=True)
    hi = out.max(axis=(1, 2), keepdims=True)
    return np.where(hi > lo, (out - lo) / np.where(hi > lo, hi - lo, 1), 0.0)


def feature_map(model):
    """The layer whose output Grad-CAM weighs: the last Conv2D of the model; in a model
    that nests its convolutions (a pretrained backbone), the last layer with a spatial
    feature map (a 4-D output larger than 1x1) that is not a resizing of the input."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if convs:
        return convs[-1]
    inputs = {id(t) for t in model.inputs}
    spatial = [layer for layer in model.layers[1:]
               if isinstance(getattr(layer, "output", None), keras.KerasTensor)
               and len(layer.output.shape) == 4 and id(layer.output) not in inputs
               and (layer.output.shape[1] or 2) > 1
               and not isinstance(layer.input, list) and _learns(layer)]
    if not spatial:
        raise ValueError("Grad-CAM is not available for this model: it has no spatial "
                         "feature map (no Conv2D, nor a layer with a 4-D output such as a "
                         "convolutional backbone's; transformers work on tokens)")
    return spatial[-1]


def _output_in(layer):
    """The layer's output in the model that calls it: a nested model (a backbone) also has
    the output of its own inner graph, which is not connected to the outer inputs."""
    nodes = getattr(layer, "_inbound_nodes", [])
    return nodes[-1].outputs[0] if nodes else layer.output


def _learns(layer) -> bool:
    """A layer with weights of its own (not a resizing or rescaling of the image)."""
    return bool(layer.weights)


def grad_cam(model, x: np.ndarray, classes=None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al.) on :func:`feature_map`, for ``classes`` (default: the
    predicted class of each image)."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    layer = feature_map(model)
    x = np.asarray(x, dtype=np.float32)
    features, grads = GRADIENTS[keras.backend.backend()](model, _output_in(layer), x, classes)
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((weights * features).sum(axis=-1), 0)
    return _resize(cam, x.shape[1], x.shape[2])


def _chosen(probs, classes):
    return np.argmax(probs, axis=1) if classes is None else np.asarray(classes)


def _tf_gradient(model, feature, x, classes):
    """(features, d score / d features) on TensorFlow: a gradient tape."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it
    import tensorflow as tf  # lazy: only the TensorFlow backend needs it

    sub = keras.Model(model.inputs, [feature, model.output])
    with tf.GradientTape() as tape:
        features, probs = sub([tf.convert_to_tensor(x)], training=False)
        chosen = _chosen(probs.numpy(), classes)
        score = tf.gather(probs, chosen, axis=1, batch_dims=1)
    return features.numpy(), tape.gradient(score, features).numpy()


def _split(model, feature):
    """The model cut at ``feature``: (inputs -> features, features -> probabilities)."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    return keras.Model(model.inputs, feature), keras.Model(feature, model.output)


def _jax_gradient(model, feature, x, classes):
    """(features, d score / d features) on JAX: jax.grad through the model's head."""
    import jax  # lazy: only the JAX backend needs it
    import jax.numpy as jnp  # lazy: only the JAX backend needs it

    body, head = _split(model, feature)
    features = body([x], training=False)
    chosen = _chosen(np.asarray(head(features, training=False)), classes)

    def score(f):
        probs = head(f, training=False)
        return jnp.take_along_axis(probs, jnp.asarray(chosen)[:, None], axis=1).sum()

    return np.asarray(features), np.asarray(jax.grad(score)(features))


def _torch_gradient(model, feature, x, classes):
    """(features, d score / d features) on PyTorch: autograd through the model's head."""
    import torch  # lazy: only the torch backend needs it

    body, head = _split(model, feature)
    with torch.no_grad():
        features = body([x], training=False).detach()
    features.requires_grad_(True)
    probs = head(features, training=False)
    chosen = torch.as_tensor(_chosen(probs.detach().cpu().numpy(), classes),
                             device=probs.device)
    probs.gather(1, chosen[:, None]).sum().backward()
    return features.detach().cpu().numpy(), features.grad.detach().cpu().numpy()


#: the one gradient Grad-CAM needs, per Keras backend
GRADIENTS = {"tensorflow": _tf_gradient, "jax": _jax_gradient, "torch": _torch_gradient}


def attention_rollout(model, x: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema): head-averaged attention plus identity, multiplied
    through the layers; the class token's row over the patches, as an image."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it
    from keras import ops  # lazy: Keras starts its backend (4 s); only training and kept models need it

    layers = [layer for layer in model.layers
              if isinstance(layer, keras.layers.MultiHeadAttention)]
    if not layers:
        raise ValueError("attention rollout needs MultiHeadAttention layers")
    queries = [layer._inbound_nodes[0].arguments.args[0] for layer in layers]
    inputs = keras.Model(model.inputs, queries)([np.asarray(x, np.float32)], training=False)
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    rollout = None
    for layer, q in zip(layers, inputs, strict=True):
        _, scores = layer(q, q, return_attention_scores=True, training=False)
        a = ops.convert_to_numpy(scores).mean(axis=1)          # (n, tokens, tokens)
        a = a + np.eye(a.shape[-1])[None]
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a if rollout is None else a @ rollout
    cls = rollout[:, 0, 1:]                                     # class token -> patches
    side = int(round(np.sqrt(cls.shape[1])))
    if side * side != cls.shape[1]:
        raise ValueError(f"cannot lay {cls.shape[1]} patches out as a square grid")
    return _resize(cls.reshape(-1, side, side), x.shape[1], x.shape[2])


METHODS = {"grad-cam": grad_cam, "attention": attention_rollout}


def explain(spec, model, x: np.ndarray) -> tuple:
    """({method: maps}, {method: error}) for every method the spec declares."""
    maps, errors = {}, {}
    for method in spec.explain:
        if method not in METHODS:
            errors[method] = f"unknown explanation '{method}'; zoo knows {', '.join(METHODS)}"
            continue
        try:
            maps[method] = METHODS[method](model, x).astype(np.float16)
        except Exception as exc:  # an explanation must never cost the fold
            errors[method] = f"{type(exc).__name__}: {exc}"
    return maps, errors
