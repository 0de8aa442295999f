"""Notebook 05's studies, read from scores, and the sentences and macros they give the paper;
without TensorFlow.

- the leave-one-method-out table, the per-method error breakdown, the hardest test errors and
  the correct/wrong cases shown with Grad-CAM;
- the verdicts and sentences of the comparisons and studies, and ``evaluation_macros``, every
  number notebook 05 gives the paper.

Which runs exist is decided in ``plan.py`` (notebook 03); which rows a method owns, in
``data/methods.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_iot import metrics
from deepfake_iot.data.methods import fake_methods, method_subset
from deepfake_iot.evaluate import difference_verdict, result_row, study_row
from deepfake_iot.gate import RULE_OF_THREE


def subset_auc(frame: pd.DataFrame, scores, methods: list[str]) -> float:
    """Frame AUC on the real crops plus the fakes of ``methods``."""
    scores = np.asarray(scores, dtype=float)
    keep = method_subset(frame, methods)
    return metrics.frame_metrics(frame["label"].to_numpy()[keep], scores[keep])["roc_auc"]


def cross_manipulation_table(test: pd.DataFrame, held_out_scores: dict, reference_scores, *,
                             bootstrap_samples: int = 0, seed: int = 0) -> pd.DataFrame:
    """Leave-one-method-out results on the test split.

    ``held_out_scores`` maps each held-out method to the test scores of the model trained
    without it; ``reference_scores`` are the test scores of the same recipe trained on every
    method. Either may be one array or a list of arrays, one per seed (AUCs are then averaged
    over seeds). With ``bootstrap_samples`` the unseen AUC gets a 95% interval over resampled
    leakage groups and training seeds (``CI low``, ``CI high``), and the ``gap`` (all-methods
    minus unseen: the cost of never seeing the method) an interval and a ``gap verdict`` from the
    hierarchical bootstrap over seeds and groups. Per method: the AUC of the held-out model on
    the unseen method and on the methods it saw, and the reference model's AUC on that method.
    """
    def mean_auc(scores, methods):
        arrays = scores if isinstance(scores, list) else [scores]
        return float(np.mean([subset_auc(test, s, methods) for s in arrays]))

    rows = []
    methods = fake_methods(test)
    for method, scores in held_out_scores.items():
        seen = [m for m in methods if m != method]
        row = {"held out": method, "unseen AUC": mean_auc(scores, [method])}
        row.update({"seen AUC": mean_auc(scores, seen) if seen else float("nan"),
                    "all-methods AUC": mean_auc(reference_scores, [method])})
        row["gap"] = row["all-methods AUC"] - row["unseen AUC"]
        if bootstrap_samples:  # intervals over training seeds and test groups
            keep = method_subset(test, [method])
            subset = test[keep].reset_index(drop=True)
            on_subset = lambda arrays, keep=keep: [np.asarray(s, dtype=float)[keep] for s in (arrays if isinstance(arrays, list) else [arrays])]  # noqa: E731
            _, row["CI low"], row["CI high"] = metrics.seed_mean_auc_interval(subset, on_subset(scores), n=bootstrap_samples, seed=seed)
            found = metrics.auc_difference_intervals(subset, on_subset(reference_scores), on_subset(scores), n=bootstrap_samples, seed=seed)
            row.update({"gap CI low": found["low"], "gap CI high": found["high"],
                        "gap verdict": difference_verdict(found["difference"], found["low"], found["high"], "costs AUC", "gains AUC")})
        rows.append(row)
    table = pd.DataFrame(rows)
    first = ["held out", "unseen AUC", "CI low", "CI high"]
    return table[[c for c in first if c in table] + [c for c in table.columns if c not in first]] if len(table) else table


def errors_by_method(frame: pd.DataFrame, scores, threshold: float) -> pd.DataFrame:
    """Crops, errors and error rate per method at ``threshold`` (reals: false alarms)."""
    decided_fake = np.asarray(scores, dtype=float) >= threshold
    wrong = decided_fake != (frame["label"].to_numpy() == 1)
    table = (
        pd.DataFrame({"method": frame["method"].astype(str).to_numpy(), "wrong": wrong})
        .groupby("method", sort=False)["wrong"].agg(crops="size", errors="sum")
        .reset_index()
    )
    table["error rate"] = table["errors"] / table["crops"]
    return table


def hardest_errors(frame: pd.DataFrame, scores, threshold: float, count: int) -> pd.DataFrame:
    """The ``count`` most confident mistakes: reals with the highest and fakes with the lowest
    fake score, alternating between the two kinds while both last."""
    scores = np.asarray(scores, dtype=float)
    labels = frame["label"].to_numpy()
    table = frame.assign(score=scores, index=np.arange(len(frame)))
    false_alarms = table[(labels == 0) & (scores >= threshold)].sort_values("score", ascending=False)
    misses = table[(labels == 1) & (scores < threshold)].sort_values("score")
    picked = []
    for k in range(max(len(false_alarms), len(misses))):
        for part in (false_alarms, misses):
            if k < len(part):
                picked.append(part.iloc[k])
    if not picked:
        return table.iloc[:0].assign(kind="")
    result = pd.DataFrame(picked[:count]).reset_index(drop=True)
    result["kind"] = np.where(result["label"] == 1, "missed fake", "false alarm")
    return result


EXPLANATION_CASES = ("real, right", "fake, right", "real, wrong", "fake, wrong")


def explanation_cases(labels, scores, threshold: float, per_case: int, seed: int) -> dict[str, np.ndarray]:
    """Indices of up to ``per_case`` crops for each of real/fake x right/wrong, drawn at random
    (seeded) so that the figure shows typical cases, not only the extremes."""
    labels = np.asarray(labels)
    fake_decision = np.asarray(scores, dtype=float) >= threshold
    right = fake_decision == (labels == 1)
    rng = np.random.default_rng(seed)
    cases = {}
    for case in EXPLANATION_CASES:
        label = 1 if case.startswith("fake") else 0
        pool = np.flatnonzero((labels == label) & (right == case.endswith("right")))
        cases[case] = np.sort(rng.choice(pool, size=min(per_case, len(pool)), replace=False))
    return cases


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def generalization_macros(ablation: pd.DataFrame, cross_manipulation: pd.DataFrame, cross_dataset: pd.DataFrame) -> dict:
    """Numbers and sentences for the paper's generalization paragraphs.

    Each study that did not run in this profile yields a sentence saying so, so the paper's
    text stays true for any profile without editing.
    """
    nan = float("nan")
    macros = {name: nan for name in (
        "AblationCleanWith", "AblationCleanWithout", "AblationDegradedWith", "AblationDegradedWithout",
        "AblationGain", "AblationGainLow", "AblationGainHigh", "LofoUnseenMean", "LofoSeenMean",
        "LofoAllMean", "LofoWorstAuc", "CrossAucInt", "CrossDropInt")}
    macros.update({"LofoWorstMethod": "none", "NumLofo": 0})
    if len(ablation) == 2:
        rows = ablation.set_index("test set")
        clean, degraded = rows.loc["clean test"], rows.loc["degraded copies"]
        verdict = study_verdict(degraded)
        macros.update({
            "AblationCleanWith": float(clean["with degradations AUC"]), "AblationCleanWithout": float(clean["without degradations AUC"]),
            "AblationDegradedWith": float(degraded["with degradations AUC"]),
            "AblationDegradedWithout": float(degraded["without degradations AUC"]),
            "AblationGain": float(degraded["difference"]), "AblationGainLow": float(degraded["CI low"]),
            "AblationGainHigh": float(degraded["CI high"]), "AblationSeeds": int(degraded["seeds"]),
            "AblationVerdict": verdict,
        })
    else:
        macros["AblationVerdict"] = "was not measured in this run"
    if len(cross_manipulation):
        worst = cross_manipulation.sort_values("unseen AUC").iloc[0]
        macros.update({
            "LofoUnseenMean": float(cross_manipulation["unseen AUC"].mean()),
            "LofoSeenMean": float(cross_manipulation["seen AUC"].mean()),
            "LofoAllMean": float(cross_manipulation["all-methods AUC"].mean()),
            "LofoWorstMethod": str(worst["held out"]).replace("_", " "), "LofoWorstAuc": float(worst["unseen AUC"]),
            "NumLofo": len(cross_manipulation),
        })
        macros["LofoSentence"] = (
            f"Left out of training, a method is detected with a mean AUC of {macros['LofoUnseenMean']:.3f}, "
            f"against {macros['LofoAllMean']:.3f} when the same recipe sees every method; the hardest to "
            f"generalize to is {macros['LofoWorstMethod']} ({macros['LofoWorstAuc']:.3f})." + lofo_gap_clause(cross_manipulation)
        )
    else:
        macros["LofoSentence"] = "This run did not train leave-one-method-out models (it needs at least two fake methods)."
    light = cross_dataset[(cross_dataset.get("model") == "light_cnn") & (cross_dataset.get("variant") == "int8_ptq")] if len(cross_dataset) else cross_dataset
    if len(light):
        row = light.iloc[0]
        macros.update({"CrossAucInt": float(row["cross AUC"]), "CrossDropInt": float(row["test AUC"] - row["cross AUC"])})
        macros["CrossSentence"] = (
            f"With no retraining, the int8 light CNN reaches an AUC of "
            f"{_interval(row['cross AUC'], row['CI low'], row['CI high'])} on the second dataset, "
            f"against {row['test AUC']:.3f} on the test split of its own."
        )
    else:
        macros["CrossSentence"] = "This run named no second dataset, so no cross-dataset number is reported."
    parts = []
    if len(cross_manipulation):
        parts.append(f"a manipulation method left out of training is still detected with a mean AUC of {macros['LofoUnseenMean']:.3f}")
    if not np.isnan(macros["CrossAucInt"]):
        parts.append(f"the integer model reaches an AUC of {macros['CrossAucInt']:.3f} on a second dataset it was never trained on")
    macros["GeneralizationAbstract"] = (
        "Beyond the test split, " + "; ".join(parts) + "." if parts
        else "This run measured no generalization beyond the test split."
    )
    return macros


def _percent(value) -> str:
    return f"{100 * float(value):.1f}"  # a rate of a few hundred presentations carries one decimal


def calibration_sentence(calibration: dict) -> str:
    """What the calibration of the deployed file did (``evaluate.calibration_record``, or why
    there is none)."""
    if calibration.get("method") != "platt":
        return f"No calibration could be fitted: {calibration.get('reason', 'no reason recorded')}"
    return (f"Platt scaling fitted on validation (slope {calibration['slope']:.2f}, intercept "
            f"{calibration['intercept_at_validation_prior']:+.2f} at validation's {calibration['validation_fake_share']:.0%} fakes) "
            f"changes the test ECE from {calibration['test_ece_before']:.3f} to {calibration['test_ece_after']:.3f}; "
            f"the device's intercept, moved to a deployment prior of {calibration['deployment_prior']:.0%} fakes, is "
            f"{calibration['intercept']:+.2f}.")


def calibration_macros(calibration: dict) -> dict:
    """The paper's calibration numbers ("--" where nothing could be fitted) and its sentence."""
    platt = calibration.get("method") == "platt"
    value = lambda key: float(calibration[key]) if platt else float("nan")  # noqa: E731
    return {"CalibrationSentence": calibration_sentence(calibration), "EceBefore": value("test_ece_before"),
            "EceAfter": value("test_ece_after"), "PlattSlope": value("slope"),
            "DeploymentPrior": f"{100 * float(calibration.get('deployment_prior', float('nan'))):.0f}% fakes"}  # fmt: skip


