"""The device environment of ``requirements-device.txt``: it installs, and the device side of
the library (benchmark, demo) runs in it with tflite-runtime and without TensorFlow.

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
PROBE_PACKAGE = "tflite-runtime==2.14.0"  # the one pin without which nothing here runs

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
frame = np.full((120, 160, 3), 90, np.uint8)
e2e = bench.end_to_end_benchmark(sys.argv[-1], [frame], detector="haar", runs=5)
assert "tensorflow" not in sys.modules
print(json.dumps({"rows": rows, "end_to_end": e2e, "numpy": np.__version__}))
"""


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _requirements_hash() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
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
    for variant in ("float32", "int8_ptq"):
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
    assert report["numpy"].startswith("1.")
    for row in report["rows"]:
        assert row["runtime"] == "tflite_runtime" and row["runs"] == 30
        assert row["min_ms"] <= row["median_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert report["end_to_end"]["frames"] == 5 and report["end_to_end"]["invoke_median_ms"] > 0


def test_device_environment_runs_the_demo(device_python, tiny_tflite, tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "frame.png"), np.full((120, 160, 3), 90, np.uint8))
    done = _run(
        [str(device_python), str(ROOT / "scripts" / "demo.py"), "--model", str(tiny_tflite[-1])]
        + ["--image", "frame.png", "--out", "annotated.png", "--no-window"],
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 frame(s)" in done.stdout and (tmp_path / "annotated.png").is_file()
