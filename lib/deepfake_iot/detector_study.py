"""Camera-sized frames of a real face, and the face detectors measured on them.

Device side: numpy, OpenCV and pandas, no TensorFlow, so notebook 06 measures on the device.

matplotlib (a dependency of both environments) ships a real portrait, Grace Hopper's official
photograph (``sample_data/grace_hopper.jpg``, 512x600). Its face box was checked by hand
(``PORTRAIT_FACE_BOX``). ``portrait_frames`` places the portrait in camera-sized frames at
several face sizes, positions and in-plane rotations, each with the face box it then has, and
``degraded_frames`` passes some of them through the project's IoT degradations (``degrade``) at
every level. ``face_free_frames`` are camera-sized frames with no face: the portrait's own flag
and uniform, matplotlib's gift-box picture, and rendered room-like scenes.

``moving_portrait`` is a sequence as a fixed camera films a person: the face drifts, grows and
shrinks between 10% and 50% of the frame height and turns in the image plane, through stretches
of IoT degradations, and leaves the frame for a while; ``tracking_quality`` runs detectors and
trackers through it in order.

``detection_quality`` runs each detector on every frame: a face counts as found when the largest
box overlaps the known one by IoU >= 0.5, a false detection is any box on a face-free frame.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from deepfake_iot import degrade
from deepfake_iot.data.faces import largest_face
from deepfake_iot.paths import installed_file

PORTRAIT_FILE = "grace_hopper.jpg"


# (x, y, w, h) in the 512x600 portrait, checked by hand on a 50-pixel grid: cheek to cheek,
# eyebrows to chin (BlazeFace's convention: the box ends above the hairline).
PORTRAIT_FACE_BOX = (165, 140, 195, 195)


# Regions of the portrait with no face in them, for face-free frames: the flag (left), the
# uniform and medals (bottom).
PORTRAIT_FACE_FREE = ((0, 0, 150, 330), (0, 380, 512, 220))


FRAME_SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}


# Face side as a fraction of the frame height: a face gate at arm's length down to a face
# across a room.
FACE_FRACTIONS = (0.12, 0.2, 0.3, 0.45, 0.6)


ANGLES_DEG = (-25.0, 0.0, 25.0)


# Where the face centre lands, as a fraction of the frame's width and height.
POSITIONS = ((0.5, 0.5), (0.3, 0.4), (0.7, 0.6))


DETECTION_DEGRADATIONS = ("gaussian_blur", "motion_blur", "low_light", "gaussian_noise", "jpeg",
                          "downscale")  # fmt: skip


IOU_FOUND = 0.5


def _sample_data(name: str) -> Path:
    """A file of matplotlib's sample data, found without importing matplotlib."""
    path = installed_file("matplotlib", f"matplotlib/mpl-data/sample_data/{name}")
    if path is None:
        raise FileNotFoundError(
            f"matplotlib's sample image {name} not found: install matplotlib "
            "(requirements-device.txt pins it)"
        )
    return path


