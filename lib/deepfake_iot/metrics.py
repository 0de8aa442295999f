"""Detection metrics, decision thresholds, video aggregation, and the clustered and
seed-inclusive bootstrap. Calibration (reliability, ECE, Platt scaling) is ``calibration.py``.

Conventions used throughout (see the "Metrics conventions" of the project's reference notes):

- Label 1 is *fake* (the positive class), label 0 is *real*; a score is P(fake) in [0, 1].
- A crop is called fake when ``score >= threshold`` (the same rule as scikit-learn's curves).
- EER is the false-positive rate at the ROC point where ``|fnr - fpr|`` is smallest.
- **Thresholds and checkpoints are picked on the validation split, never on test.** Call
  :func:`choose_thresholds` on validation scores, then pass each threshold unchanged to
  :func:`frame_metrics` on test scores. Picking a threshold on test scores inflates accuracy
  and F1 and is a known flaw of public benchmarks.
- Confidence intervals resample whole videos (or whole groups), never single frames: crops of
  one video are strongly correlated, and a frame bootstrap gives intervals that are far too narrow.

No TensorFlow here: this module runs wherever numpy, pandas and scikit-learn do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn import metrics as skm

AGGREGATIONS = ("mean", "max", "vote")


def checked_arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(int).ravel()
    scores = np.asarray(scores, dtype=float).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels ({labels.size}) and scores ({scores.size}) differ in length")
    if labels.size == 0:
        raise ValueError("no samples: labels and scores are empty")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    return labels, scores


def equal_error_rate(labels, scores) -> tuple[float, float]:
    """``(eer, threshold)``: the fpr where ``|fnr - fpr|`` is smallest on the ROC curve."""
    labels, scores = checked_arrays(labels, scores)
    if np.unique(labels).size < 2:
        return float("nan"), float("nan")
    fpr, tpr, thresholds = skm.roc_curve(labels, scores)
    index = int(np.argmin(np.abs((1.0 - tpr) - fpr)))
    return float(fpr[index]), float(thresholds[index])


def percentile_interval(point: float, estimates: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """``(point, low, high)``: the ``alpha/2`` and ``1 - alpha/2`` quantiles of the finite
    bootstrap ``estimates`` (NaN bounds when none is finite)."""
    estimates = np.asarray(estimates, dtype=float)
    estimates = estimates[np.isfinite(estimates)]
    if estimates.size == 0:
        return point, float("nan"), float("nan")
    low, high = np.quantile(estimates, [alpha / 2, 1 - alpha / 2])
    return point, float(low), float(high)


def frame_metrics(labels, scores, threshold: float = 0.5) -> dict:
    """Threshold-free and thresholded metrics of fake-vs-real scores.

    Returns a flat dict: counts (``n``, ``n_real``, ``n_fake``), ``threshold``, ``accuracy``,
    ``balanced_accuracy``, ``precision/recall/f1`` for ``_real``, ``_fake`` and ``_macro``,
    ``roc_auc``, ``average_precision`` (PR-AUC), ``eer`` and ``eer_threshold``, the confusion
    counts ``tn, fp, fn, tp``, and ``single_class`` (True when only one label is present: the
    ranking metrics are then NaN and ``note`` says why).
    """
    labels, scores = checked_arrays(labels, scores)
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        labels, predicted, labels=[0, 1], zero_division=0
    )
    single_class = bool(np.unique(labels).size < 2)
    result = {
        "n": int(labels.size),
        "n_real": int((labels == 0).sum()),
        "n_fake": int((labels == 1).sum()),
        "threshold": float(threshold),
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float(np.mean([recall[c] for c in (0, 1) if (labels == c).any()])),
        "precision_real": float(precision[0]),
        "recall_real": float(recall[0]),
        "f1_real": float(f1[0]),
        "precision_fake": float(precision[1]),
        "recall_fake": float(recall[1]),
        "f1_fake": float(f1[1]),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
        "single_class": single_class,
        "note": "",
    }
    if single_class:
        present = "fake" if labels[0] == 1 else "real"
        result.update(roc_auc=np.nan, average_precision=np.nan, eer=np.nan, eer_threshold=np.nan)
        result["note"] = f"only {present} samples: ROC-AUC, AP and EER are undefined (NaN)"
    else:
        eer, eer_threshold = equal_error_rate(labels, scores)
        result.update(
            roc_auc=float(skm.roc_auc_score(labels, scores)),
            average_precision=float(skm.average_precision_score(labels, scores)),
            eer=eer,
            eer_threshold=eer_threshold,
        )
    return result


def f1_score(tp, fp, fn):
    """F1 of one class from its counts, 2 TP / (2 TP + FP + FN): the one F1 formula of the project
    (the harmonic mean of precision and recall without their 0/0 cases; 0 when the class is
    neither present nor predicted). Works on numbers and on numpy arrays of counts."""
    tp, fp, fn = (np.asarray(value, dtype=float) for value in (tp, fp, fn))
    result = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return float(result) if result.ndim == 0 else result


def counts_at(labels, scores, thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tp, fp, fn)`` with fake called at ``score >= t``, for each threshold ``t``."""
    labels, scores = checked_arrays(labels, scores)
    thresholds = np.asarray(thresholds, dtype=float)
    fake, real = np.sort(scores[labels == 1]), np.sort(scores[labels == 0])
    tp = fake.size - np.searchsorted(fake, thresholds, side="left")
    fp = real.size - np.searchsorted(real, thresholds, side="left")
    return tp, fp, fake.size - tp


