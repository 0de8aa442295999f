"""Score a trained ``.tflite`` (or its ``.onnx`` twin) on one's own labelled images or videos, without retraining.

The command ``deepfake-iot-score`` (also ``python -m deepfake_iot.score`` and
``scripts/score.py``):

    deepfake-iot-score --model models/tflite/light_cnn/int8_ptq.tflite --real my/real --fake my/fake
    deepfake-iot-score --model m.tflite --csv labels.csv --frames 12 --out my-scores

Labelled data: ``--real DIR --fake DIR`` (every image and video below each folder), or ``--csv``
with the columns ``path`` (relative to the CSV's folder, or absolute) and ``label`` (``real`` /
``fake``, or 0 / 1). Each file goes through the crop of training (``data.faces``: the sidecar's
face detector and enlargement) and the model; a video gives ``--frames`` evenly spaced frames
(default: the profile's ``frames_per_video``) and its score is the mean P(fake) of its faces.

Written under ``--out``: ``scores.csv`` (one row per file), ``frames.csv`` (one per face),
``skipped.csv`` (file and reason), ``metrics.json`` and ``roc_det.png``. Printed: the AUC over
files with a bootstrap interval (files resampled within each class), balanced accuracy, the
recall of each class and the confusion matrix at the sidecar's threshold, and the BPCER at the
sidecar's APCER operating points when it lists them (``operating_points``).

Device side: numpy, OpenCV, pandas, matplotlib and a TFLite runtime; no TensorFlow, no
scikit-learn (the curves are computed here).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

from deepfake_iot.cli import (
    existing_dir,
    existing_file,
    int_at_least,
    one_line,
    quiet_native_stderr,
    silence_opencv,
    verbose_requested,
)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
LABELS = {"real": 0, "fake": 1, "0": 0, "1": 1}
CLASS_NAMES = ("real", "fake")


# Curves and metrics (label 1 = fake, the positive class; fake when score >= threshold) --------
def auc(labels, scores) -> float:
    """Area under the ROC curve: the Mann-Whitney statistic with tied scores counted half;
    NaN unless both classes are present."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based ranks, ties averaged
    rank_sum = average_rank[inverse][labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(false-positive rate, true-positive rate, thresholds)`` at every distinct score, from
    the highest threshold down, starting at (0, 0)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    thresholds = np.unique(scores)[::-1]
    called = scores[None, :] >= thresholds[:, None]
    tpr = (called & labels).sum(axis=1) / max(1, labels.sum())
    fpr = (called & ~labels).sum(axis=1) / max(1, (~labels).sum())
    return np.r_[0.0, fpr], np.r_[0.0, tpr], np.r_[np.inf, thresholds]


def auc_interval(labels, scores, resamples: int = 1000, seed: int = 0, alpha: float = 0.05):
    """Percentile bootstrap interval of the AUC: files resampled with replacement within each
    class (every resample keeps both classes); ``(low, high)``, NaN without both classes."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    real, fake = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    if not len(real) or not len(fake) or resamples < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(resamples):
        chosen = np.r_[rng.choice(real, len(real)), rng.choice(fake, len(fake))]
        estimates.append(auc(labels[chosen], scores[chosen]))
    low, high = np.percentile(estimates, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def threshold_metrics(labels, scores, threshold: float) -> dict:
    """Confusion counts, per-class recall, balanced accuracy, APCER (fakes called real) and
    BPCER (reals called fake) at ``threshold``."""
    labels = np.asarray(labels).astype(int)
    fake = np.asarray(scores, dtype=float) >= threshold
    tn, fp = int(np.sum((labels == 0) & ~fake)), int(np.sum((labels == 0) & fake))
    fn, tp = int(np.sum((labels == 1) & ~fake)), int(np.sum((labels == 1) & fake))
    recall_real = tn / (tn + fp) if tn + fp else float("nan")
    recall_fake = tp / (tp + fn) if tp + fn else float("nan")
    return {
        "threshold": float(threshold),
        "confusion": {"real": {"real": tn, "fake": fp}, "fake": {"real": fn, "fake": tp}},
        "recall_real": recall_real,
        "recall_fake": recall_fake,
        "balanced_accuracy": (recall_real + recall_fake) / 2,
        "apcer": 1 - recall_fake,
        "bpcer": 1 - recall_real,
    }


# Labelled files ---------------------------------------------------------------------------------
def media_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def from_folders(real: Path, fake: Path) -> tuple[list[tuple[Path, int]], list[dict]]:
    """Every file below ``real`` and ``fake`` (hidden ones aside) with its label; files that
    are neither image nor video are returned as skipped."""
    items, skipped = [], []
    for label, folder in enumerate((real, fake)):
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
                continue
            if media_kind(path) is None:
                skipped.append({"path": str(path), "label": CLASS_NAMES[label], "reason": "not_media",
                                "detail": f"suffix {path.suffix or '(none)'} is neither image nor video"})  # fmt: skip
            else:
                items.append((path, label))
    return items, skipped


def from_csv(csv_path: Path) -> tuple[list[tuple[Path, int]], list[dict]]:
    """The files and labels of a CSV with ``path`` and ``label`` columns; a bad label is an
    error naming its line, a missing or non-media file is skipped."""
    import csv

    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path} needs the columns path and label; it lacks {', '.join(sorted(missing))}")
        rows = list(reader)
    items, skipped = [], []
    for line, row in enumerate(rows, start=2):
        label = LABELS.get(str(row["label"]).strip().lower())
        if label is None:
            raise ValueError(f"{csv_path} line {line}: label {row['label']!r} is not real, fake, 0 or 1")
        path = Path(row["path"].strip())
        path = path if path.is_absolute() else csv_path.parent / path
        reason = "missing_file" if not path.is_file() else "not_media" if media_kind(path) is None else None
        if reason:
            skipped.append({"path": str(path), "label": CLASS_NAMES[label], "reason": reason, "detail": ""})
        else:
            items.append((path, label))
    return items, skipped


# Scoring ----------------------------------------------------------------------------------------
def frames_of(path: Path, frames: int) -> list[tuple[int, np.ndarray]]:
    """An image as one frame, a video as ``frames`` evenly spaced frames (``BadMediaError``
    when unreadable)."""
    from deepfake_iot.data.frames import sample_video_frames
    from deepfake_iot.data.intake import read_image

    if media_kind(path) == "image":
        return [(0, read_image(path))]
    return sample_video_frames(path, n_frames=frames)


def score_files(classifier, items, frames: int, progress=None):
    """``(file rows, frame rows, skipped rows)``: P(fake) of every face found (the crop of
    training), a file's score the mean over its faces. A file without a readable frame or
    without any face is skipped with its reason. ``classifier`` is a ``classifier.DeepfakeClassifier``."""
    from deepfake_iot import inference
    from deepfake_iot.data import faces
    from deepfake_iot.data.intake import BadMediaError

    file_rows, frame_rows, skipped = [], [], []
    for number, (path, label) in enumerate(items, start=1):
        if progress:
            progress(number, len(items), path)
        try:
            sampled = frames_of(path, frames)
        except BadMediaError as error:
            skipped.append({"path": str(path), "label": CLASS_NAMES[label], "reason": error.reason,
                            "detail": error.detail})  # fmt: skip
            continue
        scores = []
        for index, frame in sampled:
            found = faces.face_crop(frame, classifier.face_detector, size=classifier.size,
                                    enlarge=classifier.enlarge, fallback="skip")  # fmt: skip
            if found.crop is None:
                continue
            score = float(inference.predict(classifier.interpreter, faces.to_model_input(found.crop))[0])
            scores.append(score)
            frame_rows.append({"path": str(path), "label": label, "frame": index, "p_fake": score})
        if not scores:
            skipped.append({"path": str(path), "label": CLASS_NAMES[label], "reason": "no_face",
                            "detail": f"no face in {len(sampled)} frame(s)"})  # fmt: skip
            continue
        file_rows.append({"path": str(path), "label": label, "kind": media_kind(path),
                          "frames_read": len(sampled), "faces": len(scores),
                          "p_fake": float(np.mean(scores))})  # fmt: skip
    return file_rows, frame_rows, skipped


def evaluate(file_rows, frame_rows, sidecar: dict, threshold: float, resamples: int, seed: int) -> dict:
    """What ``metrics.json`` holds: counts, the AUC over files with its interval, the AUC over
    faces, the metrics at ``threshold`` and at each of the sidecar's APCER operating points."""
    labels = np.array([row["label"] for row in file_rows], dtype=int)
    scores = np.array([row["p_fake"] for row in file_rows], dtype=float)
    low, high = auc_interval(labels, scores, resamples, seed)
    result = {
        "files": {"real": int(np.sum(labels == 0)), "fake": int(np.sum(labels == 1))},
        "auc": auc(labels, scores),
        "auc_interval": [low, high],
        "auc_interval_note": f"95% percentile bootstrap, {resamples} resamples of files within each class",
        "auc_faces": auc([r["label"] for r in frame_rows], [r["p_fake"] for r in frame_rows]),
        "at_threshold": threshold_metrics(labels, scores, threshold),
        "operating_points": [],
    }
    for point in sidecar.get("operating_points") or []:
        measured = threshold_metrics(labels, scores, float(point["threshold"]))
        result["operating_points"].append({"target_apcer": float(point["apcer"]), **measured})
    return result


def plot_curves(labels, scores, path: Path, title: str) -> Path:
    """ROC (left) and DET (right, normal-deviate axes: APCER against BPCER) in one PNG."""
    from matplotlib.figure import Figure

    from deepfake_iot.paths import atomic_path

    fpr, tpr, _ = roc_points(labels, scores)
    deviate = NormalDist().inv_cdf
    clip = np.clip(np.r_[1 - tpr], 1e-3, 1 - 1e-3), np.clip(fpr, 1e-3, 1 - 1e-3)
    figure = Figure(figsize=(8, 3.8), layout="constrained")
    roc, det = figure.subplots(1, 2)
    roc.plot(fpr, tpr, drawstyle="steps-post")
    roc.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
    roc.set(xlabel="false-positive rate (reals called fake)", ylabel="true-positive rate", title="ROC")
    det.plot([deviate(v) for v in clip[0]], [deviate(v) for v in clip[1]], drawstyle="steps-post")
    ticks = [0.001, 0.01, 0.1, 0.5, 0.9, 0.999]
    for axis in ("x", "y"):
        getattr(det, f"set_{axis}ticks")([deviate(t) for t in ticks], [f"{t:g}" for t in ticks])
        getattr(det, f"set_{axis}lim")(deviate(5e-4), deviate(1 - 5e-4))
    det.set(xlabel="APCER (fakes called real)", ylabel="BPCER (reals called fake)", title="DET")
    figure.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120)
    return path


