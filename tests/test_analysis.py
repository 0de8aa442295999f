"""Generalisation studies and error analysis: hand-made cases with known answers."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import analysis, evaluate, gate, metrics, studies
from deepfake_iot.data.methods import leave_out_method
from deepfake_iot.plan import Studies, model_options, sweep_records, training_plan


def toy_manifest():
    """Two real and two fake methods' videos in each split, two crops per video."""
    rows = []
    for split in ("train", "val", "test"):
        for method, label in (("real", 0), ("swap", 1), ("blend", 1), ("real", 0)):
            for video in range(2):
                vid = f"{split}_{method}_{video}_{len(rows)}"
                for frame in range(2):
                    rows.append({"path": f"{vid}/{frame}.png", "label": label, "method": method,
                                 "video_id": vid, "split": split, "frame_index": frame})
    return pd.DataFrame(rows)


def test_leave_out_method_drops_train_and_val_fakes_only():
    manifest = toy_manifest()
    kept = leave_out_method(manifest, "swap")
    assert not ((kept["method"] == "swap") & kept["split"].isin(["train", "val"])).any()
    assert (kept[kept["split"] == "test"]["method"] == "swap").sum() == (manifest[manifest["split"] == "test"]["method"] == "swap").sum()
    assert len(manifest) - len(kept) == 2 * 2 * 2  # two splits x two videos x two frames


def test_leave_out_unknown_or_only_method_is_refused():
    manifest = toy_manifest()
    with pytest.raises(ValueError, match="'nope' is not a fake method"):
        leave_out_method(manifest, "nope")
    single = manifest[manifest["method"] != "blend"]
    with pytest.raises(ValueError, match="without both classes"):
        leave_out_method(single, "swap")


def test_training_plan_changes_one_thing_per_extra_run():
    plan = training_plan(
        ["light_cnn", "meso4"], 10, 2, manifest=toy_manifest(), crop_size=96,
        light_options={"width": 1.0, "depth": (1, 2, 2, 1), "expansion": 4, "dropout": 0.2},
        studies=Studies(degradation=True, cross_manipulation=True, sweep_widths=(0.5,),
                        sweep_depths=((1, 1, 1, 1),), sweep_input_sizes=(64,)),
    )
    names = [p["name"] for p in plan]
    assert names[:4] == ["light_cnn", "light_cnn", "meso4", "meso4"]  # every model, the same seeds
    assert [p["seed"] for p in plan[:4]] == [10, 11, 10, 11]
    extra = {p["name"]: p for p in plan[4:]}
    assert set(extra) == {"light_cnn_nodeg", "light_cnn_lofo_swap", "light_cnn_lofo_blend",
                          "light_cnn_w0.5", "light_cnn_d1x1x1x1", "light_cnn_i64"}
    assert all(p["seed"] == 10 and p["architecture"] == "light_cnn" for p in extra.values())
    assert extra["light_cnn_nodeg"]["degradation"] is False
    assert extra["light_cnn_lofo_blend"]["held_out"] == "blend"
    assert extra["light_cnn_w0.5"]["options"]["width"] == 0.5 and extra["light_cnn_w0.5"]["input_size"] == 96
    assert extra["light_cnn_d1x1x1x1"]["options"]["depth"] == (1, 1, 1, 1)
    assert extra["light_cnn_i64"]["input_size"] == 64 and extra["light_cnn_i64"]["options"]["width"] == 1.0


def test_training_plan_refuses_upsampled_sweep_and_skips_single_method_lofo():
    options = {"width": 1.0, "depth": (1, 2, 2, 1)}
    with pytest.raises(ValueError, match="larger than the crops"):
        training_plan(["light_cnn"], 1, 1, manifest=toy_manifest(), crop_size=48, light_options=options,
                      studies=Studies(sweep_input_sizes=(64,)))
    single = toy_manifest().query("method != 'blend'")
    plan = training_plan(["light_cnn"], 1, 1, manifest=single, crop_size=48, light_options=options,
                         studies=Studies(cross_manipulation=True))
    assert [p["name"] for p in plan] == ["light_cnn"]


