"""The runtimes side by side (notebook 06, the frame-path command): the same models under every
installed runtime, each in a fresh process of its own as a deployment runs: the TFLite runtimes
on the ``.tflite`` files, ONNX Runtime on their ``.onnx`` twins (``models/onnx/``, exported by
notebook 04) with the execution provider it ran on. Device side: no TensorFlow import here;
the TensorFlow runtime, when installed, is imported only in its own worker process.

``python -m deepfake_iot.runtimes [--runtime R] [--providers P] FILE...`` is the worker: one JSON
line per file (``timing.benchmark_model``'s result, or ``error``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import inference, timing

RUNTIME_MODULES = {"ai_edge_litert": "ai_edge_litert", "tflite_runtime": "tflite_runtime",
                   "tensorflow": "tensorflow", inference.ONNX_RUNTIME: "onnxruntime"}  # fmt: skip


def installed_runtimes() -> list[str]:
    """The runtimes installed here (found, not imported: TensorFlow stays out of this process):
    the TFLite ones in ``inference.RUNTIMES`` order, then ``onnxruntime``."""
    import importlib.util

    names = [*inference.RUNTIMES, inference.ONNX_RUNTIME]
    return [name for name in names if importlib.util.find_spec(RUNTIME_MODULES[name])]


def runs_files(runtime: str | None, path: Path) -> bool:
    """Whether ``runtime`` runs the file ``path``: ONNX Runtime the ``.onnx`` files, a TFLite
    runtime (None: the first that imports) the ``.tflite`` files."""
    return (inference.model_format(path) == "onnx") == (runtime == inference.ONNX_RUNTIME)


def run_in_process(python: str, files, *, runtime: str | None, providers=None, threads: int = 1,
                   warmup: int = 10, runs: int = 100, timeout: float = 900) -> list[dict]:  # fmt: skip
    """``benchmark_model`` of each file in a fresh process of ``python`` (this interpreter, or
    another environment's with the project installed), as a deployment runs: one runtime per
    process. A file that runtime cannot load gives a row with ``error`` instead of timings."""
    import subprocess
    import sys

    command = [python or sys.executable, "-m", "deepfake_iot.runtimes", "--threads", str(threads),
               "--warmup", str(warmup), "--runs", str(runs), *map(str, files)]  # fmt: skip
    if runtime:
        command[3:3] = ["--runtime", runtime]
    if providers:
        command[3:3] = ["--providers", ",".join(providers) if not isinstance(providers, str) else providers]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise RuntimeError(f"{command[0]} -m deepfake_iot.runtimes failed: {reason}")
    return [json.loads(line) for line in lines]


def twin_of(path: Path | str) -> Path:
    """The same model in the other format: ``models/tflite/<model>/<variant>.tflite`` and
    ``models/onnx/<model>/<variant>.onnx`` (notebook 04's layout), and back; elsewhere (the
    committed demo model) ``<folder>/<name>.tflite`` and ``<folder>/onnx/<name>.onnx``."""
    path = Path(path)
    if path.suffix == ".onnx":
        if path.parent.parent.name == "onnx":
            return path.parent.parent.parent / "tflite" / path.parent.name / f"{path.stem}.tflite"
        return path.parent.parent / f"{path.stem}.tflite"
    if path.parent.parent.name == "tflite":
        return path.parent.parent.parent / "onnx" / path.parent.name / f"{path.stem}.onnx"
    return path.parent / "onnx" / f"{path.stem}.onnx"


def twins(files) -> list[Path]:
    """``files`` and, after each, its twin in the other format (``twin_of``) where it exists,
    each file once."""
    chosen = []
    for path in map(Path, files):
        chosen += [p for p in (path, twin_of(path)) if p.is_file() and p not in chosen]
    return chosen


def compare_runtimes(files, pythons=(), *, providers=None, warmup: int = 10, runs: int = 100) -> pd.DataFrame:
    """Every file at one thread under every installed runtime that runs its kind, and the
    ``.tflite`` files in every other environment's Python of ``pythons`` (its first TFLite
    runtime), each runtime in a fresh process. One row per file and runtime (``model``, ``variant``, ``format``,
    ``runtime``, ``runtime_version``, ``provider``, ``median_ms`` ..., or ``error`` for a file
    that runtime cannot load). ``providers``: ONNX Runtime's execution providers, in order."""
    import sys

    jobs = [(sys.executable, name) for name in installed_runtimes()] + [(python, None) for python in pythons]
    rows = []
    for python, runtime in jobs:
        chosen = [Path(f) for f in files if runs_files(runtime, Path(f))]
        if not chosen:
            continue
        for row in run_in_process(python, chosen, runtime=runtime, providers=providers, warmup=warmup, runs=runs):
            path = Path(row.pop("path"))
            rows.append({"model": path.parent.name, "variant": path.stem, "format": path.suffix[1:],
                         "python": python, **row})  # fmt: skip
    frame = pd.DataFrame(rows)
    for column in ("error", "provider"):
        if column not in frame:
            frame[column] = np.nan
    return frame


