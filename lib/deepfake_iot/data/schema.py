"""The manifest: one row per face crop. Every notebook after 01 reads only this and the crops."""

from __future__ import annotations

LABEL_REAL = 0
LABEL_FAKE = 1
LABEL_NAMES = {LABEL_REAL: "real", LABEL_FAKE: "fake"}
SPLITS = ("train", "val", "test")

# Column -> meaning. Order is the order written to disk.
MANIFEST_COLUMNS = {
    "path": "crop file, POSIX path relative to the crops folder",
    "label": "0 = real, 1 = fake (fake is the positive class)",
    "method": "'real' for real crops, else the manipulation method or family",
    "video_id": "unique id of the source video (or image) the crop comes from",
    "group": "leakage group: identity or source/target pair; splits never cut a group",
    "frame_index": "index of the frame in its video (0 for still images)",
    "face_x": "face box in the original frame, pixels",
    "face_y": "",
    "face_w": "",
    "face_h": "",
    "dataset": "dataset name",
    "source_path": "original media file relative to the dataset root ('' when generated)",
    "split": "train / val / test ('' until assigned; set by an official split file when one exists)",
}
