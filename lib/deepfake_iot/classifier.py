"""One frame in, a verdict out: ``DeepfakeClassifier`` finds the largest face (``data.faces``, the
crop training used; or follows it, ``data.tracking``), classifies the crop with a ``.tflite`` file
(LiteRT) or its ``.onnx`` twin (ONNX Runtime) and what its sidecar says, and times both; ``draw``
puts the face box, the verdict and the timings on the frame. The demo, the gate command, the
scoring command and the gate benchmark all classify frames through it.

Device side: numpy, OpenCV and a TFLite runtime (or ONNX Runtime) only; no TensorFlow.
"""

from __future__ import annotations

import collections
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deepfake_iot import inference
from deepfake_iot.data import faces, tracking

FPS_WINDOW = 30  # frames over which the overlay's fps is a running rate
FAKE_COLOR, REAL_COLOR, NO_FACE_COLOR = (0, 0, 255), (0, 200, 0), (0, 200, 255)  # BGR
DEFAULT_DETECTOR, DEFAULT_ENLARGE = "blazeface_short", 1.3
# What a model without a sidecar (or a sidecar without these keys) runs with; the README's
# "The sidecar" section lists every field.
DEFAULT_THRESHOLD, DEFAULT_CLASS_ORDER = 0.5, ("real", "fake")
SIDECAR_NEEDS = ("threshold", "class_order")


class _TimedDetector:
    """A face detector that remembers how long its last ``detect`` took (ms)."""

    def __init__(self, detector):
        self.detector, self.ms = detector, 0.0

    def detect(self, image_bgr):
        started = time.perf_counter()
        boxes = self.detector.detect(image_bgr)
        self.ms = (time.perf_counter() - started) * 1000
        return boxes


