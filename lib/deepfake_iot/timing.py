"""Invoke timing on the device: latency of ``.tflite`` and ``.onnx`` files. Device side: no
TensorFlow import, so it runs on a Raspberry Pi with only a TFLite runtime (and ONNX Runtime where installed), numpy,
OpenCV and psutil. The runtimes side by side are in ``runtimes``, the machine in ``machine``, the
whole frame path in ``frame_path``.

Like TFLite's own ``benchmark_model`` it warms up, then times many invokes; unlike it, it reports
percentiles (median, p90, p99) besides mean and spread, the process's peak memory, the model's
own footprint and CPU use; its result files, latency table, trade-off and macros.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import inference
from deepfake_iot.machine import device_slug, peak_rss_mb, rss_mb
from deepfake_iot.paths import atomic_path, atomic_write_json


def latency_stats(latencies_ns: np.ndarray) -> dict:
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


def check_counts(**counts) -> None:
    for name, (value, smallest) in counts.items():
        if value is None or int(value) != value or value < smallest:
            raise ValueError(f"{name} must be an integer >= {smallest}, got {value!r}")


def benchmark_model(path: Path | str, *, threads: int = 1, warmup: int = 10, runs: int = 100, min_seconds: float = 0.0,
                    runtime: str | None = None, seed: int = 0, providers=None) -> dict:
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
    check_counts(threads=(threads, 1), warmup=(warmup, 0), runs=(runs, 1))
    path = Path(path)
    rss_before = rss_mb()
    interpreter, runtime_name = inference.load_model(
        path, num_threads=threads, runtime=runtime, providers=providers
    )
    footprint = rss_mb() - rss_before
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
        **latency_stats(np.asarray(latencies, dtype=np.float64)),
        "warmup": warmup,
        "threads": threads,
        "runtime": runtime_name,
        "runtime_version": inference.runtime_version(runtime_name),
        **provider_fields(interpreter),
        "file": path.name,
        "format": inference.model_format(path),
        "size_bytes": path.stat().st_size,
        "input_shape": [int(v) for v in detail["shape"]],
        "input_dtype": np.dtype(detail["dtype"]).name,
        "peak_rss_mb": peak_rss_mb(),
        "model_footprint_mb": max(footprint, 0.0),
        "cpu_percent": 100.0 * cpu_seconds / wall if wall > 0 else float("nan"),
    }


def provider_fields(model) -> dict:
    """``provider`` (short: ``CPU``, ``CUDA``, ``Tensorrt``) and ``providers`` (all, in order)."""
    names = inference.providers_of(model)
    return {"provider": names[0].replace("ExecutionProvider", ""), "providers": ", ".join(names)}


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
    AUC and size, sorted by int8 latency. ``timing`` holds ``benchmark_model`` rows with
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
    (``one_thread``) and every row (``timing``): the light CNN's int8 and float32 medians and
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