def lofo_gap_clause(cross_manipulation: pd.DataFrame) -> str:
    """How many of the leave-one-method-out gaps the bootstrap over seeds and groups resolves."""
    if "gap verdict" not in cross_manipulation:
        return ""
    verdicts = cross_manipulation["gap verdict"].tolist()
    return (f" Counting training seeds and test groups, leaving a method out resolvably costs AUC for "
            f"{verdicts.count('costs AUC')} of {len(verdicts)} methods.")


def gate_sentence(gate: pd.DataFrame, model: str = "light_cnn") -> str:
    """What ``model``'s gate (rows of ``gate.gate_table``) does at each target: the worst attack
    type's APCER and the BPCER on test presentations with their intervals, and the targets that
    validation could not support."""
    rows = gate[(gate["model"] == model) & (gate["attack type"] == "worst")] if len(gate) else gate
    if not len(rows):
        return "This run evaluated no gate."
    window = int(rows["window"].iloc[0])
    parts = [f"at a target APCER of {row['target APCER']:.0%} the worst attack type's APCER on test is "
             f"{_percent(row['APCER'])}% ({_percent(row['APCER low'])} to {_percent(row['APCER high'])}) and the BPCER "
             f"{_percent(row['BPCER'])}% ({_percent(row['BPCER low'])} to {_percent(row['BPCER high'])})"
             for _, row in rows[rows["status"] == "met"].iterrows()]  # fmt: skip
    unmet = rows[rows["status"] != "met"]
    if len(unmet):
        targets = _join([f"{t:.0%}" for t in unmet["target APCER"]])
        parts.append(f"a target of {targets} cannot be set, since validation holds only {int(unmet['val presentations'].iloc[0])} "
                     f"attack presentations of its rarest type and a target APCER p needs {RULE_OF_THREE}/p of them")
    return f"On presentations of up to {window} frames of one video (scored by their mean), " + "; ".join(parts) + "."


