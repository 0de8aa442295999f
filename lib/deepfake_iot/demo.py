"""The offline demo on a device: every frame of a video, a camera or a folder of images goes
through a ``classifier.DeepfakeClassifier`` (face, verdict, timings drawn on the frame); the
frames are shown in a window or written to a file, and one CSV row per frame is logged.

Device side and small in memory: numpy, OpenCV and a TFLite runtime (or ONNX Runtime) only; no
TensorFlow, no pandas, not the benchmark module.

Files are never left half-written: the CSV log goes through ``paths.atomic_path``, and an
annotated video is written under a temporary name and renamed when it is closed, also when a
run stops early, so it then holds the frames processed so far.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from deepfake_iot.classifier import DeepfakeClassifier
from deepfake_iot.paths import atomic_path, give_umask_mode

WINDOW = "deepfake-iot"
LOG_FIELDS = ["frame", "face", "p_fake", "p_fake_smoothed", "label"]
LOG_FIELDS += ["detect_ms", "classify_ms", "ms", "fps"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi"}
QUIT_KEYS = {ord("q"), 27}  # q or Esc

_GUI_PROBE = f"""
import sys, cv2
try:
    cv2.namedWindow("{WINDOW}-probe", cv2.WINDOW_AUTOSIZE)
    cv2.destroyWindow("{WINDOW}-probe")
except cv2.error:
    sys.exit(3)
"""
NO_GUI = "this OpenCV has no GUI (opencv-python-headless)"


def gui_problem() -> str | None:
    """Why no window can be opened, or None when one can. Checked once, before the frames, by
    a tiny window opened and closed in a child process: opencv-python-headless raises "The
    function is not implemented" there (``NO_GUI``), and OpenCV's Qt aborts the whole process
    when the display cannot be reached, which only a child survives."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _GUI_PROBE], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return f"the display {os.environ.get('DISPLAY', '')} did not answer within 30 s"
    if probe.returncode == 0:
        return None
    if probe.returncode == 3:
        return NO_GUI
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "(none)"
    return f"cannot open one on display {display} ({lines[0] if lines else probe.returncode})"


def gui_available() -> bool:
    """Whether this OpenCV can open a window on the current display (see ``gui_problem``)."""
    return gui_problem() is None


def show_frame(image_bgr, wait_ms: int) -> bool:
    """Show a frame in the window for ``wait_ms`` (0: until a key is pressed); False once q or
    Esc is pressed or the window was closed."""
    cv2.imshow(WINDOW, image_bgr)
    key = cv2.waitKey(max(0, int(wait_ms))) & 0xFF
    closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
    return key not in QUIT_KEYS and not closed


class VideoOut:
    """An annotated video written under a temporary name beside ``path`` (``paths.is_partial``
    knows it) and renamed onto ``path`` by ``close``: ``path`` only ever holds a finished file.
    Nothing is written without a frame."""

    def __init__(self, path: Path | str, fps: float):
        self.path, self.fps = Path(path), fps if fps and fps > 0 else 15.0
        self.writer = self.tmp = None
        self.frames = 0

    def write(self, frame_bgr) -> None:
        if self.writer is None:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.stem}.",
                suffix=f".part{self.path.suffix}",
                dir=self.path.parent,
            )
            os.close(fd)
            self.tmp = Path(tmp)
            give_umask_mode(self.tmp)  # mkstemp's 0600 would follow the rename onto ``path``
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self.writer = cv2.VideoWriter(str(self.tmp), fourcc, self.fps, frame_bgr.shape[1::-1])
            if not self.writer.isOpened():
                self.close()
                raise ValueError(f"cannot write video {self.path}: give an .mp4 or .avi file name")
        self.writer.write(frame_bgr)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self.tmp is not None:
            if self.frames:
                os.replace(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)
            self.tmp = None


def run_on_video(
    classifier: DeepfakeClassifier,
    source,
    out_path: Path | None,
    show: bool,
    max_frames: int = 0,
    wait_ms: int = 1,
):
    """Annotate every frame of a video file or camera index, yielding one result per frame as it
    goes (a caller keeps what was processed when a later frame fails). Writes ``out_path`` when
    given, closed and complete however the run ends; shows a window when ``show`` (q or Esc
    quits). A video file's end is the normal end. A camera that stops delivering frames after
    it delivered some ends the run too, with a one-line warning on stderr (not an error: what
    was processed is kept). Ctrl-C ends the run quietly."""
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        what = f"camera index {source}" if isinstance(source, int) else f"video {source}"
        raise FileNotFoundError(f"cannot open {what}")
    writer = VideoOut(out_path, capture.get(cv2.CAP_PROP_FPS)) if out_path is not None else None
    frames = 0
    try:
        while not max_frames or frames < max_frames:
            ok, frame = capture.read()
            if not ok:
                if isinstance(source, int) and frames:
                    print(f"warning: camera index {source} stopped delivering frames after "
                          f"{frames} frame(s); stopping with what was processed", file=sys.stderr)  # fmt: skip
                elif isinstance(source, int):
                    raise FileNotFoundError(f"camera index {source} opened but gave no frame")
                break
            annotated, result = classifier.annotate(frame)
            if writer is not None:
                writer.write(annotated)
            frames += 1
            yield {"frame": frames - 1, **result}
            if show and not show_frame(annotated, wait_ms):
                break
    except KeyboardInterrupt:  # Ctrl-C ends a headless camera run; keep what was written
        pass
    finally:
        capture.release()
        if writer is not None:
            writer.close()