def load_portrait() -> np.ndarray:
    """The real portrait (BGR, 600x512) whose face box is ``PORTRAIT_FACE_BOX``."""
    image = cv2.imread(str(_sample_data(PORTRAIT_FILE)), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{_sample_data(PORTRAIT_FILE)} could not be decoded")
    return image


def room_background(size: tuple[int, int], seed: int) -> np.ndarray:
    """A face-free, room-like scene (BGR): a lit wall gradient, a floor, a few furniture-like
    blocks and a window, with mild sensor noise."""
    width, height = size
    rng = np.random.default_rng(seed)
    wall = rng.uniform(90, 200, 3)
    light = (
        np.linspace(1.15, 0.75, width)[None, :, None] * np.linspace(1.1, 0.9, height)[:, None, None]
    )
    image = np.clip(wall * light, 0, 255).astype(np.float32)
    floor_top = int(height * rng.uniform(0.65, 0.85))
    image[floor_top:] = rng.uniform(40, 140, 3)
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = int(rng.uniform(0, width * 0.8)), int(rng.uniform(height * 0.3, height * 0.8))
        w, h = (
            int(rng.uniform(width * 0.08, width * 0.3)),
            int(rng.uniform(height * 0.1, height * 0.4)),
        )
        cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), rng.uniform(20, 230, 3).tolist(), -1)
    wx, wy = int(rng.uniform(0, width * 0.7)), int(rng.uniform(0, height * 0.2))
    cv2.rectangle(image, (wx, wy), (wx + width // 5, wy + height // 4), (235, 235, 225), -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5) + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def place_portrait(
    portrait: np.ndarray,
    size: tuple[int, int],
    face_fraction: float,
    centre: tuple[float, float],
    angle_deg: float,
    background: np.ndarray,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The portrait scaled so that its face is ``face_fraction`` of the frame height, rotated by
    ``angle_deg`` about the face centre, the face centre placed at ``centre`` (fractions of
    width and height), over ``background``. Returns the frame and the face box it now has
    (the hand-checked box, scaled and moved with the face; a rotation keeps its size)."""
    width, height = size
    fx, fy, fw, fh = PORTRAIT_FACE_BOX
    scale = face_fraction * height / fh
    face_centre = (fx + fw / 2.0, fy + fh / 2.0)
    target = (centre[0] * width, centre[1] * height)
    matrix = cv2.getRotationMatrix2D(face_centre, angle_deg, scale)
    matrix[:, 2] += np.subtract(target, face_centre)
    frame = background.copy()
    cv2.warpAffine(portrait, matrix, (width, height), dst=frame, flags=cv2.INTER_AREA
                   if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)  # fmt: skip
    side_w, side_h = fw * scale, fh * scale
    return frame, (target[0] - side_w / 2, target[1] - side_h / 2, side_w, side_h)


def portrait_frames(size: tuple[int, int] = (640, 480), seed: int = 0) -> list[dict]:
    """Every face size x position x rotation of ``FACE_FRACTIONS``, ``POSITIONS`` and
    ``ANGLES_DEG``: dicts with ``frame`` (BGR), ``box``, ``face_fraction``, ``angle``,
    ``position``, ``degradation`` ("none") and ``level`` (0). A placement whose face would leave
    the frame is left out."""
    portrait = load_portrait()
    frames = []
    for index, (fraction, position, angle) in enumerate(
        (f, p, a) for f in FACE_FRACTIONS for p in POSITIONS for a in ANGLES_DEG
    ):
        frame, box = place_portrait(portrait, size, fraction, position, angle,
                                    room_background(size, seed + index))  # fmt: skip
        x, y, w, h = box
        if x < 0 or y < 0 or x + w > size[0] or y + h > size[1]:
            continue
        frames.append({"frame": frame, "box": box, "face_fraction": fraction, "angle": angle,
                       "position": f"{position[0]:.1f},{position[1]:.1f}",
                       "degradation": "none", "level": 0})  # fmt: skip
    return frames


def degraded_frames(
    frames: list[dict], names=DETECTION_DEGRADATIONS, levels=(1, 2, 3, 4, 5), seed: int = 0
) -> list[dict]:
    """Each frame of ``frames`` passed through each degradation at each level (seeded)."""
    out = []
    for name in names:
        for level in levels:
            for index, item in enumerate(frames):
                image = degrade.apply(item["frame"], name, level, seed=seed + 1000 * level + index)
                out.append({**item, "frame": image, "degradation": name, "level": int(level)})
    return out


def face_free_frames(size: tuple[int, int] = (640, 480), count: int = 30, seed: int = 0) -> list:
    """``count`` camera-sized BGR frames with no face: crops of the portrait's flag and uniform,
    matplotlib's gift-box picture, and room-like scenes, in turn."""
    width, height = size
    portrait = load_portrait()
    pack = cv2.imread(str(_sample_data("Minduka_Present_Blue_Pack.png")), cv2.IMREAD_COLOR)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        kind = index % 4
        if kind < 2:
            x, y, w, h = PORTRAIT_FACE_FREE[kind]
            source = portrait[y : y + h, x : x + w]
        elif kind == 2 and pack is not None:
            source = pack
        else:
            frames.append(room_background(size, seed + 10_000 + index))
            continue
        if rng.random() < 0.5:
            source = source[:, ::-1]
        frames.append(cv2.resize(np.ascontiguousarray(source), (width, height),
                                 interpolation=cv2.INTER_LINEAR))  # fmt: skip
    return frames


def iou(box_a, box_b) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax, ay, aw, ah = box_a
    bx, by, bw, bh = box_b
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def detection_quality(detectors: dict, face_frames: list[dict], empty_frames: list,
                      progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Run each detector (``name -> detector``) on every frame.

    Returns ``(per_frame, summary)``. ``per_frame``: one row per detector and face frame
    (degradation, level, face size, angle, ``iou`` of the largest box with the known one,
    ``found`` = iou >= 0.5, ``boxes``, ``ms``) and per face-free frame (``degradation``
    "face-free", ``boxes`` = false detections). ``summary``: per detector, the detection rate
    on clean frames and on degraded ones, false detections per face-free frame, and the median
    ms per frame.
    """
    from tqdm.auto import tqdm

    rows = []
    total = len(detectors) * (len(face_frames) + len(empty_frames))
    with tqdm(total=total, desc="face detectors", unit="frame", disable=not progress) as bar:
        for name, detector in detectors.items():
            for item in face_frames:
                started = time.perf_counter()
                boxes = detector.detect(item["frame"])
                ms = (time.perf_counter() - started) * 1000
                best = largest_face(boxes)
                overlap = iou(best, item["box"]) if best is not None else 0.0
                rows.append({"detector": name, "degradation": item["degradation"],
                             "level": item["level"], "face_fraction": item["face_fraction"],
                             "angle": item["angle"], "iou": overlap,
                             "found": overlap >= IOU_FOUND, "boxes": len(boxes), "ms": ms})  # fmt: skip
                bar.update()
            for frame in empty_frames:
                started = time.perf_counter()
                boxes = detector.detect(frame)
                rows.append({"detector": name, "degradation": "face-free", "level": 0,
                             "face_fraction": 0.0, "angle": 0.0, "iou": np.nan, "found": False,
                             "boxes": len(boxes), "ms": (time.perf_counter() - started) * 1000})  # fmt: skip
                bar.update()
    per_frame = pd.DataFrame(rows)
    return per_frame, quality_summary(per_frame)


def quality_summary(per_frame: pd.DataFrame) -> pd.DataFrame:
    """Per detector: detection rate on clean and on degraded face frames, the worst
    degradation-and-level rate, false detections per face-free frame, median ms per frame."""
    faces = per_frame[per_frame["degradation"] != "face-free"]
    empty = per_frame[per_frame["degradation"] == "face-free"]
    clean = faces[faces["degradation"] == "none"]
    degraded = faces[faces["degradation"] != "none"]
    worst = degraded.groupby(["detector", "degradation", "level"])["found"].mean()
    summary = pd.DataFrame({
        "clean_rate": clean.groupby("detector")["found"].mean(),
        "degraded_rate": degraded.groupby("detector")["found"].mean(),
        "worst_rate": worst.groupby("detector").min() if len(worst) else np.nan,
        "false_per_frame": empty.groupby("detector")["boxes"].mean(),
        "median_ms": faces.groupby("detector")["ms"].median(),
    })  # fmt: skip
    return summary.rename_axis("detector").reset_index()


def rate_table(per_frame: pd.DataFrame) -> pd.DataFrame:
    """Detection rate per detector (columns) for clean frames and each degradation and level
    (rows)."""
    faces = per_frame[per_frame["degradation"] != "face-free"]
    return faces.pivot_table(index=["degradation", "level"], columns="detector", values="found",
                             aggfunc="mean").reset_index()  # fmt: skip


def quality_sentence(summary: pd.DataFrame) -> str:
    """One line per detector: clean and degraded detection rates, false detections, ms."""
    return "\n".join(
        f"{row.detector}: found {row.clean_rate:.0%} of clean faces and {row.degraded_rate:.0%} of "
        f"degraded ones (worst degradation and level {row.worst_rate:.0%}), "
        f"{row.false_per_frame:.2f} false detections per face-free frame, {row.median_ms:.3g} ms a frame"
        for row in summary.itertuples()
    )


def placement_macros() -> dict:
    """How the portrait is placed in the detector frames, as the paper states it."""
    return {"NumFaceSizes": len(FACE_FRACTIONS), "NumFacePositions": len(POSITIONS),
            "NumFaceAngles": len(ANGLES_DEG), "IouFound": IOU_FOUND}


# The moving portrait: face height as a fraction of the frame's, its turn, the degradation of each
# stretch of frames (name, level; "none" clean), and the share of frames the face is away.
MOVING_FACE_RANGE = (0.10, 0.50)


MOVING_ANGLE_DEG = 20.0


MOVING_STRETCHES = (("none", 0), ("gaussian_blur", 2), ("low_light", 2), ("gaussian_noise", 2),
                    ("jpeg", 3), ("motion_blur", 2), ("downscale", 2), ("none", 0))  # fmt: skip


MOVING_AWAY = (0.45, 0.55)  # the face is out of the frame over this part of the sequence


def moving_portrait(frames: int = 240, size: tuple[int, int] = (640, 480), seed: int = 0) -> list[dict]:
    """The portrait moving before a fixed room scene: per frame ``frame`` (BGR), ``box`` (the
    face's known box, None while it is away), ``face_fraction``, ``angle``, ``degradation`` and
    ``level``. The face size swings twice between ``MOVING_FACE_RANGE``'s ends, its centre
    drifts on a Lissajous path kept inside the frame, it turns by up to ``MOVING_ANGLE_DEG``,
    the degradations change every ``frames / len(MOVING_STRETCHES)`` frames, and over
    ``MOVING_AWAY`` the frame is the empty room."""
    width, height = size
    portrait, background = load_portrait(), room_background(size, seed)
    low, high = MOVING_FACE_RANGE
    items = []
    for index in range(frames):
        phase = index / max(1, frames - 1)
        fraction = low + (high - low) * 0.5 * (1 - math.cos(4 * math.pi * phase))
        name, level = MOVING_STRETCHES[min(len(MOVING_STRETCHES) - 1, int(phase * len(MOVING_STRETCHES)))]
        angle = MOVING_ANGLE_DEG * math.sin(6 * math.pi * phase)
        if MOVING_AWAY[0] <= phase < MOVING_AWAY[1]:
            frame, box, fraction, angle = background.copy(), None, 0.0, 0.0
        else:
            # the rotated face's corners stay inside the frame: half its diagonal from each edge
            reach_x, reach_y = 0.75 * fraction * height / width, 0.75 * fraction
            centre = (0.5 + (0.5 - reach_x) * 0.9 * math.sin(2 * math.pi * 1.5 * phase),
                      0.5 + (0.5 - reach_y) * 0.9 * math.sin(2 * math.pi * 2.5 * phase + 1.0))  # fmt: skip
            frame, box = place_portrait(portrait, size, fraction, centre, angle, background)
        if name != "none":
            frame = degrade.apply(frame, name, level, seed=seed + index)
        items.append({"frame": frame, "box": box, "face_fraction": fraction, "angle": angle,
                      "degradation": name, "level": level})  # fmt: skip
    return items


def tracking_quality(detectors: dict, sequence: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run each detector or tracker (``name -> object with detect``) through ``sequence`` in
    order (a tracker's ``reset`` first). Returns ``(per_frame, summary)``: per frame the
    ``iou`` of the largest box with the known one, ``found`` (iou >= ``IOU_FOUND``), ``boxes``
    and ``ms``; per detector the share of face frames found, the longest run of face frames
    missed, false boxes per face-free frame, the median and mean ms per frame and the median's
    ratio to ``blazeface_short``'s when that is one of them."""
    rows = []
    for name, detector in detectors.items():
        if hasattr(detector, "reset"):
            detector.reset()
        for index, item in enumerate(sequence):
            started = time.perf_counter()
            boxes = detector.detect(item["frame"])
            ms = (time.perf_counter() - started) * 1000
            best = largest_face(boxes)
            overlap = iou(best, item["box"]) if best is not None and item["box"] is not None else 0.0
            rows.append({"detector": name, "frame": index, "face": item["box"] is not None,
                         "face_fraction": item["face_fraction"], "degradation": item["degradation"],
                         "iou": overlap, "found": overlap >= IOU_FOUND, "boxes": len(boxes), "ms": ms})  # fmt: skip
    per_frame = pd.DataFrame(rows)
    return per_frame, tracking_summary(per_frame)


def _longest_miss(found: pd.Series) -> int:
    longest = current = 0
    for hit in found:
        current = 0 if hit else current + 1
        longest = max(longest, current)
    return longest


def tracking_summary(per_frame: pd.DataFrame) -> pd.DataFrame:
    """Per detector: ``found_rate`` (face frames), ``longest_miss`` (frames), ``false_per_frame``
    (face-free frames), ``median_ms``, ``mean_ms`` and ``cost_vs_short`` (median over
    ``blazeface_short``'s median)."""
    rows = []
    for name, group in per_frame.groupby("detector", sort=False):
        faces, empty = group[group["face"]], group[~group["face"]]
        rows.append({"detector": name, "found_rate": faces["found"].mean(),
                     "longest_miss": _longest_miss(faces["found"]),
                     "false_per_frame": empty["boxes"].mean() if len(empty) else np.nan,
                     "median_ms": group["ms"].median(), "mean_ms": group["ms"].mean()})  # fmt: skip
    summary = pd.DataFrame(rows)
    short = summary.loc[summary["detector"] == "blazeface_short", "median_ms"]
    summary["cost_vs_short"] = summary["median_ms"] / float(short.iloc[0]) if len(short) else np.nan
    return summary


def tracking_sentence(summary: pd.DataFrame) -> str:
    """One line per detector or tracker on the moving portrait."""
    return "\n".join(
        f"{row.detector}: found the face in {row.found_rate:.1%} of the frames that show it (longest miss "
        f"{row.longest_miss} frame(s)), {row.false_per_frame:.2f} false boxes per face-free frame, median "
        f"{row.median_ms:.3g} ms a frame ({row.cost_vs_short:.2f}x short-range on the whole frame)"
        for row in summary.itertuples()
    )


def tracking_macros(summary: pd.DataFrame, tracker: str = "tracked", frames: int | None = None) -> dict:
    """The tracker's found rate (percent, one decimal), false boxes per face-free frame, median cost
    against short-range's, and short-range's own found rate ("--" where it was not run), as the
    paper quotes them."""
    rows = summary.set_index("detector")
    short = rows["found_rate"].get("blazeface_short", float("nan"))
    macros = {"TrackFoundPct": f"{100 * float(rows.loc[tracker, 'found_rate']):.1f}",
              "TrackFalsePerFrame": float(rows.loc[tracker, "false_per_frame"]),
              "TrackCostVsShort": float(rows.loc[tracker, "cost_vs_short"]),
              "TrackShortFoundPct": f"{100 * float(short):.1f}" if short == short else "--"}  # fmt: skip
    if frames is not None:
        macros["TrackFrames"] = int(frames)
    return macros
