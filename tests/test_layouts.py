"""Dataset layouts in miniature: labels, methods, groups and splits (data.layouts)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_iot.data import splits
from deepfake_iot.data.layouts import ITEM_COLUMNS, index_dataset
from deepfake_iot.data.schema import MANIFEST_COLUMNS


def write_video(path, n_frames=3, size=32):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (size, size))
    for index in range(n_frames):
        writer.write(np.full((size, size, 3), 50 * index, np.uint8))
    writer.release()


def write_image(path, size=24):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size, 3), 128, np.uint8))


def by_id(frame):
    return frame.set_index("video_id")


def make_ffpp(root, with_splits=True):
    for vid in ("000", "003", "001", "002", "004"):
        write_video(root / "original_sequences/youtube/c23/videos" / f"{vid}.mp4")
    for method in ("Deepfakes", "FaceSwap"):
        for fake in ("000_003", "003_000", "001_002", "002_001"):
            write_video(root / "manipulated_sequences" / method / "c23/videos" / f"{fake}.mp4")
    if with_splits:
        (root / "splits").mkdir()
        (root / "splits/train.json").write_text(json.dumps([["000", "003"]]))
        (root / "splits/val.json").write_text(json.dumps([["002", "001"]]))
        (root / "splits/test.json").write_text(json.dumps([]))


def test_ffpp_labels_groups_and_official_splits(tmp_path):
    make_ffpp(tmp_path)
    items = index_dataset("ffpp", tmp_path)
    assert list(items.columns) == list(ITEM_COLUMNS)
    assert len(items) == 5 + 8 and items["video_id"].is_unique
    rows = by_id(items)
    for vid in ("ffpp_c23_real_000", "ffpp_c23_Deepfakes_000_003", "ffpp_c23_FaceSwap_003_000"):
        assert rows.loc[vid, "split"] == "train" and rows.loc[vid, "group"] == "ffpp_000_003"
    assert rows.loc["ffpp_c23_real_003", "split"] == "train"
    assert rows.loc["ffpp_c23_Deepfakes_002_001", "split"] == "val"
    assert rows.loc["ffpp_c23_real_001", "group"] == "ffpp_001_002"
    assert rows.loc["ffpp_c23_real_004", "split"] == "" and items.attrs["counts"]["unsplit"] == 1
    assert rows.loc["ffpp_c23_real_000", "label"] == 0
    assert rows.loc["ffpp_c23_real_000", "method"] == "real"
    assert rows.loc["ffpp_c23_FaceSwap_003_000", "label"] == 1
    assert rows.loc["ffpp_c23_FaceSwap_003_000", "method"] == "FaceSwap"
    assert rows.loc["ffpp_c23_FaceSwap_003_000", "media_type"] == "video"
    expected = "manipulated_sequences/FaceSwap/c23/videos/003_000.mp4"
    assert rows.loc["ffpp_c23_FaceSwap_003_000", "source_path"] == expected
    only = index_dataset("ffpp", tmp_path, methods=["Deepfakes"])
    assert set(only["method"]) == {"real", "Deepfakes"}


def test_ffpp_without_splits_derives_groups(tmp_path):
    make_ffpp(tmp_path, with_splits=False)
    rows = by_id(index_dataset("ffpp", tmp_path))
    assert set(rows["split"]) == {""}
    assert rows.loc["ffpp_c23_real_003", "group"] == "ffpp_000_003"
    assert rows.loc["ffpp_c23_Deepfakes_002_001", "group"] == "ffpp_001_002"
    assert rows.loc["ffpp_c23_real_004", "group"] == "ffpp_004"


def test_ffpp_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="original_sequences"):
        index_dataset("ffpp", tmp_path)
    make_ffpp(tmp_path)
    with pytest.raises(ValueError, match="compression"):
        index_dataset("ffpp", tmp_path, compression="c99")
    with pytest.raises(FileNotFoundError, match="NeuralTextures"):
        index_dataset("ffpp", tmp_path, methods=["NeuralTextures"])
    with pytest.raises(FileNotFoundError, match="nowhere"):
        index_dataset("ffpp", tmp_path, splits_dir=tmp_path / "nowhere")


def test_celebdf_test_list_uses_one_for_real(tmp_path):
    write_video(tmp_path / "Celeb-real/id0_0000.mp4")
    write_video(tmp_path / "Celeb-real/id1_0003.mp4")
    write_video(tmp_path / "YouTube-real/00001.mp4")
    write_video(tmp_path / "Celeb-synthesis/id0_id1_0000.mp4")
    write_video(tmp_path / "Celeb-synthesis/id1_id0_0003.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 YouTube-real/09999.mp4\n"
    )
    items = index_dataset("celebdf_v2", tmp_path)
    rows = by_id(items)
    assert rows.loc["celebdf_Celeb-real_id0_0000", "split"] == "test"
    assert rows.loc["celebdf_Celeb-synthesis_id0_id1_0000", "split"] == "test"
    assert rows.loc["celebdf_Celeb-real_id1_0003", "split"] == ""
    assert rows.loc["celebdf_Celeb-synthesis_id0_id1_0000", "label"] == 1
    assert rows.loc["celebdf_YouTube-real_00001", "label"] == 0
    assert rows.loc["celebdf_Celeb-synthesis_id0_id1_0000", "group"] == "celebdf_id0"
    assert rows.loc["celebdf_Celeb-synthesis_id1_id0_0003", "group"] == "celebdf_id1"
    assert rows.loc["celebdf_YouTube-real_00001", "group"] == "celebdf_yt_00001"
    assert items.attrs["counts"] == {"listed": 3, "listed_missing": 1}
    (tmp_path / "List_of_testing_videos.txt").write_text("0 Celeb-real/id0_0000.mp4\n")
    with pytest.raises(ValueError, match="1 = real"):
        index_dataset("celebdf_v2", tmp_path)


def test_deeperforensics_recursive_with_splits(tmp_path):
    write_video(tmp_path / "source_videos/M101/BlendShape/camera_front/clip.mp4")
    write_video(tmp_path / "source_videos/W112/light_uniform/camera_down/clip.mp4")
    write_video(tmp_path / "manipulated_videos/end_to_end/000_M101.mp4")
    write_video(tmp_path / "manipulated_videos/end_to_end_level_3/000_M101.mp4")
    write_video(tmp_path / "manipulated_videos/reenact_postprocess/001_W112.mp4")
    (tmp_path / "lists/splits").mkdir(parents=True)
    (tmp_path / "lists/splits/train.txt").write_text("000_M101.mp4\n")
    (tmp_path / "lists/splits/test.txt").write_text("001_W112.mp4\n")
    items = index_dataset("deeperforensics", tmp_path)
    assert len(items) == 5 and items["video_id"].is_unique
    fakes = items[items["label"] == 1]
    assert set(fakes["method"]) == {"end_to_end", "end_to_end_level_3", "reenact_postprocess"}
    assert set(items.loc[items["group"] == "dfo_M101", "label"]) == {0, 1}
    assert set(fakes.loc[fakes["group"] == "dfo_M101", "split"]) == {"train"}
    assert set(fakes.loc[fakes["group"] == "dfo_W112", "split"]) == {"test"}
    assert set(items.loc[items["label"] == 0, "split"]) == {""}


def test_kaggle_real_fake_splits_from_folders(tmp_path):
    for split in ("Train", "Validation", "Test"):
        for name in ("Real", "Fake"):
            write_image(tmp_path / "Dataset" / split / name / f"{name.lower()}_0.jpg")
    items = index_dataset("kaggle_real_fake", tmp_path)
    assert len(items) == 6 and items["video_id"].is_unique
    assert sorted(set(items["split"])) == ["test", "train", "val"]
    assert set(items["media_type"]) == {"image"}
    fake = items[items["label"] == 1]
    assert set(fake["method"]) == {"fake"} and (items["group"] == items["video_id"]).all()


def make_140k(root):
    base = root / "real_vs_fake/real-vs-fake"
    for split in ("train", "valid", "test"):
        for name in ("real", "fake"):
            write_image(base / split / name / f"{split}{name}1.jpg")
    return base


def test_kaggle_140k_csv_layout_label_one_is_real(tmp_path):
    make_140k(tmp_path)
    for split in ("train", "valid", "test"):
        table = pd.DataFrame(
            {
                "original_path": ["/x/a.png", "/x/b.png", "/x/c.png"],
                "id": [1, 2, 3],
                "label": [1, 0, 1],
                "label_str": ["real", "fake", "real"],
                "path": [f"{split}/real/{split}real1.jpg", f"{split}/fake/{split}fake1.jpg",
                         f"{split}/real/gone.jpg"],
            }
        )  # fmt: skip
        table.to_csv(tmp_path / f"{split}.csv")
    items = index_dataset("kaggle_140k", tmp_path)
    assert len(items) == 6 and items.attrs["counts"]["missing"] == 3
    real = items[items["source_path"].str.contains("/real/")]
    assert set(real["label"]) == {0} and set(real["method"]) == {"real"}
    fake = items[items["source_path"].str.contains("/fake/")]
    assert set(fake["label"]) == {1} and set(fake["method"]) == {"stylegan"}
    assert sorted(set(items["split"])) == ["test", "train", "val"]


def test_kaggle_140k_plain_folders(tmp_path):
    make_140k(tmp_path)
    items = index_dataset("kaggle_140k", tmp_path)
    assert len(items) == 6 and items.groupby("split")["label"].sum().to_dict() == {
        "test": 1, "train": 1, "val": 1,
    }  # fmt: skip


def test_generic_images_and_videos_with_methods(tmp_path):
    write_image(tmp_path / "real/a.jpg")
    write_video(tmp_path / "real/clips/b.mp4")
    write_image(tmp_path / "fake/c.png")
    write_video(tmp_path / "fake/faceswap/d.mp4")
    (tmp_path / "fake/notes.txt").write_text("ignored")
    rows = by_id(index_dataset("generic", tmp_path, dataset="mine"))
    assert len(rows) == 4
    assert rows.loc["mine_fake__faceswap__d", "method"] == "faceswap"
    assert rows.loc["mine_fake__faceswap__d", "media_type"] == "video"
    assert rows.loc["mine_fake__c", "method"] == "fake"
    assert rows.loc["mine_real__clips__b", "method"] == "real"
    assert set(rows["split"]) == {""} and set(rows["dataset"]) == {"mine"}


def test_generic_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="real"):
        index_dataset("generic", tmp_path)
    write_image(tmp_path / "real/a.jpg")
    (tmp_path / "fake").mkdir()
    with pytest.raises(ValueError, match="no media found in .*fake"):
        index_dataset("generic", tmp_path)
    with pytest.raises(FileNotFoundError, match="missing_root"):
        index_dataset("generic", tmp_path / "missing_root")
    with pytest.raises(ValueError, match="unknown dataset layout"):
        index_dataset("imagenet", tmp_path)


def crops_of(items, frames=2):
    """Manifest rows as extraction would write them: ``frames`` crops per item."""
    rows = [{**item, "path": f"{item['video_id']}/{f:03d}.png", "frame_index": f, "face_x": 0,
             "face_y": 0, "face_w": 8, "face_h": 8}
            for item in items.to_dict("records") for f in range(frames)]  # fmt: skip
    return pd.DataFrame(rows)[list(MANIFEST_COLUMNS)]


def make_celebdf_donor_leak(root):
    """id0's fake with id16's face is on the official test list; id16's real videos are not."""
    for name in ("id0_0000", "id0_0001", "id16_0000", "id16_0001", "id1_0000", "id1_0001",
                 "id2_0000", "id2_0001", "id3_0000"):  # fmt: skip
        write_video(root / "Celeb-real" / f"{name}.mp4", n_frames=1)
    for name in ("id0_id16_0000", "id16_id3_0000", "id1_id2_0000", "id2_id1_0001", "id3_id1_0000"):
        write_video(root / "Celeb-synthesis" / f"{name}.mp4", n_frames=1)
    for name in ("00001", "00002", "00003"):
        write_video(root / "YouTube-real" / f"{name}.mp4", n_frames=1)
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id16_0000.mp4\n1 YouTube-real/00003.mp4\n"
    )
    return {"celebdf_Celeb-real_id0_0000", "celebdf_Celeb-synthesis_id0_id16_0000",
            "celebdf_YouTube-real_00003"}  # fmt: skip


