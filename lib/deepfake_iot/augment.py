"""Training augmentation in the TensorFlow graph, IoT degradations included.

``tf_degrade`` is the in-graph twin of ``deepfake_iot.degrade``: same names, same severity table,
same kernels, but on float32 RGB images in [0, 1] and with stateless random ops, so one
``seed_pair`` (shape ``[2]`` integers) always gives the same output. How close the twins are on
the same float32 image (a 96x96 and a 45x70 textured test image, levels 1..5; the bounds are
asserted in ``tests/test_augment.py``):

==============  =====================  ========  ==============================================
degradation     measure                bound     measured, and why they differ
==============  =====================  ========  ==============================================
gaussian_blur   mean abs diff [0, 1]   1e-4      < 2e-7: same kernel, same reflect-101 border
motion_blur     mean abs diff [0, 1]   1e-4      < 1e-7: same kernel (``degrade.motion_kernel``)
downscale       mean abs diff [0, 1]   1e-4      < 3e-7: TF's area + bilinear resize match
                                                 OpenCV's INTER_AREA + INTER_LINEAR here
low_light       mean abs diff [0, 1]   1e-4      < 2e-8: same formula
color_cast      mean abs diff [0, 1]   1e-4      0: same gains for the same angle
jpeg            mean abs diff [0, 1]   0.01      4.4e-3 (max 0.016): both use libjpeg at the same
                                                 quality, but TF's encoder/decoder options (DCT
                                                 method, chroma up-sampling) are not OpenCV's:
                                                 not bit-identical, about 1 grey level apart
gaussian_noise  residual std ratio     1 +- 5 %  1.007..1.012: different random generators, so
poisson_noise   residual std ratio     1 +- 5 %  0.988..1.005   pixels cannot match; statistics do
iot_camera      residual std ratio     1 +- 10 % 1.02..1.06: noise and JPEG inside the chain
==============  =====================  ========  ==============================================

A uint8 image on the OpenCV side adds up to half a grey level (mean about 1e-3) of rounding.

``make_augmenter(cfg)`` builds the training augmentation ``(image, label, seed) -> (image,
label)``. Its configuration keys (``AUGMENT_DEFAULTS`` holds the defaults):

* ``flip`` (bool): horizontal flip with probability 1/2.
* ``rotation_deg`` (float): rotation uniform in +-rotation_deg degrees (reflected borders).
* ``zoom`` (float): zoom in by up to this fraction: a random square window of side ``1 - z`` to
  ``1`` of the crop, ``z`` uniform in [0, zoom], moved randomly inside the crop.
* ``color_jitter`` (float or dict): a float ``s`` means brightness +-s, contrast and saturation
  factors in [1 - s, 1 + s] and hue +-s/4; a dict sets ``brightness``, ``contrast``,
  ``saturation``, ``hue`` one by one (0 or missing: off).
* ``degrade_prob`` (float): probability of one IoT degradation, of a name drawn uniformly from
  ``degrade_names`` (None: all of ``degrade.NAMES``) at a level uniform in
  1..``degrade_max_level``. Applied last, as a camera would.
* ``degrade_from_epoch`` (int): a training keeps its crops clean for this many epochs, then
  degrades them (a curriculum: the model first finds the manipulation traces, then learns to
  keep them through a camera). The switch is a ``DegradationOnset`` that training flips; an
  augmenter made without one degrades from the first image.
* ``sbi_prob`` (float) and ``sbi_strength`` (float): with this probability a *real* crop
  (label 0) becomes a self-blended fake (label 1) through ``deepfake_iot.data.sbi.self_blend``
  (a numpy function inside the graph). Applied first, on the clean crop.
* ``sbi_jpeg_quality`` (pair of ints, or None): when ``sbi_prob`` > 0, every training crop, real
  or fake, is then JPEG re-encoded at a quality drawn from this range (the self-blending recipe's
  last step, 40 to 100 in its paper). Without it a blended fake's new pixels would be the only
  ones in the batch that skipped a JPEG encoder, a cue that no test fake carries.

With ``flip`` False and every number 0 the augmenter returns its input unchanged.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2; harmless otherwise

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deepfake_iot import degrade  # noqa: E402

# The values of params/default.yaml's aug_* keys (tests/test_params.py fails if they part).
AUGMENT_DEFAULTS = {
    "flip": True,
    "rotation_deg": 10.0,
    "zoom": 0.1,
    "color_jitter": 0.1,
    "degrade_prob": 0.3,
    "degrade_max_level": 2,
    "degrade_names": None,
    "degrade_from_epoch": 3,
    "sbi_prob": 0.0,
    "sbi_strength": 1.0,
    "sbi_jpeg_quality": (40, 100),
}
JITTER_KEYS = ("brightness", "contrast", "saturation", "hue")


# ---------------------------------------------------------------------------------------------
# convolution with OpenCV's border (reflect-101) for images of any size


def _reflect_indices(size, pad: int):
    index = tf.range(-pad, size + pad)
    period = tf.maximum(2 * (size - 1), 1)
    folded = tf.math.floormod(index, period)
    return tf.where(folded >= size, period - folded, folded)


def _filter(image, kernel):
    """Correlate every channel of an (H, W, C) image with a 2-D kernel of static odd size, with
    OpenCV's reflect-101 border. A separable kernel can be given as ``(column, row)`` 1-D pair.
    """
    column, row = kernel if isinstance(kernel, tuple) else (None, None)
    height, width = (len(column), len(row)) if column is not None else tuple(kernel.shape)
    shape = tf.shape(image)
    padded = tf.gather(image, _reflect_indices(shape[0], height // 2), axis=0)
    padded = tf.gather(padded, _reflect_indices(shape[1], width // 2), axis=1)
    planes = tf.transpose(padded, [2, 0, 1])[..., None]  # channels become the batch
    if column is None:
        filters = [tf.cast(kernel, tf.float32)[:, :, None, None]]
    else:
        filters = [
            tf.constant(np.asarray(column, np.float32).reshape(-1, 1, 1, 1)),
            tf.constant(np.asarray(row, np.float32).reshape(1, -1, 1, 1)),
        ]
    for weights in filters:
        planes = tf.nn.conv2d(planes, weights, strides=1, padding="VALID")
    return tf.transpose(planes[..., 0], [1, 2, 0])


def _motion_kernel_tf(length: float, angle_deg):
    """``degrade.motion_kernel`` with the angle as a tensor."""
    half = int(math.ceil(length / 2))
    coords = tf.range(-half, half + 1, dtype=tf.float32)
    x, y = tf.meshgrid(coords, coords)
    theta = tf.cast(angle_deg, tf.float32) * (math.pi / 180.0)
    along = x * tf.cos(theta) + y * tf.sin(theta)
    across = -x * tf.sin(theta) + y * tf.cos(theta)
    weight = tf.clip_by_value(1 - tf.abs(across), 0, 1) * tf.clip_by_value(
        length / 2 + 0.5 - tf.abs(along), 0, 1
    )
    return weight / tf.reduce_sum(weight)


# ---------------------------------------------------------------------------------------------
# the degradations, in-graph


def _jpeg(image, level, seed):
    quality = int(degrade.param("jpeg", "quality", level))
    pixels = tf.cast(tf.floor(tf.clip_by_value(image, 0, 1) * 255 + 0.5), tf.uint8)
    return tf.cast(tf.image.adjust_jpeg_quality(pixels, quality), tf.float32) / 255.0


def _gaussian_blur(image, level, seed):
    kernel = degrade.gaussian_kernel(degrade.param("gaussian_blur", "sigma", level))
    return _filter(image, (kernel, kernel))


def _motion_blur(image, level, seed, angle_deg=None):
    if angle_deg is None:
        angle_deg = tf.random.stateless_uniform([], seed, 0.0, 180.0)
    kernel = _motion_kernel_tf(degrade.param("motion_blur", "length", level), angle_deg)
    return _filter(image, kernel)


def _downscale(image, level, seed):
    factor = degrade.param("downscale", "factor", level)
    shape = tf.shape(image)
    size = tf.maximum(1, tf.cast(tf.round(tf.cast(shape[:2], tf.float32) / factor), tf.int32))
    small = tf.image.resize(image, size, method="area")
    return tf.image.resize(small, shape[:2], method="bilinear")


def _gaussian_noise(image, level, seed):
    sigma = degrade.param("gaussian_noise", "sigma", level) / 255.0
    return image + tf.random.stateless_normal(tf.shape(image), seed, stddev=sigma)


def _poisson_noise(image, level, seed):
    photons = float(degrade.param("poisson_noise", "photons", level))
    lam = tf.clip_by_value(image, 0, 1) * photons
    counts = tf.random.stateless_poisson(tf.shape(image), seed, lam, dtype=tf.float32)
    return counts / photons


def _low_light(image, level, seed):
    scale = degrade.param("low_light", "brightness", level)
    gamma = degrade.param("low_light", "gamma", level)
    return scale * tf.pow(tf.clip_by_value(image, 0, 1), gamma)


def _color_cast(image, level, seed, angle_rad=None):
    if angle_rad is None:
        angle_rad = tf.random.stateless_uniform([], seed, 0.0, 2 * math.pi)
    shift = degrade.param("color_cast", "gain_shift", level)
    offsets = tf.constant([0.0, -2 * math.pi / 3, 2 * math.pi / 3])
    gains = 1 + shift * tf.cos(tf.cast(angle_rad, tf.float32) + offsets)  # R, G, B
    if image.shape[-1] == 1:
        return image * tf.reduce_sum(gains * degrade.LUMA_RGB)
    return image * gains


def _iot_camera(image, level, seed):
    seeds = tf.random.experimental.stateless_split(seed, len(degrade.IOT_CAMERA))
    for index, (name, levels) in enumerate(degrade.IOT_CAMERA.items()):
        image = tf.clip_by_value(
            TF_DEGRADATIONS[name](image, levels[level - 1], seeds[index]), 0, 1
        )
    return image


TF_DEGRADATIONS = {
    "jpeg": _jpeg,
    "gaussian_blur": _gaussian_blur,
    "motion_blur": _motion_blur,
    "downscale": _downscale,
    "gaussian_noise": _gaussian_noise,
    "poisson_noise": _poisson_noise,
    "low_light": _low_light,
    "color_cast": _color_cast,
    "iot_camera": _iot_camera,
}


def tf_degrade(image, name: str, level: int, seed_pair, **fixed):
    """Degrade a float32 RGB image in [0, 1] of shape (H, W, C) in the graph.

    ``name`` and ``level`` are Python values (see ``degrade.SEVERITY``); ``seed_pair`` is a
    shape-[2] integer tensor or pair. ``fixed`` pins a random parameter for comparisons:
    ``angle_deg`` for motion_blur, ``angle_rad`` for color_cast. Level 0 returns the input.
    """
    degrade.check_name(name)
    degrade._check_level(name, level)
    image = tf.convert_to_tensor(image, tf.float32)
    if level == 0:
        return image
    seed = tf.cast(tf.convert_to_tensor(seed_pair), tf.int64)
    out = TF_DEGRADATIONS[name](image, int(level), seed, **fixed)
    return tf.ensure_shape(tf.clip_by_value(out, 0.0, 1.0), image.shape)


# ---------------------------------------------------------------------------------------------
# training augmentation


def _jpeg_range(value):
    """``None`` or a (low, high) pair of JPEG qualities with 0 <= low <= high <= 100."""
    if value is None:
        return None
    try:
        low, high = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"augmentation key 'sbi_jpeg_quality' must be None or a pair of qualities, got {value!r}") from None
    if not 0 <= low <= high <= 100:
        raise ValueError(f"augmentation key 'sbi_jpeg_quality' needs 0 <= low <= high <= 100, got {value!r}")
    return (low, high)


def augment_config(cfg: dict | None) -> dict:
    """Defaults filled in and every key and type checked; unknown keys are an error."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(AUGMENT_DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown augmentation key(s) {', '.join(unknown)}: valid keys are "
            f"{', '.join(AUGMENT_DEFAULTS)}"
        )
    out = {**AUGMENT_DEFAULTS, **cfg}
    out["flip"] = bool(out["flip"])
    for key in ("rotation_deg", "zoom", "degrade_prob", "sbi_prob", "sbi_strength"):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"augmentation key '{key}' must be a number >= 0, got {value!r}")
        out[key] = float(value)
    for key in ("degrade_prob", "sbi_prob"):
        if out[key] > 1:
            raise ValueError(f"augmentation key '{key}' is a probability, got {out[key]}")
    if not out["zoom"] < 1:
        raise ValueError(f"augmentation key 'zoom' must be below 1, got {out['zoom']}")
    jitter = out["color_jitter"]
    if isinstance(jitter, dict):
        bad = sorted(set(jitter) - set(JITTER_KEYS))
        if bad:
            raise ValueError(
                f"unknown color_jitter key(s) {', '.join(bad)}: valid are {', '.join(JITTER_KEYS)}"
            )
        jitter = {key: float(jitter.get(key, 0.0)) for key in JITTER_KEYS}
    elif isinstance(jitter, (int, float)) and not isinstance(jitter, bool) and jitter >= 0:
        s = float(jitter)
        jitter = {"brightness": s, "contrast": s, "saturation": s, "hue": s / 4}
    else:
        raise ValueError(f"color_jitter must be a number >= 0 or a dict, got {jitter!r}")
    out["color_jitter"] = jitter
    out["sbi_jpeg_quality"] = _jpeg_range(out["sbi_jpeg_quality"])
    names = out["degrade_names"]
    names = list(degrade.NAMES) if names is None else [str(n) for n in names]
    for name in names:
        degrade.check_name(name)
    if out["degrade_prob"] > 0 and not names:
        raise ValueError("degrade_names is empty but degrade_prob > 0")
    out["degrade_names"] = names
    level = out["degrade_max_level"]
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise ValueError(f"degrade_max_level must be an int in 1..5, got {level!r}")
    onset = out["degrade_from_epoch"]
    if isinstance(onset, bool) or not isinstance(onset, int) or onset < 0:
        raise ValueError(f"augmentation key 'degrade_from_epoch' must be an int >= 0, got {onset!r}")
    return out


