"""The whole frame path on camera-sized frames, as a deployed device meets it: JPEG decode, face
detection, the square crop and resize, quantize, invoke and dequantize, timed stage by stage
through the same functions as extraction and the demo (``data.faces``); the table of it per frame
size, detector and thread count on frames of the real portrait (``detector_study``); the demo as
a process of its own and its peak memory; and the sentence and macros the paper quotes.
Device side: no TensorFlow. The command is ``frame_path_command``."""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from deepfake_iot import inference, machine
from deepfake_iot.detector_study import (
    FRAME_SIZES,
    load_portrait,
    place_portrait,
    portrait_frames,
    room_background,
)
from deepfake_iot.timing import check_counts, latency_stats, provider_fields

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
    from deepfake_iot.data import faces

    if len(frames_bgr) == 0:
        raise ValueError("end_to_end_benchmark needs at least one frame")
    count = len(frames_bgr) if runs is None else runs
    check_counts(threads=(threads, 1), runs=(count, 1))
    face_detector, detector_name = _detector(detector, detector_model, threads, runtime)
    interpreter, runtime_name = inference.load_model(path, num_threads=threads, runtime=runtime, providers=providers)
    stages = {name: [] for name in (*E2E_STAGES, "total")}
    found = 0
    for index in range(count):
        marks, is_face = _one_frame(frames_bgr, index, face_detector, interpreter, enlarge, faces)
        found += is_face
        for stage, start, end in zip(E2E_STAGES, marks[:-1], marks[1:], strict=True):
            stages[stage].append(end - start)
        stages["total"].append(marks[-1] - marks[0])
    return {**_stage_statistics(stages), "threads": threads, "runtime": runtime_name,
            "runtime_version": inference.runtime_version(runtime_name), **provider_fields(interpreter),
            "detector": detector_name, "faces_found": int(found), "frames": count}


def _detector(detector, detector_model, threads: int, runtime: str | None):
    """``(detector or None, its name)`` for ``end_to_end_benchmark``'s ``detector`` argument."""
    from deepfake_iot.data import faces

    if detector == "center":
        return None, "center"
    if isinstance(detector, str):
        return faces.make_detector(detector, detector_model, threads=threads, runtime=runtime), detector
    return detector, type(detector).__name__


def _one_frame(frames_bgr: list, index: int, face_detector, interpreter, enlarge: float, faces) -> tuple[tuple, bool]:
    """One frame through the whole path; the seven time marks between its stages (ns) and
    whether a face was detected (else the central square was classified)."""
    detail, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
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
    rgb = faces.to_model_input(faces.square_crop(frame, box, enlarge=enlarge, size=int(detail["shape"][1])))
    t3 = time.perf_counter_ns()
    interpreter.set_tensor(detail["index"], inference.quantize_input(rgb, detail))
    t4 = time.perf_counter_ns()
    interpreter.invoke()
    t5 = time.perf_counter_ns()
    inference.dequantize_output(interpreter.get_tensor(output["index"]), output)
    return (t0, t1, t2, t3, t4, t5, time.perf_counter_ns()), bool(is_face)


def _stage_statistics(stages: dict) -> dict:
    """The total's statistics (as ``timing.benchmark_model``), each stage's median, the classify
    step (quantize + invoke + dequantize) and the path without decoding, in ms, and its fps."""
    result = latency_stats(np.asarray(stages["total"], dtype=np.float64))
    for stage in E2E_STAGES:
        result[f"{stage}_median_ms"] = float(np.median(stages[stage]) / 1e6)
    classify = np.add(stages["quantize"], stages["invoke"]) + np.asarray(stages["dequantize"])
    path_ns = np.asarray(stages["detect"]) + np.asarray(stages["crop"]) + classify
    result["classify_median_ms"] = float(np.median(classify) / 1e6)
    result["path_median_ms"] = float(np.median(path_ns) / 1e6)
    result["path_fps"] = float(1000.0 / result["path_median_ms"])
    return result


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


