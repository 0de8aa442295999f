"""The paper's lightweight CNN, the baselines it is compared with, and how big each one is.

Every model here has one contract: it takes float32 RGB images in [0, 1] of shape
``(size, size, 3)`` (what the input pipeline delivers) and returns one sigmoid unit, the
probability that the face is fake (label 1). Models are built with ``tf_keras`` (Keras 2)
because tensorflow-model-optimization supports only Keras 2, so ``TF_USE_LEGACY_KERAS`` is set
before TensorFlow is first imported.

The light CNN is made only of layers that tfmot's default 8-bit scheme can quantize:
Conv2D/DepthwiseConv2D each followed directly by BatchNormalization (so the pair folds),
ReLU6, Add, global average pooling, Dropout and Dense. Input scaling stays outside it.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402

APPLICATIONS = ("mobilenet_v3_small", "mobilenet_v2_035", "efficientnet_b0")
MODEL_NAMES = ("light_cnn", "meso4", *APPLICATIONS)
MIN_APPLICATION_SIZE = 32  # tf_keras.applications refuse smaller inputs without a top


DEPTHWISE_KERNEL = 3  # the light CNN's depthwise kernel side
MOBILENET_V2_ALPHA = 0.35  # width multiplier of the mobilenet_v2_035 baseline


def _round_channels(channels: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never below it, and never
    more than 10% under the requested count (the MobileNet rule)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


def _conv_bn(x, filters, kernel, stride, name, activation=True, momentum=0.99):
    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    if activation:
        x = layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x)
    return x


def _inverted_residual(x, out_channels, stride, expansion, name, momentum):
    """MobileNetV2 bottleneck: 1x1 expand, 3x3 depthwise, linear 1x1 project, residual Add."""
    in_channels = x.shape[-1]
    shortcut = x
    x = _conv_bn(x, in_channels * expansion, 1, 1, f"{name}_expand", momentum=momentum)
    x = layers.DepthwiseConv2D(
        DEPTHWISE_KERNEL, strides=stride, padding="same", use_bias=False, name=f"{name}_dw_conv"
    )(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(max_value=6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, out_channels, 1, 1, f"{name}_project", activation=False, momentum=momentum)
    if stride == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def build_light_cnn(
    input_size: int = 96,
    width: float = 1.0,
    depth: tuple[int, ...] = (1, 2, 2, 1),
    expansion: int = 4,
    dropout: float = 0.2,
    stem_filters: int = 16,
    stage_channels: tuple[int, ...] = (16, 24, 40, 64),
    bn_momentum: float = 0.99,
) -> keras.Model:
    """The paper's lightweight CNN.

    A 3x3 stride-2 convolution stem, then one stage per entry of ``depth``; each stage is that
    many inverted residual bottlenecks, the first with stride 2, with ``stage_channels[i] *
    width`` output channels (rounded to a multiple of 8). Global average pooling, dropout and a
    sigmoid unit close it. With the defaults it has about 57k parameters and 7.3M MACs at 96x96.
    ``bn_momentum`` is the batch-norm moving-average momentum (lower it for tiny datasets with
    few steps per epoch, so validation in inference mode sees settled statistics).
    """
    if len(depth) > len(stage_channels):
        raise ValueError(
            f"depth has {len(depth)} stages but stage_channels gives only "
            f"{len(stage_channels)} channel counts: pass a longer stage_channels"
        )
    if width <= 0 or expansion < 1 or any(blocks < 1 for blocks in depth):
        raise ValueError(
            f"width must be > 0, expansion >= 1 and every stage >= 1 block; got width={width}, "
            f"expansion={expansion}, depth={depth}"
        )
    if input_size < 2 ** (len(depth) + 1):
        raise ValueError(
            f"input_size {input_size} is too small for {len(depth)} stride-2 stages and a "
            f"stride-2 stem: use at least {2 ** (len(depth) + 1)}"
        )
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = _conv_bn(inputs, _round_channels(stem_filters * width), 3, 2, "stem", momentum=bn_momentum)
    for stage, blocks in enumerate(depth, start=1):
        out_channels = _round_channels(stage_channels[stage - 1] * width)
        for block in range(1, blocks + 1):
            stride = 2 if block == 1 else 1
            x = _inverted_residual(
                x, out_channels, stride, expansion, f"s{stage}b{block}", bn_momentum
            )
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(inputs, outputs, name="light_cnn")


def build_meso4(input_size: int = 256, dropout: float = 0.5) -> keras.Model:
    """MesoNet Meso-4 (Afchar et al., 2018): about 28k parameters at 256x256."""
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = inputs
    for index, (filters, kernel, pool) in enumerate(
        [(8, 3, 2), (8, 5, 2), (16, 5, 2), (16, 5, 4)], start=1
    ):
        x = layers.Conv2D(
            filters, kernel, padding="same", activation="relu", name=f"block{index}_conv"
        )(x)
        x = layers.BatchNormalization(name=f"block{index}_bn")(x)
        x = layers.MaxPooling2D(pool, padding="same", name=f"block{index}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Dense(16, name="dense")(x)
    x = layers.LeakyReLU(0.1, name="dense_leaky_relu")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(inputs, outputs, name="meso4")


def _backbone(name: str, input_size: int) -> tuple[keras.Model, float, float]:
    """The headless application and the ``(scale, offset)`` mapping [0, 1] to its input range.

    - MobileNetV2 expects [-1, 1] and has no preprocessing of its own.
    - MobileNetV3 in tf_keras would rescale [0, 255] to [-1, 1] itself; we switch that off
      (``include_preprocessing=False``) and map [0, 1] to [-1, 1] in front, the same thing.
    - EfficientNet always holds Rescaling(1/255) and a Normalization layer, so it expects
      [0, 255]: we multiply by 255 in front.
    The front rescaling is one multiply-add that the TFLite converter quantizes like any other;
    these baselines are converted with post-training quantization only, never QAT'ed.
    """
    shape = (input_size, input_size, 3)
    if name == "mobilenet_v3_small":
        backbone = keras.applications.MobileNetV3Small(
            input_shape=shape,
            include_top=False,
            weights=None,
            pooling="avg",
            include_preprocessing=False,
        )
        return backbone, 2.0, -1.0
    if name == "mobilenet_v2_035":
        backbone = keras.applications.MobileNetV2(
            input_shape=shape, alpha=MOBILENET_V2_ALPHA, include_top=False, weights=None, pooling="avg"
        )
        return backbone, 2.0, -1.0
    if name == "efficientnet_b0":
        backbone = keras.applications.EfficientNetB0(
            input_shape=shape, include_top=False, weights=None, pooling="avg"
        )
        return backbone, 255.0, 0.0
    raise ValueError(f"unknown application {name!r}; choose one of {', '.join(APPLICATIONS)}")


def _load_backbone_weights(backbone: keras.Model, name: str, weights_path: str) -> None:
    """Load local ImageNet weights (the ``*_notop.h5`` files of keras-applications)."""
    if not os.path.exists(weights_path):
        raise FileNotFoundError(f"ImageNet weights for {name} not found at {weights_path}")
    if str(weights_path).endswith((".h5", ".hdf5")):
        backbone.load_weights(weights_path, by_name=True, skip_mismatch=True)
    else:
        backbone.load_weights(weights_path)
    if name == "efficientnet_b0":
        # keras' EfficientNet files store the ImageNet standard deviations in the
        # Normalization layer's variance slot; with weights="imagenet" Keras adds a second
        # Rescaling to compensate (tensorflow issue 49930). Squaring them here does the same.
        for layer in backbone.layers:
            if isinstance(layer, layers.Normalization):
                layer.variance.assign(layer.variance**2)


def build_application(
    name: str, input_size: int, weights_path: str | None = None, dropout: float = 0.2
) -> tuple[keras.Model, bool]:
    """An ImageNet application backbone with a sigmoid head; returns ``(model, pretrained)``.

    ImageNet weights cannot be downloaded here, so the backbone is randomly initialised unless
    ``weights_path`` names a local weights file; ``pretrained`` says which happened, and the
    model's name ends in ``_imagenet`` or ``_scratch`` so that the saved file says it too.
    """
    if input_size < MIN_APPLICATION_SIZE:
        raise ValueError(
            f"{name} needs input_size >= {MIN_APPLICATION_SIZE}, got {input_size}: "
            "use a larger crop for the application baselines"
        )
    backbone, scale, offset = _backbone(name, input_size)
    pretrained = weights_path is not None
    if pretrained:
        _load_backbone_weights(backbone, name, weights_path)
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = layers.Rescaling(scale, offset=offset, name="to_backbone_range")(inputs)
    x = backbone(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    suffix = "imagenet" if pretrained else "scratch"
    return keras.Model(inputs, outputs, name=f"{name}_{suffix}"), pretrained


def set_bn_momentum(model: keras.Model, momentum: float) -> keras.Model:
    """Set the moving-average momentum of every BatchNormalization layer, nested ones included.

    Keras' default of 0.99 needs hundreds of steps before the moving statistics that validation
    uses settle; with a few thousand training crops that is several epochs of a validation AUC
    stuck at 0.5. Every model gets the same momentum, so the comparison stays on equal terms.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
        elif isinstance(layer, keras.Model):
            set_bn_momentum(layer, momentum)
    return model