@dataclass
class DeepfakeClassifier:
    """A ``.tflite`` or ``.onnx`` deepfake classifier with what its sidecar says (input size, threshold, class
    order), and the face detector whose crop it reads.

    ``detector`` is one of ``faces.DETECTOR_NAMES`` and ``enlarge`` the face box enlargement;
    left as None, both come from the sidecar's ``face_detector`` / ``face_enlarge`` (what the
    training crops used) when it has them, else ``"blazeface_short"`` and 1.3.
    ``detector_model`` names the detector's model file where it needs or may take one;
    ``providers`` ONNX Runtime's execution providers for an ``.onnx`` classifier (default:
    TensorRT, CUDA, then CPU among those installed).
    """

    model_path: Path
    detector: str | None = None
    detector_model: Path | str | None = None
    threads: int = 1
    smooth: int = 1  # average P(fake) over the last ``smooth`` frames with a face (video)
    enlarge: float | None = None
    track: bool = False  # follow the face (tracking.FaceTracker) instead of searching every frame
    presentations: object = None  # a presentation.PresentationGate: decisions on the overlay
    providers: object = None  # ONNX Runtime execution providers, in order (an .onnx model)
    interpreter: object = field(init=False, repr=False)
    sidecar: dict = field(init=False)
    recent: list = field(init=False, default_factory=list)

    def __post_init__(self):
        self.model_path = Path(self.model_path)
        self.sidecar = read_sidecar(self.model_path)
        sidecar_path = self.model_path.with_suffix(".json")
        self.interpreter, self.runtime = inference.load_model(
            self.model_path, num_threads=self.threads, providers=self.providers
        )
        if self.runtime == inference.ONNX_RUNTIME:  # name the provider it really runs on
            self.runtime += f" on {inference.providers_of(self.interpreter)[0]}"
        detail = self.interpreter.get_input_details()[0]
        self.size = int(detail["shape"][1])
        expected = self.sidecar.get("input_size")
        if isinstance(expected, list):
            expected = expected[0]
        if expected is not None and int(expected) != self.size:
            raise ValueError(
                f"sidecar {sidecar_path} says input size {expected} but {self.model_path} takes "
                f"{self.size}: the two files do not belong together"
            )
        dtype = self.sidecar.get("input_dtype")
        if dtype is not None and np.dtype(dtype) != np.dtype(detail["dtype"]):
            raise ValueError(
                f"sidecar {sidecar_path} says input {dtype} but {self.model_path} takes "
                f"{np.dtype(detail['dtype']).name}"
            )
        order = self.sidecar.get("class_order", list(DEFAULT_CLASS_ORDER))
        if list(order) != list(DEFAULT_CLASS_ORDER):
            raise ValueError(
                f"sidecar {sidecar_path} gives class order {order}; the demo reads the model's "
                "single output as P(fake), which needs ['real', 'fake']"
            )
        self.threshold = float(self.sidecar.get("threshold", DEFAULT_THRESHOLD))
        self.detector = self.detector or self.sidecar.get("face_detector") or DEFAULT_DETECTOR
        if self.enlarge is None:
            self.enlarge = float(self.sidecar.get("face_enlarge") or DEFAULT_ENLARGE)
        try:
            detector = faces.make_detector(self.detector, self.detector_model, threads=self.threads)
            if self.track:  # short-range follows; full-range helps it find faces too small for it
                acquire = (faces.make_detector("blazeface_full", threads=self.threads)
                           if self.detector == "blazeface_short" else None)  # fmt: skip
                detector = tracking.FaceTracker(detector, acquire=acquire)
        except (cv2.error, SystemError) as error:  # OpenCV on a garbage cascade or ONNX file
            cause = error.__cause__ or error.__context__ or error
            raise ValueError(
                f"{self.detector} face detector model {self.detector_model or '(bundled)'} could "
                f"not be loaded: {' '.join(str(cause).split())}"
            ) from error
        self.face_detector = _TimedDetector(detector)
        self._stamps = collections.deque(maxlen=FPS_WINDOW)

    def sidecar_warning(self) -> str | None:
        """One line naming what the sidecar lacks and the defaults used instead; None when the
        sidecar has every field the verdict needs (``SIDECAR_NEEDS``)."""
        sidecar_path = self.model_path.with_suffix(".json")
        defaults = (f"threshold {DEFAULT_THRESHOLD}, class order {list(DEFAULT_CLASS_ORDER)}, "
                    f"face detector {self.detector}, face enlargement {self.enlarge}")  # fmt: skip
        if not sidecar_path.is_file():
            return (f"no sidecar {sidecar_path} beside the model: running with the defaults "
                    f"({defaults}); the verdicts are uncalibrated (README: 'The sidecar')")  # fmt: skip
        missing = [key for key in SIDECAR_NEEDS if key not in self.sidecar]
        if not missing:
            return None
        return (f"sidecar {sidecar_path} lacks {', '.join(missing)}: using the defaults "
                f"({defaults}) (README: 'The sidecar')")  # fmt: skip

    def describe(self) -> str:
        """What the model is, in one line: from the sidecar's ``trained_on`` and ``note`` when
        it has them, else the file and its variant."""
        variant = self.sidecar.get("variant", "unknown variant")
        line = f"model: {self.model_path} ({variant})"
        if self.sidecar.get("trained_on"):
            line += f", trained on {self.sidecar['trained_on']}"
        if self.sidecar.get("note"):
            line += f": {self.sidecar['note']}"
        return line

    def announce(self) -> None:
        """What a command prints before the frames: the model (``describe``) on stdout and, where
        the sidecar lacks a field, the warning on stderr."""
        print(self.describe(), flush=True)
        warning = self.sidecar_warning()
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)

    def annotate(self, frame_bgr) -> tuple[np.ndarray, dict]:
        """The frame with the face box, the verdict and the timings drawn, and what was found.

        ``detect_ms`` times the face detector, ``classify_ms`` the crop and the classifier,
        ``ms`` both (the frame path), and ``fps`` is the rate at which frames arrived here over
        the last ``FPS_WINDOW`` frames (reading and showing included; the first frame: 1000/ms).
        With ``smooth > 1`` the verdict uses the mean P(fake) of the last ``smooth`` faces, which
        steadies a video's label; a frame without a face is labelled "no face". With
        ``presentations``, ``presentation`` is the decision this frame completed (or None) and
        the overlay shows the latest one.
        """
        box, result = self.score(frame_bgr)
        if self.presentations is not None:
            index = getattr(self, "_frame_index", 0)
            self._frame_index = index + 1
            result["presentation"] = self.presentations.add(index, result["p_fake"], box, result["detect_ms"], result["ms"])
            result["latest_presentation"] = self.presentations.last
        return draw(frame_bgr, box, result), result

    def score(self, frame_bgr) -> tuple[faces.Box | None, dict]:
        """What ``annotate`` finds and times in a frame, without drawing: the face box (None
        without a face) and the result."""
        started = time.perf_counter()
        self._stamps.append(started)
        found = faces.face_crop(
            frame_bgr, self.face_detector, size=self.size, enlarge=self.enlarge, fallback="skip"
        )
        result = {"face": found.crop is not None, "p_fake": None, "p_fake_smoothed": None}
        result["label"] = "no face"
        if found.crop is not None:
            p_fake = float(inference.predict(self.interpreter, faces.to_model_input(found.crop))[0])
            self.recent = (self.recent + [p_fake])[-max(1, self.smooth) :]
            smoothed = float(np.mean(self.recent))
            fake = smoothed >= self.threshold
            result.update(p_fake=p_fake, p_fake_smoothed=smoothed, fake=fake)
            # shown: P(fake) calibrated as the sidecar says (notebook 05); decided: the raw score
            result["p_fake_calibrated"] = float(inference.calibrate(smoothed, self.sidecar))
            result["label"] = "fake" if fake else "real"
        ms = (time.perf_counter() - started) * 1000
        elapsed = self._stamps[-1] - self._stamps[0]
        fps = (len(self._stamps) - 1) / elapsed if elapsed > 0 else 1000 / max(ms, 1e-6)
        detect_ms = self.face_detector.ms
        result.update(detect_ms=round(detect_ms, 3), classify_ms=round(ms - detect_ms, 3))
        result.update(ms=round(ms, 3), fps=round(fps, 2))
        result["time_s"] = started  # perf_counter seconds: for the run's fps, not logged
        return found.box, result


