"""Scores and test metrics for notebook 05, without TensorFlow: crops are read with OpenCV and
``.tflite`` files run through whichever TFLite runtime imports, ``.onnx`` files through ONNX
Runtime (``inference``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import calibration, inference, metrics


def tflite_scores(
    path: Path | bytes, images: np.ndarray, threads: int = 1, batch_size: int = inference.EVAL_BATCH_SIZE
) -> np.ndarray:
    """P(fake) of every image from a ``.tflite`` file (or its bytes), ``batch_size`` images per
    invoke (``inference.predict``: the scores do not depend on it). The one scoring path of every
    TFLite file: notebook 04's checks, notebook 05's tables."""
    interpreter, _ = inference.load_model(path, num_threads=threads)
    return inference.predict(interpreter, images, batch_size=batch_size)


def test_report(test_frame: pd.DataFrame, test_scores: np.ndarray, val_labels: np.ndarray, val_scores: np.ndarray, *,
                threshold_rule: str, aggregation: str, bootstrap_samples: int, seed: int, unit: str = "group") -> dict:
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


SCORE_COLUMNS = ["split", "group", "video", "method", "label", "model", "seed", "variant", "score"]


def score_table(frame: pd.DataFrame, scores, *, split: str, model: str, seed: int, variant: str) -> pd.DataFrame:
    """Per-frame scores of one model, seed and variant on the rows of ``frame``, in the columns
    of ``SCORE_COLUMNS``: what ``results/scores/`` keeps so that every table of notebook 05 can
    be recomputed. ``split`` names the test set (``val``, ``test``, a degraded copy
    ``test/<degradation>/<level>``, ``cross`` for the second dataset); ``variant`` the file
    (``float32``, ``int8_ptq``, ...) or ``keras`` with the training run's study
    (``keras ablation``, ``keras cross_manipulation:<method>``)."""
    scores = np.asarray(scores, dtype=float).ravel()
    if scores.size != len(frame):
        raise ValueError(f"the frame has {len(frame)} rows but there are {scores.size} scores")
    return pd.DataFrame({"split": split, "group": frame["group"].astype(str).to_numpy() if "group" in frame
                         else frame["video_id"].astype(str).to_numpy(), "video": frame["video_id"].astype(str).to_numpy(),
                         "method": frame["method"].astype(str).to_numpy(), "label": frame["label"].astype(int).to_numpy(),
                         "model": model, "seed": int(seed), "variant": variant, "score": scores})  # fmt: skip


def keep_scores(store: dict, section: str, splits: dict, *, model: str, seed: int, variant: str) -> None:
    """Add to ``store[section]`` the ``score_table`` of each ``split -> (frame, scores)``."""
    store.setdefault(section, []).extend(
        score_table(frame, values, split=split, model=model, seed=seed, variant=variant) for split, (frame, values) in splits.items())


def write_scores(folder: Path | str, name: str, tables: list) -> Path:
    """``folder/<name>.csv``: the ``score_table`` rows of one section of notebook 05 (an empty
    section writes the header alone, never leaves a stale file)."""
    from deepfake_iot.paths import write_csv

    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SCORE_COLUMNS)
    path = Path(folder) / f"{name}.csv"
    write_csv(table[SCORE_COLUMNS], path)
    return path


def read_scores(path: Path | str) -> pd.DataFrame:
    """A ``write_scores`` file, with the columns checked (the error names what is missing)."""
    table = pd.read_csv(path, dtype={"split": str, "group": str, "video": str, "method": str, "model": str,
                                     "variant": str}, keep_default_na=False)  # fmt: skip
    missing = [column for column in SCORE_COLUMNS if column not in table]
    if missing:
        raise ValueError(f"{path} lacks the score column(s) {', '.join(missing)}")
    return table


def seed_score_arrays(table: pd.DataFrame, *, split: str, variant: str) -> tuple[pd.DataFrame, dict]:
    """From ``score_table`` rows: the frame of ``split`` (``group, video_id, method, label``,
    the rows in the order they were scored) and ``model -> [scores of each seed]`` (seeds
    ascending), for every model of ``variant``: the input of ``paired_comparisons``."""
    part = table[(table["split"] == split) & (table["variant"] == variant)]
    if part.empty:
        raise ValueError(f"no scores of split {split!r} and variant {variant!r}")
    arrays, frame = {}, None
    for (model, _), rows in part.groupby(["model", "seed"], sort=True):
        if frame is None:
            frame = rows[["group", "video", "method", "label"]].rename(columns={"video": "video_id"}).reset_index(drop=True)
        elif not np.array_equal(rows["video"].to_numpy(), frame["video_id"].to_numpy()):
            raise ValueError(f"the {model} scores of {split!r} are not on the same rows as the others")
        arrays.setdefault(model, []).append(rows["score"].to_numpy())
    return frame, arrays


def calibration_record(val_labels, val_scores, test_labels, test_scores, *, deployment_prior: float,
                       bins: int = 15) -> dict:  # fmt: skip
    """Platt scaling fitted on *validation* scores (``calibration.fit_platt``), its intercept moved
    to ``deployment_prior`` (the share of fakes among the faces a deployed gate sees) by Bayes'
    rule, and the expected calibration error on test before and after (``bins`` equal bins).

    The test ECE is that of the validation fit: test shares validation's way of drawing faces,
    so the calibration at validation's class mix is the one test can check; the deployed
    intercept is what the sidecar carries. Raises ``ValueError`` when the fit lands on a bound.
    """
    val_labels, test_labels = np.asarray(val_labels).astype(int), np.asarray(test_labels).astype(int)
    slope, intercept = calibration.fit_platt(val_labels, val_scores)
    val_share = float(np.mean(val_labels))
    calibrated = calibration.apply_platt(test_scores, slope, intercept)
    return {"method": "platt", "formula": "P(fake) = 1 / (1 + exp(-(slope * logit(score) + intercept)))",
            "slope": slope, "intercept_at_validation_prior": intercept, "validation_fake_share": val_share,
            "deployment_prior": float(deployment_prior),
            "intercept": calibration.platt_for_prior(intercept, val_share, deployment_prior),
            "test_fake_share": float(np.mean(test_labels)), "bins": int(bins),
            "test_ece_before": calibration.expected_calibration_error(test_labels, test_scores, bins),
            "test_ece_after": calibration.expected_calibration_error(test_labels, calibrated, bins),
            "fitted_on": "validation scores of this file"}  # fmt: skip


def deployment_record(val: pd.DataFrame, test: pd.DataFrame, val_scores, test_scores, *, window: int,
                      deployment_prior: float, bins: int = 15) -> dict:  # fmt: skip
    """What a deployed file's sidecar gains from notebook 05, all fitted on its *validation*
    scores: ``calibration`` (``calibration_record``, or ``{"method": "none", "reason": ...}``
    where Platt scaling cannot be fitted), ``gate`` (``gate.sidecar_gate``: window, and per target
    APCER the threshold or why there is none) and ``operating_points`` (the met targets as
    ``{"apcer", "threshold", "window"}``, what scoring tools read)."""
    from deepfake_iot import gate

    try:
        calibration = calibration_record(val["label"], val_scores, test["label"], test_scores,
                                         deployment_prior=deployment_prior, bins=bins)  # fmt: skip
    except ValueError as error:
        calibration = {"method": "none", "reason": str(error), "deployment_prior": float(deployment_prior)}
    record = gate.sidecar_gate(gate.presentations(val, val_scores, window), window)
    points = [{"apcer": p["target_apcer"], "threshold": p["threshold"], "window": int(window)}
              for p in record["operating_points"] if p["threshold"] is not None]  # fmt: skip
    return {"calibration": calibration, "gate": record, "operating_points": points}


def update_sidecar(model_path: Path | str, **entries) -> dict:
    """Add ``entries`` (e.g. ``calibration``, ``gate``) to the JSON sidecar beside a ``.tflite``
    file, atomically; the keys notebook 04 wrote are kept. The file's ONNX twin (``models/onnx``,
    verified to score as the ``.tflite`` does) gets the same entries. Returns the new sidecar."""
    import json

    from deepfake_iot.onnx_export import sync_sidecar
    from deepfake_iot.paths import atomic_write_json

    path = Path(model_path).with_suffix(".json")
    if not path.is_file():
        raise ValueError(f"sidecar {path} not found: notebook 04 writes one beside each .tflite")
    record = {**json.loads(path.read_text()), **entries}
    atomic_write_json(path, record)
    sync_sidecar(model_path, entries)
    return record


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


DIFFERENCE_COLUMNS = ["model", "AUC difference", "CI low", "CI high", "verdict", "CI low (test groups only)",
                      "CI high (test groups only)", "seeds", "half width"]  # fmt: skip


GROUPS_ONLY = ("CI low (test groups only)", "CI high (test groups only)")


def difference_verdict(difference: float, low: float, high: float, better: str, worse: str) -> str:
    """``better`` or ``worse`` where the interval ``[low, high]`` excludes zero (by the sign of
    ``difference``), else ``not resolved`` (also for a zero-width or undefined interval)."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high or low == high:
        return "not resolved"
    return better if difference > 0 else worse