def _pixels(size_name: str) -> int:
    width, height = (int(v) for v in size_name.split("x"))
    return width * height


def camera_jpegs(frames: list, quality: int = 90) -> list[bytes]:
    """Frames JPEG-encoded as a camera delivers them (``quality`` as a typical webcam's MJPEG)."""
    encoded = []
    for frame in frames:
        ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("OpenCV failed to encode a JPEG frame")
        encoded.append(buffer.tobytes())
    return encoded


def frame_path_table(model_path, detectors, sizes=("640x480", "1280x720"), threads=(1,),
                     frames: int = 20, enlarge: float = 1.3, runtime: str | None = None,
                     detector_model=None, seed: int = 0, providers=None) -> pd.DataFrame:  # fmt: skip
    """The whole frame path on camera-sized JPEG frames of the real portrait, per frame size,
    detector and thread count: ``end_to_end_benchmark``'s stage medians (decode, detect,
    crop, classify, invoke), the path without decoding and its frames per second, and the faces
    found. ``detector_model`` is passed to a detector of the same kind only (a BlazeFace file
    for BlazeFace, a cascade for Haar); ``providers``: ONNX Runtime's, for an ``.onnx`` model."""
    rows = []
    for size_name in sizes:
        if size_name not in FRAME_SIZES:
            raise ValueError(
                f"unknown frame size {size_name!r}; expected one of {list(FRAME_SIZES)}"
            )
        placed = portrait_frames(FRAME_SIZES[size_name], seed=seed)
        step = max(1, len(placed) // frames)
        jpegs = camera_jpegs([item["frame"] for item in placed[::step][:frames]])
        for name in detectors:
            for count in threads:
                result = end_to_end_benchmark(model_path, jpegs, detector=name, threads=count,
                                                    enlarge=enlarge, runtime=runtime,
                                                    detector_model=detector_model, providers=providers)  # fmt: skip
                rows.append({"frame": size_name, **result})
    return pd.DataFrame(rows)


def write_portrait_clip(path: Path | str, size: tuple[int, int] = (640, 480), frames: int = 60,
                        fps: float = 15.0, seed: int = 0) -> Path:  # fmt: skip
    """A video of the portrait drifting across a room scene, as a webcam would film it (mp4)."""
    width, height = size
    portrait = load_portrait()
    background = room_background(size, seed)
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise ValueError(f"cannot write video {path}")
    try:
        for index in range(frames):
            phase = index / max(1, frames - 1)
            centre = (0.35 + 0.3 * phase, 0.5 + 0.05 * math.sin(6.28 * phase))
            frame, _ = place_portrait(portrait, size, 0.4, centre, 10.0 * math.sin(6.28 * phase),
                                      background)  # fmt: skip
            writer.write(frame)
    finally:
        writer.release()
    return path


def demo_process_memory(model_path, detector: str, clip: Path | str, python: str | None = None,
                        frames: int = 60, providers=None) -> dict:  # fmt: skip
    """Run the demo (``scripts/demo.py``) on ``clip`` as a process of its own, the way a device
    deploys it (detector and classifier loaded, frames flowing, no window), and report its peak
    resident memory (MB), exit code and summary line."""
    import sys

    from deepfake_iot.paths import project_root

    script = project_root() / "scripts" / "demo.py"
    command = [python or sys.executable, str(script), "--model", str(model_path), "--video",
               str(clip), "--detector", detector, "--no-window", "--max-frames", str(frames),
               "--out", str(Path(clip).with_name("demo_annotated.mp4"))]  # fmt: skip
    if providers:
        command += ["--providers", ",".join(providers)]
    code, peak_mb, stdout = machine.peak_rss_of(command)
    lines = [line for line in stdout.splitlines() if line.strip()]
    return {"detector": detector, "exit_code": code, "peak_rss_mb": peak_mb,
            "summary": lines[-2] if len(lines) >= 2 else (lines[-1] if lines else "")}  # fmt: skip
