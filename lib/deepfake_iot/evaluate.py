"""Scores and test metrics for notebook 05, without TensorFlow: crops are read with OpenCV and
``.tflite`` files run through whichever TFLite runtime imports (``tflite_io``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import metrics, tflite_io


def tflite_scores(
    path: Path, images: np.ndarray, threads: int = 1, batch_size: int = tflite_io.EVAL_BATCH_SIZE
) -> np.ndarray:
    """P(fake) of every image from a ``.tflite`` file, ``batch_size`` images per invoke
    (``tflite_io.predict``: the scores do not depend on it)."""
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
    f1_fake = 2 * tp / max(2 * tp + fp + fn, 1)
    f1_real = 2 * tn / max(2 * tn + fn + fp, 1)
    return float((f1_fake + f1_real) / 2)


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
