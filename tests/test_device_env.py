"""The device environment of ``requirements-device.txt`` (+ BlazeFace's model files installed
with ``--no-deps``): it installs, and the device side of the library (benchmark, demo, notebook
06, the committed demo model) runs in it on ai-edge-litert, numpy 2 and without TensorFlow.

Slow: the first run builds a virtualenv in ``~/.cache/deepfake-iot/device-venv`` (about half a
minute with a warm pip cache); later runs reuse it while ``requirements-device.txt``, the
Python version and the checkout's path are unchanged. ``DFIOT_DEVICE_VENV`` names another
folder. Skipped when pip cannot reach the package index.
"""

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

REQUIREMENTS = ROOT / "requirements-device.txt"
VENV = Path(
    os.environ.get("DFIOT_DEVICE_VENV", Path.home() / ".cache" / "deepfake-iot" / "device-venv")
)
MARKER = "requirements.sha256"
MODELS = ROOT / "requirements-device-models.txt"
PROBE_PACKAGE = "ai-edge-litert==2.3.0"  # the one pin without which nothing here runs
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


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _requirements_hash() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + MODELS.read_bytes())
    digest.update(f"{platform.python_version()} {platform.machine()} {ROOT}".encode())
    return digest.hexdigest()


def _run(command, timeout, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def _index_unreachable_reason(tmp_path) -> str | None:
    """Why pip cannot fetch the device runtime (fast: no retries, 10 s timeout), or None."""
    try:
        probe = _run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            + ["--timeout", "10", "--retries", "0", "--dest", str(tmp_path / "probe")]
            + [PROBE_PACKAGE],
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return f"pip could not fetch {PROBE_PACKAGE} within 120 s"
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        return f"pip cannot fetch {PROBE_PACKAGE}: {lines[-1] if lines else probe.returncode}"
    return None


def _build_device_venv(tmp_path) -> tuple[Path, float]:
    """The device virtualenv, built (or rebuilt) unless a matching one exists; and the seconds
    the build took (0 when reused)."""
    wanted = _requirements_hash()
    python = _venv_python(VENV)
    marker = VENV / MARKER
    if python.is_file() and marker.is_file() and marker.read_text().strip() == wanted:
        return python, 0.0
    reason = _index_unreachable_reason(tmp_path)
    if reason:
        pytest.skip(f"cannot build the device environment: {reason}")
    started = time.perf_counter()
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-r", str(MODELS)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
    ]
    for step in steps:
        done = _run(step, timeout=900)
        if done.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            raise AssertionError(
                f"{' '.join(step[2:5])} failed in the device environment:\n{done.stderr[-3000:]}"
            )
    marker.write_text(wanted + "\n")  # written last: a half-built folder is rebuilt next time
    return python, time.perf_counter() - started


@pytest.fixture(scope="module")
def device_python(tmp_path_factory):
    python, seconds = _build_device_venv(tmp_path_factory.mktemp("device-venv"))
    state = f"built in {seconds:.0f} s" if seconds else "reused"
    print(f"device environment {state}: {VENV}")
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


def test_notebook_06_runs_in_the_device_environment(device_python, tiny_tflite, tmp_path):
    """Notebook 06, executed with papermill by the device environment's own Python."""
    out = tmp_path / "out"
    folder = out / "models" / "tflite" / "light_cnn"
    folder.mkdir(parents=True)
    for path in tiny_tflite:
        for source in (path, path.with_suffix(".json")):
            shutil.copy(source, folder / source.name)
    parameters = {"bench_runs": 5, "bench_warmup": 1, "bench_threads": [1, 2], "bench_camera_frames": 3,
                  "bench_degrade_every": 45, "bench_face_free_frames": 2,
                  "bench_detectors": ["blazeface_short", "haar"]}  # fmt: skip
    args = [item for key, value in parameters.items() for item in ("-y", f"{key}: {json.dumps(value)}")]
    env = {**os.environ, "DFIOT_OUT": str(out), "DFIOT_PROFILE": "device-test"}
    done = _run([str(device_python), "-m", "papermill", "--kernel", "python3",
                 str(ROOT / "notebooks" / "06_device_benchmark.ipynb"), str(tmp_path / "06.ipynb"),
                 *args], timeout=600, cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "ai_edge_litert" in (tmp_path / "06.ipynb").read_text()
    assert (out / "paper" / "generated" / "tables" / "frame_path.tex").is_file()
    assert (out / "figures" / "face_detectors.png").is_file()
