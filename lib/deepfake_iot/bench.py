"""On-device benchmark of ``.tflite`` files. Device side: no TensorFlow import, so it runs on a
Raspberry Pi with only a TFLite runtime, numpy, OpenCV and psutil.

Like TFLite's own ``benchmark_model`` it warms up, then times many invokes; unlike it, it reports
percentiles (median, p90, p99) besides mean and spread, the process's peak memory, the model's
own footprint and CPU use, and the latency of the whole frame path.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import re
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import tflite_io
from deepfake_iot.paths import atomic_path, atomic_write_json

RUNTIME_PACKAGES = {
    "tflite_runtime": "tflite-runtime",
    "ai_edge_litert": "ai-edge-litert",
    "tensorflow": "tensorflow",
}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def device_info() -> dict:
    """Board, CPU, governor, temperature, OS and Python of this machine (what is readable)."""
    cpuinfo = _read("/proc/cpuinfo") or ""
    cpu = re.search(r"^(?:model name|Hardware|Model)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    os_release = _read("/etc/os-release") or ""
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', os_release, re.MULTILINE)
    temperature = _read("/sys/class/thermal/thermal_zone0/temp")
    return {
        "board": _read("/proc/device-tree/model") or f"host {platform.machine()}",
        "cpu": cpu.group(1).strip() if cpu else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or "unknown",
        "temperature_c": round(int(temperature) / 1000, 1)
        if temperature and temperature.isdigit()
        else None,
        "os": pretty.group(1) if pretty else platform.platform(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def device_slug(info: dict) -> str:
    """A short folder-safe name: ``raspberry-pi-4-model-b-rev-1-4`` or ``host-x86_64``."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(info.get("board", "device")).lower()).strip("-")
    return slug or "device"


def _runtime_version(name: str) -> str:
    try:
        return importlib.metadata.version(RUNTIME_PACKAGES.get(name, name))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stats(latencies_ns: np.ndarray) -> dict:
    ms = latencies_ns / 1e6
    return {
        "runs": int(len(ms)),
        "median_ms": float(np.median(ms)),
        "mean_ms": float(np.mean(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "min_ms": float(np.min(ms)),
        "max_ms": float(np.max(ms)),
        "std_ms": float(np.std(ms)),
        "throughput_fps": float(1000.0 / np.mean(ms)),
    }


def benchmark_model(
    path: Path | str,
    *,
    threads: int = 1,
    warmup: int = 10,
    runs: int = 100,
    min_seconds: float = 0.0,
    runtime: str | None = None,
    seed: int = 0,
) -> dict:
    """Latency statistics of bare invokes of one file on one fixed random input."""
    import psutil

    path = Path(path)
    rss_before = _rss_mb()
    interpreter, runtime_name = tflite_io.load_interpreter(
        path, num_threads=threads, runtime=runtime
    )
    footprint = _rss_mb() - rss_before
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(seed)
    if np.issubdtype(detail["dtype"], np.integer):
        limits = np.iinfo(detail["dtype"])
        data = rng.integers(limits.min, limits.max, size=detail["shape"], endpoint=True).astype(
            detail["dtype"]
        )
    else:
        data = rng.random(detail["shape"], dtype=np.float32).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], data)
    for _ in range(warmup):
        interpreter.invoke()
    process = psutil.Process()
    cpu_before, wall_before = process.cpu_times(), time.perf_counter()
    latencies = []
    while len(latencies) < runs or time.perf_counter() - wall_before < min_seconds:
        start = time.perf_counter_ns()
        interpreter.invoke()
        latencies.append(time.perf_counter_ns() - start)
    wall = time.perf_counter() - wall_before
    cpu_after = process.cpu_times()
    cpu_seconds = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    return {
        **_stats(np.asarray(latencies, dtype=np.float64)),
        "threads": threads,
        "runtime": runtime_name,
        "runtime_version": _runtime_version(runtime_name),
        "size_bytes": path.stat().st_size,
        "input_dtype": np.dtype(detail["dtype"]).name,
        "peak_rss_mb": _peak_rss_mb(),
        "model_footprint_mb": max(footprint, 0.0),
        "cpu_percent": 100.0 * cpu_seconds / wall if wall > 0 else float("nan"),
    }


