"""The device environment of ``requirements-device.txt`` (+ BlazeFace's model files installed
with ``--no-deps``): it installs, and the device side of the library (benchmark, demo, notebook
06, the committed demo model) runs in it on ai-edge-litert, numpy 2 and without TensorFlow.

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
from deepfake_iot import bench, tflite_io
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("tensorflow is importable in the device environment")
rows = []
for path in sys.argv[1:]:
    result = bench.benchmark_model(path, threads=1, warmup=3, runs=30)
    rows.append({"file": path, **result})
from deepfake_iot import facebench
frame = facebench.portrait_frames((640, 480))[30]["frame"]
e2e = bench.end_to_end_benchmark(sys.argv[-1], [frame], detector="blazeface_short", runs=5)
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
    from deepfake_iot import bench, facebench

    clip = facebench.write_portrait_clip(tmp_path / "clip.mp4", frames=40)
    command = [str(device_python), str(ROOT / "scripts" / "demo.py"), "--model", str(tiny_tflite[-1]),
               "--video", str(clip), "--out", str(tmp_path / "annotated.mp4"), "--no-window",
               "--log", str(tmp_path / "log.csv")]  # fmt: skip
    code, peak_mb, stdout = bench.peak_rss_of(command, timeout=120, cwd=tmp_path)
    print(f"demo process in the device environment: peak {peak_mb:.0f} MB")
    assert code == 0, stdout[-2000:]
    assert "40 frame(s)" in stdout and (tmp_path / "annotated.mp4").stat().st_size > 0
    assert peak_mb < MEMORY_LIMIT_MB, f"the demo process peaked at {peak_mb:.0f} MB"
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert len(rows) == 41 and "detect_ms" in rows[0]


def test_every_converted_file_loads_on_the_device_runtime(device_python, tiny_tflite, tmp_path):
    code = (
        "import sys\nfrom deepfake_iot import tflite_io\n"
        "for path in sys.argv[1:]:\n"
        "    interpreter, name = tflite_io.load_interpreter(path)\n"
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
    from deepfake_iot import facebench

    frame, _ = facebench.place_portrait(facebench.load_portrait(), (640, 480), 0.4, (0.5, 0.5), 0.0,
                                        facebench.room_background((640, 480), 0))  # fmt: skip
    import cv2

    cv2.imwrite(str(tmp_path / "portrait.jpg"), frame)
    done = _run([str(device_python), str(ROOT / "scripts" / "demo.py"), "--image", "portrait.jpg",
                 "--no-window", "--log", "log.csv"], timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    first = done.stdout.splitlines()[0]
    assert "synthetic" in first and "not a detector for real faces" in first, first
    assert (tmp_path / "portrait_annotated.png").is_file()
    assert ",True," in (tmp_path / "log.csv").read_text()  # the face was found