def gate_macros(gate: pd.DataFrame, target: float = 0.10, model: str = "light_cnn") -> dict:
    """The light CNN's gate at ``target`` for the paper, in percent ("--" where not met), and
    ``GateSentence``."""
    macros = {"GateSentence": gate_sentence(gate, model), "GateTarget": round(100 * float(target)), "GateWindow": "--",
              "GateRule": RULE_OF_THREE}
    names = ("GateApcer", "GateApcerLow", "GateApcerHigh", "GateBpcer", "GateBpcerLow", "GateBpcerHigh")
    macros.update(dict.fromkeys(names, "--"))
    rows = gate[(gate["model"] == model) & (gate["attack type"] == "worst")] if len(gate) else gate
    match = rows[np.isclose(rows["target APCER"], target) & (rows["status"] == "met")] if len(rows) else rows
    if len(rows):
        macros["GateWindow"] = int(rows["window"].iloc[0])
    if len(match):
        row = match.iloc[0]
        macros.update({name: _percent(row[column]) for name, column in zip(names, (
            "APCER", "APCER low", "APCER high", "BPCER", "BPCER low", "BPCER high"), strict=True)})
    return macros


def study_verdict(row) -> str:
    """``helps``, ``hurts`` or ``makes no resolved difference``: the sign of a study's
    difference (with minus without) where its interval over training seeds and test groups
    excludes zero (an interval of zero width, from a split of one group, resolves nothing)."""
    low, high, diff = float(row["CI low"]), float(row["CI high"]), float(row["difference"])
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high or low == high:  # a zero-width interval: one group
        return "makes no resolved difference"
    return "helps" if diff > 0 else "hurts"


