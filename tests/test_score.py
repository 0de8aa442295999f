"""Scoring one's own labelled data (``deepfake_iot.score``, ``deepfake-iot-score``): the curves
without scikit-learn agree with scikit-learn's, and the command scores a small labelled tree of
real faces (Grace Hopper's portrait, as images and as a video) with the committed demo model,
counting what it skips and why."""

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deepfake_iot import score

from .test_demo import portrait, portrait_clip


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_roc_agree_with_scikit_learn(seed):
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 80)
    scores = np.round(rng.random(80) * 0.5 + 0.3 * labels, 1)  # coarse: many tied scores
    assert score.auc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, _ = score.roc_points(labels, scores)
    sk_fpr, sk_tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)


def test_auc_interval_and_threshold_metrics():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    point = score.auc(labels, scores)
    low, high = score.auc_interval(labels, scores, resamples=300, seed=1)
    assert 0 <= low <= point <= high <= 1 and low < high
    assert np.isnan(score.auc([1, 1], [0.2, 0.3])) and np.isnan(score.auc_interval([1, 1], [0.2, 0.3])[0])
    at = score.threshold_metrics(labels, scores, 0.5)
    assert at["confusion"] == {"real": {"real": 3, "fake": 1}, "fake": {"real": 1, "fake": 3}}
    assert at["recall_real"] == at["recall_fake"] == at["balanced_accuracy"] == 0.75
    assert at["apcer"] == at["bpcer"] == 0.25


@pytest.fixture(scope="module")
def labelled_tree(tmp_path_factory):
    """real/: the portrait, mirrored, and a clip of it; fake/: blurred and darkened copies, a
    face-free picture, a broken file and a text file."""
    import cv2

    root = tmp_path_factory.mktemp("labelled")
    (root / "real" / "clips").mkdir(parents=True)
    (root / "fake").mkdir()
    face = portrait()
    cv2.imwrite(str(root / "real" / "hopper.jpg"), face)
    cv2.imwrite(str(root / "real" / "mirrored.png"), cv2.flip(face, 1))
    portrait_clip(root / "real" / "clips" / "hopper.mp4", frames=10)
    cv2.imwrite(str(root / "fake" / "blurred.png"), cv2.GaussianBlur(face, (15, 15), 0))
    cv2.imwrite(str(root / "fake" / "dark.png"), (face * 0.5).astype(np.uint8))
    cv2.imwrite(str(root / "fake" / "wall.png"), np.full((240, 320, 3), 120, np.uint8))
    (root / "fake" / "broken.jpg").write_bytes(b"<html>not found</html>")
    (root / "fake" / "notes.txt").write_text("not media")
    return root


def run_score(*args, cwd):
    return subprocess.run([sys.executable, "-m", "deepfake_iot.score", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)  # fmt: skip


def test_scores_a_labelled_tree_and_counts_what_it_skips(labelled_tree, tmp_path):
    from deepfake_iot.demo_model import demo_model_path

    done = run_score("--model", demo_model_path(), "--real", labelled_tree / "real", "--fake",
                     labelled_tree / "fake", "--frames", "4", "--out", "result", "--bootstrap", "200",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # no runtime or OpenCV chatter, no warning
    out = tmp_path / "result"
    files = list(csv.DictReader(open(out / "scores.csv")))
    assert sorted((row["label"], row["kind"]) for row in files) == [
        ("fake", "image"), ("fake", "image"), ("real", "image"), ("real", "image"), ("real", "video")]  # fmt: skip
    video = next(row for row in files if row["kind"] == "video")
    assert video["frames_read"] == "4" and int(video["faces"]) >= 3
    skipped = {row["path"].split("/")[-1]: row["reason"] for row in csv.DictReader(open(out / "skipped.csv"))}
    assert skipped == {"wall.png": "no_face", "broken.jpg": "not_an_image", "notes.txt": "not_media"}
    faces = list(csv.DictReader(open(out / "frames.csv")))
    assert len(faces) == 4 + int(video["faces"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["files"] == {"real": 3, "fake": 2} and metrics["skipped"] == 3
    low, high = metrics["auc_interval"]
    assert 0 <= low <= metrics["auc"] <= high <= 1
    matrix = metrics["at_threshold"]["confusion"]
    assert sum(matrix["real"].values()) == 3 and sum(matrix["fake"].values()) == 2
    assert (out / "roc_det.png").stat().st_size > 10_000
    assert "skipped 3 (1 no_face, 1 not_an_image, 1 not_media)" in done.stdout
    assert "AUC over files" in done.stdout and "confusion matrix" in done.stdout


def test_scores_a_csv_and_the_sidecar_operating_points(labelled_tree, tmp_path):
    from deepfake_iot.demo_model import demo_model_path

    model = tmp_path / "model.tflite"
    shutil.copy(demo_model_path(), model)
    sidecar = json.loads(demo_model_path().with_suffix(".json").read_text())
    sidecar["operating_points"] = [{"apcer": 0.05, "threshold": 0.1}, {"apcer": 0.1, "threshold": 0.2}]
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    rows = [("real/hopper.jpg", "real"), ("fake/blurred.png", "1"), ("fake/dark.png", "fake"),
            ("real/absent.png", "real")]  # fmt: skip
    table = labelled_tree / "labels.csv"
    table.write_text("path,label\n" + "".join(f"{path},{label}\n" for path, label in rows))
    done = run_score("--model", model, "--csv", table, "--frames", "2", "--out", "result", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "result" / "metrics.json").read_text())
    assert metrics["files"] == {"real": 1, "fake": 2} and metrics["skipped"] == 1
    assert [p["target_apcer"] for p in metrics["operating_points"]] == [0.05, 0.1]
    assert "at APCER target 0.05 (threshold 0.100): BPCER" in done.stdout
    table.write_text("path,label\nreal/hopper.jpg,maybe\n")
    done = run_score("--model", model, "--csv", table, "--frames", "2", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "line 2" in done.stderr and "'maybe'" in done.stderr


@pytest.mark.slow
def test_scoring_runs_in_the_device_environment(labelled_tree, tmp_path_factory, tmp_path):
    """No TensorFlow and no scikit-learn there: the command scores the tree all the same."""
    from deepfake_iot.demo_model import demo_model_path

    from .device_envs import build_venv

    python, _ = build_venv("device", tmp_path_factory.mktemp("device-venv"))
    probe = "import importlib.util as u; print(u.find_spec('tensorflow'), u.find_spec('sklearn'))"
    assert subprocess.run([str(python), "-c", probe], capture_output=True, text=True).stdout.split() == ["None", "None"]
    done = subprocess.run([str(python), "-m", "deepfake_iot.score", "--model", str(demo_model_path()),
                           "--real", str(labelled_tree / "real"), "--fake", str(labelled_tree / "fake"),
                           "--frames", "3", "--out", "result"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "result" / "metrics.json").read_text())
    assert metrics["files"] == {"real": 3, "fake": 2} and (tmp_path / "result" / "roc_det.png").is_file()
    # its OpenCV (4.10) is silenced too: a camera that does not open is one line
    done = subprocess.run([str(python), "-m", "deepfake_iot.demo", "--camera", "7", "--no-window"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and done.stderr == "error: cannot open camera index 7\n", done.stderr
