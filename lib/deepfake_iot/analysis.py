"""Generalisation and error analysis for notebooks 03 and 05, without TensorFlow.

- the extra training runs of notebook 03: the light CNN without degradation augmentation, the
  leave-one-method-out runs (cross-manipulation) and the small architecture sweep;
- the leave-one-method-out table, the per-method error breakdown, the hardest test errors and
  the correct/wrong cases shown with Grad-CAM in notebook 05.

A *method* is the manifest's ``method`` column: a synthetic family or a FaceForensics++
manipulation; real crops have method ``real``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_iot import metrics

REAL_METHOD = "real"


def fake_methods(manifest: pd.DataFrame) -> list[str]:
    """The manipulation methods of a manifest, in order of first appearance."""
    methods = manifest.loc[manifest["label"] == 1, "method"].astype(str)
    return list(dict.fromkeys(methods))


def leave_out_method(manifest: pd.DataFrame, method: str) -> pd.DataFrame:
    """The manifest without the fakes of ``method`` in train and validation.

    Test rows are kept whole, so the model trained on the rest meets ``method`` for the first
    time on the test split. Validation loses the method too: picking a checkpoint on it would
    otherwise peek at the held-out family.
    """
    known = fake_methods(manifest)
    if method not in known:
        raise ValueError(f"method '{method}' is not a fake method of the manifest ({', '.join(known)})")
    drop = (manifest["method"].astype(str) == method) & manifest["split"].isin(["train", "val"])
    kept = manifest[~drop].reset_index(drop=True)
    for split in ("train", "val"):
        labels = set(kept.loc[kept["split"] == split, "label"])
        if labels != {0, 1}:
            raise ValueError(
                f"leaving out '{method}' leaves the {split} split without both classes; "
                "cross-manipulation needs at least two fake methods"
            )
    return kept


def training_plan(
    models: list[str],
    seed: int,
    n_seeds: int,
    n_seeds_baselines: int,
    *,
    manifest: pd.DataFrame,
    crop_size: int,
    light_options: dict,
    ablation_no_degradation: bool,
    cross_manipulation: bool,
    sweep_widths: list[float],
    sweep_depths: list[list[int]],
    sweep_input_sizes: list[int],
) -> list[dict]:
    """Every training run of notebook 03, in order: one record per run.

    Record keys: ``name`` (folder under ``models/``), ``architecture`` (what ``build_model``
    builds), ``seed``, ``group`` (main, ablation, cross_manipulation or sweep), ``options``,
    ``input_size``, ``degradation`` (False trains without IoT degradations), ``held_out`` (the
    method left out, or "") and, for the sweep, ``width``, ``depth``.
    The extra runs use the first seed, the same as the light CNN's first main run, so that each
    comparison changes one thing.
    """
    runs = []
    for name in models:
        count = n_seeds if name == "light_cnn" else n_seeds_baselines
        for k in range(count):
            runs.append(_run(name, name, seed + k, "main", light_options if name == "light_cnn" else {}, crop_size))
    if "light_cnn" not in models:
        return runs
    if ablation_no_degradation:
        runs.append({**_run("light_cnn_nodeg", "light_cnn", seed, "ablation", light_options, crop_size), "degradation": False})
    if cross_manipulation and len(fake_methods(manifest)) >= 2:  # one method cannot be left out
        for method in fake_methods(manifest):
            runs.append({**_run(f"light_cnn_lofo_{method}", "light_cnn", seed, "cross_manipulation", light_options, crop_size),
                         "held_out": method})
    variants = [{"width": w} for w in sweep_widths] + [{"depth": list(d)} for d in sweep_depths]
    variants += [{"input_size": s} for s in sweep_input_sizes]
    for change in variants:
        options = {**light_options, **{k: (tuple(v) if k == "depth" else v) for k, v in change.items() if k != "input_size"}}
        size = change.get("input_size", crop_size)
        if size > crop_size:
            raise ValueError(f"sweep_input_sizes holds {size}, larger than the crops ({crop_size} pixels)")
        label = "_".join(f"{k[0]}{'x'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in change.items())
        runs.append({**_run(f"light_cnn_{label}", "light_cnn", seed, "sweep", options, size),
                     "width": options["width"], "depth": list(options["depth"])})
    return runs


def _run(name: str, architecture: str, seed: int, group: str, options: dict, input_size: int) -> dict:
    return {"name": name, "architecture": architecture, "seed": seed, "group": group,
            "options": dict(options), "input_size": input_size, "degradation": True, "held_out": ""}


def subset_auc(frame: pd.DataFrame, scores, methods: list[str]) -> float:
    """Frame AUC on the real crops plus the fakes of ``methods``."""
    scores = np.asarray(scores, dtype=float)
    keep = (frame["label"].to_numpy() == 0) | frame["method"].astype(str).isin(methods).to_numpy()
    return metrics.frame_metrics(frame["label"].to_numpy()[keep], scores[keep])["roc_auc"]


def cross_manipulation_table(test: pd.DataFrame, held_out_scores: dict, reference_scores) -> pd.DataFrame:
    """Leave-one-method-out results on the test split.

    ``held_out_scores`` maps each held-out method to the test scores of the model trained
    without it; ``reference_scores`` are the test scores of the same recipe trained on every
    method. Per method: the AUC of the held-out model on the unseen method and on the methods
    it saw, and the reference model's AUC on that method (the cost of never seeing it).
    """
    rows = []
    methods = fake_methods(test)
    for method, scores in held_out_scores.items():
        seen = [m for m in methods if m != method]
        rows.append({
            "held out": method,
            "unseen AUC": subset_auc(test, scores, [method]),
            "seen AUC": subset_auc(test, scores, seen) if seen else float("nan"),
            "all-methods AUC": subset_auc(test, reference_scores, [method]),
        })
    table = pd.DataFrame(rows)
    if len(table):
        table["gap"] = table["all-methods AUC"] - table["unseen AUC"]
    return table


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
        "AblationWorstWith", "AblationWorstWithout", "AblationGain", "LofoUnseenMean", "LofoSeenMean",
        "LofoAllMean", "LofoWorstAuc", "CrossAucInt", "CrossDropInt")}
    macros.update({"LofoWorstMethod": "none", "NumLofo": 0})
    if len(ablation) == 2:
        rows = ablation.set_index("training")
        with_aug, without = rows.loc["with degradations"], rows.loc["without degradations"]
        gain = with_aug["degraded AUC mean"] - without["degraded AUC mean"]
        macros.update({
            "AblationCleanWith": float(with_aug["clean AUC"]), "AblationCleanWithout": float(without["clean AUC"]),
            "AblationDegradedWith": float(with_aug["degraded AUC mean"]), "AblationDegradedWithout": float(without["degraded AUC mean"]),
            "AblationWorstWith": float(with_aug["degraded AUC worst"]), "AblationWorstWithout": float(without["degraded AUC worst"]),
            "AblationGain": float(gain),
            # below two AUC points, one training seed cannot tell a change from noise
            "AblationVerdict": "helps" if gain >= 0.02 else ("hurts" if gain <= -0.02 else "makes no clear difference"),
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
            f"generalize to is {macros['LofoWorstMethod']} ({macros['LofoWorstAuc']:.3f})."
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


def gate_sentences(gate: pd.DataFrame) -> list[str]:
    """What a face gate sees at each operating point of ``evaluate.operating_points``."""
    return [
        f"threshold for APCER {row['target APCER']:.0%} on validation: on test "
        f"{row['test APCER']:.1%} of fakes accepted, {row['test BPCER']:.1%} of real users rejected "
        f"(interval {row['BPCER low']:.1%} to {row['BPCER high']:.1%})"
        for _, row in gate.iterrows()
    ]


def gate_macros(gate: pd.DataFrame, target: float = 0.05) -> dict:
    """The operating point at ``target`` APCER for the paper, in percent."""
    match = gate[np.isclose(gate["target APCER"], target)]
    if match.empty:
        return {"GateTarget": "--", "GateApcer": "--", "GateBpcer": "--", "GateBpcerLow": "--", "GateBpcerHigh": "--"}
    row = match.iloc[0]
    percent = lambda value: 100 * float(value)  # noqa: E731
    return {"GateTarget": round(percent(target)), "GateApcer": percent(row["test APCER"]),
            "GateBpcer": percent(row["test BPCER"]), "GateBpcerLow": percent(row["BPCER low"]),
            "GateBpcerHigh": percent(row["BPCER high"])}  # fmt: skip
