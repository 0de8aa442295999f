"""Live or offline demo on a device: find the largest face in each frame, classify it with a
``.tflite`` file and its sidecar, draw the verdict. Device side: no TensorFlow."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deepfake_iot import tflite_io
from deepfake_iot.bench import haar_face_detector
from deepfake_iot.paths import atomic_path


@dataclass
class Detector:
    """A ``.tflite`` model with what its sidecar says: input size, threshold, class order."""

    model_path: Path
    threads: int = 1
    enlarge: float = 1.3
    smooth: int = 1  # average P(fake) over the last ``smooth`` frames with a face (video)
    interpreter: object = field(init=False, repr=False)
    sidecar: dict = field(init=False)
    recent: list = field(init=False, default_factory=list)

    def __post_init__(self):
        self.model_path = Path(self.model_path)
        sidecar_path = self.model_path.with_suffix(".json")
        if not self.model_path.is_file():
            raise FileNotFoundError(f"model {self.model_path} not found")
        if not sidecar_path.is_file():
            raise FileNotFoundError(
                f"sidecar {sidecar_path} not found: notebook 04 writes one beside each .tflite"
            )
        try:
            self.sidecar = json.loads(sidecar_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"sidecar {sidecar_path} is not valid JSON: {error}") from error
        self.interpreter, self.runtime = tflite_io.load_interpreter(
            self.model_path, num_threads=self.threads
        )
        detail = self.interpreter.get_input_details()[0]
        self.size = int(detail["shape"][1])
        expected = self.sidecar.get("input_size")
        if (
            expected is not None
            and int(expected if not isinstance(expected, list) else expected[0]) != self.size
        ):
            raise ValueError(
                f"sidecar {sidecar_path} says input size {expected} but {self.model_path} takes {self.size}: "
                "the two files do not belong together"
            )
        dtype = self.sidecar.get("input_dtype")
        if dtype is not None and np.dtype(dtype) != np.dtype(detail["dtype"]):
            raise ValueError(
                f"sidecar {sidecar_path} says input {dtype} but {self.model_path} takes {np.dtype(detail['dtype']).name}"
            )
        order = self.sidecar.get("class_order", ["real", "fake"])
        if list(order) != ["real", "fake"]:
            raise ValueError(
                f"sidecar {sidecar_path} gives class order {order}; the demo reads the model's "
                "single output as P(fake), which needs ['real', 'fake']"
            )
        if "threshold" not in self.sidecar:
            raise ValueError(
                f"sidecar {sidecar_path} has no 'threshold': re-export the model with notebook 04"
            )
        self.threshold = float(self.sidecar["threshold"])
        self.faces = haar_face_detector()

    def largest_face(self, frame_bgr) -> tuple[int, int, int, int] | None:
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        faces = self.faces.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(32, 32))
        return tuple(int(v) for v in max(faces, key=lambda b: b[2] * b[3])) if len(faces) else None

    def classify(self, frame_bgr, box) -> float:
        """P(fake) of the square crop around ``box`` enlarged like the training crops."""
        x, y, w, h = box
        side = int(max(w, h) * self.enlarge)
        cx, cy = x + w // 2, y + h // 2
        padded = cv2.copyMakeBorder(frame_bgr, side, side, side, side, cv2.BORDER_REPLICATE)
        crop = padded[
            cy - side // 2 + side : cy + side // 2 + side,
            cx - side // 2 + side : cx + side // 2 + side,
        ]
        crop = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        return float(tflite_io.predict(self.interpreter, rgb)[0])

    def annotate(self, frame_bgr) -> tuple[np.ndarray, dict]:
        """The frame with the face box and verdict drawn, and what was found.

        With ``smooth > 1`` the verdict uses the mean P(fake) of the last ``smooth`` faces, which
        steadies a video's label; a frame without a face is labelled "no face".
        """
        started = time.perf_counter()
        box = self.largest_face(frame_bgr)
        result = {
            "face": box is not None,
            "p_fake": None,
            "p_fake_smoothed": None,
            "label": "no face",
        }
        out = frame_bgr.copy()
        if box is None:
            cv2.putText(
                out,
                "no face",
                (5, 15),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 200, 255),
                1,
                cv2.LINE_AA,
            )
        else:
            p_fake = self.classify(frame_bgr, box)
            self.recent = (self.recent + [p_fake])[-max(1, self.smooth) :]
            smoothed = float(np.mean(self.recent))
            fake = smoothed >= self.threshold
            color = (0, 0, 255) if fake else (0, 200, 0)
            x, y, w, h = box
            cv2.rectangle(out, (x, y), (x + w, y + h), color, 2)
            label = f"{'FAKE' if fake else 'REAL'} {smoothed:.2f}"
            cv2.putText(
                out,
                label,
                (x, max(15, y - 6)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                color,
                1,
                cv2.LINE_AA,
            )
            result.update(
                p_fake=p_fake, p_fake_smoothed=smoothed, fake=fake, label="fake" if fake else "real"
            )
        result["ms"] = (time.perf_counter() - started) * 1000
        cv2.putText(
            out,
            f"{result['ms']:.1f} ms",
            (5, out.shape[0] - 6),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (255, 255, 255),
            1,
        )
        return out, result


def run_on_video(
    detector: Detector, source, out_path: Path | None, show: bool, max_frames: int = 0
) -> dict:
    """Annotate every frame of a video file or camera index; write ``out_path`` when given."""
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        what = f"camera index {source}" if isinstance(source, int) else f"video {source}"
        raise FileNotFoundError(f"cannot open {what}")
    writer, results = None, []
    try:
        while not max_frames or len(results) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            annotated, result = detector.annotate(frame)
            results.append({"frame": len(results), **result})
            if out_path is not None:
                if writer is None:
                    fps = capture.get(cv2.CAP_PROP_FPS) or 15
                    writer = cv2.VideoWriter(
                        str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, annotated.shape[1::-1]
                    )
                    if not writer.isOpened():
                        raise ValueError(
                            f"cannot write video {out_path}: give an .mp4 or .avi file name"
                        )
                writer.write(annotated)
            if show:
                cv2.imshow("deepfake-iot", annotated)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
    except KeyboardInterrupt:  # Ctrl-C ends a headless camera run; keep what was written
        pass
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    return results


def run_on_images(detector: Detector, folder: Path, out_dir: Path | None) -> list[dict]:
    """Annotate every image of a folder (sorted); write annotated copies to ``out_dir``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} not found")
    paths = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    )
    if not paths:
        raise FileNotFoundError(f"no images (.jpg, .png, ...) in {folder}")
    results = []
    for path in paths:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            results.append({"frame": path.name, "face": False, "label": "unreadable", "ms": 0.0})
            continue
        annotated, result = detector.annotate(frame)
        results.append({"frame": path.name, **result})
        if out_dir is not None:
            write_image(Path(out_dir) / f"{path.stem}.png", annotated)
    return results


