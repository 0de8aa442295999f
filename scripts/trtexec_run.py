#!/usr/bin/env python3
"""Turn a TensorRT ``trtexec`` log into a device run that notebook 06's latency table lists.

For the original Jetson Nano (JetPack 4: TensorRT 8.2, Python 3.6), where the project's Python
side does not install: build and time the engine of an exported ONNX file with trtexec alone,
keep its output, and convert it here. Standard library only, and Python 3.6 syntax, so that it
runs on the Nano itself (it then also reads the board's name); it runs anywhere else too.

    /usr/src/tensorrt/bin/trtexec --onnx=models/onnx/light_cnn/int8_ptq.onnx --int8 \\
        --saveEngine=light_int8.engine | tee trtexec_int8.log
    python3 scripts/trtexec_run.py trtexec_int8.log --model light_cnn --variant int8_ptq \\
        --onnx models/onnx/light_cnn/int8_ptq.onnx

It writes ``results/device/<board>/<UTC time>-trtexec.json`` (and its CSV twin): the format of a
notebook 06 run, one row per log: ``runtime`` "tensorrt <version> (<precision>)", ``median_ms``,
``mean_ms``, ``min_ms``, ``max_ms``, ``p90_ms``/``p99_ms`` (when the log has them) and
``throughput_fps`` from trtexec's performance summary (its "Latency": the host's time per
inference, copies in and out included, as ONNX Runtime's invoke counts them), and
``gpu_compute_median_ms`` (the engine alone). TensorRT 8 or newer (its summary lines) is needed.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import sys

SUMMARY = {"Latency": "", "GPU Compute Time": "gpu_compute_"}
STATISTIC = re.compile(r"(min|max|mean|median|percentile\((\d+)%\))\s*=\s*([0-9.eE+-]+)\s*ms")


def tensorrt_version(log):
    """"8.2.1" from the "[TensorRT v8201]" (10.x: "v100300") banner, or "unknown"."""
    match = re.search(r"\[TensorRT v(\d+)\]", log)
    if not match:
        return "unknown"
    number = int(match.group(1))
    major, rest = (number // 10000, number % 10000) if number >= 100000 else (number // 1000, number % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def precision(log):
    """The engine's precision from trtexec's command line: int8, fp16, best or fp32."""
    command = re.search(r"&&&& RUNNING TensorRT\.trtexec.*?# (.*)", log)
    flags = command.group(1) if command else log
    for name in ("best", "int8", "fp16"):
        if "--" + name in flags:
            return name
    return "fp32"


def statistics(log, label):
    """The last summary line of ``label`` ("Latency", "GPU Compute Time") as {"median": ms, ...}."""
    lines = [line for line in log.splitlines() if re.search(r"\]\s*" + re.escape(label) + r":\s*min", line)]
    if not lines:
        return {}
    values = {}
    for name, percent, value in STATISTIC.findall(lines[-1]):
        values["p" + percent if percent else name] = float(value)
    return values


def row_of(log, model, variant, size_bytes=None):
    """The run's row: latency statistics, throughput, runtime and precision."""
    host = statistics(log, "Latency")
    if "median" not in host:
        raise ValueError("no 'Latency: min = ..., median = ...' summary line: is this a trtexec log of TensorRT 8 or newer?")
    row = {"model": model, "variant": variant, "format": "onnx", "group": "main", "threads": 1,
           "runtime": f"tensorrt {tensorrt_version(log)} ({precision(log)})",
           "runtime_version": tensorrt_version(log), "provider": "TensorRT", "source": "trtexec"}
    for name, value in host.items():
        row[name + "_ms"] = value
    for name, value in statistics(log, "GPU Compute Time").items():
        row["gpu_compute_" + name + "_ms"] = value
    throughput = re.findall(r"Throughput:\s*([0-9.eE+-]+)\s*qps", log)
    row["throughput_fps"] = float(throughput[-1]) if throughput else 1000.0 / row["median_ms"]
    if size_bytes is not None:
        row["size_bytes"] = size_bytes
    command = re.search(r"&&&& RUNNING TensorRT\.trtexec.*?# (.*)", log)
    row["command"] = command.group(1).strip() if command else ""
    return row


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip("\x00\n ")
    except OSError:
        return None


def device(board=None):
    """The device block of a run: the board (the Jetson's device tree, or ``board``), OS, Python."""
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', read("/etc/os-release") or "", re.MULTILINE)
    return {"board": board or read("/proc/device-tree/model") or "host " + platform.machine(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "os": pretty.group(1) if pretty else platform.platform(), "kernel": platform.release(),
            "python": platform.python_version(), "machine": platform.machine()}


def slug(info):
    """The folder name notebook 06 uses for this board (``machine.device_slug``)."""
    board = re.sub(r"\s+rev\s+[\w.]+$", "", str(info.get("board") or "device").strip(), flags=re.I)
    return re.sub(r"[^a-z0-9_]+", "-", board.lower()).strip("-_")[:60] or "device"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", help="trtexec's output, saved to a file")
    parser.add_argument("--model", required=True, help="the model's name, e.g. light_cnn")
    parser.add_argument("--variant", required=True, help="the exported variant, e.g. int8_ptq or float32")
    parser.add_argument("--onnx", help="the .onnx file the engine was built from (its size goes in the row)")
    parser.add_argument("--board", help="the board's name (default: /proc/device-tree/model)")
    parser.add_argument("--out", default=os.path.join("results", "device"), help="where runs are kept")
    args = parser.parse_args(argv)
    log = read(args.log)
    if not log:
        parser.error(f"argument log: {args.log} is missing or empty")
    try:
        row = row_of(log, args.model, args.variant, os.path.getsize(args.onnx) if args.onnx else None)
    except (ValueError, OSError) as error:
        print(f"error: {args.log}: {error}", file=sys.stderr)
        return 2
    info = device(args.board)
    now = datetime.datetime.now(datetime.timezone.utc)
    folder = os.path.join(args.out, slug(info))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    stem = os.path.join(folder, now.strftime("%Y%m%dT%H%M%SZ") + "-trtexec")
    with open(stem + ".json", "w") as handle:
        json.dump({"device": info, "time": now.isoformat(timespec="seconds"), "rows": [row]}, handle, indent=2)
    with open(stem + ".csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    print("{}.json: {} {} on {}, median {:.3g} ms".format(stem, args.model, args.variant, row["runtime"], row["median_ms"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
