"""Grad-CAM heat maps of where a single-sigmoid detector looks (computation only: they are drawn
by ``plots.case_figure`` and ``plots.explanation_figure``).

Grad-CAM (Selvaraju et al., 2017): the gradient of the fake logit with respect to a
convolutional feature map, averaged over space, weights that map's channels; the ReLU of the
weighted sum, upsampled to the image and scaled to [0, 1], is the heat map. The gradient is
taken on the logit before the sigmoid, so a saturated probability still gives a useful map.
A heat map shows evidence *for fake*; for a real-looking face it may be nearly empty.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402


def _output_rank(layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def default_cam_layer(model: keras.Model) -> str:
    """Name of the last layer with a 4-D (batch, height, width, channels) output that comes
    before the global pooling or flattening: the usual Grad-CAM target."""
    candidates = [
        layer.name
        for layer in model.layers
        if _output_rank(layer) == 4 and not isinstance(layer, keras.layers.InputLayer)
    ]
    if not candidates:
        raise ValueError(
            f"model {model.name!r} has no layer with a 4-D output at its top level; "
            "pass layer_name (a nested backbone must be given as a layer of its own model)"
        )
    return candidates[-1]


def _logit_and_features(model: keras.Model, layer_name: str) -> keras.Model:
    """A model mapping images to ``(feature map, fake logit)``.

    When the output layer is a Dense with a sigmoid, the logit is recomputed from that layer's
    input and weights; otherwise the probability is turned back into a logit.
    """
    feature_layer = model.get_layer(layer_name)
    head = model.layers[-1]
    if isinstance(head, keras.layers.Dense) and head.activation is keras.activations.sigmoid:
        logit = tf.matmul(head.input, head.kernel)
        if head.use_bias:
            logit = logit + head.bias
    else:
        probability = tf.clip_by_value(model.output, 1e-7, 1 - 1e-7)
        logit = tf.math.log(probability) - tf.math.log(1 - probability)
    return keras.Model(model.inputs, [feature_layer.output, logit])


def grad_cam(model: keras.Model, images, layer_name: str | None = None, batch_size: int = 32):
    """Grad-CAM heat maps for a one-sigmoid Keras model: an array ``(N, H, W)`` in [0, 1].

    ``images`` are float RGB in [0, 1] of the model's input shape, ``(N, H, W, 3)`` or a single
    ``(H, W, 3)``. ``layer_name`` defaults to :func:`default_cam_layer`. Each map is divided by
    its own maximum; an image with no positive evidence gives an all-zero map.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C) or (H, W, C), got shape {images.shape}")
    layer_name = layer_name or default_cam_layer(model)
    cam_model = _logit_and_features(model, layer_name)
    height, width = images.shape[1:3]
    maps = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size])
        with tf.GradientTape() as tape:
            features, logit = cam_model(batch, training=False)
            target = tf.reduce_sum(logit)
        gradients = tape.gradient(target, features)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[..., None]
        cam = tf.image.resize(cam, (height, width), method="bilinear")[..., 0]
        maps.append(cam.numpy())
    heatmaps = np.concatenate(maps, axis=0)
    peak = heatmaps.reshape(len(heatmaps), -1).max(axis=1)
    heatmaps = heatmaps / np.where(peak > 0, peak, 1.0)[:, None, None]
    return np.clip(heatmaps, 0.0, 1.0).astype(np.float32)