def mean_curves(arms: dict, keys: list, degraded_sets: dict, clean_labels) -> pd.DataFrame:
    """Robustness curves of a study, averaged over seeds: ``arms`` maps an arm to its runs, each
    a list of test scores followed by the scores of every ``keys`` set of ``degraded_sets``."""
    rows = []
    for arm, runs in arms.items():
        for index, (name, level) in enumerate(keys):
            labels = degraded_sets[(name, level)][0]
            auc = np.mean([metrics.frame_metrics(labels, r[1 + index])["roc_auc"] for r in runs])
            rows.append({"model": arm, "variant": "float32", "degradation": name, "level": int(level), "auc": float(auc)})
        clean = np.mean([metrics.frame_metrics(clean_labels, r[0])["roc_auc"] for r in runs])
        rows += [{"model": arm, "variant": "float32", "degradation": name, "level": 0, "auc": float(clean)}
                 for name in dict.fromkeys(name for name, _ in keys)]
    return pd.DataFrame(rows).sort_values(["model", "degradation", "level"]).reset_index(drop=True)


def _signed(row) -> str:
    return f"{row['difference']:+.3f} [{row['CI low']:+.3f}, {row['CI high']:+.3f}]"


def sbi_sentence(study: pd.DataFrame) -> str:
    """What the self-blending study shows, from its rows (``evaluate.study_row``)."""
    if not len(study):
        return "This run did not measure self-blending."
    rows = study.set_index("test set")
    parts = [f"the test AUC by {_signed(rows.loc['test'])} ({study_verdict(rows.loc['test'])})"]
    if "second dataset" in rows.index:
        parts.append(f"the second dataset's by {_signed(rows.loc['second dataset'])} ({study_verdict(rows.loc['second dataset'])})")
    left_out = study[study["test set"].str.endswith(" left out")]
    if len(left_out):
        verdicts = [study_verdict(r) for _, r in left_out.iterrows()]
        parts.append(
            f"the AUC on a method left out of training by {left_out['difference'].mean():+.3f} on average, "
            f"resolved as a gain for {verdicts.count('helps')} and as a loss for {verdicts.count('hurts')} "
            f"of {len(left_out)} methods"
        )
    return "Training with on-the-fly self-blended fakes changes " + ", ".join(parts[:-1]) + (
        ", and " if len(parts) > 1 else "") + parts[-1] + "."


