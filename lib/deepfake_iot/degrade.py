"""The IoT degradation suite: what a cheap camera and a thin network do to a face crop.

numpy + OpenCV only (no TensorFlow), so the same code runs on the analysis machine and on a
Raspberry Pi. Every degradation is a function ``(image, level, rng) -> image``:

* ``level`` is an integer severity from 0 to 5; level 0 returns an exact copy of the input.
* ``rng`` is a ``numpy.random.Generator``; the same seed gives the same output.
* ``image`` is uint8 (0..255) or float32 (0..1), of any size (1x1 included), grayscale ``(H, W)``
  or ``(H, W, 1)`` or colour ``(H, W, 3)`` in OpenCV's BGR order; the result has the input's
  shape and dtype. Arithmetic is done in float32 and rounded once at the end for uint8.

Severity per level 1..5 (``SEVERITY``; ``severity_table()`` gives it as a DataFrame for the paper):

=================  ======================  =========================================  =====================
degradation        parameter               level 1 .. 5                               unit
=================  ======================  =========================================  =====================
jpeg               quality                 90, 70, 50, 30, 15                         libjpeg quality (0-100)
gaussian_blur      sigma                   0.5, 1.0, 1.5, 2.0, 3.0                    pixels
motion_blur        length                  3, 5, 7, 9, 13                             pixels (angle random)
downscale          factor                  1.5, 2, 3, 4, 6                            linear down-scale
gaussian_noise     sigma                   3, 6, 10, 15, 25                           grey levels of 255
poisson_noise      photons                 1000, 300, 100, 30, 10                     photons at full white
low_light          brightness              0.8, 0.6, 0.45, 0.3, 0.2                   multiplier
low_light          gamma                   1.1, 1.25, 1.4, 1.6, 1.8                   exponent on [0, 1]
color_cast         gain_shift              0.05, 0.1, 0.15, 0.2, 0.3                  relative channel gain
iot_camera         (component levels)      see ``IOT_CAMERA``                         levels of the above
=================  ======================  =========================================  =====================

Details that matter for reproducing the numbers:

* ``gaussian_blur`` uses a ``2*ceil(3*sigma)+1`` kernel from ``cv2.getGaussianKernel`` and
  OpenCV's default border (reflect-101); ``gaussian_kernel`` exposes the kernel.
* ``motion_blur`` convolves with a one-pixel-wide anti-aliased line of the given length through
  the kernel centre (``motion_kernel``); its angle is drawn uniformly in [0, 180) degrees from
  ``rng`` unless given.
* ``downscale`` shrinks with ``INTER_AREA`` to ``max(1, round(side / factor))`` and enlarges back
  with ``INTER_LINEAR``: a low-resolution sensor behind digital zoom.
* ``gaussian_noise`` adds N(0, sigma); ``poisson_noise`` draws ``Poisson(x * photons) / photons``
  (shot noise: darker pixels get relatively more); both clip to [0, 1].
* ``low_light`` maps ``x -> brightness * x ** gamma``.
* ``color_cast`` multiplies the (R, G, B) channels by ``1 + shift * (cos t, cos(t - 120 deg),
  cos(t + 120 deg))`` with ``t`` uniform from ``rng`` unless given: a white-balance error whose
  gains average to one. A grayscale image gets the luma-weighted gain.
* ``iot_camera`` chains optics blur -> sensor down-sampling -> sensor noise -> JPEG, in the order
  light travels, at the component levels of ``IOT_CAMERA``.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

MAX_LEVEL = 5

SEVERITY: dict[str, dict[str, list[float]]] = {
    "jpeg": {"quality": [90, 70, 50, 30, 15]},
    "gaussian_blur": {"sigma": [0.5, 1.0, 1.5, 2.0, 3.0]},
    "motion_blur": {"length": [3, 5, 7, 9, 13]},
    "downscale": {"factor": [1.5, 2, 3, 4, 6]},
    "gaussian_noise": {"sigma": [3, 6, 10, 15, 25]},
    "poisson_noise": {"photons": [1000, 300, 100, 30, 10]},
    "low_light": {"brightness": [0.8, 0.6, 0.45, 0.3, 0.2], "gamma": [1.1, 1.25, 1.4, 1.6, 1.8]},
    "color_cast": {"gain_shift": [0.05, 0.1, 0.15, 0.2, 0.3]},
}

# iot_camera at level k: the level of each component, applied in this order.
IOT_CAMERA: dict[str, list[int]] = {
    "gaussian_blur": [1, 1, 2, 2, 3],
    "downscale": [1, 2, 3, 4, 5],
    "gaussian_noise": [1, 2, 2, 3, 3],
    "jpeg": [1, 2, 3, 4, 5],
}

UNITS = {
    ("jpeg", "quality"): "libjpeg quality (0-100)",
    ("gaussian_blur", "sigma"): "pixels",
    ("motion_blur", "length"): "pixels (angle uniform in [0, 180) deg)",
    ("downscale", "factor"): "linear down-scale factor",
    ("gaussian_noise", "sigma"): "grey levels of 255",
    ("poisson_noise", "photons"): "photons at full white",
    ("low_light", "brightness"): "multiplier",
    ("low_light", "gamma"): "exponent on [0, 1] intensities",
    ("color_cast", "gain_shift"): "relative channel gain",
}

LUMA_RGB = np.array([0.299, 0.587, 0.114], np.float32)


def param(name: str, key: str, level: int) -> float:
    """The value of parameter ``key`` of degradation ``name`` at ``level`` (1..5)."""
    return SEVERITY[name][key][level - 1]


# ---------------------------------------------------------------------------------------------
# image plumbing


def _to_work(image: np.ndarray) -> np.ndarray:
    """float32 (H, W, C) copy in [0, 1]; validates dtype and shape."""
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.float32):
        raise ValueError(f"image must be uint8 or float32, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))):
        raise ValueError(f"image must be (H, W), (H, W, 1) or (H, W, 3), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must not be empty, got {image.shape}")
    work = image.astype(np.float32)
    if image.dtype == np.uint8:
        work /= 255.0
    return work.reshape(image.shape[0], image.shape[1], -1)


def _from_work(work: np.ndarray, like: np.ndarray) -> np.ndarray:
    work = np.clip(work.reshape(like.shape), 0.0, 1.0)
    if like.dtype == np.uint8:
        return np.floor(work * 255.0 + 0.5).astype(np.uint8)
    return work.astype(np.float32)


def _per_channel(work: np.ndarray, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply an OpenCV function that may drop a trailing channel axis, and restore it."""
    out = function(work)
    return out.reshape(work.shape[0], work.shape[1], -1)


