import numpy as np
import pandas as pd
import pytest

from deepfake_iot.data import manifest as mf
from deepfake_iot.data.schema import MANIFEST_COLUMNS


def fake_manifest(n_groups=20, videos_per_group=3, frames=2, official=None):
    rows = []
    for g in range(n_groups):
        for v in range(videos_per_group):
            label = 0 if v == 0 else 1
            for f in range(frames):
                rows.append(
                    {
                        "path": f"g{g}/v{v}/{f}.png",
                        "label": label,
                        "method": "real" if label == 0 else f"m{v}",
                        "video_id": f"g{g}_v{v}",
                        "group": f"g{g}",
                        "frame_index": f,
                        "face_x": 0,
                        "face_y": 0,
                        "face_w": 1,
                        "face_h": 1,
                        "dataset": "t",
                        "source_path": "",
                        "split": (official or {}).get(g, ""),
                    }
                )
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def test_splits_keep_groups_whole_and_follow_ratios():
    frame = mf.assign_splits(fake_manifest(40), [0.7, 0.15, 0.15], seed=1)
    assert set(frame["split"]) == {"train", "val", "test"}
    assert frame.groupby("group")["split"].nunique().max() == 1
    share = frame["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.08
    assert mf.leakage_report(frame).empty
    mf.check_splits(frame)


def test_splits_are_deterministic_and_seeded():
    a = mf.assign_splits(fake_manifest(), [0.6, 0.2, 0.2], seed=3)
    b = mf.assign_splits(fake_manifest(), [0.6, 0.2, 0.2], seed=3)
    c = mf.assign_splits(fake_manifest(), [0.6, 0.2, 0.2], seed=4)
    assert a.equals(b)
    assert not a["split"].equals(c["split"])


def test_official_split_wins_for_the_whole_group():
    frame = fake_manifest(10, official={0: "test", 1: "train"})
    frame.loc[(frame["group"] == "g0") & (frame["video_id"] != "g0_v0"), "split"] = ""
    out = mf.assign_splits(frame, [0.7, 0.15, 0.15], seed=0)
    assert set(out.loc[out["group"] == "g0", "split"]) == {"test"}
    assert set(out.loc[out["group"] == "g1", "split"]) == {"train"}


def test_leakage_is_reported():
    frame = mf.assign_splits(fake_manifest(10), [0.6, 0.2, 0.2], seed=0)
    frame.loc[0, "split"] = "test" if frame.loc[0, "split"] != "test" else "train"
    report = mf.leakage_report(frame)
    assert set(report["kind"]) == {"video_id", "group"}


def test_empty_split_or_single_class_split_stops():
    frame = mf.assign_splits(fake_manifest(10), [1.0, 0.0, 0.0], seed=0)
    with pytest.raises(ValueError, match="split 'val' is empty"):
        mf.check_splits(frame)
    frame = mf.assign_splits(fake_manifest(10), [0.6, 0.2, 0.2], seed=0)
    frame = frame[~((frame["split"] == "test") & (frame["label"] == 0))]
    with pytest.raises(ValueError, match="split 'test' has no real"):
        mf.check_splits(frame)
    with pytest.raises(ValueError, match="split_ratios"):
        mf.assign_splits(fake_manifest(), [0.5, 0.5], seed=0)


def test_near_duplicates_found_across_splits_only():
    frame = pd.DataFrame({"path": ["a", "b", "c", "d"], "split": ["train", "test", "train", "val"]})
    hashes = np.array([0b1111, 0b1110, 0b1111, 0xFFFF0000], dtype=np.uint64)
    pairs = mf.cross_split_near_duplicates(frame, hashes, max_bits=1)
    assert sorted(zip(pairs["path_a"], pairs["path_b"], strict=True)) == [("a", "b"), ("c", "b")]


def test_perceptual_hash_sees_copies(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (9, 9), 3)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    cv2.imwrite(str(tmp_path / "b.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    cv2.imwrite(str(tmp_path / "c.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    a, b, c = mf.perceptual_hashes([tmp_path / n for n in ("a.png", "b.jpg", "c.png")])
    assert np.bitwise_count(a ^ b) <= 4 < np.bitwise_count(a ^ c)


def test_undersampling_balances_by_whole_videos():
    frame = mf.assign_splits(fake_manifest(20), [0.6, 0.2, 0.2], seed=0)
    out = mf.balance_classes(frame, "undersample", seed=0)
    for _, part in out.groupby("split"):
        counts = part["label"].value_counts()
        assert abs(counts[0] - counts[1]) <= 2
    kept = out.groupby("video_id").size()
    assert (kept == 2).all()
    assert mf.balance_classes(frame, "none", seed=0) is frame
    with pytest.raises(ValueError, match="balance"):
        mf.balance_classes(frame, "oversample", seed=0)


def test_manifest_roundtrip_and_missing_columns(tmp_path):
    frame = mf.assign_splits(fake_manifest(5), [0.6, 0.2, 0.2], seed=0)
    mf.save_manifest(frame, tmp_path / "m.csv")
    back = mf.load_manifest(tmp_path / "m.csv")
    assert back.equals(frame.reset_index(drop=True))
    with pytest.raises(ValueError, match="lacks column"):
        mf.save_manifest(frame.drop(columns=["group"]), tmp_path / "m.csv")
    with pytest.raises(FileNotFoundError, match="01_data_setup"):
        mf.load_manifest(tmp_path / "none.csv")


def test_counts_table_totals():
    frame = mf.assign_splits(fake_manifest(10), [0.6, 0.2, 0.2], seed=0)
    table = mf.counts_table(frame)
    assert table.iloc[0]["method"] == "real" and table.iloc[-1]["method"] == "all"
    assert table.iloc[-1]["total"] == len(frame)


def test_same_seed_gives_the_same_manifest(tmp_path):
    """Notebook 01's data path twice with one seed: identical manifests (and a new seed differs)."""
    from deepfake_iot.data.synthetic import generate_synthetic_benchmark

    def manifest_for(folder, seed):
        crops = generate_synthetic_benchmark(
            tmp_path / folder,
            seed=seed,
            n_identities=8,
            frames_per_video=2,
            frame_size=64,
            crop_size=32,
            families=["face_swap", "gan_synthesis"],
            strength=1.0,
            jpeg_quality=(70, 95),
            workers=1,
            progress=False,
        )
        return mf.assign_splits(crops, [0.5, 0.25, 0.25], seed)

    first, second = manifest_for("a", 7), manifest_for("b", 7)
    assert first.equals(second)
    assert (tmp_path / "a" / first.iloc[3]["path"]).read_bytes() == (
        tmp_path / "b" / second.iloc[3]["path"]
    ).read_bytes()
    other = manifest_for("c", 8)
    assert (tmp_path / "c" / other.iloc[3]["path"]).read_bytes() != (
        tmp_path / "a" / first.iloc[3]["path"]
    ).read_bytes()


def test_confirmation_drops_hash_collisions_and_keeps_copies(tmp_path):
    import cv2

    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8), (7, 7), 2)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    cv2.imwrite(str(tmp_path / "copy.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    cv2.imwrite(str(tmp_path / "other.png"), 255 - image)
    pairs = pd.DataFrame(
        {
            "path_a": ["a.png", "a.png"],
            "split_a": ["train"] * 2,
            "path_b": ["copy.jpg", "other.png"],
            "split_b": ["test"] * 2,
            "bits": [0, 2],
        }
    )
    confirmed = mf.confirm_near_duplicates(pairs, tmp_path)
    assert list(confirmed["path_b"]) == ["copy.jpg"] and confirmed["mad"].iloc[0] < 6
