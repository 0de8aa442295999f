"""Which trainings notebook 03 runs: the compared models with the same seeds, and the studies
that change one thing of the light CNN. A plan is a list of plain records (no TensorFlow here);
``train.train_model`` carries each out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from deepfake_iot.data.methods import fake_methods


def model_options(name: str, light_options: dict, weights_dir: str | Path | None = None) -> dict:
    """``build_model``'s keyword options for ``name``: the light CNN's settings, none for Meso-4,
    and for an ImageNet baseline ``weights_path``, ``<weights_dir>/<name>.h5`` (None: from scratch)."""
    if name == "light_cnn":
        return dict(light_options)
    if name == "meso4":
        return {}
    return {"weights_path": str(Path(weights_dir) / f"{name}.h5") if weights_dir else None}


@dataclass(frozen=True)
class Studies:
    """The light-CNN studies notebook 03 trains beside the main runs; each changes one thing.

    The fields carry notebook 03's parameter names, shortened: ``degradation`` is
    ``ablation_no_degradation``, ``seeds`` is ``study_seeds``. The default trains no study.

    * ``degradation``: the other IoT degradation setting (without degradations when the main
      runs draw them, else with ``degrade_study_prob``), ``seeds`` seeds;
    * ``sbi_study_prob`` > 0: the other self-blending setting (``sbi_study_prob`` when the main
      runs use none, else none), ``seeds`` seeds;
    * ``cross_manipulation``: one run per fake method left out (``lofo_seeds`` seeds) and, with
      the self-blending study on, the same with the other self-blending setting;
    * the sweep: each of ``sweep_widths``, ``sweep_depths`` and ``sweep_input_sizes``, first
      seed only (judged on validation).
    """

    degradation: bool = False
    degrade_study_prob: float = 0.3
    sbi_study_prob: float = 0.0
    cross_manipulation: bool = False
    sweep_widths: tuple = ()
    sweep_depths: tuple = ()
    sweep_input_sizes: tuple = ()
    seeds: int = 1
    lofo_seeds: int = 1

    def __post_init__(self):
        for name in ("seeds", "lofo_seeds"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Studies.{name} must be at least 1, got {getattr(self, name)}")


def training_plan(models: list[str], seed: int, n_seeds: int, *, manifest: pd.DataFrame, crop_size: int,
                  light_options: dict, sbi_prob: float = 0.0, degrade_prob: float = 0.3,
                  studies: Studies = Studies(), weights_dir: str | Path | None = None) -> list[dict]:
    """Every training run of notebook 03, in order: one record per run.

    Every model of ``models`` is trained with the same ``n_seeds`` seeds (``seed``, ``seed + 1``,
    ...), with self-blending ``sbi_prob`` and IoT degradation ``degrade_prob``, so comparisons
    pair seed with seed. The ``studies`` (a ``Studies``) change one thing of the light CNN and
    reuse its first seeds, so each study run has a main run with the same seed to be paired with;
    their groups are ``ablation``, ``sbi``, ``cross_manipulation`` (and
    ``cross_manipulation_sbi``) and ``sweep``.

    Record keys: ``name`` (folder under ``models/``), ``architecture`` (what ``build_model``
    builds), ``seed``, ``group``, ``options``, ``input_size``, ``degrade_prob`` and ``degradation``
    (above 0), ``sbi_prob``, ``held_out`` (the method left out, or "") and, for the sweep,
    ``width``, ``depth``. A baseline's ``options`` are ``model_options``'s (ImageNet weights from
    ``weights_dir`` when given).
    """
    if int(n_seeds) < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    if studies.sbi_study_prob > 0 and sbi_prob not in (0.0, studies.sbi_study_prob):
        raise ValueError(f"aug_sbi_prob is {sbi_prob}: the self-blending study compares 0 with "
                         f"sbi_study_prob ({studies.sbi_study_prob}), so aug_sbi_prob must be one of them")
    seeds = [seed + k for k in range(int(n_seeds))]
    other_sbi = (0.0 if sbi_prob else studies.sbi_study_prob) if studies.sbi_study_prob > 0 else None

    def light(name, run_seed, group, **changes):
        return {**_run(name, "light_cnn", run_seed, group, light_options, crop_size, sbi_prob, degrade_prob), **changes}

    runs = [_run(name, name, s, "main", model_options(name, light_options, weights_dir), crop_size, sbi_prob, degrade_prob)
            for name in models for s in seeds]
    if "light_cnn" not in models:
        return runs
    study, sbi_name = seeds[: int(studies.seeds)], "light_cnn_nosbi" if sbi_prob else "light_cnn_sbi"
    if studies.degradation:
        runs += _degradation_runs(light, study, degrade_prob, studies.degrade_study_prob)
    if other_sbi is not None:
        runs += [light(sbi_name, s, "sbi", sbi_prob=other_sbi) for s in study]
    if studies.cross_manipulation and len(fake_methods(manifest)) >= 2:  # one method cannot be left out
        for method in fake_methods(manifest):
            lofo = seeds[: int(studies.lofo_seeds)]
            runs += [light(f"light_cnn_lofo_{method}", s, "cross_manipulation", held_out=method) for s in lofo]
            if other_sbi is not None:
                runs += [light(f"{sbi_name}_lofo_{method}", s, "cross_manipulation_sbi", held_out=method,
                               sbi_prob=other_sbi) for s in lofo]
    sweep = [{"width": w} for w in studies.sweep_widths] + [{"depth": list(d)} for d in studies.sweep_depths]
    sweep += [{"input_size": s} for s in studies.sweep_input_sizes]
    return runs + [_sweep_run(change, seed, light_options, crop_size, sbi_prob, degrade_prob) for change in sweep]


def _degradation_runs(light, study: list[int], degrade_prob: float, degrade_study_prob: float) -> list[dict]:
    """The degradation study's arm: the light CNN with the other degradation setting."""
    other = 0.0 if degrade_prob > 0 else float(degrade_study_prob)
    if other == degrade_prob:
        raise ValueError("the degradation study needs degrade_study_prob > 0 when aug_degrade_prob is 0")
    return [light("light_cnn_nodeg" if other == 0 else "light_cnn_deg", s, "ablation", degrade_prob=other,
                  degradation=other > 0) for s in study]