def write_image(path: Path | str, image_bgr) -> Path:
    """Write an annotated frame atomically; ``ValueError`` when OpenCV cannot (bad extension)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image_bgr):
            raise ValueError(f"cannot write image {path}: give a .png or .jpg file name")
    return path


def has_display() -> bool:
    """Whether a window can be opened (an X11 or Wayland session)."""
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def default_output(image=None, video=None, images=None, camera=None) -> Path:
    """Where a headless run writes its annotated result when no ``--out`` is given: beside the
    current folder, named after the input (``<stem>_annotated.png``/``.mp4``, a folder for a
    folder of images, ``camera<index>_annotated.mp4``)."""
    if image is not None:
        return Path(f"{Path(image).stem}_annotated.png")
    if video is not None:
        return Path(f"{Path(video).stem}_annotated.mp4")
    if images is not None:
        return Path(f"{Path(images).name}_annotated")
    return Path(f"camera{camera}_annotated.mp4")


def write_log(results: list[dict], path: Path) -> None:
    """One CSV row per frame: frame, face, P(fake), smoothed P(fake), label, milliseconds."""
    import csv

    fields = ["frame", "face", "p_fake", "p_fake_smoothed", "label", "ms"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)


def summarize(results: list[dict]) -> dict:
    """Frames, frames with a face, faces judged fake, and the mean per-frame latency (ms)."""
    faces = [r for r in results if r["face"]]
    return {
        "frames": len(results),
        "faces": len(faces),
        "fake": sum(bool(r.get("fake")) for r in faces),
        "mean_ms": float(np.mean([r["ms"] for r in results])) if results else float("nan"),
    }
