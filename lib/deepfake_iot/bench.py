"""On-device benchmark of ``.tflite`` and ``.onnx`` files. Device side: no TensorFlow import, so it
runs on a Raspberry Pi with only a TFLite runtime (and ONNX Runtime where installed), numpy,
OpenCV and psutil. The runtimes side by side are in ``runtimes``.

Like TFLite's own ``benchmark_model`` it warms up, then times many invokes; unlike it, it reports
percentiles (median, p90, p99) besides mean and spread, the process's peak memory, the model's
own footprint and CPU use, and the latency of the whole frame path.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import inference
from deepfake_iot.paths import atomic_path, atomic_write_json


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
        **_gpu(),
    }


def _gpu() -> dict:
    """``{"gpu": name}`` of the first NVIDIA GPU ``nvidia-smi`` lists, or nothing (no GPU, or a
    Jetson, whose board name already says it)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return {}
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        return {}
    name, _, driver = lines[0].partition(",")
    return {"gpu": name.strip(), "gpu_driver": driver.strip()}


def device_slug(info: dict) -> str:
    """A short folder-safe name of the board: ``raspberry-pi-4-model-b``, ``host-x86_64``, or
    ``host-x86_64-nvidia-h100-80gb-hbm3`` on a machine with an NVIDIA GPU (``device_info``'s
    ``gpu``), so that a GPU run is labelled with its GPU.

    The board revision (" Rev 1.4") is dropped, so that every run of one board model lands in
    one folder; runs keep the full board name in their metadata.
    """
    board = re.sub(r"\s+rev\s+[\w.]+$", "", str(info.get("board") or "device").strip(), flags=re.I)
    board += f" {info['gpu']}" if info.get("gpu") else ""
    slug = re.sub(r"[^a-z0-9_]+", "-", board.lower()).strip("-_")
    return slug[:60] or "device"


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
    providers=None,
) -> dict:
    """Latency statistics of bare invokes of one file on one fixed random input.

    After ``warmup`` untimed invokes, times one invoke at a time (``perf_counter_ns``) until at
    least ``runs`` invokes and ``min_seconds`` seconds are done. Besides the latency statistics
    (ms) it reports the runtime and its version, the file size, the process's peak RSS, the
    model's footprint (RSS after loading minus before; 0 when the allocator reused memory) and
    the CPU time used during the timed invokes, in % of one core (above 100 with threads), the
    file's ``format`` and, for ONNX Runtime, the execution ``provider`` it ran on (``providers``
    asks for some, ``inference.load_model``). Raises ``ValueError`` for a file the runtime cannot
    load, ``ImportError`` when no runtime for its kind is installed.
    """
    _check_counts(threads=(threads, 1), warmup=(warmup, 0), runs=(runs, 1))
    path = Path(path)
    rss_before = _rss_mb()
    interpreter, runtime_name = inference.load_model(
        path, num_threads=threads, runtime=runtime, providers=providers
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
        "runtime_version": inference.runtime_version(runtime_name),
        **_provider(interpreter),
        "file": path.name,
        "format": inference.model_format(path),
        "size_bytes": path.stat().st_size,
        "input_shape": [int(v) for v in detail["shape"]],
        "input_dtype": np.dtype(detail["dtype"]).name,
        "peak_rss_mb": _peak_rss_mb(),
        "model_footprint_mb": max(footprint, 0.0),
        "cpu_percent": 100.0 * cpu_seconds / wall if wall > 0 else float("nan"),
    }


def _provider(model) -> dict:
    """``provider`` (short: ``CPU``, ``CUDA``, ``Tensorrt``) and ``providers`` (all, in order)."""
    names = inference.providers_of(model)
    return {"provider": names[0].replace("ExecutionProvider", ""), "providers": ", ".join(names)}


E2E_STAGES = ("decode", "detect", "crop", "quantize", "invoke", "dequantize")