def _sweep_run(change: dict, seed: int, light_options: dict, crop_size: int, sbi_prob: float,
               degrade_prob: float) -> dict:
    """One light CNN of the architecture sweep: a width, a depth or an input size changed."""
    options = {**light_options, **{k: (tuple(v) if k == "depth" else v) for k, v in change.items() if k != "input_size"}}
    size = change.get("input_size", crop_size)
    if size > crop_size:
        raise ValueError(f"sweep_input_sizes holds {size}, larger than the crops ({crop_size} pixels)")
    label = "_".join(f"{k[0]}{'x'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in change.items())
    return {**_run(f"light_cnn_{label}", "light_cnn", seed, "sweep", options, size, sbi_prob, degrade_prob),
            "width": options["width"], "depth": list(options["depth"])}


def _run(name: str, architecture: str, seed: int, group: str, options: dict, input_size: int,
         sbi_prob: float = 0.0, degrade_prob: float = 0.3) -> dict:
    return {"name": name, "architecture": architecture, "seed": seed, "group": group,
            "options": dict(options), "input_size": input_size, "degrade_prob": float(degrade_prob),
            "degradation": degrade_prob > 0, "sbi_prob": float(sbi_prob), "held_out": ""}


RECORD_DROP = ["run_key", "options", "versions", "class_weight"]  # too nested for a table


def sweep_records(plan: list[dict], cards: list[dict]) -> list[dict]:
    """The sweep's trained runs, for notebook 04: folder, seed, input size, validation AUC,
    parameters and the plan's width and depth."""
    by_name = {entry["name"]: entry for entry in plan}
    records = [{**by_name[card["model"]], **card} for card in cards if card["group"] == "sweep"]
    return [{**{k: e[k] for k in ("model", "dir", "seed", "input_size", "best_val_auc")}, "params": e["params_total"],
             "width": e.get("width"), "depth": e.get("depth")} for e in records]


def model_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per model of the main runs: parameters, MMACs, float32 KB, validation AUC mean and
    spread over seeds, seeds, mean training seconds."""
    table = runs.groupby("model", sort=False).agg(
        params=("params_total", "first"), macs=("macs", "first"), float32_kb=("float32_bytes", "first"),
        val_auc_mean=("best_val_auc", "mean"), val_auc_std=("best_val_auc", "std"), seeds=("seed", "count"),
        seconds=("seconds", "mean"),
    ).reset_index()
    table["float32_kb"] = table["float32_kb"] / 1024
    table["macs"] = table["macs"] / 1e6
    table["val_auc_std"] = table["val_auc_std"].fillna(0.0)
    return table


def selected_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Each model's run with the best validation AUC: the one notebook 04 quantizes."""
    best = runs.groupby("model", sort=False)["best_val_auc"].idxmax()
    return runs.loc[best, ["model", "seed", "dir", "best_val_auc"]]



LEARNED_AUC = 0.6  # a run whose training AUC ends at or below this never started learning


def early_stopping_fired(val_auc, patience: int, min_delta: float, stop_from_epoch: int = 0) -> bool:
    """Whether the recipe's early-stopping rule (Keras' ``EarlyStopping`` on validation AUC, as
    ``train.train_model`` sets it) is met by this history: ``patience`` epochs in a row without a
    gain of more than ``min_delta`` over the best, counted from epoch ``stop_from_epoch`` (0-based)
    on. Keras stops a run there, also on its last allowed epoch."""
    best, wait = float("-inf"), 0
    for epoch, value in enumerate(val_auc):
        if epoch < stop_from_epoch:
            continue
        wait += 1
        if value - min_delta > best:
            best, wait = value, 0
        elif wait >= patience:
            return True
    return False


def convergence_row(history: pd.DataFrame, epochs_max: int, gain_limit: float, *, patience: int | None = None,
                    min_delta: float = 0.0, stop_from_epoch: int = 0) -> dict:
    """Did one training finish learning? From its per-epoch history (``val_auc``, ``auc``):
    epochs run, best epoch (1-based), training and validation AUC at the last epoch, and the
    validation gain of its last quarter of epochs (the best validation AUC minus the best before
    that quarter). It ``stopped early`` when it ended before ``epochs_max`` or, given the recipe's
    ``patience`` (``min_delta``, ``stop_from_epoch``), when early stopping's rule was met at its
    end (a run whose validation AUC stood still for ``patience`` epochs up to the last allowed
    one); it ``converged`` when it stopped early or its last quarter gained less than
    ``gain_limit``; it ``learned`` when its training AUC ended above ``LEARNED_AUC`` (a run that
    never starts learning is a recipe defect, not a result)."""
    if history.empty or "val_auc" not in history or "auc" not in history:
        raise ValueError(f"a training history needs the columns auc and val_auc, got {list(history.columns)}")
    val = history["val_auc"].to_numpy(dtype=float)
    epochs_run = len(val)
    quarter = max(1, -(-epochs_run // 4))
    before = val[:-quarter].max() if epochs_run > quarter else 0.5
    gain = float(max(0.0, val.max() - before))
    stopped_early = epochs_run < epochs_max or (
        patience is not None and early_stopping_fired(val, patience, min_delta, stop_from_epoch))
    final_train_auc = float(history["auc"].iloc[-1])
    return {"epochs run": epochs_run, "best epoch": int(val.argmax()) + 1, "train AUC": final_train_auc,
            "val AUC": float(val[-1]), "best val AUC": float(val.max()), "last-quarter gain": gain,
            "stopped early": bool(stopped_early), "converged": bool(stopped_early or gain < gain_limit),
            "learned": final_train_auc > LEARNED_AUC}


def convergence_table(cards: pd.DataFrame, out_root: Path, gain_limit: float, **stopping) -> pd.DataFrame:
    """``convergence_row`` of every training run (``model``, ``seed``, ``group``, ``dir``,
    ``epochs_max`` per card), read from each run's history.csv under ``out_root``; ``stopping``:
    the recipe's ``patience``, ``min_delta`` and ``stop_from_epoch``."""
    from deepfake_iot.paths import HISTORY

    rows = []
    for card in cards.itertuples():
        history = pd.read_csv(Path(out_root) / card.dir / HISTORY)
        rows.append({"model": card.model, "seed": int(card.seed), "group": card.group,
                     **convergence_row(history, int(card.epochs_max), gain_limit, **stopping)})
    return pd.DataFrame(rows)


def convergence_macros(table: pd.DataFrame, gain_limit: float) -> dict:
    """The paper's numbers on convergence: how many main runs met the criterion, learned at all,
    stopped early, and the largest last-quarter gain of a main run."""
    main = table[table["group"] == "main"]
    return {"ConvergenceGain": gain_limit, "LearnedAuc": LEARNED_AUC, "NumMainRuns": len(main), "NumTrainingRuns": len(table),
            "NumMainConverged": int(main["converged"].sum()), "NumConverged": int(table["converged"].sum()),
            "NumMainLearned": int(main["learned"].sum()), "NumMainStoppedEarly": int(main["stopped early"].sum()),
            "MaxMainLastQuarterGain": float(main["last-quarter gain"].max()) if len(main) else 0.0}


def baseline_note(models: list[str]) -> str:
    """The paper's sentence on a known baseline that this profile does not compare, and why."""
    if "meso4" in models:
        return ""
    return ("Meso-4 was designed for faces several times larger than these crops: its narrow first "
            "layer is pooled at once, and on the synthetic benchmark's crops it did not learn a signal "
            "that carried to validation at any peak learning rate tried, so this profile leaves it out "
            "of the comparison rather than report a run that never learned (the default parameter "
            "file records the trial).")


def degradation_phrases(degrade_prob: float, degrade_study_prob: float, study: bool = True,
                        from_epoch: int = 0) -> dict:
    """The paper's words for how the main runs use the IoT degradation augmentation (probability
    ``degrade_prob``, drawn from epoch ``from_epoch`` on, counted from 0) and what the degradation
    study's other arm does (``degrade_study_prob`` when the main runs draw none; ``study``:
    whether the study runs): the abstract's clause, the method's clause and the study's arm."""
    clean = "the first epoch trains" if from_epoch == 1 else f"the first {from_epoch} epochs train"
    onset = (f" from epoch {from_epoch + 1} on ({clean} on clean crops, so that a model finds "
             "the manipulation traces before it must keep them through a camera)") if from_epoch else ""
    if degrade_prob > 0:
        return {"AbstractAugmentation": "trained with augmentations that imitate the degradations of cheap IoT cameras",
                "DegradeAugmentation": f" with one random IoT degradation per image with probability {degrade_prob:g}{onset}",
                "AblationArm": "without the degradation augmentation"}
    return {"AbstractAugmentation": "tested against the degradations of cheap IoT cameras",
            "DegradeAugmentation": "; the main runs draw no IoT degradation" + (
                " (the degradation study below trains the other arm with one per image with probability "
                f"{degrade_study_prob:g}{onset})" if study else ""),
            "AblationArm": "with the degradation augmentation, which the main runs do not use (one random "
                           f"degradation per image with probability {degrade_study_prob:g}{onset})"}


def learning_rate_sentence(learning_rate: float, learning_rates: dict, models: list[str], names: dict) -> str:
    """The paper's peak learning rate(s): the common one, then each compared model with its own
    (``names`` maps a model to the paper's name for it)."""
    own = [(model, rate) for model, rate in learning_rates.items() if rate and model in models]
    if not own:
        return f"{learning_rate:g}"
    listed = ", ".join(f"{rate:g} for {names.get(model, model)}" for model, rate in own)
    return (f"{learning_rate:g}; {listed}, chosen on validation with the same budget among the rates the "
            "parameter file records")
