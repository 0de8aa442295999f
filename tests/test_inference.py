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

from deepfake_iot import inference

SIZE = 16


def test_importing_inference_does_not_import_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        import deepfake_iot.inference
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
    quantized = inference.quantize_input(values, details)
    assert quantized.dtype == dtype
    back = inference.dequantize_output(quantized, details)
    error = np.abs(back - values)[representable]
    assert error.max() <= scale / 2 + 1e-6
    # quantized -> float -> quantized: every integer comes back exactly
    codes = np.arange(info.min, info.max + 1).astype(dtype)
    assert np.array_equal(
        inference.quantize_input(inference.dequantize_output(codes, details), details), codes
    )


def test_quantize_rounds_half_to_even_and_clips():
    details = _details(np.int8, 1.0, 0)
    out = inference.quantize_input(np.array([0.5, 1.5, 2.5, 300.0, -300.0]), details)
    assert out.tolist() == [0, 2, 2, 127, -128]


def test_float_models_pass_through():
    details = _details(np.float32)
    values = np.array([0.25, 0.75], dtype=np.float64)
    assert inference.quantize_input(values, details).dtype == np.float32
    assert np.allclose(inference.dequantize_output(values, [details]), values)


def test_integer_input_without_scale_is_an_error():
    with pytest.raises(ValueError, match="no quantization scale"):
        inference.quantize_input(np.zeros(3), _details(np.int8, 0.0, 0))


def test_missing_file_random_bytes_and_truncated_header_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        inference.load_model(tmp_path / "missing.tflite")
    noise = tmp_path / "noise.tflite"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="noise.tflite"):
        inference.load_model(noise)
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="too short"):
        inference.load_model(empty)


def test_unknown_runtime_is_named():
    with pytest.raises(ValueError, match="unknown TFLite runtime"):
        inference.available_runtime("coral")


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
    interpreter, runtime = inference.load_model(path, runtime="tensorflow")
    assert runtime == "tensorflow"
    assert np.allclose(inference.predict(interpreter, images), expected, atol=1e-5)
    interpreter, _ = inference.load_model(int8_bytes)
    details = inference.io_details(interpreter)
    assert details["input_dtype"] == "int8" and details["output_dtype"] == "int8"
    assert details["input_scale"] > 0 and details["output_scale"] > 0
    scores = inference.predict(interpreter, images)
    assert scores.shape == (5,) and np.all((scores >= 0) & (scores <= 1))
    assert np.abs(scores - expected).max() < 0.05
    batched = inference.predict(interpreter, images, batch_size=2)
    assert np.allclose(batched, scores, atol=details["output_scale"] + 1e-6)