def _degradation(function):
    """Wrap ``function(work_float_hwc, level, rng)`` into the public ``(image, level, rng)``."""

    def wrapper(image: np.ndarray, level: int, rng: np.random.Generator, **kwargs) -> np.ndarray:
        _check_level(function.__name__, level)
        work = _to_work(image)
        if level == 0:
            return np.array(image, copy=True)
        return _from_work(function(work, int(level), rng, **kwargs), np.asarray(image))

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


def _check_level(name: str, level) -> None:
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
        raise ValueError(f"level of '{name}' must be an int in 0..{MAX_LEVEL}, got {level!r}")
    if not 0 <= int(level) <= MAX_LEVEL:
        raise ValueError(
            f"level {level} of '{name}' is out of range: valid levels are 0..{MAX_LEVEL}"
        )


# ---------------------------------------------------------------------------------------------
# kernels shared with the TensorFlow versions in augment.py


def gaussian_kernel(sigma: float) -> np.ndarray:
    """1-D Gaussian kernel (float32, sums to 1) of size ``2*ceil(3*sigma)+1``."""
    size = 2 * math.ceil(3 * sigma) + 1
    return cv2.getGaussianKernel(size, sigma, cv2.CV_32F).ravel()


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """2-D line kernel (float32, sums to 1): an anti-aliased segment of ``length`` pixels.

    Weight = ``clip(1 - |distance across the line|) * clip(length/2 + 0.5 - |distance along|)``
    on a square grid of odd side ``>= length``, x to the right and y downwards.
    """
    half = int(math.ceil(length / 2))
    coords = np.arange(-half, half + 1, dtype=np.float32)
    x, y = np.meshgrid(coords, coords)
    theta = math.radians(angle_deg)
    along = x * math.cos(theta) + y * math.sin(theta)
    across = -x * math.sin(theta) + y * math.cos(theta)
    weight = np.clip(1 - np.abs(across), 0, 1) * np.clip(length / 2 + 0.5 - np.abs(along), 0, 1)
    return (weight / weight.sum()).astype(np.float32)


def cast_gains(shift: float, angle_rad: float) -> np.ndarray:
    """Channel gains (R, G, B) of a white-balance error; they average to one."""
    offsets = np.array([0.0, -2 * math.pi / 3, 2 * math.pi / 3])
    return (1 + shift * np.cos(angle_rad + offsets)).astype(np.float32)


def downscaled_size(height: int, width: int, factor: float) -> tuple[int, int]:
    return max(1, round(height / factor)), max(1, round(width / factor))


# ---------------------------------------------------------------------------------------------
# the degradations