def _face_box(image_bgr, detector) -> tuple[tuple[int, int, int, int], bool]:
    """The largest Haar face, or a central square when none is found (or ``detector='center'``)."""
    import cv2

    height, width = image_bgr.shape[:2]
    if detector != "center":
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        faces = detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        if len(faces):
            x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
            return (int(x), int(y), int(w), int(h)), True
    side = int(min(height, width) * 0.8)
    return ((width - side) // 2, (height - side) // 2, side, side), False


def end_to_end_benchmark(
    path: Path | str,
    frames_bgr: list,
    *,
    detector: str = "haar",
    threads: int = 1,
    runs: int | None = None,
    runtime: str | None = None,
) -> dict:
    """Per-frame latency of decode, face detection, crop + resize, quantize + invoke, in total and
    per stage (medians). Frames may be BGR arrays or encoded image bytes (then decode is timed)."""
    import cv2

    interpreter, runtime_name = tflite_io.load_interpreter(
        path, num_threads=threads, runtime=runtime
    )
    detail = interpreter.get_input_details()[0]
    output = interpreter.get_output_details()[0]
    size = int(detail["shape"][1])
    face_detector = "center"
    if detector == "haar":
        face_detector = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        )
    elif detector != "center":
        raise ValueError(f"detector must be 'haar' or 'center', got {detector!r}")
    stages = {"decode": [], "detect": [], "crop": [], "invoke": [], "total": []}
    found = 0
    count = runs or len(frames_bgr)
    for index in range(count):
        frame = frames_bgr[index % len(frames_bgr)]
        t0 = time.perf_counter_ns()
        if isinstance(frame, bytes | bytearray):
            frame = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR)
        t1 = time.perf_counter_ns()
        (x, y, w, h), is_face = _face_box(frame, face_detector)
        t2 = time.perf_counter_ns()
        crop = cv2.resize(frame[y : y + h, x : x + w], (size, size), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        t3 = time.perf_counter_ns()
        interpreter.set_tensor(detail["index"], tflite_io.quantize_input(rgb, detail))
        interpreter.invoke()
        tflite_io.dequantize_output(interpreter.get_tensor(output["index"]), output)
        t4 = time.perf_counter_ns()
        found += is_face
        for name, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            stages[name].append(value)
    result = _stats(np.asarray(stages["total"], dtype=np.float64))
    for name in ("decode", "detect", "crop", "invoke"):
        result[f"{name}_median_ms"] = float(np.median(stages[name]) / 1e6)
    return {
        **result,
        "threads": threads,
        "runtime": runtime_name,
        "faces_found": int(found),
        "frames": count,
    }


def save_results(rows: list[dict], info: dict, out_dir: Path | str) -> tuple[Path, Path]:
    """``out_dir/<device>/<UTC time>.json`` (device metadata and rows) and its CSV twin."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out_dir) / device_slug(info)
    json_path = atomic_write_json(
        folder / f"{stamp}.json", {"device": info, "time": stamp, "rows": rows}
    )
    csv_path = folder / f"{stamp}.csv"
    with atomic_path(csv_path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    return json_path, csv_path


def load_device_results(folder: Path | str) -> pd.DataFrame:
    """Every saved run under ``folder`` (one JSON per run), one row per measurement, labelled by
    device; an empty frame when there is none."""
    frames = []
    for path in sorted(Path(folder).glob("*/*.json")):
        data = json.loads(path.read_text())
        rows = pd.DataFrame(data.get("rows", []))
        if len(rows):
            frames.append(rows.assign(device=device_slug(data.get("device", {})), run=path.stem))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