def test_training_plan_pairs_studies_with_main_seeds_and_runs_the_other_sbi_setting():
    options = {"width": 1.0, "depth": (1, 2, 2, 1)}
    common = dict(manifest=toy_manifest(), crop_size=48, light_options=options)
    study_plan = Studies(degradation=True, cross_manipulation=True, sbi_study_prob=0.3, seeds=2, lofo_seeds=1)
    plan = training_plan(["light_cnn", "meso4"], 5, 3, sbi_prob=0.0, studies=study_plan, **common)
    by_group = {}
    for p in plan:
        by_group.setdefault(p["group"], []).append(p)
    assert [p["seed"] for p in by_group["main"]] == [5, 6, 7, 5, 6, 7]
    assert [p["seed"] for p in by_group["ablation"]] == [5, 6]
    assert [(p["name"], p["seed"], p["sbi_prob"]) for p in by_group["sbi"]] == [("light_cnn_sbi", 5, 0.3), ("light_cnn_sbi", 6, 0.3)]
    assert all(p["sbi_prob"] == 0.0 for p in by_group["main"] + by_group["cross_manipulation"])
    assert {p["held_out"] for p in by_group["cross_manipulation_sbi"]} == {"swap", "blend"}
    assert all(p["sbi_prob"] == 0.3 and p["seed"] == 5 for p in by_group["cross_manipulation_sbi"])
    flipped = training_plan(["light_cnn"], 5, 2, sbi_prob=0.3, studies=replace(study_plan, seeds=1), **common)
    assert [(p["name"], p["sbi_prob"]) for p in flipped if p["group"] == "sbi"] == [("light_cnn_nosbi", 0.0)]
    with pytest.raises(ValueError, match="aug_sbi_prob must be one of them"):
        training_plan(["light_cnn"], 5, 2, sbi_prob=0.1, studies=study_plan, **common)
    with pytest.raises(ValueError, match="Studies.lofo_seeds must be at least 1"):
        Studies(lofo_seeds=0)


def test_cross_manipulation_table_by_hand():
    test = toy_manifest().query("split == 'test'").reset_index(drop=True)
    labels, methods = test["label"].to_numpy(), test["method"].to_numpy()
    # the model without "swap" ranks blend fakes above reals but swap fakes below them
    held_out = np.where(methods == "blend", 0.9, np.where(methods == "swap", 0.1, 0.5))
    reference = labels * 0.8 + 0.1  # perfect on both methods
    table = studies.cross_manipulation_table(test, {"swap": held_out}, reference)
    row = table.iloc[0]
    assert row["held out"] == "swap"
    assert row["unseen AUC"] == 0.0 and row["seen AUC"] == 1.0 and row["all-methods AUC"] == 1.0
    assert row["gap"] == 1.0


def test_errors_and_hardest_mistakes():
    frame = pd.DataFrame({"label": [0, 0, 0, 1, 1, 1], "method": ["real"] * 3 + ["swap"] * 3})
    scores = np.array([0.1, 0.7, 0.95, 0.9, 0.3, 0.05])
    errors = analysis.errors_by_method(frame, scores, 0.5).set_index("method")
    assert errors.loc["real", "errors"] == 2 and errors.loc["swap", "errors"] == 2
    assert errors.loc["real", "error rate"] == pytest.approx(2 / 3)
    hardest = analysis.hardest_errors(frame, scores, 0.5, 3)
    # most confident first, alternating false alarm / missed fake
    assert hardest["index"].tolist() == [2, 5, 1]
    assert hardest["kind"].tolist() == ["false alarm", "missed fake", "false alarm"]
    assert analysis.hardest_errors(frame, frame["label"].to_numpy() * 1.0, 0.5, 3).empty


def test_explanation_cases_are_right_and_wrong_as_labelled():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.random(200)
    cases = analysis.explanation_cases(labels, scores, 0.5, 3, seed=1)
    assert list(cases) == list(analysis.EXPLANATION_CASES)
    for case, picked in cases.items():
        assert len(picked) == 3
        assert (labels[picked] == (1 if case.startswith("fake") else 0)).all()
        right = (scores[picked] >= 0.5) == (labels[picked] == 1)
        assert right.all() if case.endswith("right") else (~right).all()
    again = analysis.explanation_cases(labels, scores, 0.5, 3, seed=1)
    assert all((again[c] == cases[c]).all() for c in cases)


