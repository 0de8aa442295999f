"""Grad-CAM heat maps of where a single-sigmoid detector looks, and figures that show them.

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


def overlay(image_rgb01, heatmap, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] heat map, coloured with ``colormap``, over an RGB image in [0, 1].

    The heat map is resized to the image when their sizes differ. Returns float RGB in [0, 1]
    of the image's height and width.
    """
    import matplotlib

    image = np.asarray(image_rgb01, dtype=np.float32)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB in [0, 1], got shape {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if heatmap.shape != image.shape[:2]:
        heatmap = tf.image.resize(heatmap[..., None], image.shape[:2]).numpy()[..., 0]
    colored = matplotlib.colormaps[colormap](np.clip(heatmap, 0.0, 1.0))[..., :3]
    return np.clip((1 - alpha) * image + alpha * colored, 0.0, 1.0).astype(np.float32)


def explanation_figure(images, heatmaps, titles=None, alpha: float = 0.4, ncols: int = 6):
    """A grid of images with their Grad-CAM overlays below them; returns a matplotlib Figure."""
    import matplotlib.pyplot as plt

    images = np.asarray(images, dtype=np.float32)
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if len(images) != len(heatmaps):
        raise ValueError(f"{len(images)} images but {len(heatmaps)} heat maps")
    if len(images) == 0:
        raise ValueError("no images to show")
    titles = list(titles) if titles is not None else [""] * len(images)
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    ncols = max(1, min(ncols, len(images)))
    blocks = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(2 * blocks, ncols, figsize=(1.9 * ncols, 3.9 * blocks), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for index, (image, heatmap, title) in enumerate(zip(images, heatmaps, titles, strict=True)):
        row, col = 2 * (index // ncols), index % ncols
        axes[row, col].imshow(np.clip(image, 0, 1))
        axes[row, col].set_title(str(title).replace("_", " "), fontsize=8)
        axes[row + 1, col].imshow(overlay(image, heatmap, alpha))
    fig.tight_layout()
    return fig


def case_figure(cases: dict, alpha: float = 0.4):
    """One row per case (e.g. "fake, wrong"): each crop beside its Grad-CAM overlay.

    ``cases`` maps a row label to ``(images, heatmaps, titles)``; a case with no crops keeps
    its row, marked "none", so that an empty category is visible rather than silently dropped.
    """
    import matplotlib.pyplot as plt

    if not cases:
        raise ValueError("no cases to show")
    per_row = max(max(len(images) for images, _, _ in cases.values()), 1)
    fig, axes = plt.subplots(len(cases), 2 * per_row, figsize=(1.5 * 2 * per_row, 1.75 * len(cases)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (label, (images, heatmaps, titles)) in enumerate(cases.items()):
        axes[row, 0].text(-0.1, 0.5, label, transform=axes[row, 0].transAxes, rotation=90,
                          ha="right", va="center", fontsize=9)
        if len(images) == 0:
            axes[row, 0].text(0.5, 0.5, "none", ha="center", va="center", fontsize=9)
        for k, (image, heatmap, title) in enumerate(zip(images, heatmaps, titles, strict=True)):
            axes[row, 2 * k].imshow(np.clip(image, 0, 1))
            axes[row, 2 * k].set_title(str(title).replace("_", " "), fontsize=7)
            axes[row, 2 * k + 1].imshow(overlay(image, heatmap, alpha))
    fig.tight_layout()
    return fig
