"""Intervals over leakage groups, balanced metrics and a biometric gate's operating points."""

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import evaluate, metrics, plots


def _split(groups: int, seed: int):
    """``groups`` leakage groups, each one real video and two fakes made from it (3 frames)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        for k, label in enumerate((0, 1, 1)):
            rows += [{"video_id": f"g{g}v{k}", "group": f"g{g}", "label": label}] * 3
    frame = pd.DataFrame(rows)
    shared = np.repeat(rng.normal(0, 0.3, groups), 9)  # a group effect: its videos move together
    scores = 1 / (1 + np.exp(-(1.5 * frame["label"].to_numpy() - 0.75 + shared + rng.normal(0, 0.5, len(frame)))))
    return frame, scores


def test_apcer_bpcer_and_the_threshold_that_meets_a_target():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.6, 0.9, 0.3, 0.4, 0.5, 0.55, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    assert metrics.apcer_bpcer(labels, scores, 0.5) == (0.2, 0.5)
    threshold = metrics.threshold_at_apcer(labels, scores, 0.1)  # one fake of ten may pass
    assert threshold == 0.4 and metrics.apcer_bpcer(labels, scores, threshold)[0] == pytest.approx(0.1)
    assert metrics.threshold_at_apcer(labels, scores, 0.0) == 0.3  # no fake below it
    with pytest.raises(ValueError, match="APCER"):
        metrics.threshold_at_apcer(labels, scores, 1.5)


def test_operating_points_come_from_validation():
    val, val_scores = _split(30, 0)
    test, test_scores = _split(40, 1)
    gate = evaluate.operating_points(val["label"], val_scores, test, test_scores, bootstrap_samples=200)
    assert list(gate["target APCER"]) == [0.01, 0.05, 0.10]
    assert (gate["val APCER"] <= gate["target APCER"] + 1e-12).all()
    assert (gate["threshold"].diff().dropna() >= 0).all()  # a looser APCER allows a higher threshold
    assert (gate["test BPCER"].diff().dropna() <= 0).all()
    assert ((gate["BPCER low"] <= gate["test BPCER"]) & (gate["test BPCER"] <= gate["BPCER high"])).all()
    flipped = evaluate.operating_points(val["label"], val_scores, test.assign(label=1 - test["label"]), test_scores,
                                        bootstrap_samples=50)  # fmt: skip
    assert np.allclose(flipped["threshold"], gate["threshold"])


def test_intervals_resample_groups_and_report_balanced_metrics():
    test, test_scores = _split(40, 2)
    val, val_scores = _split(30, 3)
    common = dict(threshold_rule="youden", aggregation="mean", bootstrap_samples=300, seed=0)
    by_group = evaluate.test_report(test, test_scores, val["label"], val_scores, **common)
    by_video = evaluate.test_report(test, test_scores, val["label"], val_scores, unit="video_id", **common)
    assert by_group["interval_unit"] == "group" and by_video["interval_unit"] == "video_id"
    for name in ("auc", "balanced_accuracy", "f1_macro", "accuracy", "video_auc"):
        assert by_group[f"{name}_low"] <= by_group[name] <= by_group[f"{name}_high"], name
    assert (by_group["auc_low"], by_group["auc_high"]) != (by_video["auc_low"], by_video["auc_high"])
    assert by_group["balanced_accuracy"] == pytest.approx((by_group["recall_real"] + by_group["recall_fake"]) / 2)
    no_groups = evaluate.test_report(test.drop(columns="group"), test_scores, val["label"], val_scores, **common)
    assert no_groups["interval_unit"] == "video_id"


def test_det_figure_marks_the_operating_points():
    test, scores = _split(20, 4)
    gate = evaluate.operating_points(test["label"], scores, test, scores, bootstrap_samples=20)
    fig = plots.det_figure({"light cnn": (test["label"], scores)}, gate)
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and len(ax.collections) == 1 and "APCER" in ax.get_xlabel()
