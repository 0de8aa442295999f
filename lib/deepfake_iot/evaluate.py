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
) -> dict:
    """Test metrics at the threshold that ``threshold_rule`` picks on *validation* scores.

    Frame-level AUC, AP, EER, accuracy, macro F1; video-level AUC and accuracy (frame scores
    aggregated per video by ``aggregation``); 95% bootstrap intervals over videos for AUC, F1
    and accuracy.
    """
    thresholds = metrics.choose_thresholds(val_labels, val_scores)
    if threshold_rule not in thresholds:
        raise ValueError(
            f"eval_threshold '{threshold_rule}' unknown; choose one of {', '.join(thresholds)}"
        )
    threshold = float(thresholds[threshold_rule])
    labels = test_frame["label"].to_numpy()
    frame = metrics.frame_metrics(labels, test_scores, threshold)
    videos = metrics.video_scores(test_frame, test_scores, how=aggregation, threshold=threshold)
    video_threshold = 0.5 if aggregation == "vote" else threshold
    video = metrics.frame_metrics(
        videos["label"].to_numpy(), videos["score"].to_numpy(), video_threshold
    )

    def accuracy(y, s):
        return float(np.mean((s >= threshold) == (y == 1)))

    def f1_macro(y, s):
        fake, real = s >= threshold, s < threshold
        tp, tn = np.sum(fake & (y == 1)), np.sum(real & (y == 0))
        fp, fn = np.sum(fake & (y == 0)), np.sum(real & (y == 1))
        f1_fake = 2 * tp / max(2 * tp + fp + fn, 1)
        f1_real = 2 * tn / max(2 * tn + fn + fp, 1)
        return float((f1_fake + f1_real) / 2)

    row = {
        "threshold": threshold,
        "auc": frame["roc_auc"],
        "ap": frame["average_precision"],
        "eer": frame["eer"],
        "accuracy": frame["accuracy"],
        "f1_macro": frame["f1_macro"],
        "video_auc": video["roc_auc"],
        "video_accuracy": video["accuracy"],
        "tn": frame["tn"],
        "fp": frame["fp"],
        "fn": frame["fn"],
        "tp": frame["tp"],
    }
    for name, fn in (("auc", "roc_auc"), ("f1_macro", f1_macro), ("accuracy", accuracy)):
        _, low, high = metrics.bootstrap_ci(
            test_frame, test_scores, fn, n=bootstrap_samples, seed=seed
        )
        row[f"{name}_low"], row[f"{name}_high"] = low, high
    return row
