"""The device side's virtual environments for the tests, built once and cached.

``device``: ``requirements-device.txt`` (LiteRT, headless OpenCV, no TensorFlow); ``gui``:
``requirements-device-gui.txt`` (the same with OpenCV's GUI build); ``mqtt``:
``requirements-device-mqtt.txt`` (the device runtime plus paho-mqtt, for the gate); ``onnx``:
``requirements-device-onnx.txt`` (the device runtime plus ONNX Runtime's CPU build). Each then
gets BlazeFace's model files (``requirements-device-models.txt``) and this checkout with
``--no-deps``, as the README tells a Raspberry Pi user. An environment lives in
``~/.cache/deepfake-iot/<kind>-venv`` (``DFIOT_DEVICE_VENV`` / ``DFIOT_DEVICE_GUI_VENV`` /
``DFIOT_DEVICE_MQTT_VENV`` / ``DFIOT_DEVICE_ONNX_VENV`` name another folder) and is rebuilt when its requirement files (those
it includes with ``-r`` too), the Python version or the checkout's path change. A test skips, saying why,
only when pip cannot reach the package index.
"""

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT

MODELS = ROOT / "requirements-device-models.txt"
KINDS = {
    # kind: (requirements file, folder override, the pin that must download for a build to start)
    "device": ("requirements-device.txt", "DFIOT_DEVICE_VENV", "ai-edge-litert==2.3.0"),
    "gui": ("requirements-device-gui.txt", "DFIOT_DEVICE_GUI_VENV", "opencv-python==4.10.0.84"),
    "mqtt": ("requirements-device-mqtt.txt", "DFIOT_DEVICE_MQTT_VENV", "paho-mqtt==2.2.0"),
    "onnx": ("requirements-device-onnx.txt", "DFIOT_DEVICE_ONNX_VENV", "onnxruntime==1.32.0"),
}
MARKER = "requirements.sha256"


def run(command, timeout, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def _folder(kind: str) -> Path:
    _, variable, _ = KINDS[kind]
    default = Path.home() / ".cache" / "deepfake-iot" / f"{kind}-venv"
    return Path(os.environ.get(variable, default))


def _included(requirements: Path) -> list[Path]:
    """The requirement files ``requirements`` pulls in with ``-r`` (one level), in order."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    return [requirements.parent / line[2:].strip() for line in lines if line.startswith("-r ")]


def _wanted(kind: str) -> str:
    requirements = ROOT / KINDS[kind][0]
    content = b"".join(path.read_bytes() for path in [requirements, *_included(requirements)])
    digest = hashlib.sha256(content + MODELS.read_bytes())
    digest.update(f"{platform.python_version()} {platform.machine()} {ROOT}".encode())
    return digest.hexdigest()


def _unreachable(probe_package: str, scratch: Path) -> str | None:
    """Why pip cannot fetch ``probe_package`` (no retries, 10 s timeout), or None."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--timeout", "10", "--retries", "0", "--dest", str(scratch), probe_package]  # fmt: skip
    try:
        probe = run(command, timeout=300)
    except subprocess.TimeoutExpired:
        return f"pip could not fetch {probe_package} within 300 s"
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        return f"pip cannot fetch {probe_package}: {lines[-1] if lines else probe.returncode}"
    return None


def build_venv(kind: str, scratch: Path) -> tuple[Path, float]:
    """The ``kind`` environment's Python, built unless a matching one exists, and the seconds
    the build took (0 when reused)."""
    requirements, _, probe_package = KINDS[kind]
    venv = _folder(kind)
    python = venv / "bin" / "python"
    marker = venv / MARKER
    if python.is_file() and marker.is_file() and marker.read_text().strip() == _wanted(kind):
        return python, 0.0
    reason = _unreachable(probe_package, scratch)
    if reason:
        print(f"cannot build the {kind} environment: {reason}")
        pytest.skip(f"cannot build the {kind} environment: {reason}")
    started = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / requirements)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-r", str(MODELS)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
    ]
    for step in steps:
        done = run(step, timeout=900)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise AssertionError(f"{' '.join(step[2:])} failed in the {kind} environment:\n{done.stderr[-3000:]}")
    marker.write_text(_wanted(kind) + "\n")  # written last: a half-built folder is rebuilt next time
    return python, time.perf_counter() - started
