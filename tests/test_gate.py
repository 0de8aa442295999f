"""Intervals over leakage groups, balanced metrics, and the biometric gate evaluated on
presentations, per attack type (hand-made cases with known answers)."""

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import calibration, evaluate, gate, inference, metrics, plots


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


def test_presentations_are_windows_of_consecutive_frames_of_one_video():
    frame = pd.DataFrame({"video_id": ["long"] * 10 + ["short"] * 3, "group": ["g1"] * 10 + ["g2"] * 3,
                          "method": ["swap"] * 10 + ["real"] * 3, "label": [1] * 10 + [0] * 3,
                          "frame_index": [*range(10), 0, 1, 2]})
    scores = np.r_[np.arange(10) / 10, 0.1, 0.2, 0.6]
    shuffled = np.random.default_rng(0).permutation(len(frame))  # row order must not matter: frame_index does
    table = gate.presentations(frame.iloc[shuffled], scores[shuffled], window=4)
    long, short = table[table["video_id"] == "long"], table[table["video_id"] == "short"]
    assert long["n_frames"].tolist() == [4, 4] and long["first_frame"].tolist() == [0, 4]  # frames 8 and 9: no full window
    assert long["score"].tolist() == pytest.approx([0.15, 0.55])
    assert short["n_frames"].tolist() == [3] and short["score"].iloc[0] == pytest.approx(0.3)  # shorter than the window: one
    assert list(table["label"]) == [1, 1, 0] and list(table["group"]) == ["g1", "g1", "g2"]
    with pytest.raises(ValueError, match="gate_window"):
        gate.presentations(frame, scores, window=0)


def _presentations(fakes: dict, reals, prefix: str) -> pd.DataFrame:
    """Hand-made presentations: ``fakes`` maps an attack type to its scores; one group each."""
    rows = [{"video_id": f"{prefix}{t}{k}", "group": f"{prefix}g{k}", "method": t, "label": 1, "score": v}
            for t, values in fakes.items() for k, v in enumerate(values)]
    rows += [{"video_id": f"{prefix}r{k}", "group": f"{prefix}g{k}", "method": "real", "label": 0, "score": v}
             for k, v in enumerate(reals)]
    return pd.DataFrame(rows)


def test_gate_thresholds_make_the_worst_attack_type_meet_the_target_on_validation():
    # 40 validation attacks per type: enough for 10% (30 needed), not for 5% (60) or 1% (300)
    val = _presentations({"swap": np.linspace(0.50, 0.89, 40), "blend": np.linspace(0.30, 0.69, 40)},
                         np.linspace(0.0, 0.4, 40), "v")
    test = _presentations({"swap": [0.2, 0.6, 0.7, 0.8, 0.9], "blend": [0.3, 0.32, 0.33, 0.5, 0.6]},
                          [0.1, 0.2, 0.31, 0.4, 0.5], "t")
    table = gate.gate_table(val, test, model="light_cnn", variant="int8_ptq", window=8, bootstrap_samples=200)
    assert len(table) == 9 and set(table["attack type"]) == {"swap", "blend", "worst"}
    met = table[table["target APCER"] == 0.10].set_index("attack type")
    assert (met["status"] == "met").all()
    assert met["threshold"].iloc[0] == pytest.approx(0.34)  # blend, the weaker type: its 5th lowest of 40 (4 may pass)
    assert met.loc["blend", "val APCER"] == pytest.approx(0.10) and met.loc["swap", "val APCER"] == 0.0
    assert met.loc["swap", "APCER"] == pytest.approx(0.2) and met.loc["blend", "APCER"] == pytest.approx(0.6)
    assert met.loc["worst", "APCER"] == pytest.approx(0.6) and met.loc["worst", "BPCER"] == pytest.approx(0.4)
    for name in ("swap", "blend", "worst"):
        assert met.loc[name, "APCER low"] <= met.loc[name, "APCER"] <= met.loc[name, "APCER high"]
    assert met.loc["worst", "val presentations"] == 40 and met.loc["worst", "test presentations"] == 10
    unmet = table[table["target APCER"] < 0.10]
    assert (unmet["status"] == "not met").all() and unmet["threshold"].isna().all() and unmet["APCER"].isna().all()
    assert "needs 60 validation attack presentations per type" in unmet["note"].iloc[-1]
    record = gate.sidecar_gate(val, window=8)
    assert [p["threshold"] for p in record["operating_points"]][:2] == [None, None]
    assert record["operating_points"][2]["threshold"] == pytest.approx(0.34) and record["window"] == 8
    paper = gate.gate_paper_table(table)
    assert paper[paper["target"] == "10%"]["APCER %"].iloc[-1].startswith("60.0 [")
    assert (paper[paper["target"] == "1%"]["APCER %"] == "--").all()


def test_deployment_record_carries_the_calibration_and_the_met_operating_points(tmp_path):
    rng = np.random.default_rng(5)
    rows = [{"video_id": f"v{k}", "group": f"g{k // 3}", "method": ["real", "swap", "blend"][k % 3],
             "label": int(k % 3 > 0), "frame_index": f} for k in range(300) for f in range(2)]
    frame = pd.DataFrame(rows)
    scores = 1 / (1 + np.exp(-(2.5 * frame["label"] - 0.5 + rng.normal(0, 1, len(frame)))))
    record = evaluate.deployment_record(frame, frame, scores, scores, window=8, deployment_prior=0.5)
    assert record["calibration"]["method"] == "platt" and record["calibration"]["validation_fake_share"] == pytest.approx(2 / 3)
    assert record["calibration"]["intercept"] == pytest.approx(record["calibration"]["intercept_at_validation_prior"] - np.log(2))
    assert [p["apcer"] for p in record["operating_points"]] == [0.05, 0.10]  # 100 attacks a type: not enough for 1%
    fitted = record["calibration"]
    on_device = inference.calibrate(scores[:5], record)  # the device side: numpy only
    assert on_device == pytest.approx(calibration.apply_platt(scores[:5], fitted["slope"], fitted["intercept"]))
    assert inference.calibrate([0.3], {}) == pytest.approx([0.3])  # a sidecar without calibration: unchanged
    (tmp_path / "m.json").write_text('{"threshold": 0.5}')
    written = evaluate.update_sidecar(tmp_path / "m.tflite", **record)
    assert written["threshold"] == 0.5 and written["gate"]["window"] == 8


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
    val = _presentations({"swap": np.linspace(0.3, 0.9, 40)}, np.linspace(0.0, 0.6, 40), "v")
    table, curves = gate.gate_tables(val.assign(frame_index=0), val.assign(frame_index=0), {("light_cnn", "int8_ptq"): (val["score"], val["score"])},
                                     window=8, bootstrap_samples=20)  # fmt: skip
    fig = plots.det_figure(curves, gate.det_points(table, "light_cnn"))
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and len(ax.collections) == 1 and "APCER" in ax.get_xlabel()
