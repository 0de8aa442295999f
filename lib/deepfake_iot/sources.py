"""Frames for the gate: a camera (OpenCV or the Raspberry Pi's picamera2), a network stream, a
video file (as fast as it decodes, or at its own frame rate, looped on request) or a folder of
images. Device side: OpenCV and numpy; picamera2 is imported only when asked for.

A source is an iterator of frames (BGR uint8), ``None`` standing for a frame that could not be
decoded (the gate skips and counts it). ``stopped`` says, after the iteration, why a live source
ended early (a camera unplugged, a stream gone): None for a file or folder read to its end.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
PICAMERA_SIZE = (640, 480)
PICAMERA_MISSING = ("--picamera needs the picamera2 package: on Raspberry Pi OS 'sudo apt install "
                    "python3-picamera2', with a virtual environment made with --system-site-packages")  # fmt: skip


class CaptureSource:
    """An OpenCV capture: a camera index, a stream URL or a video file. ``live`` sources (camera,
    stream) that stop delivering after some frames end with ``stopped`` set; a file ends
    normally. ``realtime`` plays a file at its frame rate; ``loop`` starts it again at its end."""

    def __init__(self, target, *, name: str, live: bool, realtime: bool = False, loop: bool = False):
        self.name, self.live, self.realtime, self.loop = name, live, realtime, loop
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise FileNotFoundError(f"cannot open {name}")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else 0.0
        self.stopped: str | None = None

    def __iter__(self):
        delivered, started = 0, time.monotonic()
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok and self.loop and delivered and not self.live:
                    self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, frame = self.capture.read()
                if not ok:
                    if self.live and delivered:
                        self.stopped = f"{self.name} stopped delivering frames after {delivered} frame(s)"
                    elif self.live:
                        raise FileNotFoundError(f"{self.name} opened but gave no frame")
                    return
                if self.realtime and self.fps:
                    delay = started + delivered / self.fps - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                delivered += 1
                yield frame
        finally:
            self.capture.release()


class ImageFolderSource:
    """The images of a folder, in name order, once; an unreadable one is ``None``."""

    def __init__(self, folder: Path | str):
        self.folder, self.stopped, self.fps = Path(folder), None, 0.0
        self.name = f"image folder {self.folder}"
        self.paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise FileNotFoundError(f"no images (.jpg, .png, ...) in {self.folder}")

    def __iter__(self):
        for path in self.paths:
            yield cv2.imread(str(path), cv2.IMREAD_COLOR)


class PicameraSource:
    """The Raspberry Pi camera through picamera2 (libcamera), frames in OpenCV's BGR order."""

    def __init__(self, size=PICAMERA_SIZE):
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise ImportError(PICAMERA_MISSING) from None
        self.name, self.stopped, self.fps = "the Raspberry Pi camera (picamera2)", None, 0.0
        try:
            self.camera = Picamera2()
            # libcamera's "RGB888" lays pixels out as B, G, R: OpenCV's order
            self.camera.configure(self.camera.create_video_configuration(main={"size": tuple(size), "format": "RGB888"}))
            self.camera.start()
        except (RuntimeError, IndexError, OSError) as error:
            raise FileNotFoundError(f"cannot open {self.name}: {error}") from error

    def __iter__(self):
        delivered = 0
        try:
            while True:
                try:
                    frame = self.camera.capture_array()
                except (RuntimeError, OSError) as error:
                    self.stopped = f"{self.name} stopped after {delivered} frame(s): {error}"
                    return
                delivered += 1
                yield frame
        finally:
            self.camera.close()


def open_source(*, camera=None, picamera=False, url=None, video=None, images=None, realtime=False, loop=False):
    """The one source the flags name (argparse makes them exclusive)."""
    if camera is not None:
        return CaptureSource(int(camera), name=f"camera index {camera}", live=True)
    if picamera:
        return PicameraSource()
    if url is not None:
        return CaptureSource(url, name=f"stream {url}", live=True)
    if video is not None:
        return CaptureSource(str(video), name=f"video {video}", live=False, realtime=realtime, loop=loop)
    if images is not None:
        return ImageFolderSource(images)
    raise ValueError("no source: give --camera, --picamera, --url, --video or --images")
