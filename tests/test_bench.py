"""Device side: the benchmark, and proof that notebook 06 needs no TensorFlow."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import frame_path_study, machine, runtimes, timing

from .conftest import ROOT
from .test_demo import tiny_model


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A float32 and a full-int8 .tflite of a tiny model (TensorFlow only builds them)."""
    folder = tmp_path_factory.mktemp("tflite") / "tiny"
    return {variant: tiny_model(folder, variant) for variant in ("float32", "int8_ptq")}


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
        "import deepfake_iot.timing, deepfake_iot.machine, deepfake_iot.frame_path_study, deepfake_iot.demo, deepfake_iot.inference\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_benchmark_statistics_are_ordered(tiny_models):
    for path in tiny_models.values():
        result = timing.benchmark_model(path, threads=1, warmup=2, runs=20)
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
        assert result["runtime"] == "ai_edge_litert" and result["cpu_percent"] >= 0
        assert result["model_footprint_mb"] >= 0 and result["threads"] == 1
    assert timing.benchmark_model(tiny_models["float32"], threads=2, runs=5)["threads"] == 2
    with pytest.raises(ValueError, match="runs"):
        timing.benchmark_model(tiny_models["float32"], runs=0)
    assert (
        timing.benchmark_model(tiny_models["int8_ptq"], runs=1, min_seconds=0.2, warmup=0)["runs"]
        > 1
    )


def test_end_to_end_times_every_stage(tiny_models):
    frames = [np.full((64, 80, 3), 128, np.uint8)]
    import cv2

    encoded = cv2.imencode(".jpg", frames[0])[1].tobytes()
    result = frame_path_study.end_to_end_benchmark(
        tiny_models["int8_ptq"], [frames[0], encoded], detector="haar", runs=4
    )
    for stage in frame_path_study.E2E_STAGES:
        assert result[f"{stage}_median_ms"] >= 0
    assert result["frames"] == 4 and result["faces_found"] == 0
    assert result["min_ms"] <= result["median_ms"] <= result["p99_ms"] <= result["max_ms"]
    drawn = np.full((120, 160, 3), 70, np.uint8)
    cv2.ellipse(drawn, (80, 60), (30, 40), 0, 0, 360, (150, 170, 210), -1)
    cv2.circle(drawn, (68, 50), 4, (20, 20, 20), -1)
    cv2.circle(drawn, (92, 50), 4, (20, 20, 20), -1)
    result = frame_path_study.end_to_end_benchmark(
        tiny_models["float32"], [drawn], detector="center", threads=1, runs=6
    )
    assert result["frames"] == 6 and result["detector"] == "center"
    stages = sum(result[f"{stage}_median_ms"] for stage in frame_path_study.E2E_STAGES)
    assert result["invoke_median_ms"] > 0 and stages <= result["max_ms"] * len(frame_path_study.E2E_STAGES)
    with pytest.raises(ValueError, match="at least one frame"):
        frame_path_study.end_to_end_benchmark(tiny_models["float32"], [], detector="center")
    with pytest.raises(ValueError, match="decodable"):
        frame_path_study.end_to_end_benchmark(tiny_models["float32"], [b"not a jpeg"], detector="center")
    with pytest.raises(ValueError, match="detector"):
        frame_path_study.end_to_end_benchmark(tiny_models["int8_ptq"], frames, detector="yolo")