def choose_thresholds(labels, scores) -> dict:
    """Decision thresholds to carry from VALIDATION scores to the test set.

    ``{"fixed_0.5": 0.5, "f1": t_f1, "youden": t_j}`` where ``t_f1`` maximises the F1 of the
    fake class and ``t_j`` maximises Youden's J = tpr - fpr. Compute these on validation
    scores only, then evaluate test scores with :func:`frame_metrics` at each threshold; never
    choose them on test. With a single class present the data-driven thresholds fall back to 0.5.
    """
    labels, scores = checked_arrays(labels, scores)
    chosen = {"fixed_0.5": 0.5, "f1": 0.5, "youden": 0.5}
    if np.unique(labels).size < 2:
        return chosen
    _, _, pr_thresholds = skm.precision_recall_curve(labels, scores)
    f1 = f1_score(*counts_at(labels, scores, pr_thresholds))
    chosen["f1"] = float(pr_thresholds[int(np.argmax(f1))])
    fpr, tpr, roc_thresholds = skm.roc_curve(labels, scores)
    finite = np.isfinite(roc_thresholds)  # the first ROC threshold is +inf (nothing flagged)
    youden = np.where(finite, tpr - fpr, -np.inf)
    chosen["youden"] = float(roc_thresholds[int(np.argmax(youden))])
    return chosen


def _with_scores(frame_df: pd.DataFrame, scores) -> pd.DataFrame:
    scores = np.asarray(scores, dtype=float).ravel()
    if len(frame_df) != scores.size:
        raise ValueError(f"frame_df has {len(frame_df)} rows but there are {scores.size} scores")
    table = frame_df.reset_index(drop=True).copy()
    table["score"] = scores
    return table


