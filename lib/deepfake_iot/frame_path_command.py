"""The whole frame path on camera-sized frames, and its targets, measured side by side now.

The command ``deepfake-iot-benchmark-frame-path`` (also ``python -m deepfake_iot.frame_path_command``
and ``scripts/benchmark_frame_path.py``).

Prints four tables and the targets (the same library calls as notebook 06, no TensorFlow needed):
the light CNN's files under every installed runtime (LiteRT on the .tflite files, ONNX Runtime on
their .onnx twins where notebook 04 wrote them; each in a process of its own, plus
any other environment's Python given with --python), the face detectors on 640x480 frames of a
real portrait under the IoT degradations, the frame path per detector and frame size at one
thread and at all cores, and the demo's own process memory.

    deepfake-iot-benchmark-frame-path                  # models/tflite/light_cnn/, else demo/
    deepfake-iot-benchmark-frame-path --models my-run/models/tflite/light_cnn
    deepfake-iot-benchmark-frame-path --python /path/to/tflite-runtime-venv/bin/python

A --models folder must hold float32.tflite or int8_ptq.tflite; without --models the run's
folder is used when it has them, else the committed demo model (the first line says which).
Every default (detectors, frame sizes, timed invokes, frames, degraded placements, face-free
frames) and every target's limit comes from the parameter profile (--profile, default
``default``), as in notebook 06.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from deepfake_iot import detector_study, frame_path_study, runtimes
from deepfake_iot.claims import DEVICE, Limits, frame_path_targets
from deepfake_iot.cli import existing_dir, existing_file, int_at_least, silence_opencv
from deepfake_iot.data import faces
from deepfake_iot.demo_model import demo_model_path
from deepfake_iot.params import load_params
from deepfake_iot.paths import output_root

LIGHT_FILES = ("float32.tflite", "int8_ptq.tflite")


def light_files(folder: Path | None) -> list[Path]:
    """The light CNN's float32 and int8 files in ``folder``; without a folder, the run's
    (``models/tflite/light_cnn`` under the output root), else the committed demo model. A
    folder given that holds neither file is an error naming it."""
    chosen = folder or output_root() / "models" / "tflite" / "light_cnn"
    files = [chosen / name for name in LIGHT_FILES if (chosen / name).is_file()]
    if not files and folder is not None:
        raise FileNotFoundError(f"--models {folder} holds neither {' nor '.join(LIGHT_FILES)}")
    return files or [demo_model_path()]


def _profile(argv) -> dict:
    """The parameter profile named by --profile in ``argv`` (default ``default``)."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--profile", default="default")
    return load_params(early.parse_known_args(argv)[0].profile)


def parse_args(argv=None) -> tuple[argparse.Namespace, dict]:
    params = _profile(argv)
    parser = argparse.ArgumentParser(prog="deepfake-iot-benchmark-frame-path", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--profile", default="default", help="parameter profile giving the defaults and limits")
    parser.add_argument("--models", type=existing_dir, help="folder with the light CNN's float32.tflite and int8_ptq.tflite")
    parser.add_argument("--python", type=existing_file, action="append", default=[],
                        help="another environment's Python (repeatable)")  # fmt: skip
    parser.add_argument("--detector", default=params["face_detector"], choices=faces.DETECTOR_NAMES[:3],
                        help="the frame path's detector (default: the profile's face_detector)")
    parser.add_argument("--runs", type=int_at_least(1), default=params["bench_runs"],
                        help="timed invokes per file and runtime (default: the profile's bench_runs)")
    parser.add_argument("--frames", type=int_at_least(1), default=params["bench_camera_frames"],
                        help="camera frames per size through the path (default: the profile's bench_camera_frames)")
    return parser.parse_args(argv), params


def main(argv=None) -> int:
    args, params = parse_args(argv)
    silence_opencv()
    pd.set_option("display.width", 200)
    try:
        files = light_files(args.models)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    int8 = next((f for f in files if "int8" in f.stem or f == demo_model_path()), files[-1])
    files = runtimes.twins(files)  # and their ONNX files (notebook 04), timed under ONNX Runtime
    print(f"files: {', '.join(str(f) for f in files)}; {os.cpu_count()} cores\n")

    timed = runtimes.compare_runtimes(files, pythons=[str(p) for p in args.python], runs=args.runs)
    print("light CNN, one thread, median ms per invoke (each runtime in its own process):")
    print(runtimes.runtime_table(timed).to_string(index=False), "\n")

    detectors = {name: faces.make_detector(name) for name in params["bench_detectors"]}
    clean = detector_study.portrait_frames((640, 480))
    per_frame, quality = detector_study.detection_quality(
        detectors, clean + detector_study.degraded_frames(clean[:: params["bench_degrade_every"]]),
        detector_study.face_free_frames(count=params["bench_face_free_frames"]))
    rates = detector_study.rate_table(per_frame)
    print("face detectors on 640x480 frames of a real portrait (one thread):")
    print(quality.round(3).to_string(index=False), "\n")

    threads = sorted({1, os.cpu_count() or 1})
    frame_path = frame_path_study.frame_path_table(int8, list(detectors), tuple(params["bench_frame_sizes"]), threads, args.frames)
    print(f"the frame path of {int8.name}, medians in ms:")
    print(frame_path_study.frame_path_summary(frame_path).round(3).to_string(index=False))
    print(frame_path_study.frame_path_sentence(frame_path, args.detector), "\n")

    with tempfile.TemporaryDirectory() as folder:
        clip = frame_path_study.write_portrait_clip(Path(folder) / "clip.mp4")
        memory = frame_path_study.demo_process_memory(int8, args.detector, clip)
    print(f"the demo as a process of its own ({args.detector} + {int8.name}): peak {memory['peak_rss_mb']:.0f} MB, "
          f"exit code {memory['exit_code']}\n")

    pinned = timed[timed["runtime"] == runtimes.installed_runtimes()[0]]
    limits = Limits.from_params(params, only=DEVICE)
    targets = frame_path_targets(frame_path, rates, quality, pinned, memory["peak_rss_mb"], limits, args.detector)
    print("targets:")
    print(targets.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
