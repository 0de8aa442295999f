"""Notebook 05's studies, each a paired comparison of two training settings or a test the model
never trained for, with the tables, sentences and macros the paper prints for them: the IoT
degradation study (``ablation_table``), self-blending (``sbi_study_table``), left-out
manipulation methods (``cross_manipulation_table``), the second dataset (``cross_dataset_row``)
and whether the deployed configuration agrees with them (``configuration_sentence``). Each
study's difference is with minus without, over training seeds and test groups
(``study_row``, ``study_verdict``); a study a profile did not run yields a sentence saying so."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_iot import metrics
from deepfake_iot.data.methods import fake_methods, method_subset
from deepfake_iot.evaluate import GROUPS_ONLY, difference_verdict


def study_row(frame: pd.DataFrame, label: str, arms: dict, *, bootstrap_samples: int, seed: int,
              unit: str = "group") -> dict:  # fmt: skip
    """One row of a two-arm study (``arms``: arm name -> score arrays, one per seed, on the rows
    of ``frame``): each arm's seed-mean AUC and spread, and the difference of the second arm
    minus the first with its interval over training seeds and test groups (``CI low``, ``CI
    high``: the hierarchical bootstrap of ``metrics.auc_difference_intervals``) and over test
    groups only, seeds held fixed (``GROUPS_ONLY``)."""
    (first, first_scores), (second, second_scores) = list(arms.items())
    labels = frame["label"].to_numpy()
    aucs = {name: [metrics.frame_metrics(labels, s)["roc_auc"] for s in arrays] for name, arrays in arms.items()}
    found = metrics.auc_difference_intervals(frame, list(second_scores), list(first_scores), n=bootstrap_samples,
                                             seed=seed, unit=unit)  # fmt: skip
    row = {"test set": label}
    for name in (first, second):
        row[f"{name} AUC"] = float(np.mean(aucs[name]))
        row[f"{name} std"] = float(np.std(aucs[name], ddof=1)) if len(aucs[name]) > 1 else 0.0
    row.update({"difference": found["difference"], "CI low": found["low"], "CI high": found["high"],
                GROUPS_ONLY[0]: found["group_low"], GROUPS_ONLY[1]: found["group_high"],
                "seeds": min(len(first_scores), len(second_scores))})  # fmt: skip
    return row


def study_paper_table(study: pd.DataFrame) -> pd.DataFrame:
    """A two-arm study (rows of ``study_row``) as the paper prints it: each arm's AUC as
    ``mean ± std`` over seeds under the arm's name, then the difference, its interval over seeds
    and groups and the interval over test groups only."""
    if not len(study):
        return study
    arms = [c[: -len(" AUC")] for c in study.columns if c.endswith(" AUC")]
    table = pd.DataFrame({"test set": study["test set"].str.replace("_", " ")})
    for arm in arms:
        table[arm] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(study[f"{arm} AUC"], study[f"{arm} std"], strict=True)]
    for column in ("difference", "CI low", "CI high"):
        table[column] = study[column].map(lambda v: f"{v:+.3f}")
    if GROUPS_ONLY[0] in study:
        table["groups only"] = [f"[{low:+.3f}, {high:+.3f}]" for low, high in zip(*(study[c] for c in GROUPS_ONLY), strict=True)]
    table["seeds"] = study["seeds"].astype(int)
    return table


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


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def generalization_macros(ablation: pd.DataFrame, cross_manipulation: pd.DataFrame, cross_dataset: pd.DataFrame) -> dict:
    """Numbers and sentences for the paper's generalization paragraphs; a study that did not run
    in this profile yields a sentence saying so, so the paper stays true for any profile."""
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


def lofo_gap_clause(cross_manipulation: pd.DataFrame) -> str:
    """How many of the leave-one-method-out gaps the bootstrap over seeds and groups resolves."""
    if "gap verdict" not in cross_manipulation:
        return ""
    verdicts = cross_manipulation["gap verdict"].tolist()
    return (f" Counting training seeds and test groups, leaving a method out resolvably costs AUC for "
            f"{verdicts.count('costs AUC')} of {len(verdicts)} methods.")


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
    ending = (f"so {join_words(against)} of the deployed configuration {'is' if len(against) == 1 else 'are'} at odds with this run's evidence"
              if against else "so the deployed configuration is not contradicted by this run's evidence")
    return "In this run, " + "; ".join(parts) + f": {ending}."


def join_words(items: list[str]) -> str:
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
