"""From a dataset choice to face crops: render the embedded synthetic benchmark, or index a real
layout (``data.layouts``) and crop its faces (``data.extract``). Notebook 01 builds the main
dataset and the second, cross-dataset set (``data.cross``) through ``build_crops``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepfake_iot.data import synthetic

SKIPPED_COLUMNS = ["source_path", "frame_index", "reason"]


def build_crops(
    dataset: str,
    root: Path | None,
    crops_dir: Path,
    *,
    seed: int,
    n_identities: int,
    crop_size: int,
    frames_per_video: int,
    frame_size: int,
    families: list[str],
    strength: float,
    jpeg_quality,
    detector: str = "blazeface_short",
    detector_model: str | None = None,
    enlarge: float = 1.3,
    workers: int = 0,
    layout_options: dict | None = None,
    max_videos: int = 0,
    test_only: bool = False,
    style: str = "main",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(crops, skipped)``: the crops written under ``crops_dir`` (paths relative to it) and the
    files or frames skipped with their reason.

    ``synthetic`` renders the benchmark (``seed``, ``n_identities``, ``frame_size``,
    ``families``, ``strength``, ``jpeg_quality``); any other name is a layout of
    ``data.layouts`` under ``root`` (``layout_options`` go to its index function), cropped with
    ``detector``. ``max_videos`` keeps at most that many videos per method (0: all);
    ``test_only`` keeps the layout's official test split when it has one; ``style`` is the
    synthetic renderer's (``shifted`` for the synthetic cross set).
    """
    if dataset == "synthetic":
        crops = synthetic.generate_synthetic_benchmark(
            crops_dir, seed=seed, n_identities=n_identities, frames_per_video=frames_per_video,
            frame_size=frame_size, crop_size=crop_size, families=families,
            strength=strength, jpeg_quality=tuple(jpeg_quality), workers=workers, style=style,
        )
        return crops, pd.DataFrame(columns=SKIPPED_COLUMNS)
    from deepfake_iot.data.extract import extract_face_crops
    from deepfake_iot.data.layouts import index_dataset

    items = index_dataset(dataset, root, **(layout_options or {}))
    if test_only and (items["split"] == "test").any():
        items = items[items["split"] == "test"]
    if max_videos:
        items = items.groupby("method", group_keys=False).head(max_videos)
    return extract_face_crops(
        items, crops_dir, frames_per_video=frames_per_video, crop_size=crop_size,
        detector=detector, detector_model=detector_model, enlarge=enlarge, workers=workers,
    )
