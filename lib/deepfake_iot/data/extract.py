"""Turn indexed media (see ``layouts``) into square face crops and manifest rows.

For each item: sample frames (a still image is frame 0), detect faces, keep the largest,
crop a square around it and write ``crops_dir/<dataset>/<video_id>/<frame:03d>.png``. Each
finished item leaves a ``rows.json`` beside its crops; a re-run with the same settings and an
unchanged source file reuses it, so an interrupted extraction resumes where it stopped. A bad
file or a frame without a face is skipped with a reason code and counted, never fatal.

Each crop row copies its item's label, method, video_id, group, identities, dataset,
source_path and split (an item without ``identities`` gets its group: the group is then the
one identity); reused rows take them from the current item, so re-indexing with new groups or
identities needs no new crops.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import cv2
import pandas as pd
from tqdm.auto import tqdm

from deepfake_iot.data.faces import face_crop, make_detector
from deepfake_iot.data.frames import sample_video_frames
from deepfake_iot.data.intake import BadMediaError, read_image
from deepfake_iot.data.schema import MANIFEST_COLUMNS
from deepfake_iot.paths import atomic_path, atomic_write_json, remove_partials

SKIPPED_COLUMNS = ("source_path", "frame_index", "reason")
ITEM_REQUIRED = ("media_path", "source_path", "media_type", "label", "method", "video_id",
                 "group", "dataset", "split")  # fmt: skip
# What a crop row copies from its item.
ITEM_FIELDS = ("label", "method", "video_id", "group", "identities", "dataset", "source_path",
               "split")  # fmt: skip
WHOLE_ITEM = -1  # frame_index of a skip that concerns the whole item (file unreadable)
ROWS_FILE = "rows.json"


def _source_stamp(path: Path) -> dict:
    try:
        stat = path.stat()
    except OSError:
        return {"size": None, "mtime_ns": None}
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _load_done(rows_file: Path, key: dict) -> tuple[list, list] | None:
    """Rows and skips of an item finished earlier with the same settings, else None."""
    if not rows_file.is_file():
        return None
    try:
        stored = json.loads(rows_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    if not all((rows_file.parent / Path(row["path"]).name).is_file() for row in stored["rows"]):
        return None
    return stored["rows"], stored["skipped"]


def _frames_of(item: dict, frames_per_video: int):
    """(frame_index, image) pairs of an item; raises BadMediaError when it cannot be read."""
    if item["media_type"] == "image":
        return [(0, read_image(item["media_path"]))]
    if item["media_type"] == "video":
        return sample_video_frames(item["media_path"], n_frames=frames_per_video)
    raise ValueError(f"{item['source_path']}: media_type must be 'image' or 'video'")


def process_item(item: dict, crops_dir: Path, settings: dict, detector) -> tuple[list, list]:
    """Extract the face crops of one item: returns (manifest rows, skipped rows)."""
    item_dir = crops_dir / item["dataset"] / item["video_id"]
    rows_file = item_dir / ROWS_FILE
    key = {**settings, "source_path": item["source_path"]}
    key.update(_source_stamp(Path(item["media_path"])))
    remove_partials(item_dir)  # temporary files of a run killed while writing this item
    done = _load_done(rows_file, key)
    if done is not None:
        copied = {field: item[field] for field in ITEM_FIELDS}
        return [{**row, **copied, "label": int(item["label"])} for row in done[0]], done[1]
    rows, skipped = [], []
    try:
        frames = _frames_of(item, settings["frames_per_video"])
    except BadMediaError as error:
        frames = []
        skipped.append({"source_path": item["source_path"], "frame_index": WHOLE_ITEM,
                        "reason": error.reason})  # fmt: skip
    for frame_index, image in frames:
        found = face_crop(image, detector, size=settings["crop_size"], enlarge=settings["enlarge"])
        if not found.found:
            skipped.append({"source_path": item["source_path"], "frame_index": int(frame_index),
                            "reason": "no_face"})  # fmt: skip
            continue
        crop, box = found.crop, found.box
        crop_path = item_dir / f"{int(frame_index):03d}.png"
        with atomic_path(crop_path) as tmp:
            if not cv2.imwrite(str(tmp), crop):
                raise OSError(f"could not write {crop_path}")
        x, y, w, h = box
        rows.append({
            "path": crop_path.relative_to(crops_dir).as_posix(), "label": int(item["label"]),
            "method": item["method"], "video_id": item["video_id"], "group": item["group"],
            "identities": item["identities"], "frame_index": int(frame_index),
            "face_x": x, "face_y": y, "face_w": w, "face_h": h,
            "dataset": item["dataset"], "source_path": item["source_path"],
            "split": item["split"],
        })  # fmt: skip
    kept = {Path(row["path"]).name for row in rows}
    for stale in item_dir.glob("*.png") if item_dir.is_dir() else ():
        if stale.name not in kept:  # left by an earlier run with other settings
            stale.unlink()
    atomic_write_json(rows_file, {"key": key, "rows": rows, "skipped": skipped})
    return rows, skipped


def _process_chunk(args) -> tuple[list, list, int]:
    """Worker: build one detector, then process a chunk of items (errors become skips)."""
    items, crops_dir, settings, in_worker = args
    if in_worker:
        cv2.setNumThreads(1)  # one process per core already
    detector = make_detector(settings["detector"], settings["detector_model"])
    rows, skipped = [], []
    for item in items:
        try:
            item_rows, item_skipped = process_item(item, Path(crops_dir), settings, detector)
        except Exception as error:  # one bad item must not end a long run
            item_rows = []
            item_skipped = [{"source_path": item["source_path"], "frame_index": WHOLE_ITEM,
                             "reason": f"error:{type(error).__name__}"}]  # fmt: skip
        rows += item_rows
        skipped += item_skipped
    return rows, skipped, len(items)


def extract_face_crops(items: pd.DataFrame, crops_dir, *, frames_per_video: int = 8, crop_size: int = 96,
                       detector: str = "blazeface_short", detector_model=None, enlarge: float = 1.3, workers: int = 0,
                       progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Extract square face crops of every item (a layouts DataFrame) into ``crops_dir``.

    ``frames_per_video`` frames are sampled evenly from each video; a still image is one
    frame. ``detector`` is a ``faces.DETECTOR_NAMES`` entry ("blazeface_short",
    "blazeface_full", "haar", "yunet" with ``detector_model``, or "none" for images that are
    already face crops); the crop is ``faces.face_crop``, the same as on the device. ``workers``:
    0 uses every core, 1 runs in this process; workers are spawned, so a script calling this
    needs the ``if __name__ == "__main__":`` guard (notebooks need nothing).

    Returns ``(crops, skipped)``: ``crops`` has exactly the manifest columns
    (``schema.MANIFEST_COLUMNS``), one row per crop sorted by video_id and frame_index;
    ``skipped`` has ``source_path``, ``frame_index`` (-1 when the whole file was unusable) and
    ``reason`` (a BadMediaError reason code, ``no_face``, or ``error:<Exception>``).
    """
    missing = [column for column in ITEM_REQUIRED if column not in items.columns]
    if missing:
        raise ValueError(f"items lack the columns {missing}; build them with layouts.index_dataset")
    duplicated = items["video_id"][items["video_id"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"video_id must be unique in items; repeated: {duplicated[:5]}")
    if frames_per_video < 1 or crop_size < 1:
        raise ValueError(f"frames_per_video and crop_size must be >= 1, got "
                         f"{frames_per_video} and {crop_size}")  # fmt: skip
    crops_dir = Path(crops_dir).resolve()
    crops_dir.mkdir(parents=True, exist_ok=True)
    make_detector(detector, detector_model)  # fail now, not once per item, on a bad detector
    settings = {"frames_per_video": int(frames_per_video), "crop_size": int(crop_size),
                "detector": detector, "enlarge": float(enlarge),
                "detector_model": None if detector_model is None else str(detector_model)}  # fmt: skip
    records = [_item_record(record) for record in items.to_dict("records")]
    workers = (os.cpu_count() or 1) if workers == 0 else int(workers)
    chunk = max(1, min(32, len(records) // max(1, workers * 4)))
    chunks = [records[i : i + chunk] for i in range(0, len(records), chunk)]
    rows, skipped = [], []
    bar = tqdm(total=len(records), desc="face crops", unit="item", disable=not progress)
    with bar:
        if workers <= 1 or len(chunks) <= 1:
            results = (_process_chunk((c, str(crops_dir), settings, False)) for c in chunks)
            for chunk_rows, chunk_skipped, count in results:
                rows, skipped = rows + chunk_rows, skipped + chunk_skipped
                bar.update(count)
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(processes=min(workers, len(chunks))) as pool:
                tasks = [(c, str(crops_dir), settings, True) for c in chunks]
                for chunk_rows, chunk_skipped, count in pool.imap_unordered(_process_chunk, tasks):
                    rows, skipped = rows + chunk_rows, skipped + chunk_skipped
                    bar.update(count)
    return _crops_frame(rows), _skipped_frame(skipped)


def _item_record(record: dict) -> dict:
    """The fields of an item that extraction uses; ``identities`` defaults to the group."""
    identities = record.get("identities")
    if not isinstance(identities, str) or not identities:
        identities = str(record["group"])
    return {**{column: record[column] for column in ITEM_REQUIRED}, "identities": identities}


def _crops_frame(rows: list[dict]) -> pd.DataFrame:
    crops = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    integer_columns = ["label", "frame_index", "face_x", "face_y", "face_w", "face_h"]
    crops[integer_columns] = crops[integer_columns].astype("int64")
    crops = crops.sort_values(["video_id", "frame_index"], kind="stable")
    return crops.reset_index(drop=True)


def _skipped_frame(skipped: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS))
    frame["frame_index"] = frame["frame_index"].astype("int64")
    frame = frame.sort_values(["source_path", "frame_index"], kind="stable")
    return frame.reset_index(drop=True)