def test_results_round_trip(tmp_path):
    info = {**machine.device_info(), "board": "Raspberry Pi 4 Model B Rev 1.4"}
    assert machine.device_slug(info) == "raspberry-pi-4-model-b"
    assert machine.device_slug({"board": "host x86_64"}) == "host-x86_64"
    rows = [
        {"model": "m", "variant": "int8_ptq", "threads": 1, "median_ms": 1.0},
        {"model": "m", "variant": "int8_ptq", "threads": 2, "median_ms": 0.6},
    ]
    json_path, csv_path = timing.save_results(rows, info, tmp_path)
    second, _ = timing.save_results(rows[:1], {"board": "host x86_64"}, tmp_path)
    assert json_path.parent.name == "raspberry-pi-4-model-b" and csv_path.is_file()
    assert json.loads(json_path.read_text())["device"]["board"] == info["board"]
    assert list(pd.read_csv(csv_path)["threads"]) == [1, 2]
    table = timing.load_device_results(tmp_path)
    assert len(table) == 3 and set(table["device"]) == {"raspberry-pi-4-model-b", "host-x86_64"}
    pi = table[table["device"] == "raspberry-pi-4-model-b"]
    assert list(pi["median_ms"]) == [1.0, 0.6] and set(pi["board"]) == {info["board"]}
    assert second.stem in set(table["run"])
    assert timing.load_device_results(tmp_path / "none").empty
    (json_path.parent / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        timing.load_device_results(tmp_path)


def test_device_info_has_the_keys():
    info = machine.device_info()
    for key in ("board", "cpu", "cores", "governor", "temperature_c", "os", "python", "machine"):
        assert key in info
    assert info["cores"] >= 1 and machine.device_slug(info)
    pi5 = "Hardware\t: BCM2835\nCPU part\t: 0xd0b\n"
    assert machine._cpu_name(pi5) == "Cortex-A76 / BCM2835"


def test_runtimes_side_by_side_each_in_its_own_process(tiny_models, tmp_path):
    files = list(tiny_models.values())
    broken = tmp_path / "broken" / "int8_ptq.tflite"
    broken.parent.mkdir()
    broken.write_bytes(b"\x00" * 64)
    rows = runtimes.compare_runtimes([*files, broken], runs=5, warmup=1)
    installed = [name for name in runtimes.installed_runtimes() if name != "onnxruntime"]  # no .onnx file here
    assert installed[0] == "ai_edge_litert" and set(rows["runtime"]) == set(installed)
    assert len(rows) == 3 * len(installed) and set(rows["format"]) == {"tflite"}
    assert rows.loc[rows["model"] == "broken", "error"].str.contains("not a TFLite model").all()
    table = runtimes.runtime_table(rows)
    assert list(table.columns[:2]) == ["model", "variant"] and len(table) == 3
    assert (table[table["model"] == "broken"].iloc[0, 2:] == "fails").all()
    unknown = runtimes.run_in_process(sys.executable, files[:1], runtime="no_such_runtime", runs=1)
    assert "unknown TFLite runtime" in unknown[0]["error"]
    with pytest.raises(RuntimeError, match="deepfake_iot.runtimes failed"):
        runtimes.run_in_process("/bin/false", files, runtime=None, runs=1)


def test_each_runtime_gets_the_files_of_its_kind():
    assert runtimes.runs_files(None, Path("m/int8_ptq.tflite")) and not runtimes.runs_files(None, Path("m/a.onnx"))
    assert runtimes.runs_files("onnxruntime", Path("m/a.onnx")) and not runtimes.runs_files("onnxruntime", Path("a.tflite"))
    assert runtimes.runs_files("tensorflow", Path("m/a.tflite"))


def test_runtime_table_names_the_provider_and_reads_both_formats_side_by_side():
    rows = pd.DataFrame({"model": ["light_cnn"] * 3, "variant": ["int8_ptq"] * 3, "format": ["tflite", "tflite", "onnx"],
                         "runtime": ["ai_edge_litert", "tensorflow", "onnxruntime"],
                         "runtime_version": ["2.3.0", "2.21.0", "1.32.0"], "provider": ["CPU", "CPU", "CUDA"],
                         "median_ms": [0.25, 0.5, np.nan], "error": [np.nan, np.nan, "no GPU"]})  # fmt: skip
    table = runtimes.runtime_table(rows)
    assert list(table.columns) == ["model", "variant", "ai_edge_litert 2.3.0", "onnxruntime 1.32.0 (CUDA)", "tensorflow 2.21.0"]
    assert table.iloc[0]["onnxruntime 1.32.0 (CUDA)"] == "fails"
    assert runtimes.runtime_sentence(table).startswith("light CNN int8, one thread: ai_edge_litert 2.3.0 0.25 ms")
    macros = runtimes.runtime_macros(rows.assign(median_ms=[0.25, 0.5, 0.3], provider=["CPU", "CPU", "CPU"]))
    assert macros["OnnxIntMs"] == 0.3 and macros["LiteRtIntMs"] == 0.25 and macros["OnnxProvider"] == "CPU"
    assert runtimes.runtime_macros(pd.DataFrame())["NumOnnxTimed"] == 0


def test_twins_pair_each_file_with_its_other_format(tmp_path):
    tflite, onnx = tmp_path / "models" / "tflite" / "m", tmp_path / "models" / "onnx" / "m"
    for folder, names in ((tflite, ["float32.tflite", "int8_ptq.tflite"]), (onnx, ["int8_ptq.onnx"])):
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_bytes(b"x")
    chosen = runtimes.twins(sorted(tflite.glob("*.tflite")))
    assert [p.relative_to(tmp_path).as_posix() for p in chosen] == [
        "models/tflite/m/float32.tflite", "models/tflite/m/int8_ptq.tflite", "models/onnx/m/int8_ptq.onnx"]
    assert runtimes.twins([onnx / "int8_ptq.onnx"])[1] == tflite / "int8_ptq.tflite"
    assert runtimes.twin_of(tmp_path / "demo" / "x.tflite") == tmp_path / "demo" / "onnx" / "x.onnx"
    assert runtimes.twin_of(tmp_path / "demo" / "onnx" / "x.onnx") == tmp_path / "demo" / "x.tflite"


def test_file_records_read_the_auc_of_the_file_itself(tmp_path):
    folder = tmp_path / "light_cnn"
    folder.mkdir()
    (folder / "int8_ptq.json").write_text(json.dumps({"validation_auc": 0.8, "input_size": 96}))
    onnx = tmp_path / "onnx" / "light_cnn"
    onnx.mkdir(parents=True)
    (onnx / "int8_ptq.json").write_text(json.dumps({"validation_auc": 0.7, "input_size": 96}))
    table = tmp_path / "quantization.csv"
    pd.DataFrame({"model": ["light_cnn"], "variant": ["int8_ptq"], "group": ["main"], "val_auc": [0.9]}).to_csv(table)
    records = timing.file_records([folder / "int8_ptq.tflite", onnx / "int8_ptq.onnx"], table)
    assert list(records["format"]) == ["tflite", "onnx"] and list(records["val_auc"]) == [0.9, 0.7]
    latency = pd.DataFrame({"model": ["light_cnn"], "variant": ["int8_ptq"], "threads": [1], "median_ms": [1.0],
                            "size_bytes": [1024], "format": ["onnx"]})  # fmt: skip
    assert timing.tradeoff(latency, records)["val_auc"].tolist() == [0.7]


def test_a_gpu_labels_the_device():
    info = {"board": "host x86_64", "gpu": "NVIDIA H100 80GB HBM3"}
    assert machine.device_slug(info) == "host-x86_64-nvidia-h100-80gb-hbm3"
    assert machine.device_slug({"board": "host x86_64"}) == "host-x86_64"


def test_latency_macros_read_the_one_thread_medians():
    one_thread = pd.DataFrame({"model": ["light_cnn", "light_cnn", "mobilenet_v3_small"],
                               "variant": ["int8_ptq", "float32", "int8_ptq"], "median_ms": [1.0, 3.0, 4.0]})
    latency = one_thread.assign(runtime="ai_edge_litert", peak_rss_mb=[50.0, 60.0, 70.0], threads=1)
    macros = timing.latency_macros(one_thread, latency, {"cpu": "x"} | machine.device_info(), committed=pd.DataFrame(),
                                  unsupported=[], untimed_threads=[8], tradeoff_table=pd.DataFrame({"group": ["main", "sweep"]}))
    assert macros["LightIntSpeedup"] == 3.0 and macros["LightVsMobileNetThree"] == 4.0 and macros["MobileNetThreeMs"] == 4.0
    assert macros["NumThreadsNotTimed"] == 1 and macros["NumSweepTimed"] == 1 and "MesoMs" not in macros


def test_benchmark_files_times_main_files_per_thread_count_and_sweep_files_once(tiny_models, tmp_path):
    bad = tmp_path / "broken" / "float32.tflite"
    bad.parent.mkdir()
    bad.write_bytes(b"not a model at all, but long enough")
    files = [tiny_models["float32"], tiny_models["int8_ptq"], bad]
    groups = {("tiny", "float32"): "main", ("tiny", "int8_ptq"): "sweep", ("broken", "float32"): "main"}
    rows, unsupported = timing.benchmark_files(files, groups, [1, 2], out_root=tmp_path, warmup=0, runs=2, progress=False)
    assert [(r["variant"], r["threads"]) for r in rows] == [("float32", 1), ("float32", 2), ("int8_ptq", 1)]
    assert len(unsupported) == 1 and unsupported[0]["file"] == "broken/float32.tflite"
