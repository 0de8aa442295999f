"""Self-Blended Images: shape, mask, determinism, locality and speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from deepfake_iot.data import synthetic
from deepfake_iot.data.sbi import self_blend


@pytest.fixture(scope="module")
def face():
    """A rendered face frame (uint8 BGR, 96x96) and its landmarks."""
    frame, landmarks, _ = synthetic.render_video_frames(11, 0, "real", 1, 96)[0]
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), landmarks


def test_shape_dtype_and_mask_range(face):
    image, _ = face
    fake, mask = self_blend(image, np.random.default_rng(0))
    assert fake.shape == image.shape and fake.dtype == np.uint8
    assert mask.shape == image.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0 and mask.max() <= 1 and mask.max() > 0


def test_deterministic_with_seeded_rng(face):
    image, landmarks = face
    for lm in (None, landmarks):
        a = self_blend(image, np.random.default_rng(42), landmarks=lm)
        b = self_blend(image, np.random.default_rng(42), landmarks=lm)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("use_landmarks", [False, True])
def test_changes_inside_mask_only(face, use_landmarks):
    image, landmarks = face
    for seed in range(5):
        fake, mask = self_blend(
            image, np.random.default_rng(seed), landmarks=landmarks if use_landmarks else None
        )
        diff = np.abs(fake.astype(int) - image.astype(int)).mean(axis=2)
        assert diff[mask > 0.2].mean() > 1.0
        assert np.array_equal(fake[mask == 0], image[mask == 0])
        assert mask[:4, :4].max() == 0 and mask[-4:, -4:].max() == 0  # corners stay real


def test_landmark_mask_stays_near_face(face):
    image, landmarks = face
    _, mask = self_blend(image, np.random.default_rng(1), landmarks=landmarks)
    ys, xs = np.nonzero(mask > 0)
    (x0, y0), (x1, y1) = landmarks.min(0), landmarks.max(0)
    margin = 0.15 * image.shape[0]
    assert xs.min() >= x0 - margin and xs.max() <= x1 + margin
    assert ys.min() >= y0 - margin and ys.max() <= y1 + margin


def test_strength_zero_is_identity_and_strength_grows(face):
    image, _ = face
    fake, _ = self_blend(image, np.random.default_rng(3), strength=0.0)
    assert np.array_equal(fake, image)
    diffs = [
        np.abs(
            self_blend(image, np.random.default_rng(3), strength=s)[0].astype(int) - image
        ).mean()
        for s in (0.3, 1.5)
    ]
    assert 0 < diffs[0] < diffs[1]


def test_rejects_bad_input(face):
    image, _ = face
    with pytest.raises(ValueError):
        self_blend(image.astype(np.float64), np.random.default_rng(0))
    with pytest.raises(ValueError):
        self_blend(image[..., 0], np.random.default_rng(0))
    with pytest.raises(ValueError):
        self_blend(image, np.random.default_rng(0), strength=-1)


def test_fast_enough_for_on_the_fly_augmentation(face):
    image, _ = face
    rng = np.random.default_rng(0)
    self_blend(image, rng)
    start = time.perf_counter()
    for _ in range(100):
        self_blend(image, rng)
    per_call = (time.perf_counter() - start) / 100
    assert per_call < 0.005, f"{per_call * 1000:.2f} ms per 96x96 crop"


def test_a_float_frame_stays_float_and_unclipped(face):
    """A renderer's float frame keeps its over-exposed values outside the blend, as its real
    twin does until the camera model: no clipping tied to the fake label."""
    image, landmarks = face
    frame = image.astype(np.float32)
    frame[:4] = 300.0  # saturated highlights above the 8-bit range, far from the face
    fake, mask = self_blend(frame, np.random.default_rng(5), landmarks=landmarks)
    assert fake.dtype == np.float32 and fake.shape == frame.shape
    outside = mask == 0
    assert np.allclose(fake[outside], frame[outside]) and fake[:4].max() == 300.0
    same, _ = self_blend(image, np.random.default_rng(5), landmarks=landmarks)
    assert same.dtype == np.uint8
    assert (
        np.abs(
            same.astype(np.float32)
            - np.clip(
                self_blend(image.astype(np.float32), np.random.default_rng(5), landmarks=landmarks)[
                    0
                ],
                0,
                255,
            )
        ).max()
        <= 1
    )