def sbi_macros(study: pd.DataFrame) -> dict:
    """The self-blending study's sentence and whether it supports SBI's generalization claim."""
    macros = {"SbiSentence": sbi_sentence(study)}
    left_out = study[study["test set"].str.endswith(" left out")] if len(study) else study
    if len(left_out):
        verdicts = [study_verdict(r) for _, r in left_out.iterrows()]
        holds = verdicts.count("helps") > len(verdicts) / 2
        macros["SbiClaim"] = ("holds here: self-blending helps on most methods left out of training" if holds
                              else "is not borne out here: self-blending does not help on most methods left out of training")
        macros["SbiLofoMeanDiff"] = float(left_out["difference"].mean())
    elif len(study) and "second dataset" in set(study["test set"]):
        verdict = study_verdict(study.set_index("test set").loc["second dataset"])
        macros["SbiClaim"] = (f"was tested on the second dataset, a generator never seen in training, where "
                              f"self-blending {verdict}")
        macros["SbiLofoMeanDiff"] = float("nan")
    else:
        macros["SbiClaim"] = "was not tested in this run"
        macros["SbiLofoMeanDiff"] = float("nan")
    return macros


def configuration_sentence(ablation: pd.DataFrame, sbi_study: pd.DataFrame, main_sbi: bool, main_degrade: bool = True) -> str:
    """Whether the deployed light CNN's training configuration (with or without IoT degradation
    augmentation, with or without self-blended fakes) is what this run's studies support, from their
    verdicts (``study_verdict``, intervals over seeds and groups): a study that resolves against the
    chosen setting is said to be at odds with it, one that resolves nothing leaves the choice open.
    Degradations trained without are at odds only where they help on degraded faces at no resolved
    cost on clean ones; trained with, where they hurt on degraded faces, or on clean ones for nothing."""
    parts, against = [], []
    if len(ablation) == 2:
        rows = ablation.set_index("test set")
        on_degraded, on_clean = study_verdict(rows.loc["degraded copies"]), study_verdict(rows.loc["clean test"])
        parts.append(f"training with the IoT degradations (the deployed model is trained {'with' if main_degrade else 'without'} "
                     f"them) {on_degraded} on the degraded copies and {on_clean} on the clean test split")
        if main_degrade and (on_degraded == "hurts" or (on_clean == "hurts" and on_degraded != "helps")):
            against.append("the degradation augmentation")
        if not main_degrade and on_degraded == "helps" and on_clean != "hurts":
            against.append("training without the degradation augmentation")
    if len(sbi_study):
        rows = sbi_study.set_index("test set")
        verdicts = {name: study_verdict(rows.loc[name]) for name in ("test", "second dataset") if name in rows.index}
        said = " and ".join(f"{verdict} on the {'test split' if name == 'test' else name}" for name, verdict in verdicts.items())
        chosen = "with" if main_sbi else "without"
        parts.append(f"training with self-blended fakes {said} (the deployed model is trained {chosen} them)")
        # the study's difference is with minus without, whichever setting the main runs use
        if (main_sbi and "hurts" in verdicts.values()) or (not main_sbi and "helps" in verdicts.values()
                                                            and "hurts" not in verdicts.values()):
            against.append("the self-blending setting")
    if not parts:
        return "This run measured neither study that the deployed configuration rests on."
    ending = (f"so {_join(against)} of the deployed configuration {'is' if len(against) == 1 else 'are'} at odds with this run's evidence"
              if against else "so the deployed configuration is not contradicted by this run's evidence")
    return "In this run, " + "; ".join(parts) + f": {ending}."


