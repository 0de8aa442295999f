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


# ARM "CPU part" codes of the boards the compendium targets (aarch64 /proc/cpuinfo has no
# "model name" line): Raspberry Pi 3 (A53), 4 (A72), 5 (A76).
ARM_CPU_PARTS = {"0xd03": "Cortex-A53", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76"}


def _cpu_name(cpuinfo: str) -> str:
    named = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    if named:
        return named.group(1).strip()
    part = re.search(r"^CPU part\s*:\s*(0x[0-9a-f]+)", cpuinfo, re.MULTILINE | re.IGNORECASE)
    hardware = re.search(r"^Hardware\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    names = [ARM_CPU_PARTS.get(part.group(1).lower(), f"ARM part {part.group(1)}")] if part else []
    names += [hardware.group(1).strip()] if hardware else []
    return " / ".join(names) or platform.processor() or platform.machine() or "unknown"


def device_info() -> dict:
    """Board, CPU, governor, clock, temperature, OS and Python of this machine (what is readable).

    Files that cannot be read (no device tree on a PC, no thermal zone in a container) give a
    fallback or ``None``, never an error.
    """
    cpuinfo = _read("/proc/cpuinfo") or ""
    os_release = _read("/etc/os-release") or ""
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', os_release, re.MULTILINE)
    temperature = _read("/sys/class/thermal/thermal_zone0/temp")
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "board": _read("/proc/device-tree/model") or f"host {platform.machine()}",
        "cpu": _cpu_name(cpuinfo),
        "cores": os.cpu_count(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or "unknown",
        "cpu_max_mhz": int(max_khz) // 1000 if max_khz and max_khz.isdigit() else None,
        "temperature_c": round(int(temperature) / 1000, 1)
        if temperature and temperature.lstrip("-").isdigit()
        else None,
        "os": pretty.group(1) if pretty else platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def device_slug(info: dict) -> str:
    """A short folder-safe name of the board: ``raspberry-pi-4-model-b`` or ``host-x86_64``.

    The board revision (" Rev 1.4") is dropped, so that every run of one board model lands in
    one folder; runs keep the full board name in their metadata.
    """
    board = re.sub(r"\s+rev\s+[\w.]+$", "", str(info.get("board") or "device").strip(), flags=re.I)
    slug = re.sub(r"[^a-z0-9_]+", "-", board.lower()).strip("-_")
    return slug[:60] or "device"


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


def _check_counts(**counts) -> None:
    for name, (value, smallest) in counts.items():
        if value is None or int(value) != value or value < smallest:
            raise ValueError(f"{name} must be an integer >= {smallest}, got {value!r}")


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
    """Latency statistics of bare invokes of one file on one fixed random input.

    After ``warmup`` untimed invokes, times one invoke at a time (``perf_counter_ns``) until at
    least ``runs`` invokes and ``min_seconds`` seconds are done. Besides the latency statistics
    (ms) it reports the runtime and its version, the file size, the process's peak RSS, the
    model's footprint (RSS after loading minus before; 0 when the allocator reused memory) and
    the CPU time used during the timed invokes, in % of one core (above 100 with threads).
    Raises ``ValueError`` for a file the runtime cannot load.
    """
    _check_counts(threads=(threads, 1), warmup=(warmup, 0), runs=(runs, 1))
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
    # process_time_ns: CPU time of all the process's threads, at ns resolution (psutil's
    # cpu_times counts 10 ms clock ticks, too coarse for a short run of a small model)
    cpu_before, wall_before = time.process_time_ns(), time.perf_counter()
    latencies = []
    while len(latencies) < runs or time.perf_counter() - wall_before < min_seconds:
        start = time.perf_counter_ns()
        interpreter.invoke()
        latencies.append(time.perf_counter_ns() - start)
    wall = time.perf_counter() - wall_before
    cpu_seconds = (time.process_time_ns() - cpu_before) / 1e9
    return {
        **_stats(np.asarray(latencies, dtype=np.float64)),
        "warmup": warmup,
        "threads": threads,
        "runtime": runtime_name,
        "runtime_version": _runtime_version(runtime_name),
        "file": path.name,
        "size_bytes": path.stat().st_size,
        "input_shape": [int(v) for v in detail["shape"]],
        "input_dtype": np.dtype(detail["dtype"]).name,
        "peak_rss_mb": _peak_rss_mb(),
        "model_footprint_mb": max(footprint, 0.0),
        "cpu_percent": 100.0 * cpu_seconds / wall if wall > 0 else float("nan"),
    }


def haar_face_detector():
    """OpenCV's bundled frontal-face Haar cascade (``ValueError`` when this OpenCV lacks it)."""
    import cv2

    data = getattr(cv2, "data", None)
    if data is None or not hasattr(cv2, "CascadeClassifier"):
        raise ValueError(
            f"OpenCV {cv2.__version__} has no bundled Haar cascades: install "
            "opencv-python-headless 4.x (requirements-device.txt pins 4.10.0.84)"
        )
    cascade = cv2.CascadeClassifier(data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise ValueError("OpenCV's haarcascade_frontalface_default.xml could not be loaded")
    return cascade


def _face_box(image_bgr, detector) -> tuple[tuple[int, int, int, int], bool]:
    """The largest Haar face, or a central square when none is found (or ``detector='center'``)."""
    import cv2

    height, width = image_bgr.shape[:2]
    if not isinstance(detector, str):
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        faces = detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        if len(faces):
            x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
            return (int(x), int(y), int(w), int(h)), True
    side = max(1, int(min(height, width) * 0.8))
    return ((width - side) // 2, (height - side) // 2, side, side), False


E2E_STAGES = ("decode", "detect", "crop", "quantize", "invoke", "dequantize")


def end_to_end_benchmark(
    path: Path | str,
    frames_bgr: list,
    *,
    detector: str = "haar",
    threads: int = 1,
    runs: int | None = None,
    runtime: str | None = None,
) -> dict:
    """Latency of the whole frame path, per frame: JPEG/PNG decode (for frames given as encoded
    bytes; 0 for arrays), face detection, crop + resize + RGB/[0, 1], quantize, invoke,
    dequantize.

    ``detector`` is ``"haar"`` (OpenCV's frontal-face cascade; a frame without a face falls back
    on a central square, so synthetic frames still run the whole path) or ``"center"`` (the
    central square only). ``runs`` frames are timed, cycling through ``frames_bgr`` (default: each
    frame once). Returns the statistics of the total (as ``benchmark_model``), the median of each
    stage as ``<stage>_median_ms``, and how many frames had a detected face.
    """
    import cv2

    if len(frames_bgr) == 0:
        raise ValueError("end_to_end_benchmark needs at least one frame")
    count = len(frames_bgr) if runs is None else runs
    _check_counts(threads=(threads, 1), runs=(count, 1))
    if detector == "haar":
        face_detector = haar_face_detector()
    elif detector == "center":
        face_detector = "center"
    else:
        raise ValueError(f"detector must be 'haar' or 'center', got {detector!r}")
    interpreter, runtime_name = tflite_io.load_interpreter(
        path, num_threads=threads, runtime=runtime
    )
    detail = interpreter.get_input_details()[0]
    output = interpreter.get_output_details()[0]
    size = int(detail["shape"][1])
    stages = {name: [] for name in (*E2E_STAGES, "total")}
    found = 0
    for index in range(count):
        frame = frames_bgr[index % len(frames_bgr)]
        t0 = time.perf_counter_ns()
        if isinstance(frame, bytes | bytearray | memoryview):
            frame = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR)
            if frame is None:
                raise ValueError(f"frame {index % len(frames_bgr)} is not a decodable image")
        t1 = time.perf_counter_ns()
        (x, y, w, h), is_face = _face_box(frame, face_detector)
        t2 = time.perf_counter_ns()
        crop = cv2.resize(frame[y : y + h, x : x + w], (size, size), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        t3 = time.perf_counter_ns()
        interpreter.set_tensor(detail["index"], tflite_io.quantize_input(rgb, detail))
        t4 = time.perf_counter_ns()
        interpreter.invoke()
        t5 = time.perf_counter_ns()
        tflite_io.dequantize_output(interpreter.get_tensor(output["index"]), output)
        t6 = time.perf_counter_ns()
        found += is_face
        marks = (t0, t1, t2, t3, t4, t5, t6)
        for stage, start, end in zip(E2E_STAGES, marks[:-1], marks[1:], strict=True):
            stages[stage].append(end - start)
        stages["total"].append(t6 - t0)
    result = _stats(np.asarray(stages["total"], dtype=np.float64))
    for stage in E2E_STAGES:
        result[f"{stage}_median_ms"] = float(np.median(stages[stage]) / 1e6)
    return {
        **result,
        "threads": threads,
        "runtime": runtime_name,
        "runtime_version": _runtime_version(runtime_name),
        "detector": detector,
        "faces_found": int(found),
        "frames": count,
    }


def save_results(rows: list[dict], info: dict, out_dir: Path | str) -> tuple[Path, Path]:
    """``out_dir/<device slug>/<UTC time>.json`` (device metadata and rows) and its CSV twin.

    Both are written atomically; a second save in the same second gets a ``-1``, ``-2`` suffix
    rather than overwriting the first.
    """
    now = _dt.datetime.now(_dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out_dir) / device_slug(info)
    name, suffix = stamp, 0
    while (folder / f"{name}.json").exists():
        suffix += 1
        name = f"{stamp}-{suffix}"
    record = {"device": info, "time": now.isoformat(timespec="seconds"), "rows": rows}
    json_path = atomic_write_json(folder / f"{name}.json", record)
    csv_path = folder / f"{name}.csv"
    with atomic_path(csv_path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    return json_path, csv_path


def load_device_results(folder: Path | str) -> pd.DataFrame:
    """Every run saved under ``folder`` (``<device>/<time>.json``), one row per measurement
    (model, variant, threads, ...), with ``device`` (the folder-safe label), ``board`` and
    ``run`` (the file's stem); an empty frame when there is none.

    A file that is not a saved run raises ``ValueError`` naming it: these files are committed
    by hand and a broken one should be fixed, not silently dropped from the paper.
    """
    frames = []
    for path in sorted(Path(folder).glob("*/*.json")):
        if path.name.startswith("."):  # a temporary file of a save that was killed
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a readable benchmark run: {error}") from error
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise ValueError(f"{path} is not a benchmark run: it has no 'rows' list")
        rows = pd.DataFrame(data["rows"])
        if len(rows):
            device = data.get("device") or {}
            frames.append(
                rows.assign(
                    device=device_slug(device), board=device.get("board", "unknown"), run=path.stem
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def file_records(files, quantization_csv: Path | str | None = None) -> pd.DataFrame:
    """One row per ``.tflite`` file: ``model`` (its folder), ``variant`` (its stem), ``group``
    (``main`` or ``sweep``), ``val_auc`` and ``input_size``.

    The validation AUC and group come from the quantization table of notebook 04 when it is
    given and exists, else from each file's sidecar (which travels with the file to a device);
    a file without either gets group ``main`` and no AUC.
    """
    rows = []
    for path in map(Path, files):
        sidecar_path = path.with_suffix(".json")
        try:
            sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            sidecar = {}
        rows.append(
            {
                "model": path.parent.name,
                "variant": path.stem,
                "group": sidecar.get("group", "main"),
                "val_auc": sidecar.get("validation_auc", np.nan),
                "input_size": sidecar.get("input_size", np.nan),
            }
        )
    records = pd.DataFrame(rows, columns=["model", "variant", "group", "val_auc", "input_size"])
    if quantization_csv is not None and Path(quantization_csv).is_file():
        table = pd.read_csv(quantization_csv)
        keep = [c for c in ("model", "variant", "group", "val_auc") if c in table]
        merged = records.merge(
            table[keep], on=["model", "variant"], how="left", suffixes=("", "_q")
        )
        for column in ("group", "val_auc"):
            if f"{column}_q" in merged:
                merged[column] = merged[f"{column}_q"].where(
                    merged[f"{column}_q"].notna(), merged[column]
                )
        records = merged[records.columns]
    return records


def tradeoff(
    latency: pd.DataFrame,
    records: pd.DataFrame,
    threads: int = 1,
    reference: str = "mobilenet_v3_small",
    int8_variant: str = "int8_ptq",
) -> pd.DataFrame:
    """Per model: int8 and float32 median latency at ``threads``, the int8 speed-up over float32,
    the int8 latency as a multiple of ``reference``'s int8 latency, the int8 file's validation
    AUC and size, sorted by int8 latency. ``latency`` holds ``benchmark_model`` rows with
    ``model`` and ``variant``; ``records`` is ``file_records``'s frame."""
    at = latency[latency["threads"] == threads]
    int8 = at[at["variant"] == int8_variant].set_index("model")
    fp32 = at[at["variant"] == "float32"].set_index("model")["median_ms"]
    info = records[records["variant"] == int8_variant].set_index("model")
    table = pd.DataFrame(
        {
            "int8_ms": int8["median_ms"],
            "float32_ms": fp32.reindex(int8.index),
            "int8_kb": int8["size_bytes"] / 1024,
        }
    )
    table["int8_speedup"] = table["float32_ms"] / table["int8_ms"]
    ref = table["int8_ms"].get(reference, np.nan)
    table["vs_reference"] = table["int8_ms"] / ref
    table["val_auc"] = info["val_auc"].reindex(table.index)
    table["group"] = info["group"].reindex(table.index).fillna("main")
    table["input_size"] = info["input_size"].reindex(table.index)
    columns = ["group", "input_size", "int8_ms", "float32_ms", "int8_speedup", "vs_reference"]
    table = table[[*columns, "val_auc", "int8_kb"]].rename_axis("model").reset_index()
    return table.sort_values("int8_ms", ignore_index=True)