def paired_comparisons(frame: pd.DataFrame, scores: dict, reference: str, *, bootstrap_samples: int,
                       seed: int, unit: str = "group") -> pd.DataFrame:  # fmt: skip
    """The seed-mean AUC difference of ``reference`` against each other entry of ``scores``
    (name -> one score array per training seed), with the interval of a hierarchical bootstrap
    over training seeds and test groups (``metrics.auc_difference_intervals``) and, beside it,
    the test-groups-only interval (seeds held fixed), labelled as such.

    Columns ``DIFFERENCE_COLUMNS``: ``AUC difference`` (reference minus model), ``CI low`` and
    ``CI high`` (seeds and groups), ``verdict`` (which is better where that interval excludes 0,
    else "not resolved"), the groups-only interval, ``seeds`` ("3 vs 3") and ``half width`` of
    the seed-inclusive interval (the smallest difference this design resolves for the pair).
    """
    rows = []
    for name, arrays in scores.items():
        if name == reference:
            continue
        found = metrics.auc_difference_intervals(frame, list(scores[reference]), list(arrays), n=bootstrap_samples,
                                                 seed=seed, unit=unit)  # fmt: skip
        verdict = difference_verdict(found["difference"], found["low"], found["high"], f"{reference} better", f"{name} better")
        rows.append([name, found["difference"], found["low"], found["high"], verdict, found["group_low"], found["group_high"],
                     f"{found['seeds_a']} vs {found['seeds_b']}", (found["high"] - found["low"]) / 2])  # fmt: skip
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)


