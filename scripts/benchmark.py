"""One table of what the pipeline delivers: per model, int8 and float32 latency, int8 speed-up,
latency against MobileNetV3-Small, test AUC with its interval, int8 size; then the time each
notebook took in the last run.

    python scripts/benchmark.py                # from the results of notebooks 04-06
    python scripts/benchmark.py --measure      # time the int8/float32 files again, now
    python scripts/benchmark.py --out /tmp/run # another output root

Latencies are medians of single invokes at one thread on one fixed input (the device
benchmark's method, ``deepfake_iot.timing``). Without ``--measure`` they come from the newest run
notebook 06 saved under ``results/bench/``; with it, each model's int8 and float32 files are
timed one right after the other, so both share the machine's conditions. No TensorFlow needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from deepfake_iot import timing
from deepfake_iot.paths import QUANTIZATION, TEST_METRICS, handoff, project_root

VARIANTS = ("int8_ptq", "float32")


def newest_bench_run(results: Path) -> pd.DataFrame:
    """Bare-invoke rows of the newest run saved under ``results/bench/<device>/``."""
    runs = []
    for path in (results / "bench").glob("*/*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            runs.append((str(data.get("time", "")), path.name, data["rows"]))
    if not runs:
        return pd.DataFrame()
    rows = pd.DataFrame(max(runs, key=lambda run: run[:2])[2])
    if "kind" in rows:
        rows = rows[rows["kind"].isna()]
    return rows


def measure(files: list[Path], runs: int, warmup: int) -> pd.DataFrame:
    rows = []
    for path in files:
        result = timing.benchmark_model(path, threads=1, warmup=warmup, runs=runs)
        rows.append({"model": path.parent.name, "variant": path.stem, **result})
        print(f"  {path.parent.name:<28} {path.stem:<9} {result['median_ms']:8.3f} ms", flush=True)
    return pd.DataFrame(rows)


def stage_times(out: Path) -> pd.DataFrame:
    """The notebooks' latest wall times, from the runner's ``build/run_status.json``."""
    path = out / "build" / "run_status.json"
    try:
        status = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return pd.DataFrame()
    rows = [
        {"stage": name, **{k: row.get(k) for k in ("status", "seconds", "profile", "finished")}}
        for name, row in sorted(status.items())
        if isinstance(row, dict)
    ]
    return pd.DataFrame(rows)


def summary(out: Path, latency: pd.DataFrame) -> pd.DataFrame:
    tflite = out / "models" / "tflite"
    files = sorted(
        {
            tflite / m / f"{v}.tflite"
            for m, v in zip(latency["model"], latency["variant"], strict=True)
        }
    )
    records = timing.file_records(files, handoff(out, QUANTIZATION))
    table = timing.tradeoff(latency, records, threads=1)
    metrics_path = handoff(out, TEST_METRICS)
    if metrics_path.is_file():
        metrics = pd.read_csv(metrics_path)
        metrics = metrics[metrics["variant"] == "int8_ptq"].set_index("model")
        for column in ("auc", "auc_low", "auc_high"):
            values = metrics[column] if column in metrics else pd.Series(dtype=float)
            table[f"test_{column}"] = table["model"].map(values)
    return table.rename(columns={"vs_reference": "x_mobilenet_v3_small"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="output root (default: the project root)"
    )
    parser.add_argument(
        "--measure", action="store_true", help="time the int8/float32 files now, 1 thread"
    )
    parser.add_argument(
        "--runs", type=int, default=200, help="timed invokes per file with --measure"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed invokes per file with --measure"
    )
    args = parser.parse_args(argv)
    out = (args.out or project_root()).resolve()
    if args.measure:
        files = [
            path
            for folder in sorted((out / "models" / "tflite").glob("*/"))
            for path in (folder / f"{variant}.tflite" for variant in VARIANTS)
            if path.is_file()
        ]
        if not files:
            print(
                f"error: no int8_ptq/float32 .tflite files under {out / 'models' / 'tflite'}",
                file=sys.stderr,
            )
            return 1
        print(f"timing {len(files)} files, 1 thread, {args.runs} runs each")
        latency = measure(files, args.runs, args.warmup)
    else:
        latency = newest_bench_run(out / "results")
        if latency.empty:
            print(
                f"error: no benchmark run under {out / 'results' / 'bench'}: run notebook 06 or use --measure",
                file=sys.stderr,
            )
            return 1
    table = summary(out, latency)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(
            "\nper model (latency: median ms, 1 thread; speed-up: float32 / int8; AUC: int8 file)"
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        stages = stage_times(out)
        if stages.empty:
            print("\nno stage times: build/run_status.json is written by run_all.sh")
        else:
            print("\nstage times of the last run (seconds)")
            print(stages.to_string(index=False))
            print(f"total {stages['seconds'].fillna(0).sum():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
