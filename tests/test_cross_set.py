"""The second, test-only dataset of the cross-dataset study (data.cross)."""

import cv2
import numpy as np
import pytest

from deepfake_iot.data.cross import build_cross_set
from deepfake_iot.data.schema import MANIFEST_COLUMNS

COMMON = dict(seed=5, crop_size=24, frames_per_video=2, frame_size=64, families=["face_swap", "self_blended"],
              n_identities=2, strength=0.6, jpeg_quality=(40, 70), workers=1)


def test_shifted_synthetic_set_is_all_test_and_new_identities(tmp_path):
    crops, skipped = build_cross_set("synthetic", None, tmp_path / "cross", **COMMON)
    assert set(crops["split"]) == {"test"} and set(crops["label"]) == {0, 1}
    assert all(c in crops.columns for c in MANIFEST_COLUMNS) and skipped.empty
    first = cv2.imread(str(tmp_path / "cross" / crops["path"].iloc[0]))
    main, _ = build_cross_set("synthetic", None, tmp_path / "again", **{**COMMON, "seed": 6})
    other = cv2.imread(str(tmp_path / "again" / main["path"].iloc[0]))
    assert first.shape == (24, 24, 3) and not np.array_equal(first, other)  # another seed, other faces


def test_real_layout_is_cropped_and_junk_skipped(tmp_path):
    root = tmp_path / "second"
    rng = np.random.default_rng(0)
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for k in range(2):
            cv2.imwrite(str(root / label / f"{k}.png"), rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    (root / "fake" / "junk.jpg").write_text("not an image")
    crops, skipped = build_cross_set("generic", root, tmp_path / "cross", **{**COMMON, "detector": "none"})
    assert len(crops) == 4 and set(crops["split"]) == {"test"}
    assert skipped["reason"].tolist() == ["not_an_image"]


def test_missing_root_or_one_class_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="cross_dataset_root"):
        build_cross_set("celebdf_v2", tmp_path / "absent", tmp_path / "cross", **COMMON)
    (tmp_path / "only" / "real").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "only" / "real" / "a.png"), np.zeros((40, 40, 3), np.uint8) + 90)
    (tmp_path / "only" / "fake").mkdir()
    (tmp_path / "only" / "fake" / "junk.png").write_bytes(b"")  # every fake is skipped
    with pytest.raises(ValueError, match="both real and fake"):
        build_cross_set("generic", tmp_path / "only", tmp_path / "cross", **{**COMMON, "detector": "none"})
