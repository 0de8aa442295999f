"""The ONNX twin of every TFLite file (notebook 04, ``onnx_export``): converted from the file
itself, verified against it, listed with the converter's reason where it fails; and a TensorRT
``trtexec`` log made into a device run notebook 06 reads (``scripts/trtexec_run.py``)."""

import ast
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import evaluate, inference, onnx_export, runtimes, timing

from .conftest import ROOT

pytest.importorskip("tf2onnx")
SIZE = 24


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run's models/tflite/tiny/ with every variant notebook 04 writes, and its quantization table."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    from deepfake_iot import quantize

    out = tmp_path_factory.mktemp("run")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    rng = np.random.default_rng(0)
    samples = [[rng.random((1, SIZE, SIZE, 3), dtype=np.float32)] for _ in range(16)]
    paths = []
    for variant in ("float32", "float16", "dynamic_range", "int8_ptq"):
        content = quantize.convert(model, variant, samples if variant == "int8_ptq" else None)
        path = out / "models" / "tflite" / "tiny" / f"{variant}.tflite"
        path.parent.mkdir(parents=True, exist_ok=True)
        quantize.write_variant(content, path, {"variant": variant, "threshold": 0.5, "group": "main", "profile": "test"})
        paths.append(str(path.relative_to(out)))
    images = rng.random((32, SIZE, SIZE, 3), dtype=np.float32)
    return out, pd.DataFrame({"path": paths}), {SIZE: (images, np.arange(32) % 2)}


def test_every_variant_converts_and_scores_as_its_source(run_folder):
    out, quantization, images = run_folder
    table = onnx_export.export_variants(quantization, out, out / "models" / "onnx", images, opset=13, tolerance=0.01)
    assert list(table.columns) == onnx_export.COLUMNS and list(table["status"]) == ["ok"] * 4, table
    assert table["max_abs_diff"].max() <= 0.01 and (table["images"] == 32).all()
    assert table.loc[table["variant"] == "int8_ptq", "max_abs_diff"].iloc[0] <= 1 / 256 + 1e-6
    for row in table.itertuples():
        onnx_path = out / row.path
        tflite_path = runtimes.twin_of(onnx_path)
        assert onnx_path == out / "models" / "onnx" / "tiny" / f"{row.variant}.onnx" and tflite_path.is_file()
        source, sidecar = (json.loads(p.with_suffix(".json").read_text()) for p in (tflite_path, onnx_path))
        for key in ("threshold", "input_scale", "input_zero_point", "output_scale", "class_order", "profile"):
            assert sidecar[key] == source[key], key
        assert sidecar["format"] == "onnx" and sidecar["source_file"] == f"models/tflite/tiny/{row.variant}.tflite"
        assert sidecar["export"]["max_abs_diff"] == row.max_abs_diff and sidecar["export"]["opset"] == 13
        assert sidecar["validation_auc"] == row.val_auc and "tf2onnx" in sidecar["tool_versions"]
    int8, _ = inference.load_model(out / "models" / "onnx" / "tiny" / "int8_ptq.onnx")
    assert inference.io_details(int8)["input_dtype"] == "int8"  # quantization read from the file's metadata
    macros = onnx_export.export_macros(table, 0.01, 13)
    assert macros["NumOnnxFiles"] == 4 and macros["NumOnnxFailed"] == 0 and macros["OnnxOpset"] == 13
    assert "failed" not in onnx_export.summary(table, 0.01)
    onnx_export.check_agreement(table, 0.01)


