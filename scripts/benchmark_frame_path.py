#!/usr/bin/env python3
"""The whole frame path on camera-sized frames, and its targets, measured side by side now.

Prints four tables and the targets (the same library calls as notebook 06, no TensorFlow needed):
the light CNN's files under every installed TFLite runtime (each in a process of its own, plus
any other environment's Python given with --python), the face detectors on 640x480 frames of a
real portrait under the IoT degradations, the frame path per detector and frame size at one
thread and at all cores, and the demo's own process memory.

    python scripts/benchmark_frame_path.py                       # models/tflite/light_cnn/, else demo/
    python scripts/benchmark_frame_path.py --python /path/to/tflite-runtime-venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from deepfake_iot import bench, facebench
from deepfake_iot.data import faces
from deepfake_iot.demo_model import demo_model_path
from deepfake_iot.paths import output_root
from deepfake_iot.targets import frame_path_targets


def light_files(folder: Path | None) -> list[Path]:
    """The light CNN's float32 and int8 files of a run, else the committed demo model."""
    folder = folder or output_root() / "models" / "tflite" / "light_cnn"
    files = [folder / name for name in ("float32.tflite", "int8_ptq.tflite") if (folder / name).is_file()]
    return files or [demo_model_path()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, help="folder with the light CNN's float32.tflite and int8_ptq.tflite")
    parser.add_argument("--python", action="append", default=[], help="another environment's Python (repeatable)")
    parser.add_argument("--detector", default="blazeface_short", choices=faces.DETECTOR_NAMES[:3])
    parser.add_argument("--runs", type=int, default=300, help="timed invokes per file and runtime")
    parser.add_argument("--frames", type=int, default=30, help="camera frames per size through the path")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    files = light_files(args.models)
    int8 = next((f for f in files if "int8" in f.stem or f == demo_model_path()), files[-1])
    print(f"files: {', '.join(str(f) for f in files)}; {os.cpu_count()} cores\n")

    runtimes = bench.compare_runtimes(files, pythons=args.python, runs=args.runs)
    print("light CNN, one thread, median ms per invoke (each runtime in its own process):")
    print(bench.runtime_table(runtimes).to_string(index=False), "\n")

    detectors = {name: faces.make_detector(name) for name in ("blazeface_short", "blazeface_full", "haar")}
    clean = facebench.portrait_frames((640, 480))
    per_frame, quality = facebench.detection_quality(
        detectors, clean + facebench.degraded_frames(clean[::4]), facebench.face_free_frames(count=24)
    )
    rates = facebench.rate_table(per_frame)
    print("face detectors on 640x480 frames of a real portrait (one thread):")
    print(quality.round(3).to_string(index=False), "\n")

    threads = sorted({1, os.cpu_count() or 1})
    frame_path = facebench.frame_path_table(int8, list(detectors), ("640x480", "1280x720"), threads, args.frames)
    print(f"the frame path of {int8.name}, medians in ms:")
    print(bench.frame_path_summary(frame_path).round(3).to_string(index=False))
    print(bench.frame_path_sentence(frame_path, args.detector), "\n")

    with tempfile.TemporaryDirectory() as folder:
        clip = facebench.write_portrait_clip(Path(folder) / "clip.mp4")
        memory = facebench.demo_process_memory(int8, args.detector, clip)
    print(f"the demo as a process of its own ({args.detector} + {int8.name}): peak {memory['peak_rss_mb']:.0f} MB, "
          f"exit code {memory['exit_code']}\n")

    pinned = runtimes[runtimes["runtime"] == bench.installed_runtimes()[0]]
    targets = frame_path_targets(frame_path, rates, quality, pinned, memory["peak_rss_mb"], args.detector)
    print("targets:")
    print(targets.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