def test_celebdf_identities_name_target_and_donor(tmp_path):
    make_celebdf_donor_leak(tmp_path)
    rows = by_id(index_dataset("celebdf_v2", tmp_path))
    assert (
        rows.loc["celebdf_Celeb-synthesis_id0_id16_0000", "identities"]
        == "celebdf_id0;celebdf_id16"
    )
    assert rows.loc["celebdf_Celeb-synthesis_id0_id16_0000", "group"] == "celebdf_id0"
    assert rows.loc["celebdf_Celeb-real_id0_0000", "identities"] == "celebdf_id0"
    assert rows.loc["celebdf_YouTube-real_00001", "identities"] == "celebdf_yt_00001"


def test_celebdf_official_test_list_is_the_test_set_and_no_test_identity_trains(tmp_path):
    listed = make_celebdf_donor_leak(tmp_path)
    crops = crops_of(index_dataset("celebdf_v2", tmp_path))
    out, info = splits.split_by_identity(crops, [0.7, 0.15, 0.15], seed=0)
    assert set(out.loc[out["split"] == "test", "video_id"]) == listed
    assert info["test_rule"] == "official" and info["test_videos"] == 3
    # id0's other real video, id16's two and the fake id16_id3 share id0 or id16 with the list
    assert info["dropped_for_official_test"] == {"videos": 4, "crops": 8}
    assert {
        "celebdf_Celeb-real_id0_0001", "celebdf_Celeb-real_id16_0000",
        "celebdf_Celeb-real_id16_0001", "celebdf_Celeb-synthesis_id16_id3_0000",
    } <= set(info["dropped_video_ids"])  # fmt: skip
    test_people = {
        i for cell in out.loc[out["split"] == "test", "identities"] for i in cell.split(";")
    }
    others = {i for cell in out.loc[out["split"] != "test", "identities"] for i in cell.split(";")}
    assert test_people == {"celebdf_id0", "celebdf_id16", "celebdf_yt_00003"}
    assert not test_people & others and set(out["split"]) <= {"train", "val", "test"}
    assert splits.leakage_report(out).empty
    assert info["dropped_videos"] + out["video_id"].nunique() == crops["video_id"].nunique()


