"""The embedded synthetic deepfake benchmark: a stand-in for FaceForensics++ that needs no download.

Identities come in pairs ``(2k, 2k+1)`` sharing the leakage group ``pair{k:04d}``; each is the
other's face-swap donor. Every identity gets one real video and one fake video per family, so
fakes outnumber reals like in FF++. A fake video replays the real video's pose, expression and
lighting sequence; the manipulation is applied to the full rendered frame *before* the camera
model, so blur, sensor noise and JPEG partly hide its traces, as in compressed real video.

The ``identities`` column names who a video shows (``synthetic_0003``): a face swap shows its
target and its donor (``synthetic_0002;synthetic_0003``), every other video its own identity
only. Identity components (``splits.identity_groups``, which also keeps groups whole) are
therefore the pairs, the same units as the groups.

Everything is derived from ``np.random.SeedSequence([seed, identity, stream, ...])``: the output
is byte-identical for a seed whatever the number of workers or the order of the tasks.
Workers are started with the ``spawn`` method (safe beside a parent that already runs threads,
e.g. TensorFlow); a script that calls the generator with ``workers != 1`` therefore needs the
usual ``if __name__ == "__main__":`` guard (notebooks need nothing).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..paths import atomic_write_bytes, atomic_write_json, remove_partials
from . import render
from .faces import square_crop
from .sbi import landmark_mask, self_blend
from .schema import LABEL_FAKE, LABEL_REAL, MANIFEST_COLUMNS, join_identities

FAMILIES = ("face_swap", "reenactment", "gan_synthesis", "self_blended")
REAL = "real"
DATASET_NAME = "synthetic"

# Calibrated defaults; strength 1 is each family's nominal trace, 0 almost none. Calibrated with a
# model from none of the compared families (models.build_reference_cnn: plain 3x3 convolutions, no
# depthwise convolution, no residual; scripts/calibrate_benchmark.py) on the default benchmark
# (seed 1234, 480 identities x 3 frames, 160 px frames, 96 px crops, JPEG 70-95, groups split
# 50/20/30), trained 12 epochs with the paper's recipe and no augmentation. With these values its
# test AUC is 0.88 (face_swap 0.97, gan_synthesis 0.93, reenactment 0.82, self_blended 0.82), inside
# the 0.85-0.95 that light detectors reach in-domain on FaceForensics++ c23, and 0.77 on the
# shifted cross set: the benchmark neither saturates nor leaves the cross set as easy as the test.
# (An earlier calibration with a 47k-parameter separable CNN, the light CNN's own family, gave
# test AUC 0.90 on 120 identities x 8 frames split 70/15/15.)
DEFAULT_STRENGTH = {
    "face_swap": 0.6,
    "reenactment": 0.6,
    "gan_synthesis": 0.7,
    "self_blended": 0.9,
}

DATASET_CARD = {
    "real": "Procedurally rendered faces (shape, skin, eyes, brows, nose, mouth, hair, glasses, "
    "backgrounds) with small pose, expression and lighting changes across 8-frame clips, then a "
    "camera model: optical blur, sensor noise, JPEG quality 70-95.",
    "face_swap": "Like Deepfakes/FaceSwap: the paired identity's face, generated at reduced "
    "resolution, is warped onto the target's landmarks (similarity transform) and blended with a "
    "soft convex-hull mask with imperfect colour matching. Trace: a blending boundary, a colour "
    "and sharpness mismatch. Knob: mask sharpness, colour mismatch and resolution loss.",
    "reenactment": "Like Face2Face/NeuralTextures: only the mouth (sometimes also the eyes) is "
    "re-rendered with a different expression at lower resolution and pasted back. Trace: a local "
    "loss of fine texture around the mouth. Knob: resolution loss and expression change.",
    "gan_synthesis": "Like GAN generators: the whole frame passes through a 2x down/up-sampling "
    "whose transposed-convolution phases have unequal gains. Trace: loss of fine detail and a "
    "periodic (checkerboard) spectral peak. Knob: mix weight and checkerboard amplitude.",
    "self_blended": "Self-Blended Images (Shiohara & Yamasaki 2022): the frame is blended with "
    "a colour- and frequency-transformed, slightly shifted copy of itself through a soft, eroded "
    "landmark mask. Trace: a subtle blending boundary. Knob: size of all perturbations.",
}

CALIBRATION = (
    "Default strengths calibrated with a plain CNN outside the compared families (no depthwise "
    "convolution, no residual; 12 epochs, 50/20/30 group split, no augmentation): test AUC 0.88; "
    "face_swap 0.97, gan_synthesis 0.93, reenactment 0.82, self_blended 0.82; shifted cross set 0.77."
)

_STREAM_IDENTITY, _STREAM_FRAMES, _STREAM_VIDEO = 0, 1, 2
_METHODS = (REAL, *FAMILIES)


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(entropy))))


def partner(identity: int) -> int:
    """The face-swap donor of an identity: 2k <-> 2k+1."""
    return identity ^ 1


def group_of(identity: int) -> str:
    return f"pair{identity // 2:04d}"


def identities_of(method: str, identity: int) -> str:
    """The ``identities`` cell of a video: its identity, and the donor's for a face swap."""
    shown = (identity, partner(identity)) if method == "face_swap" else (identity,)
    return join_identities(f"{DATASET_NAME}_{i:04d}" for i in shown)


