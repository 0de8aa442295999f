"""A second dataset for cross-dataset testing: models trained on the main dataset meet it in
notebook 05 with no retraining and thresholds from the main validation split.

Two sources: ``synthetic`` renders a shifted copy of the embedded benchmark (identities never
seen, weaker manipulation traces, heavier JPEG, and manipulations made with other blending masks,
colour transfer and resampling kernels: the ``shifted`` rendering style), and any real layout of ``data.layouts``
(Celeb-DF v2 with its official test list, for instance) is indexed and cropped like notebook 01
does for the main dataset. Every row of the returned manifest is in the ``test`` split. Rows
carry ``identities`` as their source writes them; the shifted synthetic set reuses the main
benchmark's identity names (``synthetic_0000``...) for other faces (another seed), so identity
names are comparable across the two sets only for real layouts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepfake_iot.data.build import build_crops

# Far from the main run's seed, so that no identity of the main benchmark is rendered again.
SEED_OFFSET = 104729


def build_cross_set(
    name: str,
    root: Path | None,
    crops_dir: Path,
    *,
    seed: int,
    crop_size: int,
    frames_per_video: int,
    frame_size: int,
    families: list[str],
    n_identities: int,
    strength: float,
    jpeg_quality: tuple[int, int],
    detector: str = "blazeface_short",
    detector_model: str | None = None,
    enlarge: float = 1.3,
    workers: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Crops of the cross-dataset test set under ``crops_dir`` and the files skipped.

    Paths in the returned manifest are relative to ``crops_dir``. For a real layout the
    official test split is used when the layout defines one (e.g. Celeb-DF's test list),
    otherwise every indexed item.
    """
    if name != "synthetic" and (root is None or not Path(root).is_dir()):
        raise FileNotFoundError(
            f"cross_dataset '{name}' needs cross_dataset_root pointing at its folder; got '{root}'"
        )
    seed = seed + SEED_OFFSET if name == "synthetic" else seed
    crops, skipped = build_crops(
        name, root, crops_dir, seed=seed, n_identities=n_identities, crop_size=crop_size,
        frames_per_video=frames_per_video, frame_size=frame_size, families=families,
        strength=strength, jpeg_quality=jpeg_quality, detector=detector,
        detector_model=detector_model, enlarge=enlarge, workers=workers, test_only=True,
        style="shifted" if name == "synthetic" else "main",
    )
    if crops.empty or crops["label"].nunique() < 2:
        raise ValueError(
            f"cross_dataset '{name}' gave {len(crops)} crops with labels "
            f"{sorted(crops['label'].unique()) if len(crops) else []}: both real and fake are needed"
        )
    return crops.assign(split="test"), skipped