def runtime_label(row) -> str:
    """``ai_edge_litert 2.3.0`` or ``onnxruntime 1.32.0 (CPU)``: a runtime, its version and, for
    ONNX Runtime, the execution provider it ran on."""
    label = f"{row['runtime']} {'' if pd.isna(row.get('runtime_version')) else row['runtime_version']}".strip()
    provider = row.get("provider")
    if row["runtime"] == inference.ONNX_RUNTIME and isinstance(provider, str) and provider:
        label += f" ({provider})"
    return label


def runtime_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Median ms per model and variant (rows) and runtime with its version and provider
    (columns); "fails" where the runtime cannot load the file."""
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(name=rows.apply(runtime_label, axis=1))
    rows["cell"] = rows["median_ms"].map(lambda v: f"{v:.3g}" if pd.notna(v) else "fails")
    table = rows.pivot_table(index=["model", "variant"], columns="name", values="cell", aggfunc="first")
    return table.reset_index().rename_axis(columns=None)


def runtime_sentence(table: pd.DataFrame) -> str:
    """Which runtime ran the light CNN's int8 file fastest, and by how much."""
    if table.empty:
        return "no runtime was timed"
    row = table[(table["model"] == "light_cnn") & (table["variant"] == "int8_ptq")]
    if row.empty:
        return "the light CNN's int8 file was not among the timed files"
    values = {name: float(v) for name, v in row.iloc[0].drop(["model", "variant"]).items()
              if isinstance(v, str) and v != "fails"}  # fmt: skip
    if not values:
        return "no runtime ran the light CNN's int8 file"
    best = min(values, key=values.get)
    others = ", ".join(f"{name} {ms:.3g} ms ({ms / values[best]:.1f}x)" for name, ms in values.items() if name != best)
    return f"light CNN int8, one thread: {best} {values[best]:.3g} ms" + (f"; {others}" if others else "")


def runtime_macros(rows: pd.DataFrame) -> dict:
    """The ONNX Runtime numbers the paper quotes: the light CNN's int8 ``.onnx`` median, the
    provider and version it ran on, and the LiteRT median of the same model in the same run."""
    def median(runtime: str) -> float:
        if rows.empty:
            return float("nan")
        match = rows[(rows["runtime"] == runtime) & (rows["model"] == "light_cnn") & (rows["variant"] == "int8_ptq")]
        return float(match["median_ms"].iloc[0]) if len(match) and pd.notna(match["median_ms"].iloc[0]) else float("nan")

    onnx = rows[rows["runtime"] == inference.ONNX_RUNTIME] if len(rows) else rows
    first = onnx.dropna(subset=["median_ms"]).iloc[0] if len(onnx) and onnx["median_ms"].notna().any() else None
    return {"OnnxIntMs": median(inference.ONNX_RUNTIME), "LiteRtIntMs": median("ai_edge_litert"),
            "OnnxProvider": str(first["provider"]) if first is not None else "--",
            "OnnxVersion": str(first["runtime_version"]) if first is not None else "--",
            "NumOnnxTimed": int(onnx["median_ms"].notna().sum()) if len(onnx) else 0}  # fmt: skip


def _main(argv=None) -> int:
    """``python -m deepfake_iot.runtimes [--runtime R] [--providers P] [--threads N] FILE...``:
    one JSON line per file (``benchmark_model``'s result, or ``error``), for ``run_in_process``."""
    import argparse

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--runtime", default=None)
    parser.add_argument("--providers", default=None, help="ONNX Runtime execution providers, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args(argv)
    for path in args.files:
        try:
            row = timing.benchmark_model(path, threads=args.threads, warmup=args.warmup, runs=args.runs,
                                        runtime=args.runtime, providers=args.providers)  # fmt: skip
        except (ValueError, ImportError) as error:
            name = inference.ONNX_RUNTIME if inference.model_format(path) == "onnx" else args.runtime
            try:
                name = name or inference.available_runtime()[1]
            except ImportError:
                name = "none"
            row = {"file": Path(path).name, "runtime": name, "runtime_version": inference.runtime_version(name),
                   "error": str(error)[-300:]}  # fmt: skip
        print(json.dumps({"path": str(path), **row}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