@pytest.fixture(scope="module")
def dead_layer_int8():
    """An int8 model whose hidden Dense layer outputs zero on every calibration sample (a bias
    of -10): the converter gives it a near-zero scale, which XNNPACK refuses."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("tf_keras")
    from deepfake_iot import quantize

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dead = keras.layers.Dense(4, activation="relu",
                              bias_initializer=keras.initializers.Constant(-10.0))  # fmt: skip
    outputs = keras.layers.Dense(1, activation="sigmoid")(dead(x))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    samples = [[rng.random((1, SIZE, SIZE, 3), dtype=np.float32)] for _ in range(8)]
    return model, quantize.convert(model, "int8_ptq", samples), rng.random((3, SIZE, SIZE, 3))


@pytest.mark.parametrize("runtime", ["ai_edge_litert", "tensorflow"])
def test_a_graph_xnnpack_refuses_runs_on_the_built_in_kernels_with_a_warning(
    dead_layer_int8, runtime, tmp_path
):
    model, content, images = dead_layer_int8
    path = tmp_path / "dead.tflite"
    path.write_bytes(content)
    with pytest.warns(RuntimeWarning, match=r"dead\.tflite: the XNNPACK delegate refused"):
        interpreter, name = inference.load_model(path, runtime=runtime)
    assert name == runtime
    expected = model.predict(images.astype(np.float32), verbose=0).reshape(-1)
    scores = inference.predict(interpreter, images.astype(np.float32))
    assert np.abs(scores - expected).max() < 0.01, (scores, expected)


def test_truncated_model_is_a_value_error_not_a_crash(tiny_tflite, tmp_path):
    _, float_bytes, _, _ = tiny_tflite
    for cut in (12, 100, len(float_bytes) // 2, len(float_bytes) - 50):
        path = tmp_path / f"cut{cut}.tflite"
        path.write_bytes(float_bytes[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.tflite"):
            inference.load_model(path)


def test_predict_checks_the_image_shape(tiny_tflite):
    _, float_bytes, _, _ = tiny_tflite
    interpreter, _ = inference.load_model(float_bytes)
    with pytest.raises(ValueError, match="the model expects"):
        inference.predict(interpreter, np.zeros((2, SIZE + 1, SIZE, 3)))


# ONNX Runtime: the same interface for the .onnx twin of a .tflite file -------------------------
@pytest.fixture(scope="module")
def tiny_pair(tiny_tflite, tmp_path_factory):
    """The float and int8 .tflite files and their .onnx twins (tf2onnx, as notebook 04 exports)."""
    pytest.importorskip("tf2onnx")
    from deepfake_iot import onnx_export

    _, float_bytes, int8_bytes, images = tiny_tflite
    folder = tmp_path_factory.mktemp("pair")
    pairs = {}
    for name, content in (("float32", float_bytes), ("int8_ptq", int8_bytes)):
        tflite = folder / f"{name}.tflite"
        tflite.write_bytes(content)
        interpreter, _ = inference.load_model(content)
        details = inference.io_details(interpreter)
        metadata = {key: details[key] for key in onnx_export.QUANTIZATION_KEYS}
        onnx_path = folder / "onnx" / f"{name}.onnx"
        onnx_path.parent.mkdir(exist_ok=True)
        onnx_path.write_bytes(onnx_export.convert(tflite, 13, metadata).SerializeToString())
        pairs[name] = (tflite, onnx_path)
    return pairs, images


def test_an_onnx_file_scores_as_its_tflite_source(tiny_pair):
    pairs, images = tiny_pair
    for tflite, onnx_path in pairs.values():
        reference_model, _ = inference.load_model(tflite)
        model, runtime = inference.load_model(onnx_path)
        assert runtime == "onnxruntime" and inference.providers_of(model) == ["CPUExecutionProvider"]
        assert inference.io_details(model) == inference.io_details(reference_model)
        expected = inference.predict(reference_model, images)
        step = inference.io_details(model)["output_scale"] or 1e-6
        assert np.abs(inference.predict(model, images) - expected).max() <= step + 1e-6
        assert np.allclose(inference.predict(model, images, batch_size=3), inference.predict(model, images), atol=1e-6)
    assert inference.providers_of(reference_model) == ["CPU"]


def test_a_runtime_of_the_other_kind_is_ignored(tiny_pair):
    pairs, _ = tiny_pair
    tflite, onnx_path = pairs["int8_ptq"]
    assert inference.load_model(onnx_path, runtime="ai_edge_litert")[1] == "onnxruntime"
    assert inference.load_model(tflite, runtime="onnxruntime")[1] == "ai_edge_litert"


def test_onnx_quantization_comes_from_the_file_else_from_its_sidecar(tiny_pair, tmp_path):
    import json

    import onnx

    pairs, images = tiny_pair
    tflite, onnx_path = pairs["int8_ptq"]
    proto = onnx.load(str(onnx_path))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(proto.SerializeToString())
    model, _ = inference.load_model(bare)
    with pytest.raises(ValueError, match="no quantization scale"):
        inference.predict(model, images)
    details = inference.io_details(inference.load_model(tflite)[0])
    bare.with_suffix(".json").write_text(json.dumps(details))
    model, _ = inference.load_model(bare)
    assert inference.io_details(model) == details and len(inference.predict(model, images)) == len(images)


def test_a_broken_onnx_file_is_a_value_error_naming_it(tmp_path):
    pytest.importorskip("onnxruntime")
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="noise.onnx could not be loaded as an ONNX model"):
        inference.load_model(noise)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        inference.load_model(empty)
    with pytest.raises(ValueError, match="does not exist"):
        inference.load_model(tmp_path / "gone.onnx")


def test_without_onnxruntime_an_onnx_file_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match="requirements-device-onnx.txt"):
        inference.load_model(path)


def test_execution_providers_prefer_tensorrt_then_cuda_then_cpu():
    from deepfake_iot.onnx_backend import choose_providers, provider_names

    every = ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "AzureExecutionProvider"]
    assert choose_providers(None, every) == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(None, ["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers("cuda,cpu", every) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert provider_names(["TRT", " cpu "]) == ["TensorrtExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ValueError, match="CUDAExecutionProvider not available.*onnxruntime-gpu"):
        choose_providers(["cuda"], ["CPUExecutionProvider"])
