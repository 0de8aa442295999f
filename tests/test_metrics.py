import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from deepfake_iot import calibration, metrics


def toy_frames(n_videos: int, frames: int, seed: int = 0, separation: float = 0.3, same=False):
    """A manifest-like table with ``frames`` crops per video and noisy P(fake) scores."""
    rng = np.random.default_rng(seed)
    video_labels = np.tile([0, 1], n_videos // 2 + 1)[:n_videos]
    rows = pd.DataFrame(
        {
            "video_id": np.repeat([f"v{i:04d}" for i in range(n_videos)], frames),
            "label": np.repeat(video_labels, frames),
            "method": np.repeat(np.where(video_labels == 1, "faceswap", "real"), frames),
            "frame_index": np.tile(np.arange(frames), n_videos),
            "split": "test",
        }
    )
    if same:  # every frame of a video shares its video's score
        video_scores = separation * video_labels + (1 - separation) * rng.random(n_videos)
        scores = np.repeat(video_scores, frames)
    else:
        scores = separation * rows["label"].to_numpy() + (1 - separation) * rng.random(len(rows))
    return rows, scores


def test_perfect_scores():
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    result = metrics.frame_metrics(labels, scores)
    assert result["roc_auc"] == 1.0
    assert result["average_precision"] == 1.0
    assert result["eer"] == 0.0
    assert result["accuracy"] == 1.0 and result["f1_macro"] == 1.0
    assert (result["tn"], result["fp"], result["fn"], result["tp"]) == (3, 0, 0, 3)
    assert not result["single_class"]


def test_random_scores_give_chance_auc():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 20000)
    result = metrics.frame_metrics(labels, rng.random(labels.size))
    assert abs(result["roc_auc"] - 0.5) < 0.02
    assert abs(result["eer"] - 0.5) < 0.03
    assert abs(result["balanced_accuracy"] - 0.5) < 0.02


def test_frame_metrics_matches_hand_counts():
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([0.2, 0.6, 0.4, 0.5, 0.9])  # threshold 0.5: fp on 0.6, fn on 0.4
    result = metrics.frame_metrics(labels, scores, threshold=0.5)
    assert (result["tn"], result["fp"], result["fn"], result["tp"]) == (1, 1, 1, 2)
    assert result["precision_fake"] == pytest.approx(2 / 3)
    assert result["recall_fake"] == pytest.approx(2 / 3)
    assert result["recall_real"] == pytest.approx(1 / 2)
    assert result["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert result["average_precision"] == pytest.approx(average_precision_score(labels, scores))


def test_single_class_does_not_crash():
    result = metrics.frame_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert result["single_class"]
    assert np.isnan(result["roc_auc"]) and np.isnan(result["eer"])
    assert "undefined" in result["note"]
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert metrics.choose_thresholds([0, 0], [0.1, 0.2])["f1"] == 0.5


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.frame_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        metrics.frame_metrics([0, 2], [0.1, 0.2])


def test_thresholds_chosen_on_validation_applied_to_test():
    rng = np.random.default_rng(2)
    # a miscalibrated model: every score is squeezed into [0.6, 0.8]
    val_labels, test_labels = rng.integers(0, 2, 2000), rng.integers(0, 2, 2000)
    val = 0.6 + 0.2 * np.clip(0.5 * val_labels + 0.5 * rng.random(2000), 0, 1)
    test = 0.6 + 0.2 * np.clip(0.5 * test_labels + 0.5 * rng.random(2000), 0, 1)
    chosen = metrics.choose_thresholds(val_labels, val)
    assert chosen["fixed_0.5"] == 0.5
    assert 0.6 < chosen["youden"] < 0.8 and 0.6 < chosen["f1"] < 0.8
    at_fixed = metrics.frame_metrics(test_labels, test, chosen["fixed_0.5"])
    at_youden = metrics.frame_metrics(test_labels, test, chosen["youden"])
    at_f1 = metrics.frame_metrics(test_labels, test, chosen["f1"])
    assert at_fixed["balanced_accuracy"] == pytest.approx(0.5)  # everything called fake
    assert at_youden["balanced_accuracy"] > 0.9
    assert at_f1["f1_fake"] >= at_fixed["f1_fake"]
    assert at_youden["threshold"] == chosen["youden"]


def test_youden_threshold_separates_a_clean_split():
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.4])
    chosen = metrics.choose_thresholds(labels, scores)
    assert chosen["youden"] == pytest.approx(0.35)
    assert chosen["f1"] == pytest.approx(0.35)