def end_to_end_benchmark(
    path: Path | str,
    frames_bgr: list,
    *,
    detector: str | object = "blazeface_short",
    detector_model: Path | str | None = None,
    enlarge: float = 1.3,
    threads: int = 1,
    runs: int | None = None,
    runtime: str | None = None,
    providers=None,
) -> dict:
    """Latency of the whole frame path, per frame, through the same functions as training
    extraction and the demo (``data.faces``): JPEG/PNG decode (for frames given as encoded
    bytes; 0 for arrays), face detection, the square crop + resize + RGB/[0, 1], quantize,
    invoke, dequantize.

    ``detector`` is a ``faces.DETECTOR_NAMES`` name (built with ``threads`` on the same
    runtime), ``"center"`` (no detector: the central square) or a built detector. A frame
    without a face falls back on the central square, so every frame runs the whole path.
    ``runs`` frames are timed, cycling through ``frames_bgr`` (default: each frame once).
    Returns the statistics of the total (as ``benchmark_model``), the median of each stage as
    ``<stage>_median_ms``, ``classify_median_ms`` (quantize + invoke + dequantize),
    ``path_median_ms`` (detect + crop + classify: the frame path without decoding), and how
    many frames had a detected face.
    """
    import cv2

    from deepfake_iot.data import faces

    if len(frames_bgr) == 0:
        raise ValueError("end_to_end_benchmark needs at least one frame")
    count = len(frames_bgr) if runs is None else runs
    _check_counts(threads=(threads, 1), runs=(count, 1))
    if detector == "center":
        face_detector, detector_name = None, "center"
    elif isinstance(detector, str):
        face_detector = faces.make_detector(
            detector, detector_model, threads=threads, runtime=runtime
        )
        detector_name = detector
    else:
        face_detector, detector_name = detector, type(detector).__name__
    interpreter, runtime_name = inference.load_model(
        path, num_threads=threads, runtime=runtime, providers=providers
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
        boxes = face_detector.detect(frame) if face_detector is not None else []
        t2 = time.perf_counter_ns()
        box, is_face = faces.face_box(frame, boxes, fallback="center")
        rgb = faces.to_model_input(faces.square_crop(frame, box, enlarge=enlarge, size=size))
        t3 = time.perf_counter_ns()
        interpreter.set_tensor(detail["index"], inference.quantize_input(rgb, detail))
        t4 = time.perf_counter_ns()
        interpreter.invoke()
        t5 = time.perf_counter_ns()
        inference.dequantize_output(interpreter.get_tensor(output["index"]), output)
        t6 = time.perf_counter_ns()
        found += is_face
        marks = (t0, t1, t2, t3, t4, t5, t6)
        for stage, start, end in zip(E2E_STAGES, marks[:-1], marks[1:], strict=True):
            stages[stage].append(end - start)
        stages["total"].append(t6 - t0)
    result = _stats(np.asarray(stages["total"], dtype=np.float64))
    for stage in E2E_STAGES:
        result[f"{stage}_median_ms"] = float(np.median(stages[stage]) / 1e6)
    classify = np.add(stages["quantize"], stages["invoke"]) + np.asarray(stages["dequantize"])
    path_ns = np.asarray(stages["detect"]) + np.asarray(stages["crop"]) + classify
    result["classify_median_ms"] = float(np.median(classify) / 1e6)
    result["path_median_ms"] = float(np.median(path_ns) / 1e6)
    result["path_fps"] = float(1000.0 / result["path_median_ms"])
    return {
        **result,
        "threads": threads,
        "runtime": runtime_name,
        "runtime_version": inference.runtime_version(runtime_name),
        **_provider(interpreter),
        "detector": detector_name,
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
    """One row per model file: ``model`` (its folder), ``variant`` (its stem), ``format``
    (``tflite`` or ``onnx``), ``group`` (``main`` or ``sweep``), ``val_auc`` and ``input_size``.

    ``val_auc`` is the validation AUC of that very file: for a ``.tflite`` file from the
    quantization table of notebook 04 when it is given and exists, else from its sidecar (which
    travels with the file to a device); for an ``.onnx`` file from its own sidecar, where the
    export wrote the AUC of the ONNX file's own scores. A file without either gets group
    ``main`` and no AUC.
    """
    rows = []
    for path in map(Path, files):
        sidecar_path = path.with_suffix(".json")
        try:
            sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            sidecar = {}
        rows.append({"model": path.parent.name, "variant": path.stem, "format": inference.model_format(path),
                     "group": sidecar.get("group", "main"), "val_auc": sidecar.get("validation_auc", np.nan),
                     "input_size": sidecar.get("input_size", np.nan)})  # fmt: skip
    records = pd.DataFrame(rows, columns=["model", "variant", "format", "group", "val_auc", "input_size"])
    if quantization_csv is not None and Path(quantization_csv).is_file():
        table = pd.read_csv(quantization_csv)
        keep = [c for c in ("model", "variant", "group", "val_auc") if c in table]
        merged = records.merge(table[keep].assign(format="tflite"), on=["model", "variant", "format"],
                               how="left", suffixes=("", "_q"))  # fmt: skip
        for column in ("group", "val_auc"):
            if f"{column}_q" in merged:
                merged[column] = merged[f"{column}_q"].where(merged[f"{column}_q"].notna(), merged[column])
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
    if "format" in records and "format" in at and at["format"].notna().any():  # the AUC of the file timed
        records = records[records["format"].isin(set(at["format"].dropna()))]
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


def thread_counts(requested, cores: int | None = None) -> tuple[list[int], list[int]]:
    """``(timed, skipped)``: the requested thread counts up to this machine's cores, and those
    above it, which are marked and never timed (the TFLite thread pool spins on oversubscribed
    cores: 4 threads on 2 cores took 100 to 600 ms a call where 1 thread took 1 ms)."""
    cores = cores or os.cpu_count() or 1
    counts = sorted({int(count) for count in requested})
    if not counts or counts[0] < 1:
        raise ValueError(f"thread counts must be integers >= 1, got {list(requested)}")
    return [c for c in counts if c <= cores], [c for c in counts if c > cores]


def _high_water_mb(pid: int) -> float | None:
    """``VmHWM`` of a live process (its own peak resident memory since its ``exec``), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def peak_rss_of(command: list[str], timeout: float = 600, **popen) -> tuple[int, float, str]:
    """Run ``command`` as a process of its own; its exit code, its peak resident memory in MB
    and its stdout (stderr is dropped).

    The peak is the child's own ``VmHWM``, read every 10 ms while it runs: ``ru_maxrss`` of a
    child would also count the parent's pages shared with it between ``fork`` and ``exec``.
    Where ``/proc`` is missing (not Linux) the child's ``ru_maxrss`` is the fallback."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, **popen)
        deadline = time.monotonic() + timeout
        peak = None
        while True:
            seen = _high_water_mb(process.pid)
            if seen is not None:
                peak = max(peak or 0.0, seen)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise subprocess.TimeoutExpired(command, timeout)
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return process.returncode, peak if peak is not None else usage.ru_maxrss / 1024, out.read()


def select_files(out: Path, model_dir: Path, names=(), suffix: str = ".tflite") -> list[Path]:
    """The model files to benchmark: ``names`` relative to the output root ``out``, or every
    ``*<suffix>`` file under ``model_dir/<model>/`` (temporary dot files of a killed export left
    out). ``FileNotFoundError`` names every missing file, or the empty folder."""
    if names:
        files = [Path(out) / name for name in names]
        missing = [str(name) for name, path in zip(names, files, strict=True) if not path.is_file()]
        if missing:
            raise FileNotFoundError(
                f"bench_files names {len(missing)} file(s) that do not exist under {out}: "
                + ", ".join(missing)
            )
        return files
    files = sorted(p for p in Path(model_dir).glob(f"*/*{suffix}") if not p.name.startswith("."))
    if not files:
        step = "notebook 04 (with onnx_export)" if suffix == ".onnx" else "notebook 04"
        raise FileNotFoundError(f"no {suffix} files under {model_dir}: run {step} or set bench_files")
    return files


LATENCY_COLUMNS = ("model", "variant", "group", "threads", "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms",
                   "throughput_fps", "size_bytes", "peak_rss_mb", "runtime", "provider", "format")  # fmt: skip


def latency_frame(rows: list[dict]) -> pd.DataFrame:
    """``benchmark_model`` rows as a frame that has every column even when no file ran."""
    frame = pd.DataFrame(rows)
    for column in LATENCY_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(
                dtype=object if column in ("model", "variant", "group", "runtime", "provider", "format") else float
            )
    return frame


def frame_path_summary(frame_path: pd.DataFrame) -> pd.DataFrame:
    """One row per frame size, detector and thread count: decode, detect, crop, classify and
    path medians (ms), the path's frames per second, and faces found / frames."""
    columns = {"decode_median_ms": "decode", "detect_median_ms": "detect", "crop_median_ms": "crop",
               "classify_median_ms": "classify", "path_median_ms": "path", "path_fps": "fps"}  # fmt: skip
    table = frame_path[["frame", "detector", "threads", *columns]].rename(columns=columns)
    table["fps"] = table["fps"].round().astype(int)
    table["faces"] = frame_path["faces_found"].astype(str) + "/" + frame_path["frames"].astype(str)
    return table.reset_index(drop=True)


def _path_ms(frame_path: pd.DataFrame, detector: str, column: str = "path_median_ms",
             frame: str = "640x480", threads: int = 1) -> float:  # fmt: skip
    match = frame_path[(frame_path["detector"] == detector) & (frame_path["frame"] == frame)
                       & (frame_path["threads"] == threads)]  # fmt: skip
    return float(match[column].iloc[0]) if len(match) else float("nan")


def frame_path_sentence(frame_path: pd.DataFrame, detector: str) -> str:
    """The 640x480 one-thread frame path with ``detector`` against Haar, and who dominates it."""
    path, haar = _path_ms(frame_path, detector), _path_ms(frame_path, "haar")
    detect = _path_ms(frame_path, detector, "detect_median_ms")
    invoke = _path_ms(frame_path, detector, "invoke_median_ms")
    text = (f"640x480, one thread: {detector} {path:.3g} ms a frame ({1000 / path:.0f} fps), the "
            f"detector {detect:.3g} ms = {detect / invoke:.0f}x the classifier's {invoke:.3g} ms invoke")  # fmt: skip
    if haar == haar:
        text += f"; with Haar {haar:.3g} ms ({1000 / haar:.0f} fps, {haar / path:.0f}x slower)"
    return text


def frame_path_macros(frame_path: pd.DataFrame, detectors: pd.DataFrame, runtimes: pd.DataFrame,
                      detector: str) -> dict:  # fmt: skip
    """The frame-path numbers the paper quotes."""
    path, haar = _path_ms(frame_path, detector), _path_ms(frame_path, "haar")
    sizes = sorted(set(frame_path["frame"]), key=_pixels) if len(frame_path) else ["1280x720"]
    big = _path_ms(frame_path, detector, frame=sizes[-1])
    quality = detectors.set_index("detector") if len(detectors) else pd.DataFrame()
    def rate(name: str, column: str) -> float:
        return float(quality[column].get(name, float("nan"))) if len(quality) else float("nan")

    def percent(name: str, column: str):
        value = rate(name, column)
        return round(100 * value) if value == value else "--"

    return {
        "FrameDetector": detector.replace("_", " "),
        "FramePathMs": path,
        "FramePathFps": round(1000 / path) if path == path else "--",
        "FramePathBigMs": big,
        "FramePathHaarMs": haar,
        "FramePathHaarFps": round(1000 / haar) if haar == haar else "--",
        "FramePathSpeedup": haar / path,
        "FrameDetectMs": _path_ms(frame_path, detector, "detect_median_ms"),
        "FrameDecodeMs": _path_ms(frame_path, detector, "decode_median_ms"),
        "FrameInvokeMs": _path_ms(frame_path, detector, "invoke_median_ms"),
        "FrameDetectorRatio": _path_ms(frame_path, detector, "detect_median_ms")
        / _path_ms(frame_path, detector, "invoke_median_ms"),
        "DetectRateClean": percent(detector, "clean_rate"),
        "DetectRateDegraded": percent(detector, "degraded_rate"),
        "DetectRateHaarClean": percent("haar", "clean_rate"),
        "DetectRateHaarDegraded": percent("haar", "degraded_rate"),
        "DetectRateFullClean": percent("blazeface_full", "clean_rate"),
        "DetectRateFullDegraded": percent("blazeface_full", "degraded_rate"),
        "FalseHaar": rate("haar", "false_per_frame"),
        "FalseDetector": rate(detector, "false_per_frame"),
        "NumRuntimes": int(len(runtimes.columns) - 2) if len(runtimes) else 0,
        "FrameSmall": sorted(set(frame_path["frame"]), key=_pixels)[0] if len(frame_path) else "--",
        "FrameLarge": sorted(set(frame_path["frame"]), key=_pixels)[-1] if len(frame_path) else "--",
    }


def benchmark_files(files, groups: dict, threads, *, out_root: Path, warmup: int, runs: int,
                    min_seconds: float = 0.0, runtime: str | None = None, providers=None, progress: bool = True):
    """Bare-invoke timings of ``files``: a ``main`` file (``groups[(model, variant)]``) at each of
    ``threads``, a sweep file at one thread only (for the trade-off). Returns ``(rows,
    unsupported)``: one row per file and thread count, and the files this runtime cannot run
    (an operator newer than the device's runtime, say, or an ``.onnx`` file where onnxruntime is
    not installed) with the reason."""
    from tqdm.auto import tqdm

    rows, unsupported = [], []
    for path in tqdm(files, desc="files", disable=not progress):
        kind = groups[(path.parent.name, path.stem)]
        for count in threads if kind == "main" else [1]:
            try:
                result = benchmark_model(path, threads=count, warmup=warmup, runs=runs,
                                         min_seconds=min_seconds, runtime=runtime, providers=providers)
            except (ValueError, ImportError) as error:
                unsupported.append({"file": str(Path(path).relative_to(out_root)), "reason": str(error).split(": ", 1)[-1]})
                break
            rows.append({"model": path.parent.name, "variant": path.stem, "group": kind, **result})
    return rows, unsupported


REFERENCE_MACROS = {"mobilenet_v3_small": "MobileNetThreeMs", "meso4": "MesoMs", "mobilenet_v2_035": "MobileNetTwoMs",
                    "efficientnet_b0": "EfficientNetMs"}  # fmt: skip


def latency_macros(one_thread: pd.DataFrame, latency: pd.DataFrame, info: dict, *, committed: pd.DataFrame,
                   unsupported: list, untimed_threads: list, tradeoff_table: pd.DataFrame) -> dict:
    """The bare-invoke numbers the paper quotes, from the one-thread rows of the main files
    (``one_thread``) and every row (``latency``): the light CNN's int8 and float32 medians and
    their ratio, each baseline's int8 median, memory, the runtime and what was not timed."""
    def median(model_name, variant):
        match = one_thread[(one_thread["model"] == model_name) & (one_thread["variant"] == variant)]
        return float(match["median_ms"].iloc[0]) if len(match) else float("nan")

    light_int8, light_float = median("light_cnn", "int8_ptq"), median("light_cnn", "float32")
    macros = {
        "HostDevice": device_slug(info), "HostCpu": info.get("cpu", "unknown"), "Runtime": str(latency["runtime"].iloc[0]),
        "LightIntMs": light_int8, "LightFloatMs": light_float, "LightIntSpeedup": light_float / light_int8,
        "LightIntFps": 1000.0 / light_int8, "PeakRssMb": float(latency["peak_rss_mb"].max()),
        "NumDeviceRuns": int(committed["device"].nunique()) if len(committed) else 0,
        "NumUnsupported": len(unsupported), "NumThreadsNotTimed": len(untimed_threads),
        "NumSweepTimed": int((tradeoff_table["group"] == "sweep").sum()),
        # how many times faster than MobileNetV3-Small ("--" if not timed)
        "LightVsMobileNetThree": median("mobilenet_v3_small", "int8_ptq") / light_int8,
    }
    for name, macro in REFERENCE_MACROS.items():
        if (one_thread["model"] == name).any():
            macros[macro] = median(name, "int8_ptq")
    return macros


def _pixels(size_name: str) -> int:
    width, height = (int(v) for v in size_name.split("x"))
    return width * height