# The command ------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    from deepfake_iot.data.faces import DETECTOR_NAMES

    parser = argparse.ArgumentParser(prog="deepfake-iot-score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--model", type=existing_file, required=True,
                        help=".tflite or .onnx file, its sidecar .json beside it")  # fmt: skip
    parser.add_argument("--real", type=existing_dir, help="folder of real images/videos (with --fake)")
    parser.add_argument("--fake", type=existing_dir, help="folder of fake images/videos (with --real)")
    parser.add_argument("--csv", type=existing_file, help="CSV with the columns path and label")
    parser.add_argument("--out", type=Path, help="folder for the results (default: score_<model name>)")
    parser.add_argument("--frames", type=int_at_least(1),
                        help="frames per video (default: frames_per_video of --profile)")  # fmt: skip
    parser.add_argument("--profile", default="default", help="parameter profile for --frames's default")
    parser.add_argument("--detector", choices=DETECTOR_NAMES,
                        help="face detector (default: the sidecar's face_detector, else blazeface_short)")  # fmt: skip
    parser.add_argument("--detector-model", type=existing_file, help="the face detector's model file")
    parser.add_argument("--threads", type=int_at_least(1), default=1, help="runtime threads (default: 1)")
    parser.add_argument("--providers", help="ONNX Runtime execution providers for an .onnx model, in order, comma-separated: tensorrt, cuda, cpu (default: TensorRT, CUDA, then CPU, those installed)")
    parser.add_argument("--bootstrap", type=int_at_least(0), default=1000,
                        help="bootstrap resamples for the AUC interval (default 1000; 0: none)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument("--verbose", action="store_true", help="let the runtime and OpenCV talk")
    args = parser.parse_args(argv)
    if args.csv is None and (args.real is None or args.fake is None):
        parser.error("give --real DIR and --fake DIR, or --csv FILE")
    if args.csv is not None and (args.real is not None or args.fake is not None):
        parser.error("give either --csv or --real/--fake, not both")
    return args


def frames_per_video(args) -> int:
    if args.frames is not None:
        return args.frames
    from deepfake_iot.params import ParameterError, load_params

    try:
        return int(load_params(args.profile)["frames_per_video"])
    except (ParameterError, OSError, KeyError) as error:
        raise ValueError(f"--frames not given and profile {args.profile!r} has no frames_per_video "
                         f"({one_line(error)}): give --frames N") from error  # fmt: skip


def write_results(out: Path, file_rows, frame_rows, skipped, metrics: dict, title: str) -> list[Path]:
    import pandas as pd

    from deepfake_iot.paths import atomic_write_json, ensure_dir, write_csv

    ensure_dir(out)
    files = pd.DataFrame(file_rows, columns=["path", "label", "kind", "frames_read", "faces", "p_fake"])
    threshold = metrics["at_threshold"]["threshold"]
    files["called"] = np.where(files["p_fake"] >= threshold, "fake", "real")
    files["label"] = files["label"].map(dict(enumerate(CLASS_NAMES)))
    faces_table = pd.DataFrame(frame_rows, columns=["path", "label", "frame", "p_fake"])
    faces_table["label"] = faces_table["label"].map(dict(enumerate(CLASS_NAMES)))
    written = [write_csv(files, out / "scores.csv"), write_csv(faces_table, out / "frames.csv"),
               write_csv(pd.DataFrame(skipped, columns=["path", "label", "reason", "detail"]), out / "skipped.csv"),
               atomic_write_json(out / "metrics.json", _finite_or_none(metrics))]  # fmt: skip
    if metrics["files"]["real"] and metrics["files"]["fake"]:
        labels = [row["label"] for row in file_rows]
        written.append(plot_curves(labels, [row["p_fake"] for row in file_rows], out / "roc_det.png", title))
    return written


def _finite_or_none(value):
    """NaN (an undefined metric) as JSON's null, through nested dicts and lists."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def report_lines(metrics: dict, skipped: list[dict]) -> list[str]:
    files, at = metrics["files"], metrics["at_threshold"]
    reasons = {}
    for row in skipped:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    lines = [f"scored {files['real'] + files['fake']} file(s): {files['real']} real, {files['fake']} fake; "
             f"skipped {len(skipped)}" + (f" ({', '.join(f'{n} {r}' for r, n in sorted(reasons.items()))})" if reasons else "")]  # fmt: skip
    if np.isfinite(metrics["auc"]):
        low, high = metrics["auc_interval"]
        lines.append(f"AUC over files {metrics['auc']:.3f} (95% CI {low:.3f}-{high:.3f}); over faces {metrics['auc_faces']:.3f}")
    else:
        lines.append("AUC undefined: the scored files hold only one class")
    lines.append(f"at the sidecar's threshold {at['threshold']:.3f}: balanced accuracy {at['balanced_accuracy']:.3f}, "
                 f"recall real {at['recall_real']:.3f}, recall fake {at['recall_fake']:.3f}")  # fmt: skip
    matrix = at["confusion"]
    lines += ["confusion matrix (rows: true class, columns: called)", f"{'':>8}{'real':>8}{'fake':>8}"]
    lines += [f"{name:>8}{matrix[name]['real']:>8}{matrix[name]['fake']:>8}" for name in CLASS_NAMES]
    for point in metrics["operating_points"]:
        lines.append(f"at APCER target {point['target_apcer']:g} (threshold {point['threshold']:.3f}): "
                     f"BPCER {point['bpcer']:.3f}, APCER {point['apcer']:.3f}")  # fmt: skip
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    verbose = verbose_requested(args.verbose)
    silence_opencv(verbose)
    from deepfake_iot.classifier import DeepfakeClassifier
    from deepfake_iot.demo import check_output

    expected = (OSError, ValueError, ImportError)
    try:
        frames = frames_per_video(args)
        items, skipped = from_csv(args.csv) if args.csv else from_folders(args.real, args.fake)
        if not items:
            raise ValueError(f"no image or video to score ({len(skipped)} file(s) skipped)")
        out = args.out or Path(f"score_{args.model.stem}")
        check_output(out, "folder")
        with quiet_native_stderr(verbose):
            classifier = DeepfakeClassifier(args.model, detector=args.detector,
                                            detector_model=args.detector_model, threads=args.threads,
                                            providers=args.providers)  # fmt: skip
    except expected as error:
        print(f"error: {one_line(error, expected)}", file=sys.stderr)
        return 2
    classifier.announce()
    print(f"{len(items)} file(s), {frames} frame(s) per video, face detector {classifier.detector}", flush=True)
    file_rows, frame_rows, unusable = score_files(classifier, items, frames)
    skipped = skipped + unusable
    metrics = evaluate(file_rows, frame_rows, classifier.sidecar, classifier.threshold, args.bootstrap, args.seed)
    metrics.update(model=str(args.model), frames_per_video=frames, detector=classifier.detector,
                   skipped=len(skipped))  # fmt: skip
    try:
        written = write_results(out, file_rows, frame_rows, skipped, metrics, args.model.name)
    except expected as error:
        print(f"error: {one_line(error, expected)}", file=sys.stderr)
        return 2
    print("\n".join(report_lines(metrics, skipped)))
    print(f"written: {', '.join(str(path) for path in written)}")
    return 0 if file_rows else 1


if __name__ == "__main__":
    sys.exit(main())