@_degradation
def jpeg(work, level, rng):
    """JPEG re-encoding with OpenCV's encoder (libjpeg, 4:2:0 chroma) at the level's quality."""
    quality = int(param("jpeg", "quality", level))
    pixels = np.floor(np.clip(work, 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    return decoded.reshape(work.shape).astype(np.float32) / 255.0


@_degradation
def gaussian_blur(work, level, rng):
    """Gaussian blur of the level's sigma (optics out of focus)."""
    kernel = gaussian_kernel(param("gaussian_blur", "sigma", level))
    return _per_channel(work, lambda w: cv2.sepFilter2D(w, -1, kernel, kernel))


@_degradation
def motion_blur(work, level, rng, angle_deg: float | None = None):
    """Linear motion blur of the level's length; angle uniform in [0, 180) unless given."""
    if angle_deg is None:
        angle_deg = float(rng.uniform(0, 180))
    kernel = motion_kernel(param("motion_blur", "length", level), angle_deg)
    return _per_channel(work, lambda w: cv2.filter2D(w, -1, kernel))


@_degradation
def downscale(work, level, rng):
    """Area down-sampling by the level's factor and bilinear up-sampling back."""
    height, width = work.shape[:2]
    small_h, small_w = downscaled_size(height, width, param("downscale", "factor", level))
    small = cv2.resize(work, (small_w, small_h), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).reshape(
        height, width, -1
    )


@_degradation
def gaussian_noise(work, level, rng):
    """Additive white Gaussian noise of the level's sigma (read noise)."""
    sigma = param("gaussian_noise", "sigma", level) / 255.0
    return work + rng.normal(0.0, sigma, work.shape).astype(np.float32)


@_degradation
def poisson_noise(work, level, rng):
    """Shot noise: photon counts ``Poisson(x * photons)`` rescaled by ``photons``."""
    photons = param("poisson_noise", "photons", level)
    return (rng.poisson(np.clip(work, 0, 1) * photons) / photons).astype(np.float32)


@_degradation
def low_light(work, level, rng):
    """Under-exposure: brightness scale and gamma > 1 (darker, crushed shadows)."""
    scale = param("low_light", "brightness", level)
    gamma = param("low_light", "gamma", level)
    return scale * np.power(np.clip(work, 0, 1), gamma)


@_degradation
def color_cast(work, level, rng, angle_rad: float | None = None):
    """White-balance error: channel gains of the level's shift in a random hue direction."""
    if angle_rad is None:
        angle_rad = float(rng.uniform(0, 2 * math.pi))
    gains_rgb = cast_gains(param("color_cast", "gain_shift", level), angle_rad)
    if work.shape[2] == 1:
        return work * float(LUMA_RGB @ gains_rgb)
    return work * gains_rgb[::-1]  # images on this side are BGR


@_degradation
def iot_camera(work, level, rng):
    """A cheap camera end to end: blur, low-resolution sensor, noise, JPEG (see IOT_CAMERA)."""
    for name, levels in IOT_CAMERA.items():
        work = DEGRADATIONS[name](work, levels[level - 1], rng)
    return work


DEGRADATIONS: dict[str, Callable[..., np.ndarray]] = {
    "jpeg": jpeg,
    "gaussian_blur": gaussian_blur,
    "motion_blur": motion_blur,
    "downscale": downscale,
    "gaussian_noise": gaussian_noise,
    "poisson_noise": poisson_noise,
    "low_light": low_light,
    "color_cast": color_cast,
    "iot_camera": iot_camera,
}
NAMES = tuple(DEGRADATIONS)
LEVELS = tuple(range(MAX_LEVEL + 1))


def check_name(name: str) -> None:
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation '{name}': choose one of {', '.join(NAMES)}")


def apply(image: np.ndarray, name: str, level: int, seed: int | None = 0) -> np.ndarray:
    """Degrade ``image`` with degradation ``name`` at ``level``; ``seed`` makes it repeatable."""
    check_name(name)
    _check_level(name, level)
    return DEGRADATIONS[name](image, int(level), np.random.default_rng(seed))


def severity_table() -> pd.DataFrame:
    """One row per (degradation, parameter): unit and the value at each level 1..5."""
    rows = []
    for name, params in SEVERITY.items():
        for key, values in params.items():
            row = {"degradation": name, "parameter": key, "unit": UNITS[(name, key)]}
            row.update({f"level {i + 1}": v for i, v in enumerate(values)})
            rows.append(row)
    for name, levels in IOT_CAMERA.items():
        row = {"degradation": "iot_camera", "parameter": f"{name} level", "unit": "level"}
        row.update({f"level {i + 1}": v for i, v in enumerate(levels)})
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# degrading a whole test split on disk


def file_seed(seed: int, name: str, level: int, path: str) -> list[int]:
    """A per-file seed that does not depend on the order or the number of workers."""
    return [int(seed), NAMES.index(name), int(level), zlib.crc32(path.encode("utf-8"))]


def _degrade_file(task: tuple) -> tuple[str, str | None]:
    source, target, name, level, seed = task
    try:
        image = cv2.imread(source, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError("unreadable image")
        if image.dtype != np.uint8:
            raise ValueError(f"expected an 8-bit image, got {image.dtype}")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        out = DEGRADATIONS[name](image, level, np.random.default_rng(seed))
        ok, buffer = cv2.imencode(".png", out)
        if not ok:
            raise ValueError("PNG encoding failed")
        from deepfake_iot.paths import atomic_write_bytes

        atomic_write_bytes(target, buffer.tobytes())
        return target, None
    except Exception as error:  # one bad file must not stop the run: count it instead
        return target, f"{source}: {error}"


def robustness_subset(manifest: pd.DataFrame, n_groups: int, seed: int, split: str = "test") -> pd.DataFrame:
    """The rows of ``split`` from ``n_groups`` of its leakage groups, drawn with ``seed`` (0 or
    at least every group: the whole split), the rest of the manifest dropped. The robustness
    study degrades only these: every degradation and level multiplies the crops scored, so a
    fixed subset of whole groups keeps the study's cost flat as the test split grows, and its
    intervals still resample groups."""
    if n_groups < 0:
        raise ValueError(f"robustness_groups must be 0 (all) or a positive count, got {n_groups}")
    part = manifest[manifest["split"] == split]
    groups = np.array(sorted(part["group"].astype(str).unique()))
    if n_groups and n_groups < len(groups):
        groups = np.sort(np.random.default_rng(seed).choice(groups, size=n_groups, replace=False))
    return part[part["group"].astype(str).isin(groups)].reset_index(drop=True)


def degrade_split(manifest: pd.DataFrame, data_dir: Path | str, out_dir: Path | str, names: Iterable[str] = NAMES,
                  levels: Sequence[int] = LEVELS, seed: int = 0, workers: int = 0, progress: bool = True,
                  split: str = "test") -> pd.DataFrame:
    """Write degraded copies of one split once per (name, level); return their manifest.

    Files go to ``out_dir/<name>/<level>/<path>``; files already there are kept (the run resumes).
    Level 0 is the original image, so it writes nothing and its rows point at the originals.
    The result holds the manifest columns plus ``degradation`` and ``level``, with ``path``
    relative to ``data_dir``. Files that fail are skipped; their number is in
    ``result.attrs['failed']`` and a warning names the first few. ``workers=0`` uses every core.
    """
    names = list(names)
    levels = [int(level) for level in levels]
    for name in names:
        check_name(name)
        for level in levels:
            _check_level(name, level)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    part = manifest[manifest["split"] == split].reset_index(drop=True)
    if part.empty:
        raise ValueError(f"the manifest has no '{split}' rows to degrade")
    frames, tasks = [], []
    for name in names:
        for level in levels:
            frame = part.copy()
            if level > 0:
                targets = [out_dir / name / str(level) / p for p in part["path"]]
                frame["path"] = [Path(os.path.relpath(t, data_dir)).as_posix() for t in targets]
                for rel, target in zip(part["path"], targets, strict=True):
                    if not target.is_file():
                        tasks.append(
                            (
                                str(data_dir / rel),
                                str(target),
                                name,
                                level,
                                file_seed(seed, name, level, rel),
                            )
                        )
            frame.insert(0, "level", level)
            frame.insert(0, "degradation", name)
            frames.append(frame)
    failures = _run_tasks(tasks, workers, progress)
    result = pd.concat(frames, ignore_index=True)
    if failures:
        failed_targets = {target for target, _ in failures}
        absolute = [str(data_dir / p) for p in result["path"]]
        result = result[[a not in failed_targets for a in absolute]].reset_index(drop=True)
        shown = "; ".join(message for _, message in failures[:3])
        warnings.warn(
            f"{len(failures)} file(s) could not be degraded and were skipped: {shown}", stacklevel=2
        )
    result.attrs["failed"] = len(failures)
    return result


def _run_tasks(tasks: list[tuple], workers: int, progress: bool) -> list[tuple[str, str]]:
    from tqdm.auto import tqdm

    workers = (os.cpu_count() or 1) if workers == 0 else max(1, int(workers))
    bar = tqdm(total=len(tasks), desc="degrading", unit="img", disable=not progress)
    failures = []
    if workers == 1 or len(tasks) < 2:
        results: Iterable = map(_degrade_file, tasks)
        pool = None
    else:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap_unordered(_degrade_file, tasks, chunksize=32)
    try:
        for target, error in results:
            if error is not None:
                failures.append((target, error))
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    return failures