def test_video_aggregation_by_hand():
    frames = pd.DataFrame(
        {
            "video_id": ["b", "a", "a", "b", "a", "c"],
            "label": [0, 1, 1, 0, 1, 1],
            "method": ["real", "deepfakes", "deepfakes", "real", "deepfakes", "face2face"],
        }
    )
    scores = [0.2, 0.9, 0.3, 0.6, 0.6, 0.4]
    mean = metrics.video_scores(frames, scores, how="mean")
    assert list(mean["video_id"]) == ["a", "b", "c"]
    assert list(mean["label"]) == [1, 0, 1]
    assert list(mean["method"]) == ["deepfakes", "real", "face2face"]
    assert mean["score"].tolist() == pytest.approx([0.6, 0.4, 0.4])
    assert list(mean["n_frames"]) == [3, 2, 1]
    top = metrics.video_scores(frames, scores, how="max")
    assert top["score"].tolist() == pytest.approx([0.9, 0.6, 0.4])
    vote = metrics.video_scores(frames, scores, how="vote", threshold=0.5)
    assert vote["score"].tolist() == pytest.approx([2 / 3, 0.5, 0.0])
    with pytest.raises(ValueError, match="unknown aggregation"):
        metrics.video_scores(frames, scores, how="median")


def test_video_with_mixed_labels_is_refused():
    frames = pd.DataFrame({"video_id": ["a", "a"], "label": [0, 1], "method": ["x", "x"]})
    with pytest.raises(ValueError, match="both labels"):
        metrics.video_scores(frames, [0.1, 0.2])


def test_bootstrap_contains_point_and_narrows():
    small, small_scores = toy_frames(20, 8, seed=3)
    large, large_scores = toy_frames(400, 8, seed=3)
    point, low, high = metrics.bootstrap_ci(small, small_scores, n=500)
    assert point == pytest.approx(roc_auc_score(small["label"], small_scores))
    assert low <= point <= high
    point_l, low_l, high_l = metrics.bootstrap_ci(large, large_scores, n=500)
    assert low_l <= point_l <= high_l
    assert high_l - low_l < 0.5 * (high - low)


def test_bootstrap_resamples_videos_not_frames():
    frames, scores = toy_frames(60, 10, seed=4, same=True)
    videos = metrics.video_scores(frames, scores)
    by_frame = metrics.bootstrap_ci(frames, scores, n=300, seed=7)
    by_video = metrics.bootstrap_ci(videos, videos["score"], n=300, seed=7)
    assert by_frame == pytest.approx(by_video, abs=1e-12)
    # treating each frame as its own unit pretends to know far more than 60 videos tell
    frames["crop_id"] = np.arange(len(frames))
    naive = metrics.bootstrap_ci(frames, scores, n=300, seed=7, unit="crop_id")
    assert naive[2] - naive[1] < 0.6 * (by_frame[2] - by_frame[1])


def test_bootstrap_fast_and_generic_paths_agree():
    frames, scores = toy_frames(50, 6, seed=5)
    fast = metrics.bootstrap_ci(frames, scores, "roc_auc", n=200, seed=1)
    generic = metrics.bootstrap_ci(frames, scores, lambda y, s: roc_auc_score(y, s), n=200, seed=1)
    assert fast == pytest.approx(generic, abs=1e-9)
    ap = metrics.bootstrap_ci(frames, scores, "average_precision", n=100)
    assert ap[1] <= ap[0] <= ap[2]


def test_bootstrap_is_quick_enough():
    frames, scores = toy_frames(100, 10, seed=6)
    start = time.perf_counter()
    metrics.bootstrap_ci(frames, scores, n=1000)
    assert time.perf_counter() - start < 3.0


def test_bootstrap_by_group_with_mixed_units():
    frames, scores = toy_frames(40, 4, seed=8)
    frames["group"] = frames["video_id"].str[:-1]  # pairs of a real and a fake video
    point, low, high = metrics.bootstrap_ci(frames, scores, unit="group", n=200)
    assert low <= point <= high


def test_ece_perfect_and_overconfident():
    rng = np.random.default_rng(9)
    scores = rng.random(200000)
    labels = (rng.random(scores.size) < scores).astype(int)  # P(fake | score) = score
    assert calibration.expected_calibration_error(labels, scores) < 0.01
    exact = np.repeat([1 / 30, 0.5, 29 / 30], 60)
    exact_labels = np.r_[np.eye(30)[0].repeat(2), np.tile([0, 1], 30), 1 - np.eye(30)[0].repeat(2)]
    assert calibration.expected_calibration_error(exact_labels, exact) == pytest.approx(0.0, abs=1e-12)
    overconfident = np.where(scores > 0.5, 0.99, 0.01)
    assert calibration.expected_calibration_error(labels, overconfident) > 0.2