def video_id(method: str, identity: int) -> str:
    return f"syn_{method}_{identity:04d}"


def head_model(seed: int, identity: int, frame_size: int) -> render.HeadModel:
    rng = _rng(seed, identity, _STREAM_IDENTITY)
    ident = render.sample_identity(rng)
    return render.HeadModel(ident, frame_size, render.render_background(rng, frame_size))


def frame_sequence(seed: int, identity: int, n_frames: int) -> list[render.FrameParams]:
    return render.sample_frame_sequence(_rng(seed, identity, _STREAM_FRAMES), n_frames)


# --- manipulation families --------------------------------------------------------------------
def _face_width(landmarks: np.ndarray) -> float:
    return float(np.ptp(landmarks[render.JAW, 0]))


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama) mapping src points onto dst points."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def _soft_mask(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask, (0, 0), max(sigma, 0.3))[..., None]


# Resampling kernels (down, up) of each rendering style: the shifted style (the synthetic cross
# set) resamples with other kernels than the main benchmark, as another generator would.
_KERNELS = {"main": (cv2.INTER_AREA, cv2.INTER_LINEAR), "shifted": (cv2.INTER_LINEAR, cv2.INTER_CUBIC)}
STYLES = tuple(_KERNELS)


def _resample(img: np.ndarray, factor: float, style: str = "main") -> np.ndarray:
    """Lose detail: resize down by ``factor`` and back up with the style's kernels."""
    if factor <= 1.01:
        return img
    h, w = img.shape[:2]
    down, up = _KERNELS[style]
    small = cv2.resize(img, (max(2, round(w / factor)), max(2, round(h / factor))), interpolation=down)
    return cv2.resize(small, (w, h), interpolation=up)


def _blend_mask(shape, points: np.ndarray, style: str) -> np.ndarray:
    """The region a manipulation replaces: the convex hull of ``points`` (main style) or the
    ellipse fitted to them (shifted style: another blending mask shape)."""
    if style == "main":
        return landmark_mask(shape, points)
    mask = np.zeros(shape[:2], np.float32)
    cv2.ellipse(mask, cv2.fitEllipse(points.astype(np.float32)), 1.0, -1)
    return mask