def deployed_comparisons(frame: pd.DataFrame, scores: dict, reference: str, *, bootstrap_samples: int,
                         seed: int, unit: str = "group") -> pd.DataFrame:  # fmt: skip
    """The AUC difference of the deployed files (``scores``: name -> one score array, each
    model's best seed on validation), reference minus model, with its test-groups-only interval:
    a statement about these files, not about the training recipes."""
    rows = []
    for name, values in scores.items():
        if name != reference:
            difference, low, high = metrics.paired_auc_difference(frame, scores[reference], values, n=bootstrap_samples,
                                                                  seed=seed, unit=unit)  # fmt: skip
            rows.append({"model": name, "deployed difference": difference, "deployed CI low (test groups only)": low,
                         "deployed CI high (test groups only)": high})  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "deployed difference", "deployed CI low (test groups only)",
                                       "deployed CI high (test groups only)"])  # fmt: skip


def difference_paper_table(differences: pd.DataFrame) -> pd.DataFrame:
    """The comparisons as the paper prints them: the seed-mean difference with its interval over
    seeds and groups and its verdict, the groups-only interval, and the deployed files'
    difference."""
    span = lambda low, high: f"[{low:+.3f}, {high:+.3f}]"  # noqa: E731
    table = pd.DataFrame({"baseline": differences["model"].str.replace("_", " "),
                          "seed-mean diff.": differences["AUC difference"].map(lambda v: f"{v:+.3f}"),
                          "seeds + groups": [span(a, b) for a, b in zip(differences["CI low"], differences["CI high"], strict=True)],
                          "verdict": differences["verdict"].str.replace("_", " "),
                          "groups only": [span(a, b) for a, b in zip(*(differences[c] for c in GROUPS_ONLY), strict=True)],
                          "seeds": differences["seeds"]})  # fmt: skip
    if "deployed difference" in differences:
        table["deployed diff."] = differences["deployed difference"].map(lambda v: f"{v:+.3f}")
        table["deployed, groups only"] = [span(a, b) for a, b in zip(differences["deployed CI low (test groups only)"],
                                                                     differences["deployed CI high (test groups only)"], strict=True)]
    return table


def resolvable_difference(comparisons: pd.DataFrame) -> float:
    """The median half width of the paired-difference intervals: AUC differences smaller than
    this cannot be told from zero on this test split (NaN without a comparison)."""
    widths = comparisons["half width"].dropna() if len(comparisons) else pd.Series(dtype=float)
    return float(widths.median()) if len(widths) else float("nan")


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