def read_sidecar(model_path: Path) -> dict:
    """The sidecar ``<model>.json`` beside a ``.tflite`` file, or ``{}`` when there is none (the
    defaults then apply: ``DeepfakeClassifier.sidecar_warning`` says so); a missing model, or a
    sidecar that is not a JSON object, is an error naming the file."""
    model_path = Path(model_path)
    sidecar_path = model_path.with_suffix(".json")
    if not model_path.is_file():
        raise FileNotFoundError(f"model {model_path} not found")
    if not sidecar_path.is_file():
        return {}
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"sidecar {sidecar_path} is not valid JSON: {error}") from error
    if not isinstance(sidecar, dict):
        raise ValueError(f"sidecar {sidecar_path} is not a JSON object")
    return sidecar


def _text(image, text, origin, scale, color, background=(0, 0, 0)) -> None:
    """Text on a filled band, so it reads on any picture; ``origin`` is the band's top left."""
    thickness = 1 if scale < 0.8 else 2
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = origin
    pad = max(2, height // 4)
    cv2.rectangle(
        image, (x, y), (x + width + 2 * pad, y + height + baseline + 2 * pad), background, -1
    )
    cv2.putText(image, text, (x + pad, y + pad + height), cv2.FONT_HERSHEY_SIMPLEX, scale, color,
                thickness, cv2.LINE_AA)  # fmt: skip


def draw(frame_bgr, box, result: dict) -> np.ndarray:
    """A copy of the frame with the face box and verdict (or "no face") and, along the bottom,
    the ms per frame, the detector's ms and the fps."""
    out = frame_bgr.copy()
    height, width = out.shape[:2]
    scale = max(0.35, min(height, width) / 960)
    if box is None:
        _text(out, "no face", (0, 0), scale, NO_FACE_COLOR)
    else:
        color = FAKE_COLOR if result.get("fake") else REAL_COLOR
        x, y, w, h = box
        cv2.rectangle(out, (x, y), (x + w, y + h), color, max(2, round(scale * 3)))
        verdict = f"{result['label'].upper()}  P(fake) {result.get('p_fake_calibrated', result['p_fake_smoothed']):.2f}"
        (_, text_h), baseline = cv2.getTextSize(verdict, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        band = text_h + baseline + 2 * max(2, text_h // 4)
        _text(out, verdict, (x, y - band if y >= band else y + h), scale, (255, 255, 255), color)
    latest = result.get("latest_presentation")
    if latest is not None:  # the gate's decision on the latest presentation, top right
        decided = f"presentation: {latest['decision'].replace('_', ' ')} ({latest['frames']} frames)"
        color = {"attack": FAKE_COLOR, "bona_fide": REAL_COLOR}.get(latest["decision"], NO_FACE_COLOR)
        (text_w, _), _ = cv2.getTextSize(decided, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        _text(out, decided, (max(0, width - text_w - 12), 0), scale, (255, 255, 255), color)
    timing = (
        f"{result['ms']:.1f} ms/frame  detector {result['detect_ms']:.1f} ms  "
        f"{result['fps']:.1f} fps"
    )
    (_, text_h), baseline = cv2.getTextSize(timing, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.9, 1)
    band = text_h + baseline + 2 * max(2, text_h // 4)
    _text(out, timing, (0, height - band), scale * 0.9, (255, 255, 255))
    return out
