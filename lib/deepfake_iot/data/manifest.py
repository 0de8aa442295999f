"""The manifest's own input and output (one row per face crop, ``schema.MANIFEST_COLUMNS``),
reading its crops as model inputs, and the dataset's numbers and names for the paper. Splitting
lives in ``data.splits``, near-duplicate checks in ``data.near_duplicates``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot.data.schema import MANIFEST_COLUMNS
from deepfake_iot.paths import atomic_path


def save_manifest(frame: pd.DataFrame, path: Path) -> Path:
    """Write the ``MANIFEST_COLUMNS`` of ``frame`` (all required, ``identities`` included)."""
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"manifest lacks column(s) {', '.join(missing)}")
    with atomic_path(path) as tmp:
        frame[list(MANIFEST_COLUMNS)].to_csv(tmp, index=False)
    return Path(path)


def load_manifest(path: Path) -> pd.DataFrame:
    """Read a manifest. One written before the ``identities`` column gets it, equal to the group
    (the group was the identity then), placed where ``MANIFEST_COLUMNS`` puts it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"manifest {path} not found: run notebooks/01_data_setup.ipynb first"
        )
    frame = pd.read_csv(
        path,
        dtype={"video_id": str, "group": str, "identities": str, "split": str,
               "source_path": str},
        keep_default_na=False,
    )  # fmt: skip
    if "identities" not in frame.columns and "group" in frame.columns:
        frame.insert(frame.columns.get_loc("group") + 1, "identities", frame["group"])
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a manifest: missing column(s) {', '.join(missing)}")
    return frame


def dataset_summary(frame: pd.DataFrame, dataset: str, split_rule: str) -> dict:
    """The numbers of the dataset card: one row of the paper's dataset table."""
    fake = frame[frame["label"] == 1]
    return {
        "dataset": dataset,
        "videos": int(frame["video_id"].nunique()),
        "groups": int(frame["group"].nunique()),
        "crops": int(len(frame)),
        "real": int((frame["label"] == 0).sum()),
        "fake": int(len(fake)),
        "methods": int(fake["method"].nunique()),
        "split": split_rule,
    }


def load_crops(paths, data_dir: Path, image_size: int, progress: bool = False) -> np.ndarray:
    """RGB float32 images in [0, 1], shape (N, S, S, 3), the input contract of every model.

    Read with OpenCV (no TensorFlow), so notebooks 05 and 06 can load crops on a device.
    """
    import cv2
    from tqdm.auto import tqdm

    images = np.empty((len(paths), image_size, image_size, 3), dtype=np.float32)
    for index, path in enumerate(tqdm(paths, desc="reading crops", disable=not progress)):
        image = cv2.imread(str(Path(data_dir) / path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(
                f"crop {Path(data_dir) / path} is missing or unreadable: rerun notebook 01"
            )
        if image.shape[:2] != (image_size, image_size):
            image = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
        images[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return images


# What the splits of each dataset guarantee, as the paper's abstract states it.
SPLIT_GUARANTEES = {
    "synthetic": "split by identity: no rendered identity, real or swapped in, is seen in two splits",
    "ffpp": "the official test pairs, with no source video, target or donor, in two splits",
    "celebdf_v2": "the official test list exactly, every training or validation video sharing a test "
                  "identity (subject, target or donor) dropped",
    "deeperforensics": "the official test fakes with their actors' real videos, no actor or target video "
                       "of a test fake in training or validation",
    "kaggle_real_fake": "split by image only: the dataset names no people",
    "kaggle_140k": "split by image only: the dataset names no people",
    "generic": "split by video, or by the identities its layout names",
}

# How the paper names each dataset.
DATASET_NAMES = {
    "synthetic": "synthetic benchmark", "ffpp": "FaceForensics++", "celebdf_v2": "Celeb-DF v2",
    "deeperforensics": "DeeperForensics-1.0", "kaggle_real_fake": "Kaggle deepfake and real images",
    "kaggle_140k": "Kaggle 140k real and fake faces", "generic": "custom dataset",
}


def data_macros(crops: pd.DataFrame, summary: dict, split_info: dict, *, dataset: str, cross_dataset: str,
                skipped: int, leaks: int, near_duplicates: int, hash_candidates: int) -> dict:
    """Notebook 01's numbers for the paper about the crops, their splits and their proof (the
    probe's are ``probe.probe_macros``; the parameters the notebook adds itself)."""
    split_counts = crops["split"].value_counts()
    cross_name = "shifted synthetic benchmark" if cross_dataset == "synthetic" else DATASET_NAMES.get(cross_dataset, cross_dataset)
    return {
        "DatasetName": DATASET_NAMES[dataset], "SplitGuarantee": SPLIT_GUARANTEES[dataset],
        "NumVideos": summary["videos"], "NumGroups": summary["groups"], "NumCrops": summary["crops"],
        "NumReal": summary["real"], "NumFake": summary["fake"], "NumMethods": summary["methods"],
        "NumTrain": int(split_counts.get("train", 0)), "NumVal": int(split_counts.get("val", 0)),
        "NumTest": int(split_counts.get("test", 0)), "NumSkipped": skipped,
        "NumLeaks": leaks, "NumDroppedVideos": int(split_info["dropped_videos"]), "TestRule": split_info["test_rule"],
        "NumNearDuplicates": near_duplicates, "NumHashCandidates": hash_candidates,
        "CrossDatasetName": cross_name if cross_dataset else "none",
    }