def test_degradation_rows_include_clean_level_zero():
    labels = np.array([0, 1, 0, 1])
    sets = {("jpeg", 1): (labels, None), ("jpeg", 3): (labels, None)}
    curve = {("jpeg", 1): np.array([0.1, 0.9, 0.2, 0.8]), ("jpeg", 3): np.array([0.9, 0.1, 0.8, 0.2])}
    rows = pd.DataFrame(metrics.degradation_rows(curve, sets, 0.5, {"model": "m", "variant": "v", "auc": 0.7, "f1_macro": 0.6}))
    by_level = rows.set_index("level")["auc"]
    assert by_level[0] == 0.7 and by_level[1] == 1.0 and by_level[3] == 0.0


def test_generalization_macros_say_when_a_study_did_not_run():
    empty = pd.DataFrame()
    macros = studies.generalization_macros(empty, empty, empty)
    assert "not measured" in macros["AblationVerdict"]
    assert "did not train" in macros["LofoSentence"] and "no second dataset" in macros["CrossSentence"]
    ablation = pd.DataFrame({"test set": ["clean test", "degraded copies"], "without degradations AUC": [0.91, 0.7],
                             "with degradations AUC": [0.9, 0.8], "difference": [-0.01, 0.1], "CI low": [-0.03, 0.05],
                             "CI high": [0.01, 0.15], "seeds": [2, 2]})
    cross = pd.DataFrame({"model": ["light_cnn"], "variant": ["int8_ptq"], "test AUC": [0.9], "cross AUC": [0.7],
                          "CI low": [0.6], "CI high": [0.8]})
    macros = studies.generalization_macros(ablation, empty, cross)
    assert macros["AblationVerdict"] == "helps" and macros["AblationGain"] == pytest.approx(0.1)
    unresolved = ablation.assign(**{"CI low": [-0.03, -0.02]})
    assert studies.generalization_macros(unresolved, empty, cross)["AblationVerdict"] == "makes no resolved difference"
    assert macros["CrossDropInt"] == pytest.approx(0.2) and "0.700 [0.600, 0.800]" in macros["CrossSentence"]


