"""Scores and test metrics for notebook 05, without TensorFlow: crops are read with OpenCV and
``.tflite`` files run through whichever TFLite runtime imports (``tflite_io``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import metrics, tflite_io


def tflite_scores(
    path: Path | bytes, images: np.ndarray, threads: int = 1, batch_size: int = tflite_io.EVAL_BATCH_SIZE
) -> np.ndarray:
    """P(fake) of every image from a ``.tflite`` file (or its bytes), ``batch_size`` images per
    invoke (``tflite_io.predict``: the scores do not depend on it). The one scoring path of every
    TFLite file: notebook 04's checks, notebook 05's tables."""
    interpreter, _ = tflite_io.load_interpreter(path, num_threads=threads)
    return tflite_io.predict(interpreter, images, batch_size=batch_size)


def test_report(
    test_frame: pd.DataFrame,
    test_scores: np.ndarray,
    val_labels: np.ndarray,
    val_scores: np.ndarray,
    *,
    threshold_rule: str,
    aggregation: str,
    bootstrap_samples: int,
    seed: int,
    unit: str = "group",
) -> dict:
    """Test metrics at the threshold that ``threshold_rule`` picks on *validation* scores.

    Frame-level AUC, AP, EER, accuracy, balanced accuracy with the recall of each class, macro
    F1; video-level AUC and accuracy (frame scores aggregated per video by ``aggregation``).
    AUC, balanced accuracy, macro F1, accuracy and the video AUC get 95% bootstrap intervals that
    resample ``unit`` (the leakage group by default: the videos of one group, a real video and
    the fakes made from it, are not independent). Without a ``unit`` column, videos.
    """
    thresholds = metrics.choose_thresholds(val_labels, val_scores)
    if threshold_rule not in thresholds:
        raise ValueError(
            f"eval_threshold '{threshold_rule}' unknown; choose one of {', '.join(thresholds)}"
        )
    threshold = float(thresholds[threshold_rule])
    unit = unit if unit in test_frame else "video_id"
    labels = test_frame["label"].to_numpy()
    frame = metrics.frame_metrics(labels, test_scores, threshold)
    videos = metrics.video_scores(test_frame, test_scores, how=aggregation, threshold=threshold)
    if unit != "video_id":
        videos[unit] = videos["video_id"].map(test_frame.drop_duplicates("video_id").set_index("video_id")[unit])
    video_threshold = 0.5 if aggregation == "vote" else threshold
    video = metrics.frame_metrics(
        videos["label"].to_numpy(), videos["score"].to_numpy(), video_threshold
    )

    def thresholded(name):
        return lambda y, s: _thresholded(name, y, s >= threshold)

    row = {
        "threshold": threshold,
        "auc": frame["roc_auc"],
        "ap": frame["average_precision"],
        "eer": frame["eer"],
        "accuracy": frame["accuracy"],
        "balanced_accuracy": frame["balanced_accuracy"],
        "recall_real": frame["recall_real"],
        "recall_fake": frame["recall_fake"],
        "f1_macro": frame["f1_macro"],
        "video_auc": video["roc_auc"],
        "video_accuracy": video["accuracy"],
        "tn": frame["tn"],
        "fp": frame["fp"],
        "fn": frame["fn"],
        "tp": frame["tp"],
        "interval_unit": unit,
    }
    for name, fn in (("auc", "roc_auc"), ("balanced_accuracy", thresholded("balanced_accuracy")),
                     ("f1_macro", thresholded("f1_macro")), ("accuracy", "accuracy")):  # fmt: skip
        function = fn if fn != "accuracy" else thresholded("accuracy")
        _, low, high = metrics.bootstrap_ci(
            test_frame, test_scores, function, n=bootstrap_samples, seed=seed, unit=unit
        )
        row[f"{name}_low"], row[f"{name}_high"] = low, high
    _, row["video_auc_low"], row["video_auc_high"] = metrics.bootstrap_ci(
        videos, videos["score"].to_numpy(), "roc_auc", n=bootstrap_samples, seed=seed, unit=unit
    )
    return row


def _thresholded(name: str, labels: np.ndarray, called_fake: np.ndarray) -> float:
    """Accuracy, balanced accuracy or macro F1 from labels and decisions, in plain numpy: the
    bootstrap calls it a thousand times per interval."""
    fake = labels == 1
    tp, fn = np.sum(called_fake & fake), np.sum(~called_fake & fake)
    tn, fp = np.sum(~called_fake & ~fake), np.sum(called_fake & ~fake)
    if name == "accuracy":
        return float((tp + tn) / max(len(labels), 1))
    if name == "balanced_accuracy":
        recalls = [tp / (tp + fn)] if tp + fn else []
        recalls += [tn / (tn + fp)] if tn + fp else []
        return float(np.mean(recalls))
    return (metrics.f1_score(tp, fp, fn) + metrics.f1_score(tn, fn, fp)) / 2


def operating_points(
    val_labels, val_scores, test_frame: pd.DataFrame, test_scores, *, apcer_targets=(0.01, 0.05, 0.10),
    bootstrap_samples: int = 1000, seed: int = 0, unit: str = "group",
) -> pd.DataFrame:  # fmt: skip
    """A biometric gate's operating points (ISO/IEC 30107-3 terms, fake = attack): for each
    target APCER (fakes accepted as real), the threshold chosen on *validation* scores that
    keeps the validation APCER at or below it, then the APCER and BPCER (real users rejected)
    reached on test, with bootstrap intervals over ``unit``."""
    unit = unit if unit in test_frame else "video_id"
    rows = []
    for target in apcer_targets:
        threshold = metrics.threshold_at_apcer(val_labels, val_scores, target)
        row = {"target APCER": float(target), "threshold": threshold,
               "val APCER": metrics.apcer_bpcer(val_labels, val_scores, threshold)[0]}  # fmt: skip
        for index, name in enumerate(("APCER", "BPCER")):
            point, low, high = metrics.bootstrap_ci(
                test_frame, test_scores, lambda y, s, i=index, t=threshold: metrics.apcer_bpcer(y, s, t)[i],
                n=bootstrap_samples, seed=seed, unit=unit,
            )  # fmt: skip
            row.update({f"test {name}": point, f"{name} low": low, f"{name} high": high})
        rows.append(row)
    return pd.DataFrame(rows)


SEED_METRICS = ("auc", "balanced_accuracy", "recall_real", "recall_fake", "accuracy", "f1_macro", "video_auc", "eer")


def seed_table(seed_rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each model's test metrics (``seed_rows``: one
    row per model and seed, with the keys of ``test_report``); ``seeds`` counts them."""
    present = [name for name in SEED_METRICS if name in seed_rows]
    grouped = seed_rows.groupby("model", sort=False)
    table = grouped[present].agg(["mean", "std"])
    table.columns = [f"{name}_{stat}" for name, stat in table.columns]
    table = table.fillna({f"{name}_std": 0.0 for name in present})
    table["seeds"] = grouped["seed"].nunique()
    return table.reset_index()


