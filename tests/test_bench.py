"""Device side: the benchmark, and proof that notebook 06 needs no TensorFlow."""

import json
import subprocess
import sys

import numpy as np
import pytest

from deepfake_iot import bench

from .conftest import ROOT


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A float32 and a full-int8 .tflite of a tiny model (TensorFlow only builds them)."""
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    from deepfake_iot import quantize

    folder = tmp_path_factory.mktemp("tflite")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    samples = [
        [np.random.default_rng(i).random((1, 16, 16, 3), dtype=np.float32)] for i in range(8)
    ]
    paths = {}
    for variant in ("float32", "int8_ptq"):
        content = quantize.convert(model, variant, samples if variant == "int8_ptq" else None)
        quantize.write_variant(
            content, folder / "tiny" / f"{variant}.tflite", {"variant": variant, "threshold": 0.5}
        )
        paths[variant] = folder / "tiny" / f"{variant}.tflite"
    return paths


def test_device_modules_and_notebook_06_import_without_tensorflow():
    source = json.loads((ROOT / "notebooks" / "06_device_benchmark.ipynb").read_text())["cells"]
    imports = [
        line
        for cell in source
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if line.startswith(("import ", "from ")) and "google.colab" not in line
    ]
    code = "\n".join(
        imports
        + ["import sys", "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"]
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "notebooks"
    )
    assert result.returncode == 0, result.stderr


def test_benchmark_statistics_are_ordered(tiny_models):
    for path in tiny_models.values():
        result = bench.benchmark_model(path, threads=1, warmup=2, runs=20)
        assert result["runs"] == 20
        assert (
            result["min_ms"]
            <= result["median_ms"]
            <= result["p90_ms"]
            <= result["p99_ms"]
            <= result["max_ms"]
        )
        assert result["size_bytes"] == path.stat().st_size and result["peak_rss_mb"] > 0
    assert (
        bench.benchmark_model(tiny_models["int8_ptq"], runs=1, min_seconds=0.2, warmup=0)["runs"]
        > 1
    )


def test_end_to_end_times_every_stage(tiny_models):
    frames = [np.full((64, 80, 3), 128, np.uint8)]
    import cv2

    encoded = cv2.imencode(".jpg", frames[0])[1].tobytes()
    result = bench.end_to_end_benchmark(
        tiny_models["int8_ptq"], [frames[0], encoded], detector="haar", runs=4
    )
    for stage in ("decode", "detect", "crop", "invoke"):
        assert result[f"{stage}_median_ms"] >= 0
    assert result["frames"] == 4 and result["faces_found"] == 0
    with pytest.raises(ValueError, match="detector"):
        bench.end_to_end_benchmark(tiny_models["int8_ptq"], frames, detector="yolo")


def test_results_round_trip(tmp_path):
    info = {**bench.device_info(), "board": "Raspberry Pi 4 Model B Rev 1.4"}
    assert bench.device_slug(info) == "raspberry-pi-4-model-b-rev-1-4"
    json_path, csv_path = bench.save_results(
        [{"model": "m", "variant": "v", "median_ms": 1.0}], info, tmp_path
    )
    assert json_path.parent.name == "raspberry-pi-4-model-b-rev-1-4" and csv_path.is_file()
    table = bench.load_device_results(tmp_path)
    assert (
        list(table["device"]) == ["raspberry-pi-4-model-b-rev-1-4"]
        and table["median_ms"].iloc[0] == 1.0
    )
    assert bench.load_device_results(tmp_path / "none").empty


def test_device_info_has_the_keys():
    info = bench.device_info()
    for key in ("board", "cpu", "cores", "governor", "os", "python", "machine"):
        assert key in info


def run_demo(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *map(str, args), "--no-window"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_on_an_image_and_a_video(tiny_models, tmp_path):
    import cv2

    image = np.full((120, 160, 3), 90, np.uint8)
    cv2.circle(image, (80, 60), 30, (180, 190, 220), -1)
    cv2.imwrite(str(tmp_path / "frame.png"), image)
    result = run_demo(
        "--model",
        tiny_models["int8_ptq"],
        "--image",
        tmp_path / "frame.png",
        "--out",
        tmp_path / "out.png",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "1 frame(s)" in result.stdout and cv2.imread(str(tmp_path / "out.png")).shape == image.shape
    )
    writer = cv2.VideoWriter(
        str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120)
    )
    for _ in range(4):
        writer.write(image)
    writer.release()
    result = run_demo(
        "--model",
        tiny_models["int8_ptq"],
        "--video",
        tmp_path / "clip.mp4",
        "--out",
        tmp_path / "out.mp4",
    )
    assert result.returncode == 0, result.stderr
    assert "4 frame(s)" in result.stdout and (tmp_path / "out.mp4").stat().st_size > 0


def test_demo_names_missing_files(tiny_models, tmp_path):
    lonely = tmp_path / "model.tflite"
    lonely.write_bytes(tiny_models["float32"].read_bytes())
    result = run_demo("--model", lonely, "--image", tmp_path / "none.png")
    assert result.returncode == 2 and "sidecar" in result.stderr
    result = run_demo("--model", tiny_models["float32"], "--video", tmp_path / "none.mp4")
    assert result.returncode == 2 and "none.mp4" in result.stderr


def test_demo_folder_log_and_smoothing(tiny_models, tmp_path):
    import csv

    import cv2

    folder = tmp_path / "faces"
    folder.mkdir()
    for index in range(3):
        cv2.imwrite(str(folder / f"{index}.png"), np.full((60, 60, 3), 40 * index, np.uint8))
    (folder / "broken.png").write_text("not an image")
    result = run_demo(
        "--model",
        tiny_models["int8_ptq"],
        "--images",
        folder,
        "--out",
        tmp_path / "annotated",
        "--log",
        tmp_path / "log.csv",
        "--smooth",
        "3",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["frame"] for r in rows] == ["0.png", "1.png", "2.png", "broken.png"]
    assert {r["label"] for r in rows} <= {"no face", "real", "fake", "unreadable"} and rows[-1][
        "label"
    ] == "unreadable"
    assert len(list((tmp_path / "annotated").glob("*.png"))) == 3


def test_demo_refuses_mismatched_sidecar_and_missing_camera(tiny_models, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(tiny_models["int8_ptq"].read_bytes())
    sidecar = json.loads(tiny_models["int8_ptq"].with_suffix(".json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**sidecar, "input_size": 99}))
    result = run_demo("--model", model, "--images", tmp_path)
    assert result.returncode == 2 and "input size 99" in result.stderr
    result = run_demo("--model", tiny_models["int8_ptq"], "--camera", "97")
    assert result.returncode == 2 and "camera index 97" in result.stderr
    corrupt = tmp_path / "c.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    (tmp_path / "c.json").write_text(json.dumps(sidecar))
    result = run_demo("--model", corrupt, "--images", tmp_path)
    assert result.returncode == 2 and "c.tflite" in result.stderr
