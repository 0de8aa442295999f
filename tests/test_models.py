"""The light CNN and the baselines: sizes, the input/output contract, quantization, MACs."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

tf = pytest.importorskip("tensorflow")
tfmot = pytest.importorskip("tensorflow_model_optimization")

from deepfake_iot import models  # noqa: E402


def test_light_cnn_is_small_and_scales_with_width_and_depth():
    base = models.build_light_cnn(96).count_params()
    assert 30_000 < base < 200_000
    assert models.build_light_cnn(96, width=0.5).count_params() < base
    assert base < models.build_light_cnn(96, width=2.0).count_params() < 2_000_000
    assert models.build_light_cnn(96, depth=(1, 3, 3, 2)).count_params() > base
    # parameters do not depend on the input size (global pooling), MACs do
    assert models.build_light_cnn(64).count_params() == base


def test_light_cnn_rejects_bad_options():
    with pytest.raises(ValueError, match="too small"):
        models.build_light_cnn(8)
    with pytest.raises(ValueError, match="stage_channels"):
        models.build_light_cnn(96, depth=(1, 1, 1, 1, 1))


def test_meso4_matches_the_paper_size():
    assert 27_000 < models.build_meso4(256).count_params() < 29_000


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_every_model_keeps_the_contract(name):
    size = 32 if name in ("light_cnn", "meso4") else 64
    model = models.build_model(name, size)
    assert model.input_shape == (None, size, size, 3)
    images = np.random.default_rng(0).random((3, size, size, 3), dtype=np.float32)
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (3, 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)


def test_registry_and_application_errors():
    with pytest.raises(ValueError, match="light_cnn"):
        models.build_model("resnet", 96)
    with pytest.raises(ValueError, match="at least|>= 32"):
        models.build_application("mobilenet_v2_035", 16)
    with pytest.raises(FileNotFoundError):
        models.build_application("mobilenet_v2_035", 64, weights_path="/nonexistent.h5")


def test_application_loads_local_backbone_weights(tmp_path):
    source, pretrained = models.build_application("mobilenet_v2_035", 64)
    assert not pretrained and source.name.endswith("_scratch")
    backbone = source.get_layer(index=2)
    path = tmp_path / "backbone.h5"
    backbone.save_weights(str(path))
    loaded, pretrained = models.build_application("mobilenet_v2_035", 64, weights_path=str(path))
    assert pretrained and loaded.name.endswith("_imagenet")
    for a, b in zip(backbone.get_weights(), loaded.get_layer(index=2).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_light_cnn_passes_quantize_model():
    model = models.build_light_cnn(32)
    quantized = tfmot.quantization.keras.quantize_model(model)
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    assert quantized.predict(images, verbose=0).shape == (2, 1)


def test_count_macs_by_hand_on_a_tiny_model():
    keras = models.keras
    layers = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)  # 4*4*4 * 3*3*3 = 1728
    x = layers.DepthwiseConv2D(3, padding="same")(x)  # 4*4*4 * 9 = 576
    x = layers.SeparableConv2D(6, 3, padding="valid")(x)  # 2*2*4*9 + 2*2*4*6 = 240
    x = layers.Flatten()(x)
    outputs = layers.Dense(2)(x)  # 24 * 2 = 48
    model = keras.Model(inputs, outputs)
    assert models.count_macs(model) == 1728 + 576 + 240 + 48


def test_count_macs_agrees_with_the_tensorflow_profiler():
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    model = models.build_light_cnn(64)
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec((1, 64, 64, 3), tf.float32)
    )
    graph = convert_variables_to_constants_v2(function).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(
        graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    flops = profile.total_float_ops
    macs = models.count_macs(model)
    assert abs(flops - 2 * macs) / (2 * macs) < 0.02


def test_count_macs_walks_nested_backbones():
    model = models.build_model("mobilenet_v2_035", 96)
    # published: MobileNetV2 0.35 at 96x96 costs about 11M MACs
    assert 8e6 < models.count_macs(model) < 14e6


def test_model_summary_fields():
    summary = models.model_summary(models.build_light_cnn(32))
    assert summary["params_total"] >= summary["params_trainable"] > 0
    assert summary["float32_bytes"] == 4 * summary["params_total"]
    assert summary["int8_bytes_estimate"] == summary["params_total"]
    assert summary["macs"] > 0


def test_bn_momentum_reaches_nested_layers():
    from deepfake_iot.models import build_model

    model = build_model("mobilenet_v2_035", 32, bn_momentum=0.9)
    momenta = []

    def walk(m):
        for layer in m.layers:
            if layer.__class__.__name__ == "BatchNormalization":
                momenta.append(layer.momentum)
            elif hasattr(layer, "layers"):
                walk(layer)

    walk(model)
    assert momenta and set(momenta) == {0.9}
