"""Manipulation methods of a manifest: which exist, the rows of some, a manifest without one.

A *method* is the manifest's ``method`` column: a synthetic family or a FaceForensics++
manipulation; real crops have method ``real``. No TensorFlow here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REAL_METHOD = "real"


def fake_methods(manifest: pd.DataFrame) -> list[str]:
    """The manipulation methods of a manifest, in order of first appearance."""
    methods = manifest.loc[manifest["label"] == 1, "method"].astype(str)
    return list(dict.fromkeys(methods))


def leave_out_method(manifest: pd.DataFrame, method: str) -> pd.DataFrame:
    """The manifest without the fakes of ``method`` in train and validation.

    Test rows are kept whole, so the model trained on the rest meets ``method`` for the first
    time on the test split. Validation loses the method too: picking a checkpoint on it would
    otherwise peek at the held-out family.
    """
    known = fake_methods(manifest)
    if method not in known:
        raise ValueError(f"method '{method}' is not a fake method of the manifest ({', '.join(known)})")
    drop = (manifest["method"].astype(str) == method) & manifest["split"].isin(["train", "val"])
    kept = manifest[~drop].reset_index(drop=True)
    for split in ("train", "val"):
        labels = set(kept.loc[kept["split"] == split, "label"])
        if labels != {0, 1}:
            raise ValueError(
                f"leaving out '{method}' leaves the {split} split without both classes; "
                "cross-manipulation needs at least two fake methods"
            )
    return kept


def method_subset(test: pd.DataFrame, methods: list[str]) -> np.ndarray:
    """Row mask of the real crops plus the fakes of ``methods``."""
    return ((test["label"].to_numpy() == 0) | test["method"].astype(str).isin(methods).to_numpy())
