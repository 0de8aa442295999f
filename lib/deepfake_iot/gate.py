"""The face gate evaluated as a gate: presentations, per-attack-type operating points, and the
record a deployed model's sidecar carries; without TensorFlow.

ISO/IEC 30107-3 terms, a fake being the attack. A **presentation** is what the gate decides on:
a window of ``window`` consecutive frames of one video, scored by the mean P(fake) of its frames
(the device's ``smooth`` does the same). A video with fewer frames than the window is one
presentation of all its frames; a longer one gives ``len // window`` windows of consecutive
frames (its last, incomplete window is left out, never padded). The device applies the same
definitions to a camera's frames (``presentation.py``, which holds them: the targets, the
aggregation, the presentation score).

**APCER** is measured per attack type (the manipulation method or family: the presentation-attack
instrument species) and the system's APCER is the worst type's; **BPCER** is the share of bona
fide presentations rejected. For each target APCER the threshold is chosen on *validation*
presentations so that the worst type meets the target, then applied unchanged to test.

A target rests on the validation attack presentations of every type: with ``k`` of them an APCER
of ``p`` is one error in ``1 / p``, and by the rule of three zero errors in ``k`` only bound the
rate below ``3 / k`` (95%). A target ``p`` is therefore **not met** (no threshold is reported)
where some type has fewer than ``RULE_OF_THREE / p`` validation presentations.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from deepfake_iot import metrics
from deepfake_iot.presentation import AGGREGATION, APCER_TARGETS, presentation_score

RULE_OF_THREE = 3  # attack presentations per type needed for a target APCER p: 3 / p
WORST = "worst"
GATE_COLUMNS = ["target APCER", "model", "variant", "attack type", "window", "status", "threshold",
                "val presentations", "val APCER", "test presentations", "APCER", "APCER low", "APCER high",
                "BPCER", "BPCER low", "BPCER high", "note"]  # fmt: skip


def presentations(frame: pd.DataFrame, scores, window: int) -> pd.DataFrame:
    """One row per presentation: ``video_id, group, method, label, first_frame, n_frames,
    score`` (the mean frame score). Frames are ordered by ``frame_index`` within a video when the
    frame has one, else kept in row order."""
    if int(window) < 1:
        raise ValueError(f"gate_window must be at least 1 frame, got {window}")
    scores = np.asarray(scores, dtype=float).ravel()
    if scores.size != len(frame):
        raise ValueError(f"the frame has {len(frame)} rows but there are {scores.size} scores")
    table = frame.reset_index(drop=True).assign(score=scores, _row=np.arange(len(frame)))
    for column, default in (("group", None), ("method", "")):
        if column not in table:
            table[column] = table["video_id"] if default is None else default
    order = ["video_id", "frame_index", "_row"] if "frame_index" in table else ["video_id", "_row"]
    table = table.sort_values(order, kind="stable")
    position = table.groupby("video_id", sort=False).cumcount().to_numpy()
    length = table.groupby("video_id", sort=False)["score"].transform("size").to_numpy()
    table["presentation"] = np.where(length < window, 0, position // window)
    table = table[(length < window) | (position < (length // window) * window)]  # drop an incomplete last window
    grouped = table.groupby(["video_id", "presentation"], sort=True)
    result = grouped.agg(group=("group", "first"), method=("method", "first"), label=("label", "first"),
                         n_frames=("score", "size"), score=("score", presentation_score)).reset_index()
    result.insert(4, "first_frame", result.pop("presentation") * int(window))  # position in the video
    return result


def attack_types(frame: pd.DataFrame) -> list[str]:
    """The attack types (methods of the fake rows), sorted."""
    return sorted(frame.loc[frame["label"] == 1, "method"].astype(str).unique())


def needed_presentations(target: float) -> int:
    """Validation attack presentations per type that a target APCER needs: ``RULE_OF_THREE / target``."""
    return math.ceil(RULE_OF_THREE / target - 1e-9)


def gate_threshold(val: pd.DataFrame, target: float) -> tuple[float, str]:
    """``(threshold, note)``: the highest threshold at which every attack type's validation
    APCER is at most ``target`` (the minimum over types of ``metrics.threshold_at_apcer``), or
    NaN and the reason where some type has too few validation presentations to rest it on."""
    types = attack_types(val)
    if not types:
        return float("nan"), "validation holds no attack presentation"
    need = needed_presentations(target)
    counts = val[val["label"] == 1].groupby("method")["score"].size()
    short = [f"{name} {int(counts[name])}" for name in types if counts[name] < need]
    if short:
        return float("nan"), (f"not met: an APCER of {target:.0%} needs {need} validation attack presentations per "
                              f"type; validation holds {', '.join(short)}")  # fmt: skip
    thresholds = [metrics.threshold_at_apcer(np.ones(int(counts[name])), val.loc[(val["label"] == 1) & (val["method"] == name), "score"], target)
                  for name in types]  # fmt: skip
    return float(min(thresholds)), ""


def _test_rates(test: pd.DataFrame, threshold: float, types: list[str], n: int, seed: int) -> dict:
    """Per type the APCER, the worst type's and the BPCER at ``threshold``, each ``(point, low,
    high)`` over ``n`` resamples of test groups (bootstrap percentile, 95%)."""
    accepted = (test["score"].to_numpy() < threshold).astype(float)
    labels, methods = test["label"].to_numpy(), test["method"].astype(str).to_numpy()
    counts = metrics.resample_counts(test, n=n, seed=seed, unit="group") if n else np.ones((0, len(test)))
    weights = np.vstack([np.ones(len(test)), counts])  # row 0: the test split itself

    def rate(mask, hit):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (weights @ (mask * hit)) / (weights @ mask.astype(float))

    per_type = {name: rate((labels == 1) & (methods == name), accepted) for name in types}
    per_type[WORST] = np.nanmax(np.vstack(list(per_type.values())), axis=0) if types else np.full(len(weights), np.nan)
    bpcer = rate(labels == 0, 1 - accepted)
    interval = lambda values: metrics.percentile_interval(float(values[0]), values[1:], 0.05)  # noqa: E731
    return {"apcer": {name: interval(values) for name, values in per_type.items()}, "bpcer": interval(bpcer)}


def gate_table(val: pd.DataFrame, test: pd.DataFrame, *, model: str, variant: str, window: int,
               targets=APCER_TARGETS, bootstrap_samples: int = 1000, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Operating points of one model's gate from validation and test *presentations*
    (:func:`presentations`): one row per target and attack type, then a ``worst`` row (the
    system's APCER: the worst type's), each with the test APCER and BPCER and their 95% intervals
    over resampled test groups. A target that cannot be met on validation gets NaN rates and a
    ``note`` saying why."""
    types = sorted(set(attack_types(val)) | set(attack_types(test)))
    val_fakes, test_fakes = val[val["label"] == 1], test[test["label"] == 1]
    val_counts = {name: int((val_fakes["method"] == name).sum()) for name in types}
    test_counts = {name: int((test_fakes["method"] == name).sum()) for name in types}
    val_counts[WORST], test_counts[WORST] = min(val_counts.values(), default=0), len(test_fakes)  # worst: the fewest of a type
    rows = []
    for target in targets:
        threshold, note = gate_threshold(val, float(target))
        met = bool(np.isfinite(threshold))
        rates = _test_rates(test, threshold, types, bootstrap_samples, seed) if met else None
        val_apcer = {name: float(np.mean(val_fakes.loc[val_fakes["method"] == name, "score"] < threshold))
                     if met and val_counts[name] else float("nan") for name in types}  # fmt: skip
        finite = [value for value in val_apcer.values() if np.isfinite(value)]
        val_apcer[WORST] = max(finite) if finite else float("nan")
        nothing = (float("nan"),) * 3
        for name in [*types, WORST]:
            rows.append([float(target), model, variant, name, int(window), "met" if met else "not met", threshold,
                         val_counts[name], val_apcer[name], test_counts[name],
                         *(rates["apcer"][name] if met else nothing), *(rates["bpcer"] if met else nothing), note])  # fmt: skip
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def sidecar_gate(val: pd.DataFrame, window: int, targets=APCER_TARGETS) -> dict:
    """What a deployed model's sidecar carries of its gate, from its *validation* presentations:
    the window, the aggregation, and per target the threshold (None where the target cannot be
    met, with the reason), all on the raw P(fake) the model outputs."""
    points = []
    for target in targets:
        threshold, note = gate_threshold(val, float(target))
        met = bool(np.isfinite(threshold))
        points.append({"target_apcer": float(target), "threshold": threshold if met else None,
                       "status": "met" if met else "not met", "note": note})  # fmt: skip
    return {"window": int(window), "aggregation": AGGREGATION,
            "score": "raw P(fake) of the model, before calibration", "apcer": "worst attack type",
            "operating_points": points}