def build_reference_cnn(input_size: int = 96, filters: tuple[int, ...] = (24, 48, 64)) -> keras.Model:
    """The benchmark's calibration reference: a plain CNN (a 3x3 stride-2 convolution, then 3x3
    Conv2D + BN + ReLU + 2x2 max pooling per stage, global average pooling, one sigmoid unit) with
    no depthwise convolution and no residual, so it belongs to none of the compared families.
    ``scripts/calibrate_benchmark.py`` sets the synthetic benchmark's strengths with it; it is
    never one of the compared models."""
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(momentum=0.9, name="stem_bn")(x))
    for index, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"stage{index}_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"stage{index}_bn")(x)
        x = layers.ReLU(name=f"stage{index}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"stage{index}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(inputs, outputs, name="reference_cnn")


def build_model(name: str, input_size: int, bn_momentum: float | None = None, **options) -> keras.Model:
    """Build a model by its registry name with keyword ``options`` for its builder.

    ``bn_momentum``, when given, is applied to every batch-normalisation layer of the model.
    """
    if name == "light_cnn":
        model = build_light_cnn(input_size, **options)
    elif name == "meso4":
        model = build_meso4(input_size, **options)
    elif name in APPLICATIONS:
        model, pretrained = build_application(name, input_size, **options)
        source = "ImageNet weights" if pretrained else "random initialisation (no weights file)"
        print(f"{name}: backbone from {source}")
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return model if bn_momentum is None else set_bn_momentum(model, bn_momentum)


def _layer_shapes(layer) -> tuple[tuple, tuple]:
    """Input and output shape of a layer's first call (nested submodel layers have one)."""
    return tuple(layer.get_input_shape_at(0)), tuple(layer.get_output_shape_at(0))


def _spatial(shape: tuple) -> int:
    size = 1
    for dim in shape[1:-1]:
        size *= int(dim)
    return size


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass of one image, counted from layer shapes.

    Counts Conv2D, DepthwiseConv2D, SeparableConv2D and Dense, including the layers of nested
    submodels (the application backbones); element-wise layers, pooling and batch norm are
    left out, as is usual (batch norm folds into the convolution for inference).
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
            continue
        if not isinstance(
            layer,
            layers.Conv2D | layers.DepthwiseConv2D | layers.SeparableConv2D | layers.Dense,
        ):
            continue
        in_shape, out_shape = _layer_shapes(layer)
        in_channels = int(in_shape[-1])
        if isinstance(layer, layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += _spatial(out_shape) * int(out_shape[-1]) * kh * kw
        elif isinstance(layer, layers.SeparableConv2D):
            kh, kw = layer.kernel_size
            depthwise_channels = in_channels * layer.depth_multiplier
            total += _spatial(out_shape) * depthwise_channels * kh * kw
            total += _spatial(out_shape) * depthwise_channels * int(out_shape[-1])
        elif isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            groups = getattr(layer, "groups", 1)
            total += _spatial(out_shape) * int(out_shape[-1]) * kh * kw * in_channels // groups
        else:  # Dense, possibly applied over leading dimensions
            total += _spatial(out_shape) * in_channels * int(out_shape[-1])
    return int(total)


def model_summary(model: keras.Model) -> dict:
    """Parameters, MACs and storage size of a model (float32: 4 bytes a weight, int8: 1)."""
    trainable = int(sum(int(w.shape.num_elements()) for w in model.trainable_weights))
    total = int(model.count_params())
    return {
        "name": model.name,
        "input_shape": [int(d) for d in model.input_shape[1:]],
        "params_total": total,
        "params_trainable": trainable,
        "macs": count_macs(model),
        "float32_bytes": total * 4,
        "int8_bytes_estimate": total,
    }
