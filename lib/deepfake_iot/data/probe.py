"""The shortcut probe: can real and fake crops be told apart without looking at a face?

A benchmark is only a test of face forensics if label-irrelevant statistics do not already
separate its classes (fakes that saturate differently, fake crops cut from larger face boxes,
one class encoded brighter). This module owns that check:

- :func:`crop_statistics` measures, per crop, the colour moments (mean and standard deviation of
  R, G, B), the fraction of saturated bright pixels (any channel >= 250) and dark pixels (any
  channel <= 5), and the face-box geometry of the manifest (width, height, aspect, area).
- :func:`shortcut_probe` trains a standardized logistic regression on those statistics of the
  train split, scores the test split and reports test ROC-AUC with a 95 % bootstrap interval that
  resamples whole leakage groups (:func:`deepfake_iot.metrics.bootstrap_ci`); every statistic on
  its own gets the same, over the same resamples.
- :func:`check_no_shortcut` stops a run whose probe interval excludes 0.5 and names the statistic
  that separates the classes; :func:`probe_table` and :func:`probe_sentence` report the result.

No TensorFlow here: numpy, pandas, scikit-learn and OpenCV only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot.metrics import bootstrap_ci

SATURATED_HIGH = 250  # a pixel is saturated bright when any channel is >= this (0-255)
SATURATED_LOW = 5  # ... and saturated dark when any channel is <= this

# Statistic column -> what it measures (the wording of tables, messages and the paper sentence).
STATISTICS = {
    "mean_r": "mean of red",
    "mean_g": "mean of green",
    "mean_b": "mean of blue",
    "std_r": "standard deviation of red",
    "std_g": "standard deviation of green",
    "std_b": "standard deviation of blue",
    "saturated_high": "fraction of saturated bright pixels",
    "saturated_low": "fraction of saturated dark pixels",
    "box_w": "face box width",
    "box_h": "face box height",
    "box_aspect": "face box aspect (width / height)",
    "box_area": "face box area",
}
MODEL_NAMES = {"logistic": "logistic regression", "boosted": "gradient-boosted trees"}


class ShortcutError(ValueError):
    """The benchmark's classes are separable by label-irrelevant crop statistics."""


def _box_geometry(manifest: pd.DataFrame) -> pd.DataFrame:
    box = {}
    for column in ("face_w", "face_h"):
        values = manifest[column] if column in manifest else pd.Series(0.0, index=manifest.index)
        values = pd.to_numeric(values, errors="coerce").fillna(0.0).to_numpy(dtype=float)
        box[column] = np.where(np.isfinite(values) & (values > 0), values, 0.0)
    w, h = box["face_w"], box["face_h"]
    aspect = np.divide(w, h, out=np.zeros_like(w), where=(w > 0) & (h > 0))
    return pd.DataFrame({"box_w": w, "box_h": h, "box_aspect": aspect, "box_area": w * h})


