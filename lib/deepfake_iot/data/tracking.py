"""Following a moving face: ``FaceTracker`` keeps it at short-range cost (MediaPipe's
detect-then-track). It detects on the whole frame until a face is found, then inside an enlarged square around the
last box (the detector rescales that region to its input, so a small face is large there),
falls back on the whole frame when the region holds no face, and searches the whole frame again
every ``redetect_every`` frames; ``make_tracker`` builds one.

Device side: numpy only beside the detectors of ``data/faces.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepfake_iot.data.faces import Box, largest_face, make_detector

TRACK_REGION_SCALE = 2.5  # side of the tracking region, in face-box sides
TRACK_REDETECT_EVERY = 15  # frames between two whole-frame searches while a face is tracked


class FaceTracker:
    """Detect-then-track around a detector with ``detect(image) -> boxes``.

    No face tracked: the whole frame goes to ``detector``, and where it finds nothing and an
    ``acquire`` detector is given (BlazeFace full-range, which finds smaller faces), to that one
    too. A face tracked: the square of ``region_scale`` times the last box's longer side around
    its centre (clipped to the frame) goes to ``detector``; a face there is followed, none sends
    the frame to the whole-frame search. Every ``redetect_every`` frames the whole frame is
    searched even while a face is followed (a larger or new face takes over), and the region
    is still tried when that search finds nothing. ``detect`` returns the boxes in frame pixels,
    so it drops in wherever a detector goes; ``mode`` says how the last frame was searched
    ("region", "frame", "frame+region", "frame+acquire")."""

    def __init__(self, detector, *, acquire=None, region_scale: float = TRACK_REGION_SCALE,
                 redetect_every: int = TRACK_REDETECT_EVERY):  # fmt: skip
        if region_scale < 1.2:
            raise ValueError(f"region_scale must be at least 1.2 face sides, got {region_scale}")
        if int(redetect_every) < 1:
            raise ValueError(f"redetect_every must be at least 1 frame, got {redetect_every}")
        self.detector, self.acquire = detector, acquire
        self.region_scale, self.redetect_every = float(region_scale), int(redetect_every)
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face (a new video, a new camera)."""
        self.last: Box | None = None
        self.tracked_frames, self.mode = 0, ""

    def region(self, image_bgr: np.ndarray) -> Box:
        """The tracking region around the last box, clipped to the frame."""
        height, width = image_bgr.shape[:2]
        x, y, w, h = self.last
        side = self.region_scale * max(w, h)
        x0, y0 = max(0, int(x + w / 2 - side / 2)), max(0, int(y + h / 2 - side / 2))
        x1, y1 = min(width, int(x + w / 2 + side / 2)), min(height, int(y + h / 2 + side / 2))
        return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))

    def _in_region(self, image_bgr: np.ndarray) -> list[Box]:
        rx, ry, rw, rh = self.region(image_bgr)
        boxes = self.detector.detect(image_bgr[ry : ry + rh, rx : rx + rw])
        return [(x + rx, y + ry, w, h) for x, y, w, h in boxes]

    def detect(self, image_bgr: np.ndarray) -> list[Box]:
        due = self.last is not None and self.tracked_frames % self.redetect_every == 0
        boxes, modes = [], []
        if self.last is None or due:
            boxes, modes = self.detector.detect(image_bgr), ["frame"]
        if not boxes and self.last is not None:
            boxes = self._in_region(image_bgr)
            modes.append("region")
            if not boxes and not due:
                boxes = self.detector.detect(image_bgr)
                modes.append("frame")
        if not boxes and self.acquire is not None:
            boxes = self.acquire.detect(image_bgr)
            modes.append("acquire")
        self.mode = "+".join(modes)
        self.last = largest_face(boxes)
        self.tracked_frames = self.tracked_frames + 1 if self.last is not None else 0
        return boxes


def make_tracker(name: str = "blazeface_short", model_path: Path | str | None = None, *,
                 acquire: str | None = "blazeface_full", threads: int = 1, runtime: str | None = None,
                 region_scale: float = TRACK_REGION_SCALE,
                 redetect_every: int = TRACK_REDETECT_EVERY) -> FaceTracker:  # fmt: skip
    """A ``FaceTracker`` around ``make_detector(name, model_path)``; ``acquire`` names the
    detector that searches the whole frame when the first finds no face (None: none)."""
    detector = make_detector(name, model_path, threads=threads, runtime=runtime)
    helper = None
    if acquire is not None and acquire != name:
        helper = make_detector(acquire, threads=threads, runtime=runtime)
    return FaceTracker(detector, acquire=helper, region_scale=region_scale,
                       redetect_every=redetect_every)  # fmt: skip