MODEL_NAMES = {"light_cnn": "light CNN", "meso4": "MesoNet Meso-4", "mobilenet_v3_small": "MobileNetV3-Small",
               "mobilenet_v2_035": "MobileNetV2 (width 0.35)", "efficientnet_b0": "EfficientNet-B0"}  # fmt: skip


def baseline_names(models: list[str]) -> str:
    """The baselines of ``models`` as the paper names them: "A, B and C"."""
    names = [MODEL_NAMES.get(m, m.replace("_", " ")) for m in models if m != "light_cnn"]
    if not names:
        return "no baseline"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def comparison_sentence(differences: pd.DataFrame, resolvable: float, reference: str = "light_cnn") -> str:
    """What the paired comparisons decide, from their verdicts: better, worse or unresolved."""
    if not len(differences):
        return "This run trained no baseline to compare with."
    name = lambda m: MODEL_NAMES.get(m, m.replace("_", " "))  # noqa: E731
    groups = {"better": [], "worse": [], "unresolved": []}
    for _, row in differences.iterrows():
        verdict = row["verdict"]
        key = "unresolved" if verdict == "not resolved" else ("better" if verdict == f"{reference} better" else "worse")
        groups[key].append(f"{name(row['model'])} ({row['AUC difference']:+.3f})")
    parts = []
    if groups["better"]:
        parts.append(f"resolvably higher than that of {_join(groups['better'])}")
    if groups["worse"]:
        parts.append(f"resolvably lower than that of {_join(groups['worse'])}")
    if groups["unresolved"]:
        parts.append(f"not resolved against {_join(groups['unresolved'])} (differences within {resolvable:.3f})")
    return "Counting both training seeds and test groups, the light CNN's mean test AUC is " + "; ".join(parts) + "."


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def ablation_table(test: pd.DataFrame, pooled_frame: pd.DataFrame, arms: dict, *, bootstrap_samples: int,
                   seed: int) -> pd.DataFrame:
    """The degradation-training study: both arms on the clean test split and on every degraded
    copy pooled (rows of ``pooled_frame``). ``arms`` maps an arm to its runs, one per seed, each
    ``[test scores, scores of each degraded set...]``."""
    clean = {arm: [scores[0] for scores in runs] for arm, runs in arms.items()}
    degraded = {arm: [np.concatenate(scores[1:]) for scores in runs] for arm, runs in arms.items()}
    return pd.DataFrame([
        study_row(test, "clean test", clean, bootstrap_samples=bootstrap_samples, seed=seed),
        study_row(pooled_frame, "degraded copies", degraded, bootstrap_samples=bootstrap_samples, seed=seed),
    ])


def sbi_study_table(sets: dict, arm_scores: dict, test: pd.DataFrame, held_out_scores: dict, held_out_sbi: dict, *,
                    main_sbi: bool, bootstrap_samples: int, seed: int) -> pd.DataFrame:
    """The self-blending study: one row per test set (``sets``: label -> (frame, images);
    ``arm_scores``: label -> (the main runs' scores, the other setting's), one array per seed),
    then one per method left out of training by both arms (its fakes and the reals of ``test``).
    ``main_sbi`` says whether the main runs used self-blending; arms are named by it."""
    main_arm, other_arm = ("with SBI", "without SBI") if main_sbi else ("without SBI", "with SBI")

    def arms(main_scores, other_scores):
        return dict(sorted({main_arm: main_scores, other_arm: other_scores}.items(), reverse=True))

    rows = [study_row(sets[label][0], label, arms(*arm_scores[label]), bootstrap_samples=bootstrap_samples, seed=seed)
            for label in arm_scores]
    for method in [m for m in held_out_scores if m in held_out_sbi]:
        mask = method_subset(test, [method])
        rows.append(study_row(test[mask].reset_index(drop=True), f"{method} left out",
                              arms([s[mask] for s in held_out_scores[method]], [s[mask] for s in held_out_sbi[method]]),
                              bootstrap_samples=bootstrap_samples, seed=seed))
    return pd.DataFrame(rows)


