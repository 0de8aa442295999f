import numpy as np
import pandas as pd
import pytest

from deepfake_iot.data import manifest as mf
from deepfake_iot.data import near_duplicates, splits
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
                        "identities": "",  # empty: the group stands for the identity
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
    frame = splits.assign_splits(fake_manifest(40), [0.7, 0.15, 0.15], seed=1)
    assert set(frame["split"]) == {"train", "val", "test"}
    assert frame.groupby("group")["split"].nunique().max() == 1
    share = frame["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.08
    assert splits.leakage_report(frame).empty
    splits.check_splits(frame)


def test_splits_are_deterministic_and_seeded():
    a = splits.assign_splits(fake_manifest(), [0.6, 0.2, 0.2], seed=3)
    b = splits.assign_splits(fake_manifest(), [0.6, 0.2, 0.2], seed=3)
    c = splits.assign_splits(fake_manifest(), [0.6, 0.2, 0.2], seed=4)
    assert a.equals(b)
    assert not a["split"].equals(c["split"])


def test_official_split_wins_for_the_whole_group():
    frame = fake_manifest(10, official={0: "test", 1: "train"})
    frame.loc[(frame["group"] == "g0") & (frame["video_id"] != "g0_v0"), "split"] = ""
    out = splits.assign_splits(frame, [0.7, 0.15, 0.15], seed=0)
    assert set(out.loc[out["group"] == "g0", "split"]) == {"test"}
    assert set(out.loc[out["group"] == "g1", "split"]) == {"train"}


def test_leakage_is_reported():
    frame = splits.assign_splits(fake_manifest(10), [0.6, 0.2, 0.2], seed=0)
    frame.loc[0, "split"] = "test" if frame.loc[0, "split"] != "test" else "train"
    report = splits.leakage_report(frame)
    assert set(report["kind"]) == {"video_id", "group"}


def test_empty_split_or_single_class_split_stops():
    frame = splits.assign_splits(fake_manifest(10), [1.0, 0.0, 0.0], seed=0)
    with pytest.raises(ValueError, match="split 'val' is empty"):
        splits.check_splits(frame)
    frame = splits.assign_splits(fake_manifest(10), [0.6, 0.2, 0.2], seed=0)
    frame = frame[~((frame["split"] == "test") & (frame["label"] == 0))]
    with pytest.raises(ValueError, match="split 'test' has no real"):
        splits.check_splits(frame)
    with pytest.raises(ValueError, match="split_ratios"):
        splits.assign_splits(fake_manifest(), [0.5, 0.5], seed=0)


def test_near_duplicates_found_across_splits_only():
    frame = pd.DataFrame({"path": ["a", "b", "c", "d"], "split": ["train", "test", "train", "val"]})
    hashes = np.array([0b1111, 0b1110, 0b1111, 0xFFFF0000], dtype=np.uint64)
    pairs = near_duplicates.cross_split_near_duplicates(frame, hashes, max_bits=1)
    assert sorted(zip(pairs["path_a"], pairs["path_b"], strict=True)) == [("a", "b"), ("c", "b")]


def test_perceptual_hash_sees_copies(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (9, 9), 3)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    cv2.imwrite(str(tmp_path / "b.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    cv2.imwrite(str(tmp_path / "c.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    a, b, c = near_duplicates.perceptual_hashes([tmp_path / n for n in ("a.png", "b.jpg", "c.png")])
    assert np.bitwise_count(a ^ b) <= 4 < np.bitwise_count(a ^ c)


def test_undersampling_balances_by_whole_videos():
    frame = splits.assign_splits(fake_manifest(20), [0.6, 0.2, 0.2], seed=0)
    out = splits.balance_classes(frame, "undersample", seed=0)
    for _, part in out.groupby("split"):
        counts = part["label"].value_counts()
        assert abs(counts[0] - counts[1]) <= 2
    kept = out.groupby("video_id").size()
    assert (kept == 2).all()
    assert splits.balance_classes(frame, "none", seed=0) is frame
    with pytest.raises(ValueError, match="balance"):
        splits.balance_classes(frame, "oversample", seed=0)


def test_manifest_roundtrip_and_missing_columns(tmp_path):
    frame = splits.assign_splits(fake_manifest(5), [0.6, 0.2, 0.2], seed=0)
    mf.save_manifest(frame, tmp_path / "m.csv")
    back = mf.load_manifest(tmp_path / "m.csv")
    assert back.equals(frame.reset_index(drop=True))
    with pytest.raises(ValueError, match="lacks column"):
        mf.save_manifest(frame.drop(columns=["group"]), tmp_path / "m.csv")
    with pytest.raises(FileNotFoundError, match="01_data_setup"):
        mf.load_manifest(tmp_path / "none.csv")


def test_counts_table_totals():
    frame = splits.assign_splits(fake_manifest(10), [0.6, 0.2, 0.2], seed=0)
    table = splits.counts_table(frame)
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
        return splits.assign_splits(crops, [0.5, 0.25, 0.25], seed)

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
    confirmed = near_duplicates.confirm_near_duplicates(pairs, tmp_path)
    assert list(confirmed["path_b"]) == ["copy.jpg"] and confirmed["mad"].iloc[0] < 6


def identity_frame(videos, frames=2):
    """Crops of videos given as (video_id, label, identities, split); each video its own group."""
    rows = []
    for video, label, identities, split in videos:
        for f in range(frames):
            rows.append({"path": f"{video}/{f}.png", "label": label,
                         "method": "real" if label == 0 else "swap", "video_id": video,
                         "group": f"grp_{video}", "identities": identities, "frame_index": f,
                         "face_x": 0, "face_y": 0, "face_w": 1, "face_h": 1, "dataset": "t",
                         "source_path": "", "split": split})  # fmt: skip
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def test_identity_components_link_shared_identities_and_are_stable():
    frame = identity_frame([
        ("v1", 0, "a", ""), ("v2", 1, "a;b", ""), ("v3", 1, "b;c", ""), ("v4", 0, "d", ""),
        ("v5", 1, "d;e", ""), ("v6", 0, "f", ""), ("v7", 0, "", ""),
    ])  # fmt: skip
    out = splits.identity_groups(frame)
    group = out.groupby("video_id")["group"].first()
    assert group[["v1", "v2", "v3"]].tolist() == ["grp_v1"] * 3
    assert group[["v4", "v5"]].tolist() == ["grp_v4"] * 2
    assert group["v6"] == "grp_v6" and group["v7"] == "grp_v7"
    assert out.loc[out["video_id"] == "v7", "identities"].eq("grp_v7").all()  # empty -> group
    shuffled = splits.identity_groups(frame.sample(frac=1, random_state=3))
    assert shuffled.sort_index().equals(out)
    # a group links its rows even when they share no identity (a synthetic pair, an FF++ pair)
    linked = frame.assign(group=frame["group"].replace({"grp_v6": "grp_v4"}))
    assert set(splits.identity_groups(linked).loc[lambda f: f["video_id"] == "v6", "group"]) == {
        "grp_v4"
    }


def test_leakage_report_sees_an_identity_in_two_splits():
    frame = identity_frame([("r16", 0, "id16", "train"), ("f0_16", 1, "id0;id16", "test"),
                            ("r0", 0, "id0", "test")])  # fmt: skip
    report = splits.leakage_report(frame)
    assert report.to_dict("records") == [
        {"kind": "identity", "name": "id16", "splits": "test,train"}
    ]
    assert splits.leakage_report(frame.assign(identities="")).empty  # groups alone see nothing
    assert splits.leakage_report(frame.drop(columns="identities")).empty


def test_fixed_test_keeps_the_list_and_drops_videos_sharing_an_identity():
    frame = identity_frame([
        ("r0", 0, "id0", "test"), ("f0_16", 1, "id0;id16", "test"), ("r0b", 0, "id0", ""),
        ("r16", 0, "id16", "train"), ("f16_3", 1, "id16;id3", ""), ("r3", 0, "id3", ""),
        ("r5", 0, "id5", ""), ("f5_3", 1, "id3;id5", ""),
    ])  # fmt: skip
    kept, info = splits.apply_fixed_test(frame)
    assert set(kept.loc[kept["split"] == "test", "video_id"]) == {"r0", "f0_16"}
    assert set(kept["video_id"]) == {"r0", "f0_16", "r3", "r5", "f5_3"}
    assert info["dropped_videos"] == 3 and info["dropped_crops"] == 6
    assert info["dropped_by_split"] == {"train": 1, "unsplit": 2}
    assert info["dropped_video_ids"] == ["f16_3", "r0b", "r16"] and info["added_videos"] == 0
    assert kept.attrs["fixed_test"] == {k: v for k, v in info.items() if k != "dropped_video_ids"}


def test_a_one_class_test_list_takes_the_other_class_of_its_identities_only():
    """DeeperForensics lists fakes only: a test actor's real videos join the test set."""
    frame = identity_frame([
        ("f_w", 1, "dfo_W112;ffpp_001", "test"), ("r_w", 0, "dfo_W112", ""),
        ("r_m", 0, "dfo_M101", ""), ("f_m", 1, "dfo_M101;ffpp_000", "train"),
        ("r_x", 0, "dfo_M101;dfo_W112", ""),
    ])  # fmt: skip
    frame["group"] = frame["identities"].str.split(";").str[0]  # the actor, as the layout does
    kept, info = splits.apply_fixed_test(frame)
    assert set(kept.loc[kept["split"] == "test", "video_id"]) == {"f_w", "r_w"}
    assert info["added_videos"] == 1 and info["dropped_video_ids"] == ["r_x"]
    exact, _ = splits.apply_fixed_test(frame, fill_missing_class=False)
    assert set(exact.loc[exact["split"] == "test", "video_id"]) == {"f_w"}


def test_split_by_identity_on_groups_alone_is_assign_splits():
    frame = fake_manifest(30)
    out, info = splits.split_by_identity(frame, [0.7, 0.15, 0.15], seed=5)
    old = splits.assign_splits(frame, [0.7, 0.15, 0.15], seed=5)
    assert out["split"].equals(old["split"]) and out["group"].equals(old["group"])
    assert info["test_rule"] == "components" and info["dropped_videos"] == 0
    assert splits.leakage_report(out).empty


def chain_frame(n_people=12):
    """One giant component: person k has two real videos and swaps with k + 1 (both ways)."""
    videos = []
    for k in range(n_people):
        videos += [(f"r{k:02d}_{i}", 0, f"p{k:02d}", "") for i in range(2)]
        if k + 1 < n_people:
            pair = f"p{k:02d};p{k + 1:02d}"
            videos += [
                (f"f{k:02d}_{k + 1:02d}", 1, pair, ""),
                (f"f{k + 1:02d}_{k:02d}", 1, pair, ""),
            ]
    return identity_frame(videos)


def test_a_component_holding_most_crops_is_cut_by_identities():
    frame = chain_frame()
    whole = splits.identity_groups(frame)
    assert whole["group"].nunique() == 1  # the swaps link everyone
    out, info = splits.split_by_identity(frame, [0.6, 0.2, 0.2], seed=1)
    assert info["test_rule"] == "carved" and info["carved_component"] == whole["group"].iloc[0]
    assert set(out["split"]) == {"train", "val", "test"}
    assert splits.leakage_report(out).empty
    assert info["dropped_videos"] == len(info["dropped_video_ids"]) > 0
    assert info["dropped_videos"] + out["video_id"].nunique() == frame["video_id"].nunique()
    assert info["dropped_crops"] + len(out) == len(frame)
    for split in ("val", "test"):
        assert set(out.loc[out["split"] == split, "label"]) == {0, 1}
    again, _ = splits.split_by_identity(frame.sample(frac=1, random_state=0), [0.6, 0.2, 0.2], 1)
    assert (
        again.groupby("video_id")["split"].first().equals(out.groupby("video_id")["split"].first())
    )
    kept_whole, info = splits.split_by_identity(frame, [0.6, 0.2, 0.2], 1, max_component_share=1.0)
    assert set(kept_whole["split"]) == {kept_whole["split"].iloc[0]} and info["dropped_videos"] == 0


def test_official_train_and_val_in_one_component_take_the_majority():
    frame = identity_frame([
        ("a", 0, "x", "train"), ("b", 1, "x;y", "train"), ("c", 0, "y", "val"), ("d", 0, "z", ""),
        ("e", 1, "z;w", ""), ("t", 0, "q", "test"), ("u", 1, "q;s", "test"),
    ])  # fmt: skip
    out, info = splits.split_by_identity(frame, [0.5, 0.5, 0.0], seed=0, max_component_share=1.0)
    split = out.groupby("video_id")["split"].first()
    assert split[["a", "b", "c"]].tolist() == ["train"] * 3 and info["relabelled_videos"] == 1
    assert split[["t", "u"]].tolist() == ["test"] * 2 and info["test_rule"] == "official"
    assert split["d"] == split["e"] != "test" and splits.leakage_report(out).empty


def test_an_old_manifest_without_identities_loads_with_the_group(tmp_path):
    frame = fake_manifest(3)
    frame.drop(columns="identities").to_csv(tmp_path / "old.csv", index=False)
    back = mf.load_manifest(tmp_path / "old.csv")
    assert list(back.columns) == list(MANIFEST_COLUMNS)
    assert back["identities"].equals(back["group"])