def test_celebdf_target_only_groups_leak_the_donor_and_the_report_says_so(tmp_path):
    listed = make_celebdf_donor_leak(tmp_path)
    crops = crops_of(index_dataset("celebdf_v2", tmp_path))
    old = splits.assign_splits(crops, [1.0, 0.0, 0.0], seed=0)  # every unlisted group to train
    assert set(old.loc[old["split"] == "test", "video_id"]) > listed  # id0_0001 pulled into test
    assert set(old.loc[old["group"] == "celebdf_id16", "split"]) == {"train"}
    report = splits.leakage_report(old)
    assert {"kind": "identity", "name": "celebdf_id16", "splits": "test,train"} in report.to_dict(
        "records"
    )
    assert set(report["kind"]) == {"identity"}  # video and group checks saw nothing


def test_ffpp_identities_are_source_videos_and_components_are_the_pairs(tmp_path):
    make_ffpp(tmp_path, with_splits=False)
    items = index_dataset("ffpp", tmp_path)
    rows = by_id(items)
    assert rows.loc["ffpp_c23_real_000", "identities"] == "ffpp_000"
    assert rows.loc["ffpp_c23_Deepfakes_000_003", "identities"] == "ffpp_000;ffpp_003"
    assert rows.loc["ffpp_c23_FaceSwap_003_000", "identities"] == "ffpp_000;ffpp_003"
    groups = by_id(splits.identity_groups(items))["group"]
    assert groups.groupby(groups).size().to_dict() == {"ffpp_000_003": 6, "ffpp_001_002": 6,
                                                       "ffpp_004": 1}  # fmt: skip