def video_scores(
    frame_df: pd.DataFrame, scores, how: str = "mean", threshold: float = 0.5
) -> pd.DataFrame:
    """One row per video: ``video_id, label, method, score, n_frames``.

    ``how`` aggregates the frame probabilities of a video: ``"mean"`` (the field's default),
    ``"max"``, or ``"vote"`` (the fraction of frames with ``score >= threshold``; thresholding
    it at 0.5 is a majority vote). Every frame of a video must carry the same label.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    table = _with_scores(frame_df, scores)
    if "method" not in table:
        table["method"] = ""
    mixed = table.groupby("video_id")["label"].nunique()
    if (mixed > 1).any():
        raise ValueError(
            f"videos with both labels: {', '.join(map(str, mixed[mixed > 1].index[:5]))}"
        )
    if how == "vote":
        table["score"] = (table["score"] >= threshold).astype(float)
    grouped = table.groupby("video_id", sort=True)
    return pd.DataFrame(
        {
            "label": grouped["label"].first().astype(int),
            "method": grouped["method"].first(),
            "score": grouped["score"].max() if how == "max" else grouped["score"].mean(),
            "n_frames": grouped.size(),
        }
    ).reset_index()


def _weighted_auc(order_labels, inverse, n_unique, weights) -> float:
    """ROC-AUC of weighted samples; ties count one half. Samples are pre-grouped by score."""
    positive = np.bincount(inverse, weights=weights * order_labels, minlength=n_unique)
    negative = np.bincount(inverse, weights=weights * (1 - order_labels), minlength=n_unique)
    total_positive, total_negative = positive.sum(), negative.sum()
    if total_positive == 0 or total_negative == 0:
        return np.nan
    below = np.cumsum(negative) - negative  # negative weight strictly below each unique score
    return float(np.sum(positive * (below + 0.5 * negative)) / (total_positive * total_negative))


def _resolve_metric(metric_fn) -> tuple[Callable | None, bool]:
    """The callable to use and whether the fast weighted-AUC path applies."""
    if isinstance(metric_fn, str):
        named = {
            "roc_auc": None,
            "average_precision": skm.average_precision_score,
            "accuracy": lambda y, s: float(((s >= 0.5) == y).mean()),
        }
        if metric_fn not in named:
            raise ValueError(f"unknown metric {metric_fn!r}; choose one of {', '.join(named)}")
        return named[metric_fn], metric_fn == "roc_auc"
    return metric_fn, metric_fn is skm.roc_auc_score


def resample_counts(frame_df: pd.DataFrame, n: int = 1000, seed: int = 0, unit: str = "group",
                    stratify: bool = True) -> np.ndarray:
    """``(n, rows)`` counts: how often each row of ``frame_df`` enters each of ``n`` bootstrap
    resamples that draw whole ``unit``s with replacement (every frame of a drawn unit, as often as
    it was drawn). With ``stratify`` (and every unit holding a single label), real and fake units
    are drawn separately so each resample keeps the class balance. The same ``seed`` gives the
    same resamples, so two models scored on one split are compared on the same draws."""
    if unit not in frame_df:
        raise ValueError(f"frame_df has no column {unit!r} to resample by")
    cluster, units = pd.factorize(frame_df[unit], sort=True)
    n_units = len(units)
    rng = np.random.default_rng(seed)
    labels = pd.Series(np.asarray(frame_df["label"]))
    unit_labels = labels.groupby(cluster).agg(["min", "max"])
    if stratify and (unit_labels["min"] == unit_labels["max"]).all():
        strata = [np.flatnonzero(unit_labels["min"].to_numpy() == c) for c in (0, 1)]
        strata = [members for members in strata if members.size]
    else:
        strata = [np.arange(n_units)]
    draws = np.concatenate(
        [members[rng.integers(0, members.size, size=(n, members.size))] for members in strata],
        axis=1,
    )
    offsets = np.arange(n)[:, None] * n_units
    counts = np.bincount((draws + offsets).ravel(), minlength=n * n_units).reshape(n, n_units)
    return counts[:, cluster]


def resampled_aucs(labels, scores, counts: np.ndarray) -> np.ndarray:
    """The AUC of ``scores`` in every resample of ``counts`` (rows of ``resample_counts``)."""
    labels, scores = checked_arrays(labels, scores)
    unique_scores, inverse = np.unique(scores, return_inverse=True)
    return np.array([_weighted_auc(labels, inverse, unique_scores.size, row) for row in counts])


def bootstrap_ci(
    frame_df: pd.DataFrame,
    scores,
    metric_fn: Callable | str = "roc_auc",
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    unit: str = "video_id",
    stratify: bool = True,
) -> tuple[float, float, float]:
    """``(point, low, high)``: a percentile bootstrap interval that resamples whole ``unit``s.

    Each resample draws units (videos by default, or e.g. ``"group"`` for identities) with
    replacement and keeps every frame of each drawn unit, as often as it was drawn; frames are
    never resampled on their own. ``metric_fn(labels, scores) -> float`` is any metric, or one of
    ``"roc_auc"`` (a fast weighted-rank path, also used for ``sklearn.metrics.roc_auc_score``),
    ``"average_precision"``, ``"accuracy"``. With ``stratify`` (and every unit holding a
    single label), real and fake units are drawn separately so each resample keeps the class
    balance. Resamples where the metric is undefined are dropped.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if unit not in frame_df:
        raise ValueError(f"frame_df has no column {unit!r} to resample by")
    table = _with_scores(frame_df, scores)
    labels, values = checked_arrays(table["label"], table["score"])
    function, fast_auc = _resolve_metric(metric_fn)
    point = (
        float(skm.roc_auc_score(labels, values)) if fast_auc else float(function(labels, values))
    )
    frame_counts = resample_counts(table, n=n, seed=seed, unit=unit, stratify=stratify)

    estimates = np.empty(n)
    if fast_auc:
        estimates = resampled_aucs(labels, values, frame_counts)
    else:
        frame_index = np.arange(labels.size)
        for row in range(n):
            chosen = np.repeat(frame_index, frame_counts[row])
            try:
                estimates[row] = function(labels[chosen], values[chosen])
            except ValueError:
                estimates[row] = np.nan
    return percentile_interval(point, estimates, alpha)


