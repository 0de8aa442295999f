"""The device environment of ``requirements-device.txt`` (+ BlazeFace's model files installed
with ``--no-deps``): it installs, and the device side of the library (benchmark, demo, notebook
06, the committed demo model) runs in it on ai-edge-litert, numpy 2 and without TensorFlow. The
one of ``requirements-device-onnx.txt`` (the same plus ONNX Runtime) runs the ``.onnx`` twins as
the ``.tflite`` files: the benchmark, every exported kind of file, and the demo on the portrait
clip, with the same faces and decisions.

Slow: the environment is built once and cached (``tests/device_envs.py``); notebook 06 runs in
it in ``tests/test_run_all.py``, on the smoke run's files.
"""

import json
import os

import numpy as np
import pytest

from .conftest import ROOT
from .device_envs import build_venv, run

pytestmark = pytest.mark.slow

MEMORY_LIMIT_MB = 150

DEVICE_SCRIPT = """
import json, sys
import numpy as np
from deepfake_iot import detector_study, frame_path_study, inference, machine, timing
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("tensorflow is importable in the device environment")
rows = []
for path in sys.argv[1:]:
    result = timing.benchmark_model(path, threads=1, warmup=3, runs=30)
    rows.append({"file": path, **result})
from deepfake_iot import detector_study, frame_path_study, machine, timing
frame = detector_study.portrait_frames((640, 480))[30]["frame"]
e2e = frame_path_study.end_to_end_benchmark(sys.argv[-1], [frame], detector="blazeface_short", runs=5)
assert "tensorflow" not in sys.modules
print(json.dumps({"rows": rows, "end_to_end": e2e, "numpy": np.__version__}))
"""


def _run(command, timeout, **kwargs):
    return run(command, timeout, **kwargs)