def run_on_images(
    classifier: DeepfakeClassifier,
    folder: Path,
    out_dir: Path | None,
    show: bool = False,
    wait_ms: int = 1,
):
    """Annotate every image of a folder (sorted), yielding one result per image; write annotated
    copies to ``out_dir``; show each in the window for ``wait_ms`` when ``show`` (q or Esc
    quits). Ctrl-C ends the run quietly."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} not found")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images (.jpg, .png, ...) in {folder}")
    try:
        for path in paths:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                yield {"frame": path.name, "face": False, "label": "unreadable"}
                continue
            annotated, result = classifier.annotate(frame)
            if out_dir is not None:
                write_image(Path(out_dir) / f"{path.stem}.png", annotated)
            yield {"frame": path.name, **result}
            if show and not show_frame(annotated, wait_ms):
                break
    except KeyboardInterrupt:  # Ctrl-C: keep what was written
        pass


def write_image(path: Path | str, image_bgr) -> Path:
    """Write an annotated frame atomically; ``ValueError`` when OpenCV cannot (bad extension)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image_bgr):
            raise ValueError(f"cannot write image {path}: give a .png or .jpg file name")
    return path


def has_display() -> bool:
    """Whether a window could be opened (an X11 or Wayland session is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def default_output(image=None, video=None, images=None, camera=None) -> Path:
    """Where a headless run writes its annotated result when no ``--out`` is given: in the
    current folder, named after the input (``<stem>_annotated.png``/``.mp4``, a folder for a
    folder of images, ``camera<index>_annotated.mp4``)."""
    if image is not None:
        return Path(f"{Path(image).stem}_annotated.png")
    if video is not None:
        return Path(f"{Path(video).stem}_annotated.mp4")
    if images is not None:
        return Path(f"{Path(images).name}_annotated")
    return Path(f"camera{camera}_annotated.mp4")


def check_output(path: Path | str, kind: str = "file") -> Path:
    """Refuse, before any processing, an output the run could not write: ``kind`` is "image",
    "video", "folder" (of images) or "file" (the log). The folder it goes in must exist and take
    a new file; ``ValueError`` names the path."""
    path = Path(path)
    folder = path if kind == "folder" and path.is_dir() else path.parent
    if kind == "image" and path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot write image {path}: give a .png or .jpg file name")
    if kind == "video" and path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"cannot write video {path}: give an .mp4 or .avi file name")
    if path.is_dir() and kind != "folder":
        raise ValueError(f"cannot write {path}: it is a folder")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"cannot write images into {path}: it is a file, not a folder")
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: the folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror or error}") from error
    return path


def write_log(results: list[dict], path: Path | str) -> Path:
    """One CSV row per frame (``LOG_FIELDS``), written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(results)
    return Path(path)


def summarize(results: list[dict]) -> dict:
    """Frames, frames with a face, faces judged fake, the mean per-frame and detector latency
    (ms), and the frame rate over the whole run (frames arriving; 1000 / mean ms for one)."""
    faces_found = [r for r in results if r["face"]]
    timed = [r for r in results if r.get("ms") is not None]
    mean_ms = float(np.mean([r["ms"] for r in timed])) if timed else float("nan")
    mean_detect = float(np.mean([r["detect_ms"] for r in timed])) if timed else float("nan")
    span = timed[-1]["time_s"] - timed[0]["time_s"] if len(timed) > 1 else 0.0
    fps = (len(timed) - 1) / span if span > 0 else (1000 / mean_ms if timed else float("nan"))
    return {
        "frames": len(results),
        "faces": len(faces_found),
        "fake": sum(bool(r.get("fake")) for r in faces_found),
        "mean_ms": mean_ms,
        "mean_detect_ms": mean_detect,
        "fps": fps,
    }


if __name__ == "__main__":  # python -m deepfake_iot.demo: the command (demo_command.py)
    from deepfake_iot.demo_command import main

    sys.exit(main())