def per_method_auc(frame_df: pd.DataFrame, scores) -> pd.DataFrame:
    """ROC-AUC of each fake method against the real crops of the same split.

    Returns ``split, method, n_fake, n_real, roc_auc`` (one row per split and fake method;
    without a ``split`` column all rows count as one split, ``"all"``). AUC is NaN where a
    split has no real crops.
    """
    table = _with_scores(frame_df, scores)
    if "split" not in table:
        table["split"] = "all"
    if "method" not in table:
        raise ValueError("frame_df needs a 'method' column for per-method AUC")
    rows = []
    for split, part in table.groupby("split", sort=True):
        real = part[part["label"] == 0]
        for method, fake in part[part["label"] == 1].groupby("method", sort=True):
            auc = np.nan
            if len(real):
                y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
                auc = float(skm.roc_auc_score(y, np.r_[real["score"], fake["score"]]))
            rows.append(
                {
                    "split": split,
                    "method": method,
                    "n_fake": len(fake),
                    "n_real": len(real),
                    "roc_auc": auc,
                }
            )
    return pd.DataFrame(rows, columns=["split", "method", "n_fake", "n_real", "roc_auc"])


def degradation_rows(curve: dict, degraded_sets: dict, threshold: float, clean: dict,
                     frames: dict | None = None, n: int = 0, seed: int = 0) -> list[dict]:
    """Robustness rows of one model: AUC and macro F1 at every ``(degradation, level)``.

    ``curve`` maps ``(degradation, level)`` to scores, ``degraded_sets`` maps the same keys to
    ``(labels, images)``; ``clean`` (with ``model``, ``variant``, ``auc``, ``f1_macro`` and, when
    intervals are asked for, ``auc_low``, ``auc_high``) gives level 0 of every degradation, the
    clean test split. With ``frames`` (the same keys to the rows scored, holding ``group``) and
    ``n`` resamples, each AUC gets a 95% interval over resampled leakage groups.
    """
    rows = []
    for (name, level), scores in curve.items():
        m = frame_metrics(degraded_sets[(name, level)][0], scores, threshold)
        row = {"model": clean["model"], "variant": clean["variant"], "degradation": name,
               "level": int(level), "auc": m["roc_auc"], "f1_macro": m["f1_macro"]}
        if frames is not None and n:
            unit = "group" if "group" in frames[(name, level)] else "video_id"
            _, row["auc_low"], row["auc_high"] = bootstrap_ci(frames[(name, level)], scores, n=n, seed=seed, unit=unit)
        rows.append(row)
    for name in dict.fromkeys(name for name, _ in curve):
        row = {"model": clean["model"], "variant": clean["variant"], "degradation": name,
               "level": 0, "auc": float(clean["auc"]), "f1_macro": float(clean["f1_macro"])}
        if frames is not None and n:
            row.update({"auc_low": float(clean.get("auc_low", np.nan)), "auc_high": float(clean.get("auc_high", np.nan))})
        rows.append(row)
    return rows


