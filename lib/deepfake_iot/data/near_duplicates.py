"""Near-duplicate crops across splits: 64-bit perceptual hashes find candidate pairs (a
re-encoded copy of one frame differs by a few bits), and a pixel comparison confirms them (two
different faces with the same layout can share a hash)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot.data.schema import SPLITS


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
