"""Face-crop extraction end to end: junk files skipped, determinism, resume (data.extract)."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_iot.data.extract import SKIPPED_COLUMNS, extract_face_crops
from deepfake_iot.data.layouts import index_dataset
from deepfake_iot.data.schema import MANIFEST_COLUMNS


def write_video(path, n_frames, size=32):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (size, size))
    for index in range(n_frames):
        writer.write(np.full((size, size, 3), 30 + 40 * index, np.uint8))
    writer.release()


def noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def png_claiming(width, height):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


EXPECTED_SKIPS = {
    "real/empty.jpg": "empty_file",
    "real/truncated.jpg": "truncated",
    "real/text.jpg": "not_an_image",
    "real/tiny.png": "too_small",
    "real/bomb.png": "too_large",
    "fake/broken.mp4": "unreadable_video",
}


@pytest.fixture
def junk_dataset(tmp_path):
    """A generic layout mixing valid media with every kind of broken file."""
    real, fake = tmp_path / "data/real", tmp_path / "data/fake"
    real.mkdir(parents=True)
    fake.mkdir(parents=True)
    cv2.imwrite(str(real / "good.jpg"), noise((40, 40, 3)))
    cv2.imwrite(str(real / "gray.png"), noise((40, 40)))
    cv2.imwrite(str(real / "rgba.png"), noise((40, 40, 4)))
    cv2.imwrite(str(real / "deep16.png"), noise((40, 40)).astype(np.uint16) * 257)
    (real / "empty.jpg").write_bytes(b"")
    jpeg = cv2.imencode(".jpg", noise((64, 64, 3)))[1].tobytes()
    (real / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (real / "text.jpg").write_text("this is not an image")
    cv2.imwrite(str(real / "tiny.png"), noise((4, 4, 3)))
    (real / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    write_video(fake / "swap" / "clip.mp4", 5)
    (fake / "broken.mp4").write_bytes(b"\x00\x01garbage" * 64)
    write_video(fake / "zero.mp4", 0)
    return tmp_path / "data"


def test_junk_is_skipped_and_counted(junk_dataset, tmp_path):
    items = index_dataset("generic", junk_dataset)
    crops, skipped = extract_face_crops(
        items, tmp_path / "crops", frames_per_video=3, crop_size=24, detector="none",
        workers=1, progress=False,
    )  # fmt: skip
    assert list(crops.columns) == list(MANIFEST_COLUMNS)
    assert list(skipped.columns) == list(SKIPPED_COLUMNS)
    reasons = dict(zip(skipped["source_path"], skipped["reason"], strict=True))
    for source, reason in EXPECTED_SKIPS.items():
        assert reasons[source] == reason, source
    assert reasons["fake/zero.mp4"] in {"unreadable_video", "no_frames", "empty_file"}
    assert len(skipped) == len(EXPECTED_SKIPS) + 1
    assert (skipped["frame_index"] == -1).all()
    kept = set(crops["source_path"])
    assert kept == {"real/good.jpg", "real/gray.png", "real/rgba.png", "real/deep16.png",
                    "fake/swap/clip.mp4"}  # fmt: skip
    clip = crops[crops["source_path"] == "fake/swap/clip.mp4"]
    assert clip["frame_index"].tolist() == [0, 2, 4]
    assert set(clip["method"]) == {"swap"} and set(clip["label"]) == {1}
    still = crops[crops["source_path"] == "real/gray.png"].iloc[0]
    assert (still["frame_index"], still["face_w"], still["face_h"]) == (0, 40, 40)
    for path in crops["path"]:
        image = cv2.imread(str(tmp_path / "crops" / path))
        assert image.shape == (24, 24, 3)
    assert crops["path"].iloc[0].startswith("generic/")
    assert crops.equals(crops.sort_values(["video_id", "frame_index"]).reset_index(drop=True))


def test_extraction_is_deterministic_and_resumes(junk_dataset, tmp_path):
    items = index_dataset("generic", junk_dataset)
    options = {"frames_per_video": 2, "crop_size": 16, "detector": "none", "progress": False}
    first = extract_face_crops(items, tmp_path / "crops", workers=1, **options)
    written = sorted((tmp_path / "crops").rglob("*.*"))
    mtimes = {path: path.stat().st_mtime_ns for path in written}
    again = extract_face_crops(items, tmp_path / "crops", workers=1, **options)
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert sorted((tmp_path / "crops").rglob("*.*")) == written
    assert {path: path.stat().st_mtime_ns for path in written} == mtimes  # nothing rewritten
    assert any(path.name == "rows.json" for path in written)
    fresh = extract_face_crops(items, tmp_path / "other", workers=2, **options)
    pd.testing.assert_frame_equal(first[0], fresh[0])
    pd.testing.assert_frame_equal(first[1], fresh[1])
    # Other settings invalidate the stored rows: the crops are made again at the new size.
    bigger = extract_face_crops(
        items, tmp_path / "crops", workers=1, **{**options, "crop_size": 20}
    )
    assert cv2.imread(str(tmp_path / "crops" / bigger[0]["path"].iloc[0])).shape == (20, 20, 3)
    fewer = extract_face_crops(
        items, tmp_path / "crops", workers=1, **{**options, "frames_per_video": 1}
    )
    clip_dir = tmp_path / "crops" / "generic" / "generic_fake__swap__clip"
    assert sorted(p.name for p in clip_dir.glob("*.png")) == ["000.png"]
    assert len(fewer[0]) == len(first[0]) - 1


def test_haar_on_blank_frames_skips_no_face(tmp_path):
    (tmp_path / "real").mkdir()
    cv2.imwrite(str(tmp_path / "real/blank.png"), np.zeros((64, 64, 3), np.uint8))
    write_video(tmp_path / "fake/blank.mp4", 3)
    items = index_dataset("generic", tmp_path)
    crops, skipped = extract_face_crops(
        items, tmp_path / "crops", frames_per_video=2, detector="haar", workers=1, progress=False
    )
    assert crops.empty and list(crops.columns) == list(MANIFEST_COLUMNS)
    assert set(skipped["reason"]) == {"no_face"}
    assert skipped[["source_path", "frame_index"]].values.tolist() == [
        ["fake/blank.mp4", 0], ["fake/blank.mp4", 2], ["real/blank.png", 0],
    ]  # fmt: skip


def test_bad_arguments_fail_early(junk_dataset, tmp_path):
    items = index_dataset("generic", junk_dataset)
    with pytest.raises(ValueError, match="media_path"):
        extract_face_crops(items.drop(columns="media_path"), tmp_path / "crops", progress=False)
    with pytest.raises(ValueError, match="unique"):
        extract_face_crops(pd.concat([items, items]), tmp_path / "crops", progress=False)
    with pytest.raises(FileNotFoundError, match="yunet"):
        extract_face_crops(items, tmp_path / "crops", detector="yunet", progress=False)


def test_crops_carry_the_identities_of_their_item(tmp_path):
    import json

    write_video(tmp_path / "data/fake/swap/clip.mp4", 2)
    (tmp_path / "data/real").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "data/real/a.png"), noise((40, 40, 3)))
    items = index_dataset("generic", tmp_path / "data")
    items["identities"] = ["p1;p2", "p1"]
    options = {"frames_per_video": 2, "crop_size": 16, "detector": "none", "workers": 1,
               "progress": False}  # fmt: skip
    crops, _ = extract_face_crops(items, tmp_path / "crops", **options)
    assert crops.groupby("video_id")["identities"].first().tolist() == ["p1;p2", "p1"]
    for rows_file in (tmp_path / "crops").rglob("rows.json"):  # rows saved before the column
        stored = json.loads(rows_file.read_text())
        for row in stored["rows"]:
            row.pop("identities")
        rows_file.write_text(json.dumps(stored))
    again, _ = extract_face_crops(items, tmp_path / "crops", **options)
    pd.testing.assert_frame_equal(crops, again)
    bare, _ = extract_face_crops(items.drop(columns="identities"), tmp_path / "crops", **options)
    assert (bare["identities"] == bare["group"]).all()