def _seed_arrays(scores, rows: int) -> list[np.ndarray]:
    """One score array, or a list of them (one per training seed), as a list of float arrays of
    ``rows`` scores each."""
    arrays = [np.asarray(s, dtype=float) for s in (scores if isinstance(scores, list) else [scores])]
    if not arrays:
        raise ValueError("no score arrays: give one per training seed")
    for array in arrays:
        if array.shape != (rows,):
            raise ValueError(f"every score array needs one score per row ({rows}), got {array.shape}")
    return arrays


def _resampled_seed_aucs(frame_df: pd.DataFrame, arrays: list, counts: np.ndarray) -> np.ndarray:
    """``(resamples, seeds)``: each seed's AUC in every group resample of ``counts``."""
    labels = frame_df["label"].to_numpy()
    return np.stack([resampled_aucs(labels, s, counts) for s in arrays], axis=1)


def _seed_resampled_means(aucs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per resample (row), the mean AUC of as many seeds as there are, drawn with replacement."""
    picks = rng.integers(0, aucs.shape[1], size=aucs.shape)
    return np.take_along_axis(aucs, picks, axis=1).mean(axis=1)


def auc_difference_intervals(frame_df: pd.DataFrame, scores_a, scores_b, n: int = 1000, seed: int = 0,
                             alpha: float = 0.05, unit: str = "group") -> dict:  # fmt: skip
    """The seed-mean AUC difference of two models, ``mean AUC(a) - mean AUC(b)``, with two
    intervals:

    - ``low, high``: a hierarchical bootstrap over **training seeds and test groups**. Each
      resample draws the test ``unit``s (leakage groups; videos where the frame has none) with
      replacement, the same draw for both models (the test data are shared), and, for each model
      on its own, as many seeds as it has with replacement; the estimate is the difference of the
      drawn seeds' mean AUCs on the drawn groups. It covers another training run as well as
      another test split. With one seed a model's training randomness cannot be counted, and
      with few seeds the seed draws are coarse (3 seeds: 10 distinct draws) and their spread is
      underestimated, so the interval, if anything, understates the uncertainty.
    - ``group_low, group_high``: test groups only, every seed held fixed (what the comparison of
      two given sets of trained models can claim, not a verdict on the recipes).

    ``scores_a`` / ``scores_b`` are one array or a list of arrays, one per seed, each with one
    score per row of ``frame_df``. Also returned: ``difference``, ``seeds_a``, ``seeds_b``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    seeds_a, seeds_b = _seed_arrays(scores_a, len(frame_df)), _seed_arrays(scores_b, len(frame_df))
    labels = frame_df["label"].to_numpy()
    point = float(np.mean([skm.roc_auc_score(labels, s) for s in seeds_a])
                  - np.mean([skm.roc_auc_score(labels, s) for s in seeds_b]))
    counts = resample_counts(frame_df, n=n, seed=seed, unit=unit if unit in frame_df else "video_id")
    aucs_a, aucs_b = _resampled_seed_aucs(frame_df, seeds_a, counts), _resampled_seed_aucs(frame_df, seeds_b, counts)
    _, group_low, group_high = percentile_interval(point, aucs_a.mean(axis=1) - aucs_b.mean(axis=1), alpha)
    rng = np.random.default_rng([seed, 1])  # seed draws apart from the group draws
    _, low, high = percentile_interval(point, _seed_resampled_means(aucs_a, rng) - _seed_resampled_means(aucs_b, rng), alpha)
    return {"difference": point, "low": low, "high": high, "group_low": group_low, "group_high": group_high,
            "seeds_a": len(seeds_a), "seeds_b": len(seeds_b)}  # fmt: skip


def paired_auc_difference(frame_df: pd.DataFrame, scores_a, scores_b, n: int = 1000, seed: int = 0,
                          alpha: float = 0.05, unit: str = "group") -> tuple[float, float, float]:
    """``(AUC(a) - AUC(b), low, high)`` over the same resamples of ``unit`` (leakage groups;
    videos where the frame has no group column) for both models, every seed held fixed.

    ``scores_a`` and ``scores_b`` are one score array each, or lists of arrays, one per training
    seed: the difference is then that of the seed-mean AUCs, every seed of both models scored on
    the very same resampled groups. This interval says nothing about another training run: for a
    verdict on two training recipes use :func:`auc_difference_intervals`, which resamples seeds.
    """
    found = auc_difference_intervals(frame_df, scores_a, scores_b, n=n, seed=seed, alpha=alpha, unit=unit)
    return found["difference"], found["group_low"], found["group_high"]


def seed_mean_auc_interval(frame_df: pd.DataFrame, scores, n: int = 1000, seed: int = 0, alpha: float = 0.05,
                           unit: str = "group", resample_seeds: bool = True) -> tuple[float, float, float]:  # fmt: skip
    """``(AUC, low, high)`` of the seed-mean AUC (``scores``: one array, or one per seed), every
    resample drawing the ``unit``s and, with ``resample_seeds``, the seeds with replacement (the
    hierarchical bootstrap of :func:`auc_difference_intervals`)."""
    arrays = _seed_arrays(scores, len(frame_df))
    labels = frame_df["label"].to_numpy()
    point = float(np.mean([skm.roc_auc_score(labels, s) for s in arrays]))
    counts = resample_counts(frame_df, n=n, seed=seed, unit=unit if unit in frame_df else "video_id")
    aucs = _resampled_seed_aucs(frame_df, arrays, counts)
    estimates = _seed_resampled_means(aucs, np.random.default_rng([seed, 1])) if resample_seeds else aucs.mean(axis=1)
    return percentile_interval(point, estimates, alpha)


def apcer_bpcer(labels, scores, threshold: float) -> tuple[float, float]:
    """``(APCER, BPCER)`` at ``threshold`` in ISO/IEC 30107-3 terms, a fake being the attack:
    APCER, the share of fakes accepted as real (``score < threshold``); BPCER, the share of
    real faces rejected (``score >= threshold``). NaN for a class that is absent."""
    labels, scores = checked_arrays(labels, scores)
    fake, real = scores[labels == 1], scores[labels == 0]
    apcer = float(np.mean(fake < threshold)) if fake.size else float("nan")
    bpcer = float(np.mean(real >= threshold)) if real.size else float("nan")
    return apcer, bpcer


def threshold_at_apcer(labels, scores, apcer: float) -> float:
    """The highest threshold whose APCER on these (validation) scores is at most ``apcer``:
    fewer real faces rejected for the same share of accepted fakes."""
    if not 0 <= apcer < 1:
        raise ValueError(f"the target APCER must lie in [0, 1), got {apcer}")
    labels, scores = checked_arrays(labels, scores)
    fake = np.sort(scores[labels == 1])
    if not fake.size:
        raise ValueError("no fake scores to set an APCER threshold on")
    allowed = int(np.floor(apcer * fake.size + 1e-9))  # fakes that may fall below the threshold
    return float(fake[min(allowed, fake.size - 1)])