def _match_colour(warped: np.ndarray, frame: np.ndarray, inside: np.ndarray, style: str) -> np.ndarray:
    """The donor face's colours moved toward the target's inside the mask: per-channel mean and
    spread in RGB (main style) or in CIE Lab (shifted style, Reinhard-like colour transfer)."""
    if style == "main":
        source, target = warped, frame
    else:
        to_lab = lambda img: cv2.cvtColor(np.clip(img, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)  # noqa: E731
        source, target = to_lab(warped), to_lab(frame)
    mu_t, sd_t = target[inside].mean(0), target[inside].std(0) + 1e-3
    mu_s, sd_s = source[inside].mean(0), source[inside].std(0) + 1e-3
    matched = (source - mu_s) / sd_s * sd_t + mu_t
    if style == "main":
        return matched
    return cv2.cvtColor(matched.astype(np.float32), cv2.COLOR_LAB2BGR) * 255.0


def face_swap(frame, landmarks, scene, rng, strength):
    """Donor face (partner identity, its own pose) warped onto the target and blended."""
    s, style = float(strength), scene.get("style", "main")
    donor_frame, donor_lm, _ = scene["donor"].render(scene["donor_fp"])
    donor_frame = _resample(donor_frame, 1 + 1.5 * s, style)
    n = frame.shape[0]
    warp = _similarity(donor_lm[17:], landmarks[17:])
    warped = cv2.warpAffine(donor_frame, warp, (n, n), borderMode=cv2.BORDER_REFLECT)
    center = landmarks[30]
    inner = np.concatenate([center + 0.9 * (landmarks[render.JAW] - center), landmarks[17:27]])
    mask = _blend_mask(frame.shape, inner, style)
    m = _soft_mask(mask, _face_width(landmarks) * (0.02 + 0.08 * max(0.0, 1 - s)))
    inside = mask > 0.5
    matched = _match_colour(warped, frame, inside, style)
    mismatch = min(1.0, 0.35 * s) + rng.uniform(-0.05, 0.05) * s
    colored = matched + mismatch * (warped - matched)
    return m * colored + (1 - m) * frame


def reenactment(frame, landmarks, scene, rng, strength):
    """Mouth (and sometimes eyes) re-rendered with another expression at lower resolution."""
    s = float(strength)
    fp = scene["fp"]
    new_mouth = fp.mouth_open + rng.choice([-1, 1]) * rng.uniform(0.25, 0.6) * min(1.0, s)
    if not 0 <= new_mouth <= 1:
        new_mouth = fp.mouth_open - (new_mouth - fp.mouth_open)
    new_fp = replace(fp, mouth_open=float(np.clip(new_mouth, 0, 1)))
    with_eyes = rng.uniform() < 0.3
    if with_eyes:
        blink = fp.blink + (rng.uniform(0, 1) - fp.blink) * min(1.0, s)
        new_fp = replace(new_fp, blink=float(blink))
    style = scene.get("style", "main")
    redone, new_lm, _ = scene["head"].render(new_fp)
    redone = _resample(redone, 1 + 2.5 * s, style)
    width = _face_width(landmarks)
    regions = [np.concatenate([landmarks[48:68], new_lm[48:68]])]
    if with_eyes:
        regions.append(np.concatenate([landmarks[36:48], landmarks[17:27]]))
    mask = np.zeros(frame.shape[:2], np.float32)
    for pts in regions:
        center = pts.mean(0)
        mask = np.maximum(mask, _blend_mask(frame.shape, center + 1.35 * (pts - center), style))
    m = _soft_mask(mask, 0.04 * width)
    return m * redone + (1 - m) * frame


# Unequal gains of the four phases of a stride-2 transposed convolution (checkerboard); the
# shifted style's generator has another pattern.
_PHASE_GAIN = {"main": np.array([[1.0, -0.6], [-0.8, 0.4]], np.float32),
               "shifted": np.array([[0.3, 0.9], [-1.0, -0.2]], np.float32)}


def gan_synthesis(frame, landmarks, scene, rng, strength):
    """Whole frame through a generator-like 2x down/up-sampling with uneven phase gains."""
    s, style = float(strength), scene.get("style", "main")
    n = frame.shape[0]
    down, up_kernel = _KERNELS[style]
    small = cv2.resize(frame, (n // 2, n // 2), interpolation=down)
    up = cv2.resize(small, (n, n), interpolation=up_kernel)
    gain = np.tile(_PHASE_GAIN[style], (n // 2 + 1, n // 2 + 1))[:n, :n]
    amplitude = 0.06 * s * rng.uniform(0.8, 1.2)
    generated = up * (1 + amplitude * gain[..., None])
    weight = min(1.0, s)
    return frame + weight * (generated - frame)


def self_blended(frame, landmarks, scene, rng, strength):
    """The SBI recipe on the full frame, with the renderer's landmarks for the mask; the frame
    stays float (unclipped) until the camera model, like every other frame."""
    fake, _ = self_blend(np.asarray(frame, np.float32), rng, landmarks=landmarks, strength=strength)
    return fake


MANIPULATIONS = {
    "face_swap": face_swap,
    "reenactment": reenactment,
    "gan_synthesis": gan_synthesis,
    "self_blended": self_blended,
}


# --- videos -----------------------------------------------------------------------------------
def render_video_frames(seed, identity, method, frames_per_video, frame_size, strength=1.0, style="main"):
    """Frames of one video before the camera model: list of (float32 frame, landmarks, box).

    A fake video replays the real video's frame parameters; its manipulation randomness comes
    from its own stream, so the same ``seed`` and a different ``strength`` use the same draws.
    ``style`` ``shifted`` makes each manipulation with other blending masks, colour transfer and
    resampling kernels (the synthetic cross set's shift of generator).
    """
    if style not in STYLES:
        raise ValueError(f"unknown rendering style {style!r}; valid: {list(STYLES)}")
    head = head_model(seed, identity, frame_size)
    sequence = frame_sequence(seed, identity, frames_per_video)
    manipulate = MANIPULATIONS.get(method)
    scene = {"head": head, "style": style}
    if method == "face_swap":
        scene["donor"] = head_model(seed, partner(identity), frame_size)
        donor_sequence = frame_sequence(seed, partner(identity), frames_per_video)
    rng = _rng(seed, identity, _STREAM_VIDEO + _METHODS.index(method), 0)
    out = []
    for i, fp in enumerate(sequence):
        frame, landmarks, box = head.render(fp)
        if manipulate is not None:
            scene["fp"] = fp
            if method == "face_swap":
                scene["donor_fp"] = donor_sequence[i]
            frame = manipulate(frame, landmarks, scene, rng, strength).astype(np.float32)
        out.append((frame, landmarks, box))
    return out


def _video_task(task: dict) -> list[dict]:
    """Render, photograph, crop and write one video; return its manifest rows."""
    method, identity = task["method"], task["identity"]
    vid = video_id(method, identity)
    folder = Path(task["out_dir"]) / method / vid
    frames = render_video_frames(
        task["seed"],
        identity,
        method,
        task["frames_per_video"],
        task["frame_size"],
        task["strength"],
        task.get("style", "main"),
    )
    remove_partials(folder)  # temporary files of a run killed while writing this video
    cam_rng = _rng(task["seed"], identity, _STREAM_VIDEO + _METHODS.index(method), 1)
    cam = render.sample_camera(cam_rng, tuple(task["jpeg_quality"]))
    rows = []
    for index, (frame, _landmarks, box) in enumerate(frames):
        photo = render.camera(frame, cam, cam_rng)
        crop = square_crop(photo, box, enlarge=1.3, size=task["crop_size"])
        ok, png = cv2.imencode(".png", crop)
        if not ok:
            raise RuntimeError(f"PNG encoding failed for {vid} frame {index}")
        rel = f"{method}/{vid}/{index:03d}.png"
        atomic_write_bytes(folder / f"{index:03d}.png", png.tobytes())
        x, y, w, h = box
        rows.append({
            "path": rel, "label": LABEL_REAL if method == REAL else LABEL_FAKE,
            "method": method, "video_id": vid, "group": group_of(identity),
            "identities": identities_of(method, identity), "frame_index": index,
            "face_x": x, "face_y": y, "face_w": w, "face_h": h,
            "dataset": DATASET_NAME, "source_path": "", "split": "",
        })  # fmt: skip
    atomic_write_json(folder / "rows.json", {"config": _config_key(task), "rows": rows})
    return rows


def _config_key(task: dict) -> dict:
    return {k: task[k] for k in sorted(task) if k != "out_dir"}


def _load_done(task: dict) -> list[dict] | None:
    """Rows of a video finished by an earlier run with the same settings, else None."""
    path = Path(task["out_dir"]) / task["method"] / video_id(task["method"], task["identity"])
    try:
        saved = json.loads((path / "rows.json").read_text())
    except (OSError, ValueError):
        return None
    if saved.get("config") != json.loads(json.dumps(_config_key(task))):
        return None
    if not all((path / Path(r["path"]).name).is_file() for r in saved["rows"]):
        return None
    identities = identities_of(task["method"], task["identity"])  # rows saved before the column
    return [{**row, "identities": identities} for row in saved["rows"]]


def _init_worker():
    cv2.setNumThreads(1)


def resolve_strength(strength, families) -> dict[str, float]:
    """A float scales every family's DEFAULT_STRENGTH; a dict gives absolute per-family values
    (families it leaves out keep their default)."""
    if isinstance(strength, dict):
        unknown = sorted(set(strength) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown family in strength: {unknown}; valid: {list(FAMILIES)}")
        values = {f: float(strength.get(f, DEFAULT_STRENGTH[f])) for f in families}
    elif isinstance(strength, int | float) and not isinstance(strength, bool):
        values = {f: float(strength) * DEFAULT_STRENGTH[f] for f in families}
    else:
        raise ValueError(f"strength must be a float or a dict family -> float, got {strength!r}")
    bad = {f: v for f, v in values.items() if not (np.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(f"strengths must be finite and >= 0, got {bad}")
    return values


def _check_args(n_identities, frames_per_video, frame_size, crop_size, families, jpeg_quality):
    def positive_int(name, value, minimum):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")

    positive_int("n_identities", n_identities, 2)
    if n_identities % 2:
        raise ValueError(
            f"n_identities must be even (identities come in pairs), got {n_identities}"
        )
    positive_int("frames_per_video", frames_per_video, 1)
    positive_int("frame_size", frame_size, 32)
    positive_int("crop_size", crop_size, 8)
    if isinstance(families, str) or not families:
        raise ValueError(
            f"families must be a non-empty list from {list(FAMILIES)}, got {families!r}"
        )
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or len(set(families)) != len(families):
        raise ValueError(
            f"unknown or repeated family {unknown or families}; valid: {list(FAMILIES)}"
        )
    lo, hi = jpeg_quality
    if not (1 <= lo <= hi <= 100):
        raise ValueError(
            f"jpeg_quality must be (low, high) with 1 <= low <= high <= 100, got {jpeg_quality!r}"
        )


def _render(todo: list[dict], total: int, workers: int, progress: bool) -> list[dict]:
    """The rows of every video still to render, in this process or in spawned workers, with a
    progress bar over all ``total`` videos (those already done counted in)."""
    rows = []
    bar = tqdm(total=total, initial=total - len(todo), desc="synthetic videos", unit="video", disable=not progress)
    n_workers = min((os.cpu_count() or 1) if workers == 0 else workers, max(1, len(todo)))
    try:
        if n_workers <= 1:
            for task in todo:
                rows.extend(_video_task(task))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")  # safe beside a threaded parent
            with context.Pool(n_workers, initializer=_init_worker) as pool:
                for video_rows in pool.imap_unordered(_video_task, todo, chunksize=2):
                    rows.extend(video_rows)
                    bar.update()
    finally:
        bar.close()
    return rows


def generate_synthetic_benchmark(out_dir, *, seed: int, n_identities: int, frames_per_video: int, frame_size: int,
                                 crop_size: int, families: list[str], strength: float | dict[str, float],
                                 jpeg_quality: tuple[int, int], workers: int = 0, progress: bool = True,
                                 style: str = "main") -> pd.DataFrame:
    """Render the benchmark's face crops under ``out_dir`` and return their manifest.

    Crops go to ``out_dir/<real|family>/<video_id>/<frame:03d>.png``; each finished video also
    gets a ``rows.json``, so an interrupted run resumes where it stopped. ``strength``: a float
    scales DEFAULT_STRENGTH, a dict sets per-family strengths. ``workers``: 0 = all cores,
    1 = in this process. ``style``: ``main`` or ``shifted`` (see ``render_video_frames``).
    """
    if style not in STYLES:
        raise ValueError(f"unknown rendering style {style!r}; valid: {list(STYLES)}")
    _check_args(n_identities, frames_per_video, frame_size, crop_size, families, jpeg_quality)
    strengths = resolve_strength(strength, families)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    common = {
        "out_dir": str(out_dir), "seed": int(seed), "frames_per_video": int(frames_per_video),
        "frame_size": int(frame_size), "crop_size": int(crop_size),
        "jpeg_quality": [int(jpeg_quality[0]), int(jpeg_quality[1])],
        **({} if style == "main" else {"style": style}),
    }  # fmt: skip
    tasks = [
        {**common, "identity": identity, "method": method,
         "strength": 0.0 if method == REAL else strengths[method]}
        for identity in range(n_identities)
        for method in (REAL, *families)
    ]  # fmt: skip
    rows, todo = [], []
    for task in tasks:
        done = _load_done(task)
        if done is None:
            todo.append(task)
        else:
            rows.extend(done)
    rows.extend(_render(todo, len(tasks), workers, progress))
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    frame = frame.sort_values(["video_id", "frame_index"], kind="stable").reset_index(drop=True)
    for column in ("label", "frame_index", "face_x", "face_y", "face_w", "face_h"):
        frame[column] = frame[column].astype("int64")
    return frame