@pytest.fixture(scope="module")
def device_python(tmp_path_factory):
    python, seconds = build_venv("device", tmp_path_factory.mktemp("device-venv"))
    state = f"built in {seconds:.0f} s" if seconds else "reused"
    print(f"device environment {state}: {python.parent.parent}")
    return python


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    """A float32 and a full-int8 .tflite (with sidecars) of a tiny CNN, made with TensorFlow in
    this (analysis) environment."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    from deepfake_iot import quantize

    folder = tmp_path_factory.mktemp("device-models")
    keras.utils.set_random_seed(0)  # weights drawn once: the same model every run
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    rng = np.random.default_rng(0)
    samples = [[rng.random((1, 32, 32, 3), dtype=np.float32)] for _ in range(16)]
    paths = []
    for variant in ("float32", "float16", "dynamic_range", "int8_ptq"):  # every kind 04 writes
        content = quantize.convert(model, variant, samples if variant == "int8_ptq" else None)
        path = folder / f"{variant}.tflite"
        quantize.write_variant(content, path, {"variant": variant, "threshold": 0.5})
        paths.append(path)
    return paths


def test_device_environment_runs_the_benchmark_without_tensorflow(
    device_python, tiny_tflite, tmp_path
):
    done = _run(
        [str(device_python), "-c", DEVICE_SCRIPT, *map(str, tiny_tflite)],
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["numpy"].startswith("2.")
    for row in report["rows"]:
        assert row["runtime"] == "ai_edge_litert" and row["runs"] == 30
        assert row["min_ms"] <= row["median_ms"] <= row["p99_ms"] <= row["max_ms"]
    e2e = report["end_to_end"]
    assert e2e["frames"] == 5 and e2e["invoke_median_ms"] > 0 and e2e["faces_found"] == 5


def test_device_environment_runs_the_demo_within_its_memory(device_python, tiny_tflite, tmp_path):
    """The demo as deployed: a process of its own, BlazeFace and the classifier loaded, camera
    frames flowing; its own peak resident memory stays under the limit."""
    from deepfake_iot import frame_path_study, machine

    clip = frame_path_study.write_portrait_clip(tmp_path / "clip.mp4", frames=40)
    command = [str(device_python), str(ROOT / "scripts" / "demo.py"), "--model", str(tiny_tflite[-1]),
               "--video", str(clip), "--out", str(tmp_path / "annotated.mp4"), "--no-window",
               "--log", str(tmp_path / "log.csv")]  # fmt: skip
    code, peak_mb, stdout = machine.peak_rss_of(command, timeout=120, cwd=tmp_path)
    print(f"demo process in the device environment: peak {peak_mb:.0f} MB")
    assert code == 0, stdout[-2000:]
    assert "40 frame(s)" in stdout and (tmp_path / "annotated.mp4").stat().st_size > 0
    assert peak_mb < MEMORY_LIMIT_MB, f"the demo process peaked at {peak_mb:.0f} MB"
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert len(rows) == 41 and "detect_ms" in rows[0]


def test_every_converted_file_loads_on_the_device_runtime(device_python, tiny_tflite, tmp_path):
    code = (
        "import sys\nfrom deepfake_iot import inference\n"
        "for path in sys.argv[1:]:\n"
        "    interpreter, name = inference.load_model(path)\n"
        "    interpreter.invoke()\n"
        "    print(name, path)\n"
    )
    done = _run([str(device_python), "-c", code, *map(str, tiny_tflite)], timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("ai_edge_litert") == len(tiny_tflite) == 4


def test_the_committed_demo_model_runs_on_the_device(device_python, tmp_path):
    from deepfake_iot.demo_model import demo_model_path

    model = demo_model_path()
    sidecar = json.loads(model.with_suffix(".json").read_text())
    assert sidecar["profile"] == "demo_model" and len(sidecar["commit"]) >= 7
    assert sidecar["dataset"] == "synthetic" and "not a detector for real faces" in sidecar["note"]
    assert 50_000 < model.stat().st_size < 200_000
    from deepfake_iot import detector_study

    frame, _ = detector_study.place_portrait(detector_study.load_portrait(), (640, 480), 0.4, (0.5, 0.5), 0.0,
                                        detector_study.room_background((640, 480), 0))  # fmt: skip
    import cv2

    cv2.imwrite(str(tmp_path / "portrait.jpg"), frame)
    done = _run([str(device_python), str(ROOT / "scripts" / "demo.py"), "--image", "portrait.jpg",
                 "--no-window", "--log", "log.csv"], timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    first = done.stdout.splitlines()[0]
    assert "synthetic" in first and "not a detector for real faces" in first, first
    assert (tmp_path / "portrait_annotated.png").is_file()
    assert ",True," in (tmp_path / "log.csv").read_text()  # the face was found


# ONNX Runtime beside LiteRT (requirements-device-onnx.txt) ------------------------------------
@pytest.fixture(scope="module")
def onnx_python(tmp_path_factory):
    python, seconds = build_venv("onnx", tmp_path_factory.mktemp("onnx-venv"))
    state = f"built in {seconds:.0f} s" if seconds else "reused"
    print(f"ONNX device environment {state}: {python.parent.parent}")
    return python


@pytest.fixture(scope="module")
def tiny_onnx(tiny_tflite, tmp_path_factory):
    """The .onnx twin of every tiny .tflite, exported as notebook 04 does (in this environment)."""
    pytest.importorskip("tf2onnx")
    import pandas as pd

    from deepfake_iot import onnx_export

    out = tmp_path_factory.mktemp("export")
    (out / "tiny").mkdir()
    for path in tiny_tflite:  # the layout notebook 04 writes: <root>/<model>/<variant>.tflite
        for source in (path, path.with_suffix(".json")):
            (out / "tiny" / source.name).write_bytes(source.read_bytes())
    quantization = pd.DataFrame({"path": [f"tiny/{path.name}" for path in tiny_tflite]})
    images = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
    table = onnx_export.export_variants(quantization, out, out / "onnx", {32: (images, np.arange(8) % 2)},
                                        opset=13, tolerance=0.01)  # fmt: skip
    assert list(table["status"]) == ["ok"] * 4, table
    return [out / path for path in table["path"]]


def test_the_onnx_environment_runs_every_exported_file_and_times_both_runtimes(onnx_python, tiny_onnx, tmp_path):
    from deepfake_iot.demo_model import demo_model_path, demo_onnx_path

    code = (
        "import json, sys\nfrom deepfake_iot import inference, runtimes\n"
        "loaded = [inference.load_model(p)[1] for p in sys.argv[3:]]\n"
        "rows = runtimes.compare_runtimes(sys.argv[1:3], runs=20, warmup=2)\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print(json.dumps({'loaded': loaded, 'rows': rows.drop(columns=['python']).to_dict('records')}))\n"
    )
    files = [str(demo_model_path()), str(demo_onnx_path()), *map(str, tiny_onnx)]
    done = _run([str(onnx_python), "-c", code, *files], timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["loaded"] == ["onnxruntime"] * 4
    rows = {row["runtime"]: row for row in report["rows"]}
    assert set(rows) == {"ai_edge_litert", "onnxruntime"}, rows
    assert rows["onnxruntime"]["format"] == "onnx" and rows["onnxruntime"]["provider"] == "CPU"
    assert rows["onnxruntime"]["median_ms"] > 0 and rows["ai_edge_litert"]["format"] == "tflite"


def test_the_demo_finds_the_same_faces_and_decides_the_same_on_the_onnx_file(onnx_python, tmp_path):
    """The demo on the portrait clip (matplotlib's Grace Hopper), once with the committed demo
    model and once with its ONNX twin: the same faces, the same decisions, scores within one
    int8 output step."""
    import csv

    from deepfake_iot import frame_path_study
    from deepfake_iot.demo_model import demo_model_path, demo_onnx_path

    clip = frame_path_study.write_portrait_clip(tmp_path / "clip.mp4", frames=40)
    logs, summaries = {}, {}
    for model in (demo_model_path(), demo_onnx_path()):
        log = tmp_path / f"{model.suffix[1:]}.csv"
        command = [str(onnx_python), str(ROOT / "scripts" / "demo.py"), "--model", str(model), "--video", str(clip),
                   "--no-window", "--out", str(tmp_path / f"{model.suffix[1:]}.mp4"), "--log", str(log)]  # fmt: skip
        done = _run(command, timeout=180, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        logs[model.suffix], summaries[model.suffix] = list(csv.DictReader(log.open())), done.stdout.strip().splitlines()[-2]
    assert "(ai_edge_litert, 1 thread(s))" in summaries[".tflite"]
    assert "(onnxruntime on CPUExecutionProvider, 1 thread(s))" in summaries[".onnx"]
    tflite, onnx = logs[".tflite"], logs[".onnx"]
    assert len(tflite) == len(onnx) == 40
    assert [row["face"] for row in tflite] == [row["face"] for row in onnx] and tflite[0]["face"] == "True"
    assert [row["label"] for row in tflite] == [row["label"] for row in onnx]
    differences = [abs(float(a["p_fake"]) - float(b["p_fake"])) for a, b in zip(tflite, onnx, strict=True) if a["p_fake"]]
    assert max(differences) <= 1 / 256 + 1e-6


def test_the_plain_device_environment_lists_an_onnx_file_it_cannot_run(device_python, tmp_path):
    """Without ONNX Runtime an .onnx file is an unsupported file with the reason, not a crash."""
    from deepfake_iot.demo_model import demo_onnx_path

    folder = tmp_path / "models" / "onnx" / "light_cnn"
    folder.mkdir(parents=True)
    (folder / "int8_ptq.onnx").write_bytes(demo_onnx_path().read_bytes())
    code = (
        "import sys\nfrom pathlib import Path\nfrom deepfake_iot import timing\n"
        "path = Path(sys.argv[1])\n"
        "rows, unsupported = timing.benchmark_files([path], {('light_cnn', 'int8_ptq'): 'main'}, [1], out_root=path.parents[3],"
        " warmup=0, runs=2, progress=False)\n"
        "print(len(rows), unsupported[0]['file'], unsupported[0]['reason'])\n"
    )
    done = _run([str(device_python), "-c", code, str(folder / "int8_ptq.onnx")], timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("0 models/onnx/light_cnn/int8_ptq.onnx") and "requirements-device-onnx.txt" in done.stdout