def crop_statistics(manifest: pd.DataFrame, crops_dir: Path, progress: bool = False) -> pd.DataFrame:
    """One row per manifest row (same index), one column per entry of :data:`STATISTICS`.

    ``crops_dir`` is the folder the manifest's ``path``s are relative to (notebook 01's data
    folder). Crops are read as :func:`deepfake_iot.data.manifest.load_crops` reads them (OpenCV,
    colour) but at their stored size; colour statistics are in grey levels 0-255. Face boxes that
    are missing, NaN or not positive count as 0.
    """
    import cv2
    from tqdm.auto import tqdm

    colour = np.zeros((len(manifest), 8), dtype=float)
    paths = manifest["path"].astype(str).tolist()
    for index, rel in enumerate(tqdm(paths, desc="crop statistics", disable=not progress)):
        image = cv2.imread(str(Path(crops_dir) / rel), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(
                f"crop {Path(crops_dir) / rel} is missing or unreadable: rerun notebook 01"
            )
        mean, std = cv2.meanStdDev(image)  # BGR order
        colour[index, :3] = mean.ravel()[::-1]
        colour[index, 3:6] = std.ravel()[::-1]
        pixels = image.shape[0] * image.shape[1]
        below = cv2.countNonZero(cv2.inRange(image, (0, 0, 0), (SATURATED_HIGH - 1,) * 3))
        above = cv2.countNonZero(cv2.inRange(image, (SATURATED_LOW + 1,) * 3, (255, 255, 255)))
        colour[index, 6] = (pixels - below) / pixels  # some channel >= SATURATED_HIGH
        colour[index, 7] = (pixels - above) / pixels  # some channel <= SATURATED_LOW
    table = pd.DataFrame(colour, columns=list(STATISTICS)[:8], index=manifest.index)
    geometry = _box_geometry(manifest).set_axis(manifest.index)
    return pd.concat([table, geometry], axis=1)[list(STATISTICS)]


def _classifier(kind: str, seed: int):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if kind == "boosted":
        return GradientBoostingClassifier(n_estimators=100, max_depth=2, random_state=seed)
    raise ValueError(f"unknown probe model {kind!r}; choose from {', '.join(MODEL_NAMES)}")


def _interval(point: float, low: float, high: float) -> dict:
    return {"auc": float(point), "auc_low": float(low), "auc_high": float(high),
            "separates": bool(low > 0.5 or high < 0.5)}


def _margin(values: np.ndarray, labels: np.ndarray) -> float:
    """|difference of class means| over the pooled standard deviation (inf when that is 0)."""
    real, fake = values[labels == 0], values[labels == 1]
    gap, spread = abs(fake.mean() - real.mean()), np.sqrt((real.var() + fake.var()) / 2)
    return float(gap / spread) if spread > 0 else (np.inf if gap > 0 else 0.0)


def _statistic_rows(columns: list[str], values: np.ndarray, labels: np.ndarray, interval) -> list[dict]:
    """One row per statistic on the test crops (AUC mirrored to >= 0.5 with its interval, and
    the class it is higher in), most separating first; equal AUCs (several at 1.0) by how far
    apart the classes lie."""
    rows, margin = [], {}
    for position, column in enumerate(columns):
        point, low, high = interval(values[:, position])
        higher = "fake" if point >= 0.5 else "real"
        if point < 0.5:
            point, low, high = 1 - point, 1 - high, 1 - low
        rows.append({"statistic": column, "description": STATISTICS.get(column, column),
                     "direction": f"higher in {higher}", **_interval(point, low, high)})
        margin[column] = _margin(values[:, position], labels)
    rows.sort(key=lambda row: (not row["separates"], -row["auc"], -row["auc_low"], -margin[row["statistic"]]))
    return rows


def shortcut_probe(stats: pd.DataFrame, manifest: pd.DataFrame, seed: int, n_boot: int = 1000,
                   unit: str = "group", models: tuple[str, ...] = ("logistic",)) -> dict:
    """Train on the train split's statistics, score the test split; a plain, JSON-ready dict.

    ``stats`` is :func:`crop_statistics` of ``manifest`` (rows in the same order). Intervals are
    95 % percentile bootstraps that draw whole ``unit``s (leakage groups; ``video_id`` when the
    manifest has no usable group column), real and fake units apart when no unit mixes classes;
    every model and statistic is scored on the same resamples. Returns::

        {"model": "logistic regression", "auc", "auc_low", "auc_high", "separates",
         "models": [{"model", "auc", "auc_low", "auc_high", "separates"}, ...],
         "statistics": [{"statistic", "description", "direction", "auc", "auc_low",
                         "auc_high", "separates"}, ...],   # most separating first
         "shortcut", "n_statistics", "n_train", "n_test", "unit", "n_test_units", "n_boot", "seed"}

    A statistic's AUC is ``max(auc, 1 - auc)`` (its interval mirrored with it) and ``direction``
    says which class it is higher in. ``shortcut`` is true when any model's interval excludes 0.5.
    """
    if len(stats) != len(manifest):
        raise ValueError(f"stats has {len(stats)} rows but the manifest {len(manifest)}")
    columns = [c for c in STATISTICS if c in stats.columns] or list(stats.columns)
    features = stats[columns].to_numpy(dtype=float)
    labels = pd.to_numeric(manifest["label"]).to_numpy(dtype=int)
    split = manifest["split"].astype(str).to_numpy()
    train, test = split == "train", split == "test"
    for name, mask in (("train", train), ("test", test)):
        if len(np.unique(labels[mask])) < 2:
            raise ValueError(f"the {name} split needs real and fake crops for the shortcut probe")
    if unit not in manifest or manifest[unit].astype(str).eq("").any():
        unit = "video_id"
    test_frame = manifest.loc[test, ["label", unit]].reset_index(drop=True)
    test_frame["label"] = labels[test]

    def interval(scores) -> tuple[float, float, float]:
        return bootstrap_ci(test_frame, scores, "roc_auc", n=n_boot, seed=seed, unit=unit)

    fitted = []
    for kind in models:
        model = _classifier(kind, seed).fit(features[train], labels[train])
        fitted.append({"model": MODEL_NAMES[kind],
                       **_interval(*interval(model.predict_proba(features[test])[:, 1]))})
    single = _statistic_rows(columns, features[test], test_frame["label"].to_numpy(), interval)
    return {**fitted[0], "models": fitted, "statistics": single, "shortcut": any(row["separates"] for row in fitted),
            "n_statistics": len(columns), "n_train": int(train.sum()), "n_test": int(test.sum()), "unit": unit,
            "n_test_units": int(test_frame[unit].nunique()), "n_boot": int(n_boot), "seed": int(seed)}


def _separating(result: dict) -> list[dict]:
    return [row for row in result["statistics"] if row["separates"]]


def _fmt(row: dict) -> str:
    return f"{row['auc']:.3f} [{row['auc_low']:.3f}, {row['auc_high']:.3f}]"


def material(result: dict, margin: float = 0.0) -> bool:
    """Whether a probe model's interval lies beyond 0.5 by more than ``margin`` AUC (0: any
    interval that excludes 0.5). With many test groups a separation worth a hundredth of AUC
    can be resolved; ``margin`` is the size of a shortcut that stops a run."""
    return any(row["auc_low"] > 0.5 + margin or row["auc_high"] < 0.5 - margin for row in result["models"])


def check_no_shortcut(result: dict, margin: float = 0.0) -> None:
    """Raise :class:`ShortcutError` (a ``ValueError``) when a probe's interval excludes 0.5 by
    more than ``margin`` AUC."""
    if not result["shortcut"] or not material(result, margin):
        return None
    flagged = [row for row in result["models"] if row["separates"]]
    probes = "; ".join(f"{row['model']} test AUC {_fmt(row)}" for row in flagged)
    named = _separating(result)
    if named:
        culprits = ", ".join(f"{row['statistic']} ({row['description']}, {row['direction']}, "
                             f"AUC {_fmt(row)})" for row in named)
        because = f"separated by {culprits}"
    else:
        top = result["statistics"][0]
        because = (f"no single statistic's interval excludes 0.5, the strongest is {top['statistic']} "
                   f"({top['description']}, AUC {_fmt(top)})")
    raise ShortcutError(
        f"shortcut: label-irrelevant crop statistics tell real from fake ({probes}); {because}"
    )


def probe_table(result: dict) -> pd.DataFrame:
    """``statistic, auc, auc_low, auc_high``: the probe model(s) first, then each statistic."""
    rows = [{"statistic": f"all {result['n_statistics']} statistics ({row['model']})",
             **{k: row[k] for k in ("auc", "auc_low", "auc_high")}} for row in result["models"]]
    rows += [{"statistic": row["description"], **{k: row[k] for k in ("auc", "auc_low", "auc_high")}}
             for row in result["statistics"]]
    return pd.DataFrame(rows, columns=["statistic", "auc", "auc_low", "auc_high"])


def probe_sentence(result: dict, margin: float = 0.0) -> str:
    """One sentence for the paper, written from the numbers of :func:`shortcut_probe`; a
    separation within ``margin`` of 0.5 is reported as resolved but below the stopping margin."""
    model = result["model"]
    article = "An" if model[0] in "aeiou" else "A"
    opening = (f"{article} {model} on {result['n_statistics']} label-irrelevant crop statistics "
               f"reaches a test AUC of {_fmt(result)}")
    if not result["shortcut"]:
        return f"{opening}: no shortcut separates real from fake."
    if not result["separates"]:
        other = next(row for row in result["models"] if row["separates"])
        opening += f" (with {other['model']}: {_fmt(other)})"
    named = _separating(result)
    if not named:
        return f"{opening}: the statistics separate real from fake together, though none does alone."
    top = named[0]
    if not material(result, margin):
        return (f"{opening}: its interval excludes 0.5, but by less than the {margin:g} AUC at which "
                f"a run stops; the strongest statistic is the {top['description']} "
                f"({top['direction']}, AUC {_fmt(top)}).")
    return (f"{opening}: a shortcut separates real from fake, above all the {top['description']} "
            f"({top['direction']}, AUC {_fmt(top)}).")


def probe_macros(result: dict, margin: float = 0.0) -> dict:
    """The probe's sentence and verdict for the paper."""
    if material(result, margin):
        verdict = "found a shortcut"
    else:
        verdict = "found a separation too small to matter" if result["shortcut"] else "found no shortcut"
    return {"ProbeSentence": probe_sentence(result, margin), "ProbeVerdict": verdict}

