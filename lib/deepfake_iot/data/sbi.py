"""Self-Blended Images (Shiohara & Yamasaki, CVPR 2022): a fake made from one real face.

A copy of the face (the *source*) gets a colour change, a frequency change and a small shift and
rescale; it is then blended back into the original (the *target*) through a soft, eroded and
elastically deformed face mask. The result keeps the identity but carries the blending boundary
and the statistics mismatch that face-swap methods leave. numpy + OpenCV only, so it also serves
as a fast on-the-fly training augmentation (about 1 ms for a 96x96 crop).

``strength`` scales every perturbation: 0 returns the input unchanged (the mask is still
returned), 1 uses the ranges of the paper, above 1 exaggerates them.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


def _odd(value: float) -> int:
    k = max(3, int(round(value)))
    return k if k % 2 else k + 1


def ellipse_mask(shape, rng: np.random.Generator) -> np.ndarray:
    """Binary face mask for a face-centred crop: a randomly jittered central ellipse."""
    h, w = shape[:2]
    center = (w * (0.5 + rng.uniform(-0.04, 0.04)), h * (0.52 + rng.uniform(-0.04, 0.04)))
    size = (w * rng.uniform(0.5, 0.62), h * rng.uniform(0.62, 0.76))  # full axes
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (center, size, rng.uniform(-12, 12)), 1.0, -1)
    return mask


def landmark_mask(shape, landmarks: np.ndarray) -> np.ndarray:
    """Binary face mask: convex hull of the landmarks."""
    mask = np.zeros(shape[:2], np.float32)
    hull = cv2.convexHull(np.round(np.asarray(landmarks, np.float32)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0)
    return mask


_LUMA_BGR = np.array([0.114, 0.587, 0.299], np.float32)
_GRAY_AXIS = np.full(3, 1 / np.sqrt(3), np.float32)


def _color_transform(img: np.ndarray, rng, s: float) -> np.ndarray:
    """RGB shift (+-20), hue (+-10 deg) / saturation (+-30 %) / value (+-10 %), brightness and
    contrast (+-0.1), all scaled by s and folded into one 3x4 colour matrix (one pass)."""
    shift = rng.uniform(-20, 20, 3) * s
    theta = np.deg2rad(rng.uniform(-10, 10) * s)
    sat, value = 1 + rng.uniform(-0.3, 0.3) * s, 1 + rng.uniform(-0.1, 0.1) * s
    contrast, brightness = 1 + rng.uniform(-0.1, 0.1) * s, rng.uniform(-0.1, 0.1) * s * 255
    u = _GRAY_AXIS.astype(np.float64)
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    hue = np.cos(theta) * np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * np.outer(u, u)
    saturation = sat * np.eye(3) + (1 - sat) * np.outer(np.ones(3), _LUMA_BGR)
    linear = value * hue @ saturation
    mean = linear @ (np.array(cv2.mean(img)[:3]) + shift)
    matrix = contrast * linear
    offset = contrast * linear @ shift + (1 - contrast) * mean + brightness
    return cv2.transform(img, np.hstack([matrix, offset[:, None]]).astype(np.float32))


def _frequency_transform(img: np.ndarray, rng, s: float) -> np.ndarray:
    """Downscale by 2 or 4 and back, or sharpen; mixed in with weight min(s, 1)."""
    h, w = img.shape[:2]
    choice = rng.integers(3)
    if choice < 2:
        factor = 2 if choice == 0 else 4
        small = cv2.resize(
            img, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA
        )
        changed = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        blurred = cv2.GaussianBlur(img, (0, 0), 1.0)
        changed = img + rng.uniform(0.5, 1.5) * (img - blurred)
    weight = min(s, 1.0)
    return img + weight * (changed - img) if s <= 1 else changed + (s - 1) * (changed - img)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int):
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def _elastic(mask: np.ndarray, rng, s: float) -> np.ndarray:
    """Smooth random displacement of the mask (a coarse 4x4 field, bicubically upsampled)."""
    h, w = mask.shape
    amp = 0.04 * min(h, w) * s
    if amp <= 0:
        return mask
    field = rng.normal(0, amp, (2, 4, 4)).astype(np.float32)
    dx = cv2.resize(field[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(field[1], (w, h), interpolation=cv2.INTER_CUBIC)
    gx, gy = _grid(h, w)
    return cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _soften(mask: np.ndarray, rng) -> np.ndarray:
    """Blur, keep only what stays fully inside (erosion), blur again, normalise to [0, 1]."""
    scale = min(mask.shape) / 256.0  # kernel ranges are for ~256 px faces
    k1 = _odd(rng.integers(5, 26) * scale)
    blurred = cv2.GaussianBlur(mask, (k1, k1), 0)
    peak = blurred.max()
    if peak <= 0:
        return blurred
    blurred /= peak
    eroded = np.where(blurred >= 0.999, 1.0, 0.0).astype(np.float32)
    if eroded.max() == 0:  # mask too thin to erode: keep the blurred one
        eroded = blurred
    k2 = _odd(rng.integers(5, 26) * scale)
    soft = cv2.GaussianBlur(eroded, (k2, k2), 0)
    return soft / max(float(soft.max()), 1e-6)


def self_blend(
    image: np.ndarray,
    rng: np.random.Generator,
    landmarks: np.ndarray | None = None,
    strength: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Make a self-blended fake from a BGR face image, uint8 or float32 (0-255 scale).

    Returns ``(fake, mask)``: the fake in the input's dtype and shape, and the blend mask
    actually used (float32 in [0, 1], the blend ratio included). With ``landmarks`` (N x 2 pixel
    coordinates) the mask is their convex hull, else a jittered ellipse centred on the crop.
    A float32 image stays float, neither rounded nor clipped: a renderer's frame can then go
    through the camera model exactly as its real twin does (clipping only the fakes would tie
    the label to how saturated pixels look, over the whole frame).
    """
    if image.dtype not in (np.uint8, np.float32) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 or float32 HxWx3 BGR, got {image.dtype} {image.shape}")
    if not strength >= 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    h, w = image.shape[:2]
    target = image.astype(np.float32)
    base = (
        ellipse_mask(image.shape, rng)
        if landmarks is None
        else landmark_mask(image.shape, landmarks)
    )
    s = float(strength)
    source = _frequency_transform(_color_transform(target, rng, s), rng, s)
    # Shift and rescale source and mask together (x +-3 %, y +-1.5 %, scale 0.95-1.05).
    zoom = 1 + rng.uniform(-0.05, 0.05) * min(s, 1.0)
    tx, ty = rng.uniform(-0.03, 0.03) * w * s, rng.uniform(-0.015, 0.015) * h * s
    affine = cv2.getRotationMatrix2D((w / 2, h / 2), 0, zoom)
    affine[:, 2] += (tx, ty)
    source = cv2.warpAffine(source, affine, (w, h), borderMode=cv2.BORDER_REFLECT)
    base = cv2.warpAffine(base, affine, (w, h), flags=cv2.INTER_LINEAR)
    mask = _soften(_elastic(base, rng, min(s, 1.0)), rng)
    mask *= BLEND_RATIOS[rng.integers(len(BLEND_RATIOS))]
    m = mask[..., None]
    fake = m * source + (1 - m) * target
    if image.dtype == np.float32:
        return fake.astype(np.float32), mask.astype(np.float32)
    return np.clip(fake + 0.5, 0, 255).astype(np.uint8), mask.astype(np.float32)
