"""Splits that never cut a video or identity, the proof that they don't, and manifest I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot.data.schema import LABEL_NAMES, MANIFEST_COLUMNS, SPLITS
from deepfake_iot.paths import atomic_path


def assign_splits(frame: pd.DataFrame, ratios: list[float], seed: int) -> pd.DataFrame:
    """Give every row without an official split a train/val/test split, whole groups at a time.

    Groups are stratified by their majority label and shuffled with ``seed``; each stratum's groups
    are cut where the cumulative crop count crosses the ratios. Rows whose ``split`` is already set
    (an official split file) keep it, and any group that already has a split keeps it for all rows.
    """
    if len(ratios) != 3 or min(ratios) < 0 or not np.isclose(sum(ratios), 1.0):
        raise ValueError(
            f"split_ratios must be three non-negative numbers summing to 1, got {ratios}"
        )
    frame = frame.copy()
    frame["split"] = frame["split"].fillna("").astype(str)
    official = frame[frame["split"] != ""].groupby("group")["split"].first()
    frame.loc[frame["group"].isin(official.index), "split"] = frame["group"].map(official)
    todo = frame[frame["split"] == ""]
    if todo.empty:
        return frame
    by_group = todo.groupby("group").agg(
        label=("label", lambda s: int(round(s.mean()))), size=("label", "size")
    )
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(ratios)[:2]
    chosen: dict[str, str] = {}
    for _, stratum in by_group.groupby("label"):
        order = stratum.index.to_numpy()[rng.permutation(len(stratum))]
        sizes = stratum.loc[order, "size"].to_numpy()
        position = (np.cumsum(sizes) - sizes / 2) / sizes.sum()  # each group's centre in [0, 1]
        names = np.array(SPLITS)[np.searchsorted(bounds, position, side="right")]
        chosen.update(zip(order, names, strict=True))
    frame.loc[frame["split"] == "", "split"] = frame["group"].map(chosen)
    return frame


def check_splits(frame: pd.DataFrame) -> None:
    """Stop before training on a split that is empty or holds a single class."""
    for split in SPLITS:
        part = frame[frame["split"] == split]
        if part.empty:
            raise ValueError(f"split '{split}' is empty: add data or change split_ratios")
        missing = sorted(set(LABEL_NAMES) - set(part["label"].unique()))
        if missing:
            names = ", ".join(LABEL_NAMES[m] for m in missing)
            raise ValueError(
                f"split '{split}' has no {names} crops: add data or change split_ratios"
            )


def leakage_report(frame: pd.DataFrame) -> pd.DataFrame:
    """Videos and groups that appear in more than one split (an empty table is the goal)."""
    rows = []
    for key in ("video_id", "group"):
        spread = frame.groupby(key)["split"].nunique()
        for name in spread[spread > 1].index:
            rows.append(
                {
                    "kind": key,
                    "name": name,
                    "splits": ",".join(sorted(frame.loc[frame[key] == name, "split"].unique())),
                }
            )
    return pd.DataFrame(rows, columns=["kind", "name", "splits"])


def perceptual_hashes(paths: list[Path]) -> np.ndarray:
    """64-bit DCT perceptual hashes (imagehash.phash) as unsigned integers."""
    import imagehash
    from PIL import Image

    values = np.zeros(len(paths), dtype=np.uint64)
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            bits = imagehash.phash(image).hash.flatten()
        values[index] = np.uint64(int("".join("1" if b else "0" for b in bits), 2))
    return values


def cross_split_near_duplicates(
    frame: pd.DataFrame, hashes: np.ndarray, max_bits: int
) -> pd.DataFrame:
    """Pairs of crops in different splits whose hashes differ in at most ``max_bits`` bits."""
    splits = frame["split"].to_numpy()
    paths = frame["path"].to_numpy()
    rows = []
    for a_index, a in enumerate(SPLITS):
        for b in SPLITS[a_index + 1 :]:
            ia, ib = np.flatnonzero(splits == a), np.flatnonzero(splits == b)
            if len(ia) == 0 or len(ib) == 0:
                continue
            for start in range(0, len(ia), 512):
                block = ia[start : start + 512]
                distance = np.bitwise_count(hashes[block][:, None] ^ hashes[ib][None, :])
                for i, j in zip(*np.nonzero(distance <= max_bits), strict=True):
                    rows.append(
                        {
                            "path_a": paths[block[i]],
                            "split_a": a,
                            "path_b": paths[ib[j]],
                            "split_b": b,
                            "bits": int(distance[i, j]),
                        }
                    )
    return pd.DataFrame(rows, columns=["path_a", "split_a", "path_b", "split_b", "bits"])


def balance_classes(frame: pd.DataFrame, mode: str, seed: int) -> pd.DataFrame:
    """``none`` keeps every crop (training uses class weights); ``undersample`` drops whole videos
    of the larger class in each split until both classes hold about as many crops."""
    if mode == "none":
        return frame
    if mode != "undersample":
        raise ValueError(f"balance must be 'none' or 'undersample', got '{mode}'")
    rng = np.random.default_rng(seed)
    keep = []
    for _, part in frame.groupby("split"):
        counts = part.groupby("label").size()
        small = counts.min()
        for label, group in part.groupby("label"):
            videos = group["video_id"].unique()
            videos = videos[rng.permutation(len(videos))]
            sizes = group.groupby("video_id").size()
            running, chosen = 0, []
            for video in videos:
                if running >= small and label == counts.idxmax():
                    break
                chosen.append(video)
                running += sizes[video]
            keep.append(group[group["video_id"].isin(chosen)])
    return pd.concat(keep).sort_values(["video_id", "frame_index"]).reset_index(drop=True)


def counts_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Crops per method (rows) and split (columns), with videos and a total row."""
    table = frame.pivot_table(
        index="method", columns="split", values="path", aggfunc="count", fill_value=0
    )
    table = table.reindex(columns=[s for s in SPLITS if s in table.columns])
    table["videos"] = frame.groupby("method")["video_id"].nunique()
    table["total"] = table[[s for s in SPLITS if s in table.columns]].sum(axis=1)
    order = ["real"] + sorted(m for m in table.index if m != "real")
    table = table.reindex([m for m in order if m in table.index])
    table.loc["all"] = table.sum()
    return table.reset_index().rename(columns={"method": "method"})