def test_reliability_table_shape():
    table = calibration.reliability_table([0, 1, 1, 0], [0.05, 0.95, 1.0, 0.0], bins=10)
    assert list(table.columns) == ["bin_low", "bin_high", "mean_score", "frac_fake", "count"]
    assert len(table) == 10 and table["count"].sum() == 4
    assert table.loc[0, "count"] == 2 and table.loc[9, "count"] == 2
    assert table.loc[9, "frac_fake"] == 1.0
    assert np.isnan(table.loc[5, "mean_score"])


def _calibrated_logits(size: int, seed: int, shift: float = 0.0):
    """Labels drawn from sigmoid(logit) (the logits are calibrated), and logits shifted by ``shift``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(1.0, 1.5, size)
    labels = (rng.random(size) < 1 / (1 + np.exp(-logits))).astype(int)
    return labels, 1 / (1 + np.exp(-(logits + shift)))


def test_platt_scaling_recovers_a_known_shift_and_slope():
    labels, shifted = _calibrated_logits(40000, 10, shift=1.4)  # a model whose logits are 1.4 too high
    slope, intercept = calibration.fit_platt(labels, shifted)
    assert slope == pytest.approx(1.0, abs=0.05) and intercept == pytest.approx(-1.4, abs=0.05)
    fixed = calibration.apply_platt(shifted, slope, intercept)
    assert calibration.expected_calibration_error(labels, fixed) < 0.02 < calibration.expected_calibration_error(labels, shifted)
    assert roc_auc_score(labels, fixed) == pytest.approx(roc_auc_score(labels, shifted))
    overconfident = 1 / (1 + np.exp(-3 * np.log(shifted / (1 - shifted))))  # three times the logit
    assert calibration.fit_platt(labels, overconfident)[0] == pytest.approx(1 / 3, rel=0.05)


def test_platt_intercept_moves_to_the_deployment_prior_by_bayes_rule():
    # calibrated at a fake share of 0.8, moved to 0.5: the log odds of 0.8 (log 4) come off
    assert calibration.platt_for_prior(0.3, 0.8, 0.5) == pytest.approx(0.3 - np.log(4))
    assert calibration.platt_for_prior(0.3, 0.8, 0.8) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        calibration.platt_for_prior(0.0, 0.8, 1.0)


def test_a_platt_fit_on_a_search_bound_is_an_error_naming_the_bound():
    labels = np.array([0, 1] * 50)
    inverted = np.where(labels == 1, 0.2, 0.8)  # every fake scored below every real: no positive slope fits
    with pytest.raises(ValueError, match=r"slope landed on its search bound 0\.001"):
        calibration.fit_platt(labels, inverted)
    with pytest.raises(ValueError, match="only one class"):
        calibration.fit_platt(np.ones(4), [0.2, 0.4, 0.6, 0.8])


def test_per_method_auc_against_reals_of_the_same_split():
    frames = pd.DataFrame(
        {
            "label": [0, 0, 1, 1, 1, 1, 0, 1],
            "method": ["real", "real", "a", "a", "b", "b", "real", "a"],
            "split": ["test"] * 6 + ["val", "val"],
        }
    )
    scores = [0.1, 0.5, 0.9, 0.8, 0.4, 0.3, 0.2, 0.1]
    table = metrics.per_method_auc(frames, scores)
    test = table[table["split"] == "test"].set_index("method")
    assert test.loc["a", "roc_auc"] == 1.0
    assert test.loc["b", "roc_auc"] == pytest.approx(0.5)  # 0.4 and 0.3 beat 0.1, lose to 0.5
    assert test.loc["a", "n_real"] == 2
    val = table[table["split"] == "val"].set_index("method")
    assert val.loc["a", "roc_auc"] == 0.0


def test_paired_auc_difference_is_paired_and_matches_the_point_values():
    frame, scores = toy_frames(60, 4, seed=1, separation=0.4)
    labels = frame["label"].to_numpy()
    better, worse = scores, 0.5 * scores + 0.5 * np.random.default_rng(9).random(len(scores))
    diff, low, high = metrics.paired_auc_difference(frame, better, worse, n=300, seed=0)
    assert diff == pytest.approx(roc_auc_score(labels, better) - roc_auc_score(labels, worse))
    assert 0 < low < diff < high
    same = metrics.paired_auc_difference(frame, better, better, n=100, seed=0)
    assert same == (0.0, 0.0, 0.0)  # identical models differ by zero in every paired resample
    with pytest.raises(ValueError, match="one score per row"):
        metrics.paired_auc_difference(frame, better[:-1], worse)


def _grouped_benchmark(n_groups, seed=0, signal=1.0):
    rng = np.random.default_rng(seed)
    rows = [{"group": f"g{g}", "video_id": f"g{g}_v{v}", "label": int(v > 0)} for g in range(n_groups) for v in range(3) for _ in range(4)]
    frame = pd.DataFrame(rows)
    group_effect = rng.normal(0, 1, n_groups)[pd.factorize(frame["group"])[0]]  # shared by a group's videos
    base = signal * frame["label"].to_numpy() + group_effect
    return frame, base, rng


def test_seed_averaged_paired_difference_pairs_seeds_and_narrows_with_more_groups():
    frame, base, rng = _grouped_benchmark(60)
    a = [base + rng.normal(0, 1, len(frame)) for _ in range(3)]
    b = [base + rng.normal(0, 1.6, len(frame)) for _ in range(3)]  # a noisier model
    diff, low, high = metrics.paired_auc_difference(frame, a, b, n=300, seed=1)
    expected = np.mean([roc_auc_score(frame["label"], s) for s in a]) - np.mean([roc_auc_score(frame["label"], s) for s in b])
    assert diff == pytest.approx(expected) and low < diff < high
    one = metrics.paired_auc_difference(frame, a[0], b[0], n=300, seed=1)
    assert one[0] == pytest.approx(roc_auc_score(frame["label"], a[0]) - roc_auc_score(frame["label"], b[0]))
    same = metrics.paired_auc_difference(frame, a, a, n=100, seed=1)
    assert same == (0.0, 0.0, 0.0)  # the same resamples for both: no spurious spread
    small = _grouped_benchmark(8)[0]
    small_a, small_b = [s[: len(small)] for s in a], [s[: len(small)] for s in b]
    _, small_low, small_high = metrics.paired_auc_difference(small, small_a, small_b, n=300, seed=1)
    assert small_high - small_low > high - low  # fewer independent groups, a wider interval
    with pytest.raises(ValueError, match="one score per row"):
        metrics.paired_auc_difference(frame, a, [b[0][:-1]])


def test_seed_spread_hides_a_difference_that_test_groups_alone_resolve():
    """Model a is better on average (seed AUCs about 0.71, 0.83, 0.90) than b (three seeds near
    0.78), but a's seeds spread widely. Resampling test groups with the seeds held fixed resolves
    the difference; the hierarchical bootstrap, drawing seeds too, does not. The same mean gap
    with seeds that agree is resolved by both."""
    frame, _, rng = _grouped_benchmark(150, seed=4)
    group_effect = rng.normal(0, 1, 150)[pd.factorize(frame["group"])[0]]  # shared by a group's videos
    label = frame["label"].to_numpy()
    draw = lambda signal: signal * label + group_effect + rng.normal(0, 1, len(frame))  # noqa: E731  AUC = Phi(signal / 2)
    a, b = [draw(s) for s in (1.05, 1.9, 2.6)], [draw(1.55) for _ in range(3)]
    found = metrics.auc_difference_intervals(frame, a, b, n=400, seed=2)
    assert found["seeds_a"] == found["seeds_b"] == 3
    assert 0 < found["group_low"] < found["difference"] < found["group_high"]  # groups alone: resolved
    assert found["low"] < 0 < found["high"]  # seeds counted: not resolved
    assert metrics.paired_auc_difference(frame, a, b, n=400, seed=2) == (found["difference"], found["group_low"], found["group_high"])
    consistent = metrics.auc_difference_intervals(frame, [draw(1.9) for _ in range(3)], b, n=400, seed=2)
    assert consistent["low"] > 0 and consistent["group_low"] > 0  # seeds that agree: resolved either way
    single = metrics.auc_difference_intervals(frame, a[1], b[0], n=200, seed=2)
    assert (single["low"], single["high"]) == (single["group_low"], single["group_high"])  # one seed each: no seed to draw


def test_group_resampling_draws_whole_groups_keeping_the_class_balance():
    frame = pd.DataFrame({"group": np.repeat([f"g{i}" for i in range(6)], 5), "label": np.repeat([0, 1] * 3, 5)})
    counts = metrics.resample_counts(frame, n=50, seed=3)
    assert counts.shape == (50, 30)
    per_group = counts.reshape(50, 6, 5)
    assert (per_group == per_group[:, :, :1]).all()  # every frame of a drawn group, equally often
    assert (counts[:, frame["label"].to_numpy() == 1].sum(axis=1) == 15).all()  # three fake groups a resample