class DegradationOnset:
    """The switch of ``degrade_from_epoch``: ``active`` is off before epoch ``from_epoch`` (counted
    from 0) and on from it; ``set_epoch`` moves it and ``callback()`` does so in a Keras fit.

    Keras calls ``on_epoch_begin`` before the epoch's first batch, and a tf.data pipeline starts
    its threads only at its first batch, so every image of an epoch sees that epoch's setting
    (also in a run resumed from its backup).
    """

    def __init__(self, from_epoch: int):
        if isinstance(from_epoch, bool) or not isinstance(from_epoch, int) or from_epoch < 0:
            raise ValueError(f"from_epoch must be an int >= 0, got {from_epoch!r}")
        self.from_epoch = from_epoch
        self.active = tf.Variable(from_epoch == 0, trainable=False, dtype=tf.bool, name="degradations_on")

    def set_epoch(self, epoch: int) -> None:
        self.active.assign(epoch >= self.from_epoch)

    def callback(self):
        import tf_keras as keras

        return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs=None: self.set_epoch(epoch))


def _geometry(image, seed, rotation_deg: float, zoom: float):
    """Rotation about the centre and zoom-in with a random shift, as one projective warp."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    angle = tf.random.stateless_uniform([], seeds[0], -rotation_deg, rotation_deg)
    angle = angle * (math.pi / 180.0)
    scale = 1.0 - tf.random.stateless_uniform([], seeds[1], 0.0, zoom)  # window / crop side
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    height, width = shape[0], shape[1]
    shift = tf.random.stateless_uniform([2], seeds[2], -1.0, 1.0) * (1 - scale) / 2
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # input = A @ (output - centre) + centre + shift
    tx = cx + shift[0] * width - cos * cx + sin * cy
    ty = cy + shift[1] * height - sin * cx - cos * cy
    transform = tf.stack([cos, -sin, tx, sin, cos, ty, 0.0, 0.0])[None]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform,
        output_shape=tf.shape(image)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return tf.ensure_shape(warped[0], image.shape)


def _color(image, seed, jitter: dict):
    seeds = tf.random.experimental.stateless_split(seed, 4)
    if jitter["brightness"] > 0:
        image = tf.image.stateless_random_brightness(image, jitter["brightness"], seeds[0])
    if jitter["contrast"] > 0:
        c = jitter["contrast"]
        image = tf.image.stateless_random_contrast(image, max(0.0, 1 - c), 1 + c, seeds[1])
    if image.shape[-1] == 3 and jitter["saturation"] > 0:
        s = jitter["saturation"]
        image = tf.image.stateless_random_saturation(image, max(0.0, 1 - s), 1 + s, seeds[2])
    if image.shape[-1] == 3 and jitter["hue"] > 0:
        image = tf.image.stateless_random_hue(image, min(jitter["hue"], 0.5), seeds[3])
    return tf.clip_by_value(image, 0.0, 1.0)


def _random_degradation(image, seed, probability: float, names: list[str], max_level: int, switch=None):
    seeds = tf.random.experimental.stateless_split(seed, 3)
    branches = [(name, level) for name in names for level in range(1, max_level + 1)]
    choice = tf.random.stateless_uniform(
        [], seeds[1], minval=0, maxval=len(branches), dtype=tf.int32
    )

    def degraded():
        functions = [
            (lambda n=name, lv=level: tf_degrade(image, n, lv, seeds[2]))
            for name, level in branches
        ]
        return tf.switch_case(choice, functions)

    apply = tf.random.stateless_uniform([], seeds[0]) < probability
    if switch is not None:  # the draws above stay the same, so the seeds after the onset do too
        apply = tf.logical_and(apply, switch)
    return tf.ensure_shape(tf.cond(apply, degraded, lambda: image), image.shape)


def _self_blend(image, seed, probability: float, strength: float, label):
    from deepfake_iot.data import sbi

    seeds = tf.random.experimental.stateless_split(seed, 2)
    numpy_seed = tf.random.stateless_uniform(
        [2], seeds[1], minval=0, maxval=2**31 - 1, dtype=tf.int64
    )

    def blend(rgb: np.ndarray, seed_values: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(
            np.floor(np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)[..., ::-1]
        )
        fake, _ = sbi.self_blend(
            bgr, np.random.default_rng(seed_values.tolist()), strength=strength
        )
        return np.ascontiguousarray(fake[..., ::-1]).astype(np.float32) / 255.0

    def blended():
        out = tf.numpy_function(blend, [image, numpy_seed], tf.float32, stateful=False)
        return tf.ensure_shape(out, image.shape)

    is_real = tf.equal(tf.cast(label, tf.int32), 0)
    apply = tf.logical_and(is_real, tf.random.stateless_uniform([], seeds[0]) < probability)
    image = tf.cond(apply, blended, lambda: image)
    return image, tf.where(apply, tf.ones_like(label), label)


def make_augmenter(cfg: dict | None = None, onset: DegradationOnset | None = None):
    """The training augmentation ``(image, label, seed) -> (image, label)`` of ``cfg``.

    ``image`` is a float32 RGB crop in [0, 1] with a static shape, ``seed`` a shape-[2] integer
    tensor; the same seed gives the same result. See the module docstring for the keys; with
    ``onset`` degradations apply only while ``onset.active`` is on.
    """
    cfg = augment_config(cfg)
    if cfg["sbi_prob"] > 0:
        try:
            from deepfake_iot.data import sbi  # noqa: F401
        except ImportError as error:
            raise ValueError(
                "sbi_prob > 0 needs deepfake_iot.data.sbi, which could not be imported"
            ) from error
    jitter = cfg["color_jitter"]
    use_jitter = any(value > 0 for value in jitter.values())

    def augment(image, label, seed):
        image = tf.convert_to_tensor(image, tf.float32)
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
        if cfg["sbi_prob"] > 0:
            image, label = _self_blend(image, seeds[0], cfg["sbi_prob"], cfg["sbi_strength"], label)
            if cfg["sbi_jpeg_quality"]:
                low, high = cfg["sbi_jpeg_quality"]
                jpeg_seed = tf.random.experimental.stateless_fold_in(seeds[0], 1)
                image = tf.ensure_shape(tf.image.adjust_jpeg_quality(image, low) if low == high else
                                        tf.image.stateless_random_jpeg_quality(image, low, high, jpeg_seed), image.shape)
        if cfg["flip"]:
            image = tf.image.stateless_random_flip_left_right(image, seeds[1])
        if cfg["rotation_deg"] > 0 or cfg["zoom"] > 0:
            image = _geometry(image, seeds[2], cfg["rotation_deg"], cfg["zoom"])
        if use_jitter:
            image = _color(image, seeds[3], jitter)
        if cfg["degrade_prob"] > 0:
            image = _random_degradation(
                image,
                seeds[4],
                cfg["degrade_prob"],
                cfg["degrade_names"],
                cfg["degrade_max_level"],
                None if onset is None else onset.active,
            )
        return image, label

    return augment