def cross_dataset_row(model: str, variant: str, report: dict, in_dataset) -> dict:
    """One row of the cross-dataset table: the file's AUC on the main test split beside its
    ``test_report`` on the second dataset."""
    return {"model": model, "variant": variant, "test AUC": in_dataset["auc"], "cross AUC": report["auc"],
            "CI low": report["auc_low"], "CI high": report["auc_high"], "cross F1": report["f1_macro"],
            "cross video AUC": report["video_auc"]}


def evaluation_macros(results: pd.DataFrame, seeds: pd.DataFrame, test: pd.DataFrame, val: pd.DataFrame, *,
                      differences: pd.DataFrame, resolvable: float, robustness: pd.DataFrame, errors: pd.DataFrame,
                      gate: pd.DataFrame, ablation: pd.DataFrame, cross_manipulation: pd.DataFrame,
                      cross_dataset: pd.DataFrame, sbi_study: pd.DataFrame) -> dict:
    """Notebook 05's numbers and sentences for the paper, from its tables: the int8 and float
    light CNN's test metrics, the seeds, the paired comparisons, the gate, robustness, errors
    and the studies (the notebook adds its parameters and the calibration numbers)."""
    light_int8, light_float = result_row(results, "light_cnn", "int8_ptq"), result_row(results, "light_cnn", "float32")
    light_seeds = seeds[seeds["model"] == "light_cnn"]
    worst = robustness[robustness["variant"] == "int8_ptq"].groupby("degradation")["auc"].min()
    int8 = {macro: float(light_int8[column]) for macro, column in (
        ("TestAucInt", "auc"), ("TestAucIntLow", "auc_low"), ("TestAucIntHigh", "auc_high"), ("TestFOneInt", "f1_macro"),
        ("TestAccInt", "accuracy"), ("TestBalAccInt", "balanced_accuracy"), ("TestBalAccIntLow", "balanced_accuracy_low"),
        ("TestBalAccIntHigh", "balanced_accuracy_high"), ("TestRecallRealInt", "recall_real"),
        ("TestRecallFakeInt", "recall_fake"), ("TestVideoAucIntLow", "video_auc_low"),
        ("TestVideoAucIntHigh", "video_auc_high"), ("TestVideoAucInt", "video_auc"), ("TestEerInt", "eer"))}
    return {
        "NumTestCrops": len(test), "NumTestVideos": int(test["video_id"].nunique()),
        "NumTestGroups": int(test["group"].nunique()), "NumValGroups": int(val["group"].nunique()),
        **int8, **gate_macros(gate), "TestAucFloat": float(light_float["auc"]),
        "SeedAucMean": float(light_seeds["auc"].mean()),
        "SeedAucStd": float(light_seeds["auc"].std(ddof=1)) if len(light_seeds) > 1 else 0.0,
        "NumSeedsEval": len(light_seeds), "ResolvableAucDiff": resolvable,
        "SeedBalAccMean": float(light_seeds["balanced_accuracy"].mean()), "SeedVideoAucMean": float(light_seeds["video_auc"].mean()),
        "NumBaselinesBeaten": int((differences["verdict"] == "light_cnn better").sum()),
        "NumBaselinesUnresolved": int((differences["verdict"] == "not resolved").sum()),
        "NumBaselines": len(differences), **sbi_macros(sbi_study),
        "ComparisonSentence": comparison_sentence(differences, resolvable),
        "WorstDegradation": str(worst.idxmin()).replace("_", " ") if len(worst) else "none",
        "WorstDegradationAuc": float(worst.min()) if len(worst) else float("nan"),
        "NumErrorsInt": int(light_int8["fp"] + light_int8["fn"]),
        "HardestMethod": str(errors.sort_values("error rate").iloc[-1]["method"]).replace("_", " "),
        "HardestMethodErrorRate": float(errors["error rate"].max()),
        **generalization_macros(ablation, cross_manipulation, cross_dataset),
    }

