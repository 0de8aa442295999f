"""The device-side TFLite helpers: no TensorFlow import, int8 input/output, refusing bad files.

TensorFlow is imported only inside the tests that need a real .tflite file (built here with the
converter; TensorFlow's interpreter stands in for tflite-runtime, which is not installed).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from deepfake_iot import tflite_io

SIZE = 16


def test_importing_tflite_io_does_not_import_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        import deepfake_iot.tflite_io
        print("tensorflow" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


def _details(dtype, scale=0.0, zero_point=0):
    return {"name": "x", "dtype": dtype, "quantization": (scale, zero_point)}


@pytest.mark.parametrize(
    "dtype,scale,zero_point", [(np.int8, 1 / 255, -128), (np.uint8, 1 / 255, 0), (np.int8, 0.02, 3)]
)
def test_quantize_dequantize_round_trip_within_half_a_step(dtype, scale, zero_point):
    rng = np.random.default_rng(0)
    values = rng.random(1000).astype(np.float32)
    details = _details(dtype, scale, zero_point)
    info = np.iinfo(dtype)
    representable = (values >= scale * (info.min - zero_point)) & (
        values <= scale * (info.max - zero_point)
    )
    # float -> quantized -> float
    quantized = tflite_io.quantize_input(values, details)
    assert quantized.dtype == dtype
    back = tflite_io.dequantize_output(quantized, details)
    error = np.abs(back - values)[representable]
    assert error.max() <= scale / 2 + 1e-6
    # quantized -> float -> quantized: every integer comes back exactly
    codes = np.arange(info.min, info.max + 1).astype(dtype)
    assert np.array_equal(
        tflite_io.quantize_input(tflite_io.dequantize_output(codes, details), details), codes
    )


def test_quantize_rounds_half_to_even_and_clips():
    details = _details(np.int8, 1.0, 0)
    out = tflite_io.quantize_input(np.array([0.5, 1.5, 2.5, 300.0, -300.0]), details)
    assert out.tolist() == [0, 2, 2, 127, -128]


def test_float_models_pass_through():
    details = _details(np.float32)
    values = np.array([0.25, 0.75], dtype=np.float64)
    assert tflite_io.quantize_input(values, details).dtype == np.float32
    assert np.allclose(tflite_io.dequantize_output(values, [details]), values)


def test_integer_input_without_scale_is_an_error():
    with pytest.raises(ValueError, match="no quantization scale"):
        tflite_io.quantize_input(np.zeros(3), _details(np.int8, 0.0, 0))


def test_missing_file_random_bytes_and_truncated_header_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        tflite_io.load_interpreter(tmp_path / "missing.tflite")
    noise = tmp_path / "noise.tflite"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="noise.tflite"):
        tflite_io.load_interpreter(noise)
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="too short"):
        tflite_io.load_interpreter(empty)


def test_unknown_runtime_is_named():
    with pytest.raises(ValueError, match="unknown TFLite runtime"):
        tflite_io.available_runtime("coral")


@pytest.fixture(scope="module")
def tiny_tflite():
    """A float and an int8 .tflite of a 2-layer model (TensorFlow needed only here)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("tf_keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    samples = [rng.random((1, SIZE, SIZE, 3), dtype=np.float32) for _ in range(16)]

    def representative():
        for sample in samples:
            yield [sample]

    float_bytes = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    int8_bytes = converter.convert()
    images = rng.random((5, SIZE, SIZE, 3), dtype=np.float32)
    return model, float_bytes, int8_bytes, images


def test_predict_float_and_int8_match_keras(tiny_tflite, tmp_path):
    model, float_bytes, int8_bytes, images = tiny_tflite
    expected = model.predict(images, verbose=0).reshape(-1)
    path = tmp_path / "float.tflite"
    path.write_bytes(float_bytes)
    interpreter, runtime = tflite_io.load_interpreter(path, runtime="tensorflow")
    assert runtime == "tensorflow"
    assert np.allclose(tflite_io.predict(interpreter, images), expected, atol=1e-5)
    interpreter, _ = tflite_io.load_interpreter(int8_bytes)
    details = tflite_io.io_details(interpreter)
    assert details["input_dtype"] == "int8" and details["output_dtype"] == "int8"
    assert details["input_scale"] > 0 and details["output_scale"] > 0
    scores = tflite_io.predict(interpreter, images)
    assert scores.shape == (5,) and np.all((scores >= 0) & (scores <= 1))
    assert np.abs(scores - expected).max() < 0.05
    batched = tflite_io.predict(interpreter, images, batch_size=2)
    assert np.allclose(batched, scores, atol=details["output_scale"] + 1e-6)


def test_truncated_model_is_a_value_error_not_a_crash(tiny_tflite, tmp_path):
    _, float_bytes, _, _ = tiny_tflite
    for cut in (12, 100, len(float_bytes) // 2, len(float_bytes) - 50):
        path = tmp_path / f"cut{cut}.tflite"
        path.write_bytes(float_bytes[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.tflite"):
            tflite_io.load_interpreter(path)


def test_predict_checks_the_image_shape(tiny_tflite):
    _, float_bytes, _, _ = tiny_tflite
    interpreter, _ = tflite_io.load_interpreter(float_bytes)
    with pytest.raises(ValueError, match="the model expects"):
        tflite_io.predict(interpreter, np.zeros((2, SIZE + 1, SIZE, 3)))