def gate_tables(val: pd.DataFrame, test: pd.DataFrame, file_scores: dict, *, window: int, targets=APCER_TARGETS,
                bootstrap_samples: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """``gate_table`` of every file of ``file_scores`` (``(model, variant) -> (validation
    scores, test scores)`` on the frames of ``val`` and ``test``), concatenated, and the test
    presentations' ``name -> (labels, scores)`` for a presentation-level DET curve."""
    tables, curves = [], {}
    for (model, variant), (val_scores, test_scores) in file_scores.items():
        val_p, test_p = presentations(val, val_scores, window), presentations(test, test_scores, window)
        tables.append(gate_table(val_p, test_p, model=model, variant=variant, window=window, targets=targets,
                                 bootstrap_samples=bootstrap_samples, seed=seed))  # fmt: skip
        curves[f"{model} {variant}"] = (test_p["label"].to_numpy(), test_p["score"].to_numpy())
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=GATE_COLUMNS)), curves


def gate_paper_table(table: pd.DataFrame, reference: str = "light_cnn") -> pd.DataFrame:
    """The gate as the paper prints it: every attack type of ``reference``, the worst type of
    every other model; rates in percent with their intervals, '--' where a target is not met."""
    keep = (table["model"] == reference) | (table["attack type"] == WORST)
    rows = table[keep].assign(other=table["model"] != reference).sort_values(["target APCER", "other"], kind="stable")
    cell = lambda v, low, high: "--" if not np.isfinite(v) else f"{100 * v:.1f} [{100 * low:.1f}, {100 * high:.1f}]"  # noqa: E731
    return pd.DataFrame({"target": rows["target APCER"].map(lambda t: f"{t:.0%}"), "model": rows["model"].str.replace("_", " "),
                         "attack type": rows["attack type"].str.replace("_", " "), "val pres.": rows["val presentations"],
                         "APCER %": [cell(*v) for v in zip(rows["APCER"], rows["APCER low"], rows["APCER high"], strict=True)],
                         "BPCER %": [cell(*v) for v in zip(rows["BPCER"], rows["BPCER low"], rows["BPCER high"], strict=True)]})  # fmt: skip


def det_points(table: pd.DataFrame, model: str) -> pd.DataFrame:
    """The met ``worst`` rows of ``model`` as ``plots.det_figure`` marks them (test APCER, BPCER)."""
    rows = table[(table["model"] == model) & (table["attack type"] == WORST) & (table["status"] == "met")]
    return rows.rename(columns={"APCER": "test APCER", "BPCER": "test BPCER"})