def test_test_labels_cannot_move_the_threshold():
    """The threshold comes from validation: shuffling or flipping the test labels leaves it alone."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"video_id": np.repeat([f"v{i}" for i in range(40)], 3),
                          "label": np.repeat(np.arange(40) % 2, 3)})
    test_scores = 0.3 * frame["label"].to_numpy() + 0.7 * rng.random(len(frame))
    val_labels = rng.integers(0, 2, 300)
    val_scores = 0.4 * val_labels + 0.6 * rng.random(300)
    common = dict(threshold_rule="youden", aggregation="mean", bootstrap_samples=50, seed=0)
    original = evaluate.test_report(frame, test_scores, val_labels, val_scores, **common)
    flipped = frame.assign(label=1 - frame["label"])
    changed = evaluate.test_report(flipped, test_scores, val_labels, val_scores, **common)
    assert changed["threshold"] == original["threshold"] == metrics.choose_thresholds(val_labels, val_scores)["youden"]
    assert changed["auc"] == pytest.approx(1 - original["auc"])


def test_sbi_sentence_counts_resolved_methods_and_says_whether_the_claim_holds():
    study = pd.DataFrame({"test set": ["test", "a left out", "b left out", "c left out"],
                          "difference": [0.01, 0.05, 0.04, -0.01], "CI low": [-0.01, 0.02, 0.01, -0.03],
                          "CI high": [0.03, 0.08, 0.07, 0.01]})
    sentence = studies.sbi_sentence(study)
    assert "+0.010 [-0.010, +0.030] (makes no resolved difference)" in sentence
    assert "gain for 2 and as a loss for 0 of 3 methods" in sentence
    assert studies.sbi_macros(study)["SbiClaim"].startswith("holds here")
    assert studies.sbi_macros(study.iloc[:2].assign(**{"CI low": [-0.01, -0.01]}))["SbiClaim"].startswith("is not borne out")
    assert "did not measure" in studies.sbi_macros(pd.DataFrame())["SbiSentence"]


def test_comparison_sentence_names_better_worse_and_unresolved_baselines():
    differences = pd.DataFrame({"model": ["meso4", "mobilenet_v3_small", "mobilenet_v2_035"],
                                "AUC difference": [0.2, -0.01, -0.1], "CI low": [0.1, -0.03, -0.15],
                                "CI high": [0.3, 0.01, -0.05], "half width": [0.1, 0.02, 0.05],
                                "verdict": ["light_cnn better", "not resolved", "mobilenet_v2_035 better"]})
    sentence = analysis.comparison_sentence(differences, 0.05)
    assert "higher than that of MesoNet Meso-4 (+0.200)" in sentence
    assert "lower than that of MobileNetV2 (width 0.35) (-0.100)" in sentence
    assert "not resolved against MobileNetV3-Small (-0.010) (differences within 0.050)" in sentence
    assert "no baseline" in analysis.comparison_sentence(differences.iloc[:0], float("nan"))
    assert "finished learning" not in sentence
    convergence = pd.DataFrame({"model": ["light_cnn", "mobilenet_v2_035", "mobilenet_v2_035", "mobilenet_v2_035", "light_cnn_sbi"],
                                "seed": [1, 1, 2, 3, 1], "group": ["main", "main", "main", "main", "sbi"],
                                "converged": [True, False, True, False, False]})
    unconverged = analysis.unconverged_runs(convergence)
    assert unconverged == {"mobilenet_v2_035": [1, 3]}  # study runs are not compared here
    flagged = analysis.comparison_sentence(differences, 0.05, unconverged=unconverged)
    assert flagged.startswith(sentence) and "MobileNetV2 (width 0.35) (seeds 1 and 3) did not meet the convergence" in flagged


def test_seed_tables_and_paired_comparisons_use_every_seed():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"group": np.repeat([f"g{i}" for i in range(30)], 4),
                          "video_id": np.repeat([f"v{i}" for i in range(60)], 2)})
    frame["label"] = (np.arange(len(frame)) // 2) % 2
    strong = [frame["label"] * 2.0 + rng.normal(0, 1, len(frame)) for _ in range(3)]
    weak = [frame["label"] * 0.2 + rng.normal(0, 1, len(frame)) for _ in range(3)]
    table = evaluate.paired_comparisons(frame, {"light_cnn": strong, "meso4": weak}, "light_cnn",
                                        bootstrap_samples=200, seed=0)
    row = table.iloc[0]
    assert row["model"] == "meso4" and row["verdict"] == "light_cnn better" and row["CI low"] > 0
    assert row["half width"] == pytest.approx((row["CI high"] - row["CI low"]) / 2)
    assert evaluate.resolvable_difference(table) == pytest.approx(row["half width"])
    seeds = pd.DataFrame({"model": ["a", "a", "b"], "seed": [1, 2, 1], "auc": [0.8, 0.9, 0.7], "balanced_accuracy": [0.7, 0.8, 0.6]})
    summary = evaluate.seed_table(seeds).set_index("model")
    assert summary.loc["a", "auc_mean"] == pytest.approx(0.85) and summary.loc["a", "seeds"] == 2
    assert summary.loc["b", "auc_std"] == 0.0  # one seed: no spread, not NaN
    assert "0.850 ± 0.071" in evaluate.seed_paper_table(summary.reset_index())["AUC"].tolist()
    study = studies.study_row(frame, "test", {"without": weak[:2], "with": strong[:2]}, bootstrap_samples=100, seed=0)
    assert study["difference"] > 0 and study["seeds"] == 2 and studies.study_verdict(study) == "helps"


def test_the_comparison_table_is_recomputed_from_the_kept_scores(tmp_path):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"group": np.repeat([f"g{i}" for i in range(20)], 6), "video_id": np.repeat([f"v{i}" for i in range(40)], 3),
                          "method": np.tile(["real"] * 3 + ["swap"] * 3, 20)})
    frame["label"] = (frame["method"] != "real").astype(int)
    by_model = {name: [frame["label"] * signal + rng.normal(0, 1, len(frame)) for _ in range(3)]
                for name, signal in (("light_cnn", 1.5), ("meso4", 0.5))}
    store = {}
    for name, arrays in by_model.items():
        for seed, values in enumerate(arrays):
            evaluate.keep_scores(store, "seeds", {"test": (frame, values), "val": (frame, -values)}, model=name, seed=seed, variant="keras")
    path = evaluate.write_scores(tmp_path, "seeds", store["seeds"])
    read = evaluate.read_scores(path)
    assert list(read.columns) == evaluate.SCORE_COLUMNS and len(read) == 2 * 3 * 2 * len(frame)
    kept_frame, kept = evaluate.seed_score_arrays(read, split="test", variant="keras")
    direct = evaluate.paired_comparisons(frame, by_model, "light_cnn", bootstrap_samples=100, seed=0)
    again = evaluate.paired_comparisons(kept_frame, kept, "light_cnn", bootstrap_samples=100, seed=0)
    pd.testing.assert_frame_equal(direct, again)
    assert direct["verdict"].iloc[0] == "light_cnn better" and direct["seeds"].iloc[0] == "3 vs 3"
    with pytest.raises(ValueError, match="no scores"):
        evaluate.seed_score_arrays(read, split="cross", variant="keras")


def test_cross_manipulation_table_gives_the_unseen_auc_an_interval_over_groups():
    test = toy_manifest().query("split == 'test'").reset_index(drop=True)
    rng = np.random.default_rng(1)
    seeds = [test["label"].to_numpy() * 0.5 + rng.random(len(test)) for _ in range(2)]
    table = studies.cross_manipulation_table(test, {"swap": seeds}, seeds, bootstrap_samples=100, seed=0)
    row = table.iloc[0]
    assert row["CI low"] <= row["unseen AUC"] <= row["CI high"]
    assert list(table.columns[:4]) == ["held out", "unseen AUC", "CI low", "CI high"]
    assert row["gap CI low"] <= row["gap"] <= row["gap CI high"] and row["gap"] == pytest.approx(0.0)
    assert row["gap verdict"] == "not resolved"  # the same runs with and without the method: no gap
    assert "resolvably costs AUC for 0 of 1 methods" in studies.lofo_gap_clause(table)


def test_study_paper_table_prints_each_arm_as_mean_and_spread():
    study = pd.DataFrame([{"test set": "face_swap left out", "without SBI AUC": 0.7, "without SBI std": 0.01,
                           "with SBI AUC": 0.75, "with SBI std": 0.02, "difference": 0.05, "CI low": 0.01,
                           "CI high": 0.09, "seeds": 2}])
    table = studies.study_paper_table(study)
    assert table.iloc[0].tolist() == ["face swap left out", "0.700 ± 0.010", "0.750 ± 0.020", "+0.050", "+0.010", "+0.090", 2]


def test_baselines_get_local_imagenet_weights_and_the_sweep_its_settings():
    options = {"width": 1.0, "depth": (1, 1, 1, 1), "expansion": 2, "dropout": 0.0}
    assert model_options("light_cnn", options) == options and model_options("meso4", options, "w") == {}
    assert model_options("mobilenet_v3_small", options) == {"weights_path": None}
    assert model_options("mobilenet_v3_small", options, "w")["weights_path"].endswith("mobilenet_v3_small.h5")
    trainings = training_plan(["light_cnn", "mobilenet_v3_small"], 1, 1, manifest=toy_manifest(), crop_size=48,
                              light_options=options, studies=Studies(sweep_widths=(0.5,)), weights_dir="w")
    assert [t["options"].get("weights_path", "") for t in trainings if t["group"] == "main"][1].endswith(".h5")
    cards = [{"model": t["name"], "group": t["group"], "dir": "d", "seed": t["seed"], "input_size": t["input_size"],
              "best_val_auc": 0.7, "params_total": 10} for t in trainings]
    (swept,) = sweep_records(trainings, cards)
    assert swept["width"] == 0.5 and swept["params"] == 10 and swept["model"] == "light_cnn_w0.5"



def test_evaluation_macros_read_the_light_cnn_rows_and_every_study():
    test = toy_manifest().query("split == 'test'").reset_index(drop=True).assign(group=lambda f: f["video_id"])
    val = toy_manifest().query("split == 'val'").reset_index(drop=True).assign(group=lambda f: f["video_id"])
    scores = np.where(test["label"] == 1, 0.8, 0.2) + np.linspace(0, 0.1, len(test))
    val_scores = np.where(val["label"] == 1, 0.7, 0.3)
    report = evaluate.test_report(test, scores, val["label"], val_scores, threshold_rule="youden", aggregation="mean",
                                  bootstrap_samples=20, seed=0)
    results = pd.DataFrame([{"model": "light_cnn", "variant": v, **report} for v in ("float32", "int8_ptq")])
    seeds = pd.DataFrame([{"model": "light_cnn", "seed": s, **report} for s in (1, 2)])
    errors = analysis.errors_by_method(test, scores, report["threshold"])
    gate_rows, _ = gate.gate_tables(val, test, {("light_cnn", "int8_ptq"): (val_scores, scores)}, window=8, bootstrap_samples=20)
    differences = pd.DataFrame(columns=["model", "AUC difference", "CI low", "CI high", "half width", "verdict"])
    robustness = pd.DataFrame({"variant": ["int8_ptq"] * 2, "degradation": ["jpeg", "low_light"], "auc": [0.9, 0.7]})
    macros = analysis.evaluation_macros(
        results, seeds, test, val, differences=differences, resolvable=float("nan"), robustness=robustness, errors=errors,
        gate=gate_rows, ablation=pd.DataFrame(), cross_manipulation=pd.DataFrame(), cross_dataset=pd.DataFrame(),
        sbi_study=pd.DataFrame())
    assert macros["TestAucInt"] == report["auc"] and macros["NumSeedsEval"] == 2 and macros["SeedAucStd"] == 0.0
    assert macros["WorstDegradation"] == "low light" and macros["NumBaselines"] == 0
    assert macros["NumTestVideos"] == test["video_id"].nunique()
    assert evaluate.test_paper_table(results).columns[2] == "AUC"


def test_ablation_and_sbi_tables_pair_the_arms_seed_by_seed():
    test = toy_manifest().query("split == 'test'").reset_index(drop=True).assign(group=lambda f: f["video_id"])
    good = np.where(test["label"] == 1, 0.8, 0.2) + np.linspace(0, 0.1, len(test))
    weak = np.linspace(0, 1, len(test))
    arms = {"without degradations": [[weak, weak]], "with degradations": [[good, good]]}
    ablation = studies.ablation_table(test, test, arms, bootstrap_samples=20, seed=0)
    assert list(ablation["test set"]) == ["clean test", "degraded copies"] and (ablation["difference"] > 0).all()
    sbi = studies.sbi_study_table({"test": (test, None)}, {"test": ([good], [weak])}, test, {"swap": [good]}, {"swap": [weak]},
                                   main_sbi=False, bootstrap_samples=20, seed=0)
    assert list(sbi["test set"]) == ["test", "swap left out"]
    assert list(sbi.columns[1:3]) == ["without SBI AUC", "without SBI std"] and (sbi["difference"] < 0).all()


def test_convergence_row_tells_still_learning_from_converged_and_never_learned():
    from deepfake_iot.plan import convergence_row

    rising = pd.DataFrame({"auc": np.linspace(0.55, 0.8, 8), "val_auc": np.linspace(0.6, 0.84, 8)})
    row = convergence_row(rising, epochs_max=8, gain_limit=0.01)
    assert row["best epoch"] == 8 and row["epochs run"] == 8 and not row["stopped early"]
    assert row["last-quarter gain"] == pytest.approx(0.84 - rising["val_auc"].iloc[5])
    assert not row["converged"] and row["learned"]
    flat = pd.DataFrame({"auc": [0.6, 0.8, 0.85, 0.86, 0.86, 0.87, 0.87, 0.87],
                         "val_auc": [0.7, 0.85, 0.9, 0.905, 0.906, 0.905, 0.907, 0.906]})
    row = convergence_row(flat, epochs_max=8, gain_limit=0.01)
    assert row["converged"] and row["best epoch"] == 7 and row["last-quarter gain"] < 0.01
    stuck = pd.DataFrame({"auc": [0.5, 0.52, 0.51], "val_auc": [0.5, 0.55, 0.52]})
    row = convergence_row(stuck, epochs_max=8, gain_limit=0.01)
    assert row["stopped early"] and row["converged"] and not row["learned"]
    with pytest.raises(ValueError, match="val_auc"):
        convergence_row(pd.DataFrame({"auc": [0.5]}), 8, 0.01)
    # a gain at epoch 16 of 20 (the last quarter), then 4 epochs within min_delta of it: early
    # stopping's rule is met on the last allowed epoch, which the run's length alone does not show
    val = [*np.linspace(0.6, 0.8, 15), 0.82, 0.819, 0.821, 0.818, 0.82]
    late = pd.DataFrame({"auc": np.linspace(0.6, 0.8, 20), "val_auc": val})
    assert not convergence_row(late, 20, 0.01)["converged"]
    row = convergence_row(late, 20, 0.01, patience=4, min_delta=0.002)
    assert row["stopped early"] and row["converged"] and row["last-quarter gain"] >= 0.01
    assert not convergence_row(late, 20, 0.01, patience=5, min_delta=0.002)["stopped early"]
    assert not convergence_row(late, 20, 0.01, patience=4, min_delta=0.0005)["stopped early"]


def test_early_stopping_rule_matches_keras():
    keras = pytest.importorskip("tf_keras")
    from deepfake_iot.plan import early_stopping_fired

    rng = np.random.default_rng(0)
    for trial in range(40):
        val = np.round(np.cumsum(rng.normal(0.004, 0.01, 12)) + 0.7, 3)
        patience, start = int(rng.integers(1, 5)), int(rng.integers(0, 6))
        stop = keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience, min_delta=0.002,
                                             start_from_epoch=start)
        stop.set_model(keras.Sequential())
        stop.on_train_begin()
        for epoch, value in enumerate(val):
            stop.on_epoch_end(epoch, {"val_auc": value})
            if stop.model.stop_training:
                break
        fired = early_stopping_fired(val[: epoch + 1], patience, 0.002, start)
        assert fired == stop.model.stop_training, (trial, list(val), patience, start)


def test_convergence_macros_count_the_main_runs():
    from deepfake_iot.plan import convergence_macros

    table = pd.DataFrame({"group": ["main", "main", "ablation"], "converged": [True, False, True],
                          "learned": [True, True, False], "stopped early": [True, False, False],
                          "last-quarter gain": [0.0, 0.03, 0.2]})
    macros = convergence_macros(table, 0.01)
    assert macros["NumMainRuns"] == 2 and macros["NumMainConverged"] == 1 and macros["NumConverged"] == 2
    assert macros["NumMainLearned"] == 2 and macros["MaxMainLastQuarterGain"] == 0.03


def test_configuration_sentence_says_when_a_study_resolves_against_the_deployed_setting():
    def study(rows):
        return pd.DataFrame([{"test set": name, "difference": d, "CI low": lo, "CI high": hi} for name, d, lo, hi in rows])

    ablation = study([("clean test", -0.04, -0.06, -0.02), ("degraded copies", 0.0, -0.01, 0.01)])
    sbi = study([("test", 0.01, -0.01, 0.03), ("second dataset", 0.05, 0.02, 0.08)])
    sentence = studies.configuration_sentence(ablation, sbi, main_sbi=False)
    assert "hurts on the clean test split" in sentence and "makes no resolved difference on the degraded" in sentence
    assert "helps on the second dataset" in sentence and "trained without them" in sentence
    assert "the degradation augmentation and the self-blending setting of the deployed configuration are at odds" in sentence
    helpful = study([("clean test", 0.0, -0.01, 0.01), ("degraded copies", 0.05, 0.02, 0.08)])
    sentence = studies.configuration_sentence(helpful, sbi, main_sbi=True)
    assert "not contradicted" in sentence
    assert "neither study" in studies.configuration_sentence(pd.DataFrame(), pd.DataFrame(), main_sbi=False)
    claim = studies.sbi_macros(sbi)["SbiClaim"]
    assert claim.startswith("was tested on the second dataset") and claim.endswith("helps")


def test_configuration_sentence_judges_a_default_trained_without_degradations():
    def study(rows):
        return pd.DataFrame([{"test set": name, "difference": d, "CI low": lo, "CI high": hi} for name, d, lo, hi in rows])

    costly = study([("clean test", -0.04, -0.06, -0.02), ("degraded copies", 0.03, 0.01, 0.05)])
    sentence = studies.configuration_sentence(costly, pd.DataFrame(), main_sbi=False, main_degrade=False)
    assert "the deployed model is trained without them" in sentence and "not contradicted" in sentence
    free_gain = study([("clean test", 0.0, -0.01, 0.01), ("degraded copies", 0.03, 0.01, 0.05)])
    sentence = studies.configuration_sentence(free_gain, pd.DataFrame(), main_sbi=False, main_degrade=False)
    assert "training without the degradation augmentation of the deployed configuration is at odds" in sentence
    unresolved = study([("clean test", 0.01, -0.01, 0.03), ("degraded copies", 0.01, -0.01, 0.02)])
    assert "not contradicted" in studies.configuration_sentence(unresolved, pd.DataFrame(), main_sbi=False, main_degrade=False)


def test_degradation_phrases_follow_the_main_runs_setting():
    from deepfake_iot.plan import degradation_phrases

    on, off = degradation_phrases(0.3, 0.3), degradation_phrases(0.0, 0.25)
    assert on["AblationArm"] == "without the degradation augmentation" and "probability 0.3" in on["DegradeAugmentation"]
    assert off["AblationArm"].startswith("with the degradation augmentation") and "probability 0.25" in off["AblationArm"]
    assert "draw no IoT degradation" in off["DegradeAugmentation"] and on["AbstractAugmentation"] != off["AbstractAugmentation"]
    assert "study" not in degradation_phrases(0.0, 0.25, study=False)["DegradeAugmentation"]
    late = degradation_phrases(0.3, 0.3, from_epoch=3)["DegradeAugmentation"]
    assert "from epoch 4 on" in late and "the first 3 epochs train on clean crops" in late
    assert "the first epoch trains" in degradation_phrases(0.3, 0.3, from_epoch=1)["DegradeAugmentation"]
    assert "from epoch" in degradation_phrases(0.0, 0.25, from_epoch=2)["AblationArm"]
    assert "from epoch" not in on["DegradeAugmentation"]


def test_degradation_study_trains_the_other_setting_of_the_main_runs():
    options = {"width": 0.5}
    common = dict(manifest=toy_manifest(), crop_size=48, light_options=options)
    study_plan = Studies(degradation=True, seeds=2)
    with_main = training_plan(["light_cnn"], 1, 3, degrade_prob=0.3, studies=study_plan, **common)
    study = [e for e in with_main if e["group"] == "ablation"]
    assert [e["name"] for e in study] == ["light_cnn_nodeg"] * 2 and all(e["degrade_prob"] == 0 and not e["degradation"] for e in study)
    without_main = training_plan(["light_cnn"], 1, 3, degrade_prob=0.0, studies=replace(study_plan, degrade_study_prob=0.2), **common)
    study = [e for e in without_main if e["group"] == "ablation"]
    assert [e["name"] for e in study] == ["light_cnn_deg"] * 2 and all(e["degrade_prob"] == 0.2 and e["degradation"] for e in study)
    assert all(e["degrade_prob"] == 0.0 for e in without_main if e["group"] == "main")
    with pytest.raises(ValueError, match="degrade_study_prob"):
        training_plan(["light_cnn"], 1, 3, degrade_prob=0.0, studies=replace(study_plan, degrade_study_prob=0.0), **common)


def test_learning_rate_sentence_names_a_model_with_its_own_rate():
    from deepfake_iot.plan import learning_rate_sentence

    assert learning_rate_sentence(0.002, {"light_cnn": 0.0}, ["light_cnn"], {}) == "0.002"
    sentence = learning_rate_sentence(0.002, {"mobilenet_v2_035": 0.005, "meso4": 0.01}, ["light_cnn", "mobilenet_v2_035"],
                                      analysis.MODEL_NAMES)
    assert sentence.startswith("0.002; 0.005 for MobileNetV2 (width 0.35), chosen on validation") and "0.01" not in sentence
