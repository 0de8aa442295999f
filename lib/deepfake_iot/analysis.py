"""What notebook 05 reads from the test scores beyond the metrics, and what it tells the paper;
without TensorFlow.

- the per-method error breakdown, the hardest test errors and the correct/wrong cases shown with
  Grad-CAM;
- the sentences of calibration, the gate and the model comparison, and ``evaluation_macros``,
  every number notebook 05 gives the paper (the studies' own come from ``studies``).

Which runs exist is decided in ``plan.py`` (notebook 03); which rows a method owns, in
``data/methods.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_iot.evaluate import result_row
from deepfake_iot.gate import RULE_OF_THREE
from deepfake_iot.studies import generalization_macros, join_words, sbi_macros


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
        targets = join_words([f"{t:.0%}" for t in unmet["target APCER"]])
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


MODEL_NAMES = {"light_cnn": "light CNN", "meso4": "MesoNet Meso-4", "mobilenet_v3_small": "MobileNetV3-Small",
               "mobilenet_v2_035": "MobileNetV2 (width 0.35)", "efficientnet_b0": "EfficientNet-B0"}  # fmt: skip


def baseline_names(models: list[str]) -> str:
    """The baselines of ``models`` as the paper names them: "A, B and C"."""
    names = [MODEL_NAMES.get(m, m.replace("_", " ")) for m in models if m != "light_cnn"]
    if not names:
        return "no baseline"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def unconverged_runs(convergence: pd.DataFrame) -> dict[str, list[int]]:
    """The main-comparison runs that did not finish learning (``plan.convergence_table``'s
    ``converged``), as ``{model: [seeds]}``."""
    main = convergence[(convergence["group"] == "main") & ~convergence["converged"].astype(bool)]
    return {model: sorted(int(s) for s in part["seed"]) for model, part in main.groupby("model", sort=False)}


def comparison_sentence(differences: pd.DataFrame, resolvable: float, reference: str = "light_cnn",
                        unconverged: dict | None = None) -> str:
    """What the paired comparisons decide, from their verdicts: better, worse or unresolved; and,
    where a compared model has ``unconverged`` main runs (``unconverged_runs``), which ones, since
    a difference that counts a run still learning speaks to the recipe rather than the model."""
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
        parts.append(f"resolvably higher than that of {join_words(groups['better'])}")
    if groups["worse"]:
        parts.append(f"resolvably lower than that of {join_words(groups['worse'])}")
    if groups["unresolved"]:
        parts.append(f"not resolved against {join_words(groups['unresolved'])} (differences within {resolvable:.3f})")
    sentence = "Counting both training seeds and test groups, the light CNN's mean test AUC is " + "; ".join(parts) + "."
    compared = [reference, *differences["model"]]
    pending = [f"{name(m)} (seed{'s' if len(seeds) > 1 else ''} {join_words([str(x) for x in seeds])})"
               for m, seeds in (unconverged or {}).items() if m in compared and seeds]
    if pending:
        sentence += (f" Not every compared run finished learning: {join_words(pending)} did not meet the convergence "
                     "criterion, so a difference that counts them speaks to the recipe as much as to the model.")
    return sentence


def evaluation_macros(results: pd.DataFrame, seeds: pd.DataFrame, test: pd.DataFrame, val: pd.DataFrame, *,
                      differences: pd.DataFrame, resolvable: float, robustness: pd.DataFrame, errors: pd.DataFrame,
                      gate: pd.DataFrame, ablation: pd.DataFrame, cross_manipulation: pd.DataFrame,
                      cross_dataset: pd.DataFrame, sbi_study: pd.DataFrame, unconverged: dict | None = None) -> dict:
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
        "ComparisonSentence": comparison_sentence(differences, resolvable, unconverged=unconverged),
        "WorstDegradation": str(worst.idxmin()).replace("_", " ") if len(worst) else "none",
        "WorstDegradationAuc": float(worst.min()) if len(worst) else float("nan"),
        "NumErrorsInt": int(light_int8["fp"] + light_int8["fn"]),
        "HardestMethod": str(errors.sort_values("error rate").iloc[-1]["method"]).replace("_", " "),
        "HardestMethodErrorRate": float(errors["error rate"].max()),
        **generalization_macros(ablation, cross_manipulation, cross_dataset),
    }
