"""Face detection and square face crops, with nothing to download.

Detectors (all with ``detect(image_bgr) -> list[(x, y, w, h)]``):

- ``"haar"``: OpenCV's bundled frontal-face Haar cascade (``cv2.data.haarcascades``). Fast,
  runs everywhere, but misses profile and small faces: count the frames it skips.
- ``"yunet"``: OpenCV's ``FaceDetectorYN`` with a local ONNX model file (for instance
  ``face_detection_yunet_2023mar.onnx`` from the OpenCV model zoo), given as ``model_path``.
- ``"none"``: the images are already face crops; the whole frame is the face.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]
DETECTOR_NAMES = ("haar", "yunet", "none")


class HaarDetector:
    """OpenCV Haar cascade; ``min_face_fraction`` of the shorter side sets the smallest face."""

    def __init__(
        self,
        cascade_path: Path | str,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_fraction: float = 0.1,
    ):
        cascade_path = Path(cascade_path)
        if not cascade_path.is_file():
            raise FileNotFoundError(f"Haar cascade not found: {cascade_path}")
        self.cascade = cv2.CascadeClassifier(str(cascade_path))
        if self.cascade.empty():
            raise ValueError(f"could not load the Haar cascade {cascade_path}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_fraction = min_face_fraction

    def detect(self, image_bgr: np.ndarray) -> list[Box]:
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        side = max(16, int(self.min_face_fraction * min(gray.shape[:2])))
        boxes = self.cascade.detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        return [tuple(int(v) for v in box) for box in boxes]


class YuNetDetector:
    """OpenCV's FaceDetectorYN (YuNet) from a local ONNX model file."""

    def __init__(self, model_path: Path | str, *, score_threshold: float = 0.6):
        self.model_path = Path(model_path)
        self.detector = cv2.FaceDetectorYN.create(
            str(self.model_path), "", (320, 320), score_threshold, 0.3, 5000
        )

    def detect(self, image_bgr: np.ndarray) -> list[Box]:
        height, width = image_bgr.shape[:2]
        self.detector.setInputSize((width, height))
        _, faces = self.detector.detect(image_bgr)
        if faces is None:
            return []
        boxes = []
        for face in faces:
            x, y, w, h = (int(round(v)) for v in face[:4])
            x, y = max(0, x), max(0, y)
            w, h = min(w, width - x), min(h, height - y)
            if w > 0 and h > 0:
                boxes.append((x, y, w, h))
        return boxes


class WholeFrameDetector:
    """For datasets of face crops: the whole image is the face."""

    def detect(self, image_bgr: np.ndarray) -> list[Box]:
        height, width = image_bgr.shape[:2]
        return [(0, 0, int(width), int(height))]


def make_detector(name: str = "haar", model_path: Path | str | None = None):
    """Build a face detector by name: ``"haar"``, ``"yunet"`` (needs ``model_path``) or ``"none"``.

    For ``"haar"``, ``model_path`` may name another cascade XML instead of the bundled one.
    """
    if name == "haar":
        if model_path is None:
            model_path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        return HaarDetector(model_path)
    if name == "yunet":
        if model_path is None or not Path(model_path).is_file():
            raise FileNotFoundError(
                f"the 'yunet' detector needs its ONNX model file, got model_path={model_path!r}: "
                "download face_detection_yunet_2023mar.onnx from the OpenCV model zoo "
                "(github.com/opencv/opencv_zoo, models/face_detection_yunet), put it for example "
                "in models/face_detection_yunet_2023mar.onnx and pass that path"
            )
        return YuNetDetector(model_path)
    if name == "none":
        return WholeFrameDetector()
    raise ValueError(f"unknown face detector {name!r}; expected one of {DETECTOR_NAMES}")


def largest_face(boxes) -> Box | None:
    """The box with the largest area (the first one on ties), or None when there is none."""
    best, best_area = None, -1
    for box in boxes:
        x, y, w, h = (int(v) for v in box)
        if w * h > best_area:
            best, best_area = (x, y, w, h), w * h
    return best


def square_crop(image: np.ndarray, box, enlarge: float = 1.3, size: int = 96) -> np.ndarray:
    """Square crop of side ``enlarge * max(w, h)`` centred on the face box, resized to ``size``.

    Where the square leaves the frame the border pixels are replicated, so the face stays
    centred and undistorted. Resizing uses INTER_AREA when shrinking (the usual case) and
    INTER_LINEAR when enlarging a small face.
    """
    if enlarge <= 0:
        raise ValueError(f"enlarge must be > 0, got {enlarge}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box must have a positive size, got {tuple(box)}")
    side = max(1, int(round(enlarge * max(w, h))))
    centre_x, centre_y = x + w / 2.0, y + h / 2.0
    left = int(round(centre_x - side / 2.0))
    top = int(round(centre_y - side / 2.0))
    right, bottom = left + side, top + side
    height, width = image.shape[:2]
    pad_left, pad_top = max(0, -left), max(0, -top)
    pad_right, pad_bottom = max(0, right - width), max(0, bottom - height)
    crop = image[max(0, top) : min(height, bottom), max(0, left) : min(width, right)]
    if crop.size == 0:
        raise ValueError(f"face box {tuple(box)} lies outside the {width}x{height} image")
    if pad_left or pad_top or pad_right or pad_bottom:
        crop = cv2.copyMakeBorder(
            crop, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_REPLICATE
        )
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)