def save_manifest(frame: pd.DataFrame, path: Path) -> Path:
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"manifest lacks column(s) {', '.join(missing)}")
    with atomic_path(path) as tmp:
        frame[list(MANIFEST_COLUMNS)].to_csv(tmp, index=False)
    return Path(path)


def load_manifest(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"manifest {path} not found: run notebooks/01_data_setup.ipynb first"
        )
    frame = pd.read_csv(
        path,
        dtype={"video_id": str, "group": str, "split": str, "source_path": str},
        keep_default_na=False,
    )
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


def confirm_near_duplicates(
    pairs: pd.DataFrame, data_dir: Path, max_mean_abs_diff: float = 6.0
) -> pd.DataFrame:
    """Keep the hash candidates that are also close pixel by pixel.

    A 64-bit perceptual hash only sees coarse structure, so two different faces with the same
    layout can collide; a copy of one frame (re-encoded, resized) also differs little per pixel.
    ``mad`` is the mean absolute difference in grey levels (0-255) after resizing both crops to
    the smaller one's size.
    """
    import cv2

    rows = []
    for pair in pairs.itertuples(index=False):
        a = cv2.imread(str(Path(data_dir) / pair.path_a), cv2.IMREAD_GRAYSCALE)
        b = cv2.imread(str(Path(data_dir) / pair.path_b), cv2.IMREAD_GRAYSCALE)
        if a is None or b is None:
            continue
        size = (min(a.shape[1], b.shape[1]), min(a.shape[0], b.shape[0]))
        a, b = (cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (a, b))
        mad = float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))
        if mad <= max_mean_abs_diff:
            rows.append({**pair._asdict(), "mad": mad})
    return pd.DataFrame(rows, columns=[*pairs.columns, "mad"])