def paired_comparisons(frame: pd.DataFrame, scores: dict, reference: str, *, bootstrap_samples: int,
                       seed: int, unit: str = "group") -> pd.DataFrame:  # fmt: skip
    """The AUC difference of ``reference`` against each other entry of ``scores`` (name -> one
    score array per training seed, seeds in the same order for every name), averaged over seeds
    and bootstrapped over the same resampled ``unit``s (``metrics.paired_auc_difference``).

    Columns: ``model``, ``AUC difference`` (reference minus model), ``CI low``, ``CI high``,
    ``half width`` (of the interval: the smallest difference this split resolves for the pair)
    and ``verdict`` (which one is better, or "not resolved" when the interval holds 0).
    """
    rows = []
    for name, arrays in scores.items():
        if name == reference:
            continue
        diff, low, high = metrics.paired_auc_difference(
            frame, list(scores[reference]), list(arrays), n=bootstrap_samples, seed=seed, unit=unit
        )
        verdict = "not resolved" if low <= 0 <= high or low == high else (f"{reference} better" if diff > 0 else f"{name} better")
        rows.append({"model": name, "AUC difference": diff, "CI low": low, "CI high": high,
                     "half width": (high - low) / 2, "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "AUC difference", "CI low", "CI high", "half width", "verdict"])


def resolvable_difference(comparisons: pd.DataFrame) -> float:
    """The median half width of the paired-difference intervals: AUC differences smaller than
    this cannot be told from zero on this test split (NaN without a comparison)."""
    widths = comparisons["half width"].dropna() if len(comparisons) else pd.Series(dtype=float)
    return float(widths.median()) if len(widths) else float("nan")


def study_row(frame: pd.DataFrame, label: str, arms: dict, *, bootstrap_samples: int, seed: int,
              unit: str = "group") -> dict:  # fmt: skip
    """One row of a two-arm study (``arms``: arm name -> score arrays, one per seed, on the rows
    of ``frame``): each arm's seed-mean AUC and spread, and the difference of the second arm
    minus the first with its interval over the same resampled ``unit``s."""
    (first, first_scores), (second, second_scores) = list(arms.items())
    labels = frame["label"].to_numpy()
    aucs = {name: [metrics.frame_metrics(labels, s)["roc_auc"] for s in arrays] for name, arrays in arms.items()}
    diff, low, high = metrics.paired_auc_difference(
        frame, list(second_scores), list(first_scores), n=bootstrap_samples, seed=seed, unit=unit
    )
    row = {"test set": label}
    for name in (first, second):
        row[f"{name} AUC"] = float(np.mean(aucs[name]))
        row[f"{name} std"] = float(np.std(aucs[name], ddof=1)) if len(aucs[name]) > 1 else 0.0
    row.update({"difference": diff, "CI low": low, "CI high": high, "seeds": min(len(first_scores), len(second_scores))})
    return row


def seed_paper_table(summary: pd.DataFrame) -> pd.DataFrame:
    """``seed_table`` as the paper prints it: each metric as ``mean ± std`` over seeds."""
    columns = {"auc": "AUC", "balanced_accuracy": "bal. acc.", "recall_real": "recall real",
               "recall_fake": "recall fake", "video_auc": "video AUC", "eer": "EER"}  # fmt: skip
    table = pd.DataFrame({"model": summary["model"]})
    for name, title in columns.items():
        if f"{name}_mean" in summary:
            table[title] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(summary[f"{name}_mean"], summary[f"{name}_std"], strict=True)]
    table["seeds"] = summary["seeds"].astype(int)
    return table


def study_paper_table(study: pd.DataFrame) -> pd.DataFrame:
    """A two-arm study (rows of ``study_row``) as the paper prints it: each arm's AUC as
    ``mean ± std`` over seeds under the arm's name, then the difference and its interval."""
    if not len(study):
        return study
    arms = [c[: -len(" AUC")] for c in study.columns if c.endswith(" AUC")]
    table = pd.DataFrame({"test set": study["test set"].str.replace("_", " ")})
    for arm in arms:
        table[arm] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(study[f"{arm} AUC"], study[f"{arm} std"], strict=True)]
    for column in ("difference", "CI low", "CI high"):
        table[column] = study[column].map(lambda v: f"{v:+.3f}")
    table["seeds"] = study["seeds"].astype(int)
    return table


def result_row(results: pd.DataFrame, model: str, variant: str) -> pd.Series:
    """The row of ``model``'s ``variant`` in a table with ``model`` and ``variant`` columns."""
    match = results[(results["model"] == model) & (results["variant"] == variant)]
    if match.empty:
        raise KeyError(f"no row for {model} {variant}")
    return match.iloc[0]


TEST_COLUMNS = {"auc": "AUC", "auc_low": "CI low", "auc_high": "CI high", "balanced_accuracy": "bal. acc.",
                "recall_real": "recall real", "recall_fake": "recall fake", "accuracy": "accuracy", "f1_macro": "F1",
                "video_auc": "video AUC", "eer": "EER"}  # fmt: skip


def test_paper_table(results: pd.DataFrame, variants=("float32", "int8_ptq", "int8_qat")) -> pd.DataFrame:
    """``test_report`` rows as the paper's test table prints them: the deployed ``variants``."""
    table = results[["model", "variant", *TEST_COLUMNS]].rename(columns=TEST_COLUMNS)
    return table[table["variant"].isin(variants)]