def test_ffpp_official_test_pair_is_exactly_the_test_set(tmp_path):
    make_ffpp(tmp_path)
    (tmp_path / "splits/test.json").write_text(json.dumps([["004", "005"]]))
    (tmp_path / "splits/val.json").write_text(json.dumps([]))
    write_video(tmp_path / "original_sequences/youtube/c23/videos/005.mp4")
    write_video(tmp_path / "manipulated_sequences/Deepfakes/c23/videos/004_005.mp4")
    crops = crops_of(index_dataset("ffpp", tmp_path))
    out, info = splits.split_by_identity(crops, [0.7, 0.15, 0.15], seed=0)
    assert set(out.loc[out["split"] == "test", "video_id"]) == {
        "ffpp_c23_real_004", "ffpp_c23_real_005", "ffpp_c23_Deepfakes_004_005",
    }  # fmt: skip
    assert info["dropped_videos"] == 0 and splits.leakage_report(out).empty
    assert set(out.loc[out["group"] == "ffpp_000_003", "split"]) == {"train"}


def test_deeperforensics_fakes_show_the_actor_and_the_ffpp_target(tmp_path):
    write_video(tmp_path / "source_videos/M101/BlendShape/camera_front/clip.mp4")
    write_video(tmp_path / "source_videos/W112/light_uniform/camera_down/clip.mp4")
    write_video(tmp_path / "manipulated_videos/end_to_end/000_M101.mp4")
    write_video(tmp_path / "manipulated_videos/reenact_postprocess/001_W112.mp4")
    (tmp_path / "lists/splits").mkdir(parents=True)
    (tmp_path / "lists/splits/train.txt").write_text("000_M101.mp4\n")
    (tmp_path / "lists/splits/test.txt").write_text("001_W112.mp4\n")
    items = index_dataset("deeperforensics", tmp_path)
    rows = by_id(items)
    assert rows.loc["dfo_manipulated_videos__end_to_end__000_M101", "identities"] == (
        "dfo_M101;ffpp_000"
    )
    assert set(items.loc[items["label"] == 0, "identities"]) == {"dfo_M101", "dfo_W112"}
    out, info = splits.split_by_identity(crops_of(items), [0.7, 0.15, 0.15], seed=0)
    test = out[out["split"] == "test"]
    assert set(test["identities"]) == {"dfo_W112;ffpp_001", "dfo_W112"}  # the list has no reals
    assert info["added_test_videos"] == 1 and splits.leakage_report(out).empty


def test_image_sets_make_every_image_its_own_identity(tmp_path):
    write_image(tmp_path / "real/a.jpg")
    write_image(tmp_path / "fake/faceswap/b.jpg")
    items = index_dataset("generic", tmp_path)
    assert (items["identities"] == items["video_id"]).all()
    for split in ("Train", "Test"):
        for name in ("Real", "Fake"):
            write_image(tmp_path / "k" / "Dataset" / split / name / "x.jpg")
    kaggle = index_dataset("kaggle_real_fake", tmp_path / "k")
    assert (kaggle["identities"] == kaggle["video_id"]).all()
