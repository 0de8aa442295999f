"""The manifest: one row per face crop. Every notebook after 01 reads only this and the crops.

This module owns the column list and meanings (``MANIFEST_COLUMNS``) and the text format of the
``identities`` column (``join_identities`` / ``split_identities``).
"""

from __future__ import annotations

from collections.abc import Iterable

LABEL_REAL = 0
LABEL_FAKE = 1
LABEL_NAMES = {LABEL_REAL: "real", LABEL_FAKE: "fake"}
SPLITS = ("train", "val", "test")
IDENTITY_SEPARATOR = ";"

# Column -> meaning. Order is the order written to disk.
MANIFEST_COLUMNS = {
    "path": "crop file, POSIX path relative to the crops folder",
    "label": "0 = real, 1 = fake (fake is the positive class)",
    "method": "'real' for real crops, else the manipulation method or family",
    "video_id": "unique id of the source video (or image) the crop comes from",
    "group": "leakage group: identity or source/target pair; after splits.identity_groups, "
    "the connected component of identities; splits never cut a group",
    "identities": "every identity the video shows, dataset-prefixed names joined by ';' and "
    "sorted (a face swap shows its target and its donor: 'celebdf_id0;celebdf_id16'); no "
    "identity may be in two splits. Empty, or absent in an older manifest: the group stands "
    "for the identity (load_manifest fills an absent column with the group)",
    "frame_index": "index of the frame in its video (0 for still images)",
    "face_x": "face box in the original frame, pixels",
    "face_y": "",
    "face_w": "",
    "face_h": "",
    "dataset": "dataset name",
    "source_path": "original media file relative to the dataset root ('' when generated)",
    "split": "train / val / test ('' until assigned; set by an official split file when one exists)",
}


def join_identities(names: Iterable[str]) -> str:
    """The ``identities`` cell of a video: its distinct identity names, sorted, ';'-joined."""
    names = {str(name).strip() for name in names}
    if any(IDENTITY_SEPARATOR in name for name in names):
        raise ValueError(f"identity names must not contain '{IDENTITY_SEPARATOR}': {sorted(names)}")
    return IDENTITY_SEPARATOR.join(sorted(name for name in names if name))


def split_identities(cell) -> tuple[str, ...]:
    """The identity names of an ``identities`` cell (empty for '', None or NaN)."""
    if not isinstance(cell, str):
        return ()
    return tuple(sorted({part.strip() for part in cell.split(IDENTITY_SEPARATOR) if part.strip()}))
