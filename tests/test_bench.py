"""Device side: the benchmark, and proof that notebook 06 needs no TensorFlow."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import bench

from .conftest import ROOT


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A float32 and a full-int8 .tflite of a tiny model (TensorFlow only builds them)."""
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


def test_device_modules_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "import deepfake_iot.bench, deepfake_iot.demo, deepfake_iot.tflite_io\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
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
        for key in ("mean_ms", "std_ms", "throughput_fps", "runtime", "runtime_version"):
            assert key in result
        assert result["runtime"] == "tensorflow" and result["cpu_percent"] >= 0
        assert result["model_footprint_mb"] >= 0 and result["threads"] == 1
    assert bench.benchmark_model(tiny_models["float32"], threads=2, runs=5)["threads"] == 2
    with pytest.raises(ValueError, match="runs"):
        bench.benchmark_model(tiny_models["float32"], runs=0)
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
    for stage in bench.E2E_STAGES:
        assert result[f"{stage}_median_ms"] >= 0
    assert result["frames"] == 4 and result["faces_found"] == 0
    assert result["min_ms"] <= result["median_ms"] <= result["p99_ms"] <= result["max_ms"]
    drawn = np.full((120, 160, 3), 70, np.uint8)
    cv2.ellipse(drawn, (80, 60), (30, 40), 0, 0, 360, (150, 170, 210), -1)
    cv2.circle(drawn, (68, 50), 4, (20, 20, 20), -1)
    cv2.circle(drawn, (92, 50), 4, (20, 20, 20), -1)
    result = bench.end_to_end_benchmark(
        tiny_models["float32"], [drawn], detector="center", threads=1, runs=6
    )
    assert result["frames"] == 6 and result["detector"] == "center"
    stages = sum(result[f"{stage}_median_ms"] for stage in bench.E2E_STAGES)
    assert result["invoke_median_ms"] > 0 and stages <= result["max_ms"] * len(bench.E2E_STAGES)
    with pytest.raises(ValueError, match="at least one frame"):
        bench.end_to_end_benchmark(tiny_models["float32"], [], detector="center")
    with pytest.raises(ValueError, match="decodable"):
        bench.end_to_end_benchmark(tiny_models["float32"], [b"not a jpeg"], detector="center")
    with pytest.raises(ValueError, match="detector"):
        bench.end_to_end_benchmark(tiny_models["int8_ptq"], frames, detector="yolo")


def test_results_round_trip(tmp_path):
    info = {**bench.device_info(), "board": "Raspberry Pi 4 Model B Rev 1.4"}
    assert bench.device_slug(info) == "raspberry-pi-4-model-b"
    assert bench.device_slug({"board": "host x86_64"}) == "host-x86_64"
    rows = [
        {"model": "m", "variant": "int8_ptq", "threads": 1, "median_ms": 1.0},
        {"model": "m", "variant": "int8_ptq", "threads": 2, "median_ms": 0.6},
    ]
    json_path, csv_path = bench.save_results(rows, info, tmp_path)
    second, _ = bench.save_results(rows[:1], {"board": "host x86_64"}, tmp_path)
    assert json_path.parent.name == "raspberry-pi-4-model-b" and csv_path.is_file()
    assert json.loads(json_path.read_text())["device"]["board"] == info["board"]
    assert list(pd.read_csv(csv_path)["threads"]) == [1, 2]
    table = bench.load_device_results(tmp_path)
    assert len(table) == 3 and set(table["device"]) == {"raspberry-pi-4-model-b", "host-x86_64"}
    pi = table[table["device"] == "raspberry-pi-4-model-b"]
    assert list(pi["median_ms"]) == [1.0, 0.6] and set(pi["board"]) == {info["board"]}
    assert second.stem in set(table["run"])
    assert bench.load_device_results(tmp_path / "none").empty
    (json_path.parent / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        bench.load_device_results(tmp_path)


def test_device_info_has_the_keys():
    info = bench.device_info()
    for key in ("board", "cpu", "cores", "governor", "temperature_c", "os", "python", "machine"):
        assert key in info
    assert info["cores"] >= 1 and bench.device_slug(info)
    pi5 = "Hardware\t: BCM2835\nCPU part\t: 0xd0b\n"
    assert bench._cpu_name(pi5) == "Cortex-A76 / BCM2835"


def run_demo(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *map(str, args), "--no-window"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_demo_headless_default_output_and_a_found_face(tiny_models, tmp_path, monkeypatch):
    import cv2

    from deepfake_iot import demo

    image = np.full((120, 160, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "still.jpg"), image)
    result = run_demo("--model", tiny_models["float32"], "--image", "still.jpg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "still_annotated.png").is_file() and "still_annotated.png" in result.stdout
    detector = demo.Detector(tiny_models["int8_ptq"], smooth=2)
    monkeypatch.setattr(detector, "largest_face", lambda frame: (40, 20, 60, 60))
    for _ in range(3):
        annotated, found = detector.annotate(image)
    assert found["face"] and found["label"] in {"real", "fake"} and 0 <= found["p_fake"] <= 1
    assert len(detector.recent) == 2 and annotated.shape == image.shape
    assert not np.array_equal(annotated, image)


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
        "--log",
        tmp_path / "video.csv",
    )
    assert result.returncode == 0, result.stderr
    assert "4 frame(s)" in result.stdout and (tmp_path / "out.mp4").stat().st_size > 0
    log = (tmp_path / "video.csv").read_text().splitlines()
    assert log[0].startswith("frame,") and len(log) == 5


def test_demo_names_missing_files(tiny_models, tmp_path):
    lonely = tmp_path / "model.tflite"
    lonely.write_bytes(tiny_models["float32"].read_bytes())
    result = run_demo("--model", lonely, "--image", tmp_path / "none.png")
    assert result.returncode == 2 and "sidecar" in result.stderr
    result = run_demo("--model", tmp_path / "absent.tflite", "--image", tmp_path / "none.png")
    assert result.returncode == 2 and "absent.tflite" in result.stderr
    result = run_demo("--model", tiny_models["float32"], "--image", tmp_path / "none.png")
    assert result.returncode == 2 and "none.png" in result.stderr
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