def test_hard_swish_converts_at_opset_13_as_its_definition(tmp_path):
    """MobileNetV3's activation: TFLite fuses x * relu6(x + 3) / 6 into HARD_SWISH, which ONNX
    has only from opset 14; at the default opset 13 it becomes HardSigmoid and Mul."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import onnx
    import tf_keras as keras

    from deepfake_iot import quantize

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Multiply()([x, keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    rng = np.random.default_rng(0)
    samples = [[rng.random((1, SIZE, SIZE, 3), dtype=np.float32)] for _ in range(8)]
    images = rng.random((32, SIZE, SIZE, 3), dtype=np.float32)
    for variant in ("float32", "int8_ptq"):
        content = quantize.convert(model, variant, samples if variant == "int8_ptq" else None)
        source = tmp_path / "tflite" / "hs" / f"{variant}.tflite"
        quantize.write_variant(content, source, {"variant": variant, "threshold": 0.5})
        ops = [op["op_name"] for op in inference.load_model(source)[0]._get_ops_details()]
        assert "HARD_SWISH" in ops, ops
        twin = tmp_path / "onnx" / "hs" / f"{variant}.onnx"
        row = onnx_export.export_file(source, twin, images, np.arange(32) % 2, opset=13, out_root=tmp_path)
        assert row["status"] == "ok", row
        assert row["max_abs_diff"] <= 1e-5 if variant == "float32" else 0.0079, row
        kinds = [node.op_type for node in onnx.load(twin).graph.node]
        assert "HardSwish" not in kinds and {"HardSigmoid", "Mul"} <= set(kinds), kinds
    newer = onnx_export.convert(tmp_path / "tflite" / "hs" / "float32.tflite", 14, {})
    assert "HardSwish" in [node.op_type for node in newer.graph.node]  # opset 14 keeps the node


def test_the_paper_names_the_files_beyond_the_tolerance_and_how_far():
    row = {"opset": 13, "reason": "", "images": 10, "mean_abs_diff": 0.001, "val_auc": 0.8}
    table = pd.DataFrame([
        {**row, "model": "light_cnn", "variant": "float32", "status": "ok", "max_abs_diff": 1e-6, "decision_agreement": 1.0},
        {**row, "model": "light_cnn", "variant": "int8_ptq", "status": "ok", "max_abs_diff": 0.0078, "decision_agreement": 1.0},
        {**row, "model": "mobilenet_v2_035", "variant": "int8_ptq", "status": "disagrees", "max_abs_diff": 0.09,
         "decision_agreement": 0.984},
        {**row, "model": "meso4", "variant": "float32", "status": "not converted", "max_abs_diff": float("nan"),
         "decision_agreement": float("nan")},
    ])  # fmt: skip
    macros = onnx_export.export_macros(table, 0.01, 13)
    assert macros["NumOnnxFiles"] == 2 and macros["NumOnnxFailed"] == 2
    assert macros["OnnxIntClause"] == " (the integer files within 7.8e-03)"
    assert macros["OnnxOutsideClause"].startswith(": MobileNetV2 (width 0.35) int8 PTQ, which converted")
    assert "9.0e-02" in macros["OnnxOutsideClause"] and "98.4%" in macros["OnnxOutsideClause"]
    within = onnx_export.export_macros(table.iloc[:2], 0.01, 13)
    assert within["OnnxOutsideClause"] == "" and within["NumOnnxFailed"] == 0
    assert onnx_export.export_macros(table.iloc[:1], 0.01, 13)["OnnxIntClause"] == ""


def test_a_file_that_does_not_convert_is_listed_with_the_reason(run_folder, monkeypatch, tmp_path):
    out, quantization, images = run_folder

    def refuse(*args, **kwargs):
        raise RuntimeError("Unsupported ops: Counter({'HARD_SWISH': 3})")

    monkeypatch.setattr(onnx_export, "convert", refuse)
    table = onnx_export.export_variants(quantization[:1], out, tmp_path / "onnx", images, opset=13, tolerance=0.01)
    assert table.iloc[0]["status"] == "not converted" and "HARD_SWISH" in table.iloc[0]["reason"]
    assert not (tmp_path / "onnx").exists()
    assert "not converted: RuntimeError: Unsupported ops" in onnx_export.summary(table, 0.01)
    assert onnx_export.export_macros(table, 0.01, 13)["NumOnnxFailed"] == 1


def test_a_file_beyond_the_tolerance_is_an_error_and_is_removed(run_folder, monkeypatch, tmp_path):
    out, quantization, images = run_folder
    real = onnx_export.compare
    monkeypatch.setattr(onnx_export, "compare", lambda *a: {**real(*a), "max_abs_diff": 0.2})
    table = onnx_export.export_variants(quantization[:1], out, tmp_path / "onnx", images, opset=13, tolerance=0.01)
    assert table.iloc[0]["status"] == "disagrees" and not list((tmp_path / "onnx").rglob("*.*"))
    with pytest.raises(ValueError, match=r"1 ONNX file\(s\) disagree .* beyond 0.01 .*tiny/float32 \(0.2\)"):
        onnx_export.check_agreement(table, 0.01)


def test_notebook_05s_sidecar_entries_reach_the_onnx_twin(run_folder):
    out, quantization, images = run_folder
    onnx_export.export_variants(quantization[-1:], out, out / "models" / "onnx", images, opset=13, tolerance=0.01)
    tflite = out / quantization["path"].iloc[-1]
    evaluate.update_sidecar(tflite, calibration={"method": "platt", "slope": 1.0, "intercept": 0.0}, operating_points=[])
    twin = json.loads(runtimes.twin_of(tflite).with_suffix(".json").read_text())
    assert twin["calibration"]["method"] == "platt" and twin["format"] == "onnx"


def test_one_file_exports_from_the_command_line_never_beside_its_source(run_folder, tmp_path):
    out, quantization, _ = run_folder
    tflite = out / quantization["path"].iloc[-1]
    command = [sys.executable, "-m", "deepfake_iot.onnx_export", str(tflite)]
    refused = subprocess.run([*command, "--out", str(tflite.with_suffix(".onnx"))], capture_output=True, text=True)
    assert refused.returncode == 2 and "would share its sidecar" in refused.stderr
    done = subprocess.run([*command, "--out", str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "largest score difference" in done.stdout
    sidecar = json.loads((tmp_path / "m.json").read_text())
    assert "random images" in sidecar["export"]["verified_on"] and "validation_auc" not in sidecar


def test_the_committed_demo_model_has_its_verified_onnx_twin():
    from deepfake_iot.demo_model import demo_model_path, demo_onnx_path

    assert runtimes.twin_of(demo_model_path()) == demo_onnx_path() and demo_onnx_path().is_file()
    sidecar = json.loads(demo_onnx_path().with_suffix(".json").read_text())
    source = json.loads(demo_model_path().with_suffix(".json").read_text())
    assert sidecar["threshold"] == source["threshold"] and "not a detector for real faces" in sidecar["note"]
    assert sidecar["export"]["max_abs_diff"] <= 0.01
    import hashlib

    assert sidecar["export"]["source_sha256"] == hashlib.sha256(demo_model_path().read_bytes()).hexdigest()


TRTEXEC_LOG = """&&&& RUNNING TensorRT.trtexec [TensorRT v8201] # /usr/src/tensorrt/bin/trtexec --onnx=int8_ptq.onnx --int8
[03/01/2024-10:00:00] [I] === Model Options ===
[03/01/2024-10:00:09] [I] === Performance summary ===
[03/01/2024-10:00:09] [I] Throughput: 1520.7 qps
[03/01/2024-10:00:09] [I] Latency: min = 0.61 ms, max = 1.9 ms, mean = 0.655 ms, median = 0.648 ms, percentile(90%) = 0.7 ms, percentile(95%) = 0.72 ms, percentile(99%) = 0.81 ms
[03/01/2024-10:00:09] [I] GPU Compute Time: min = 0.41 ms, max = 1.5 ms, mean = 0.452 ms, median = 0.449 ms, percentile(99%) = 0.6 ms
&&&& PASSED TensorRT.trtexec [TensorRT v8201] # /usr/src/tensorrt/bin/trtexec --onnx=int8_ptq.onnx --int8
"""


def test_a_trtexec_log_becomes_a_device_run_the_latency_table_reads(tmp_path):
    script = ROOT / "scripts" / "trtexec_run.py"
    ast.parse(script.read_text(), feature_version=(3, 6))  # it must run on the Jetson Nano's Python 3.6
    log = tmp_path / "trtexec.log"
    log.write_text(TRTEXEC_LOG)
    command = [sys.executable, str(script), str(log), "--model", "light_cnn", "--variant", "int8_ptq",
               "--board", "NVIDIA Jetson Nano Developer Kit", "--out", str(tmp_path / "device")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    runs = timing.load_device_results(tmp_path / "device")
    row = runs.iloc[0]
    assert row["device"] == "nvidia-jetson-nano-developer-kit" and row["runtime"] == "tensorrt 8.2.1 (int8)"
    assert (row["median_ms"], row["p99_ms"], row["throughput_fps"], row["threads"]) == (0.648, 0.81, 1520.7, 1)
    assert row["gpu_compute_median_ms"] == 0.449 and row["variant"] == "int8_ptq" and pd.isna(row.get("kind"))
    log.write_text("&&&& RUNNING TensorRT.trtexec [TensorRT v7103]\n[I] Host Latency\n")
    failed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2 and "TensorRT 8 or newer" in failed.stderr
