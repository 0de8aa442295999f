#!/usr/bin/env python
"""Choose a model's peak learning rate (and degradation onset) on validation, under the paper's training budget.

Trains ``--model`` with the profile's recipe (same data, augmentation, epochs, warm-up, cosine
decay and early stopping as notebook 03) once per candidate peak rate and seed, on the training
split that notebook 01 wrote, and reads every run's validation history: best validation AUC, the
epoch it came at, the training AUC at the end (a run whose training AUC ends at or below 0.6
never learned) and whether the run converged by the paper's criterion. Of the candidates whose
every run learned and converged (or of all, if none did), the one with the highest mean best
validation AUC over the seeds is printed as the choice; the test split is never read.
Copy it into the profile's ``learning_rates`` with the command that chose it.

    ./run_all.sh --only 01 --out /tmp/lr --skip-paper      # the benchmark, as the profile renders it
    python scripts/choose_learning_rate.py /tmp/lr --model mobilenet_v2_035 --rates 0.001 0.002 0.005 --seeds 1236 1237
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

from deepfake_iot import paths  # noqa: E402
from deepfake_iot import plan as planning  # noqa: E402
from deepfake_iot.params import load_params  # noqa: E402


def epoch_lines():
    """A callback printing each finished epoch (a training takes minutes: the terminal and a log
    redirected from it show where it is)."""
    import tf_keras as keras

    return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(
        f"  epoch {epoch + 1}: validation AUC {logs.get('val_auc', float('nan')):.3f}", flush=True))


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a learning rate must be positive, got {text}")
    return value


def augment_settings(params: dict) -> dict:
    """The profile's augmentation, as notebook 03 builds it."""
    from deepfake_iot.augment import augment_config

    return augment_config({
        "flip": params["aug_flip"], "rotation_deg": params["aug_rotation_deg"], "zoom": params["aug_zoom"],
        "color_jitter": params["aug_color_jitter"], "degrade_prob": params["aug_degrade_prob"],
        "degrade_max_level": params["aug_degrade_max_level"], "degrade_from_epoch": params["aug_degrade_from_epoch"],
        "sbi_prob": params["aug_sbi_prob"]})


def recipe_for(params: dict, model: str, rate: float):
    from deepfake_iot.train import Recipe

    return Recipe(epochs=params["epochs"], learning_rate=params["learning_rate"], warmup_epochs=params["warmup_epochs"],
                  final_lr_fraction=params["final_lr_fraction"], patience=params["patience"],
                  min_delta=params["min_delta"], stop_from_epoch=params["stop_from_epoch"],
                  learning_rates={model: rate})


def train_candidates(out: Path, params: dict, model: str, rates: list[float], seeds: list[int],
                     onsets: list[int]) -> pd.DataFrame:
    """One training per rate, degradation onset and seed under ``out/learning_rate_choice/``;
    their convergence rows."""
    from deepfake_iot.data.manifest import load_manifest
    from deepfake_iot.train import class_weights, global_batch_size, make_strategy, train_planned

    manifest_path = paths.handoff(out, paths.MANIFEST)
    manifest = load_manifest(manifest_path)
    manifest_hash = hashlib.sha256(manifest_path.read_bytes()).hexdigest()[:16]
    first = min(seeds)
    plan = planning.training_plan([model], first, max(seeds) - first + 1, manifest=manifest,
                                  crop_size=params["crop_size"], light_options={},
                                  sbi_prob=params["aug_sbi_prob"], degrade_prob=params["aug_degrade_prob"])
    entries = [entry for entry in plan if entry["seed"] in seeds]
    strategy = make_strategy("default")
    weights = class_weights(manifest.loc[manifest["split"] == "train", "label"])
    rows = []
    for rate, onset in [(rate, onset) for rate in rates for onset in onsets]:
        for entry in entries:
            models_dir = out / "learning_rate_choice" / f"lr{rate:g}-degrade_from{onset}"
            augment = {**augment_settings(params), "degrade_from_epoch": onset}
            card = train_planned(entry, manifest, out / "data", models_dir, augment_cfg=augment,
                                 manifest_hash=manifest_hash, global_batch=global_batch_size(params["batch_size"], strategy),
                                 recipe=recipe_for(params, model, rate), bn_momentum=params["bn_momentum"],
                                 class_weight=weights, strategy=strategy, tensorboard=False, callbacks=[epoch_lines()])
            history = pd.read_csv(models_dir / model / f"seed{entry['seed']}" / paths.HISTORY)
            row = planning.convergence_row(history, params["epochs"], params["convergence_gain"], patience=params["patience"],
                                           min_delta=params["min_delta"], stop_from_epoch=params["stop_from_epoch"])
            rows.append({"model": model, "learning rate": rate, "degrade from epoch": onset, "seed": entry["seed"], **row,
                         "seconds": round(card["seconds"], 1)})
            print(f"rate {rate:g}, degradations from epoch {onset}, seed {entry['seed']}: best validation AUC {row['best val AUC']:.3f} at epoch "
                  f"{row['best epoch']} of {row['epochs run']}, training AUC {row['train AUC']:.3f}", flush=True)
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame) -> pd.DataFrame:
    """Per rate and degradation onset: mean best validation AUC over seeds, runs that learned and
    converged; first the candidates whose every run learned and converged (the paper's main runs
    must), each group by mean best validation AUC."""
    summary = table.groupby(["learning rate", "degrade from epoch"]).agg(
        seeds=("seed", "count"), best_val_auc_mean=("best val AUC", "mean"), best_val_auc_min=("best val AUC", "min"),
        learned=("learned", "sum"), converged=("converged", "sum")).reset_index()
    summary["all converged"] = (summary["learned"] == summary["seeds"]) & (summary["converged"] == summary["seeds"])
    return summary.sort_values(["all converged", "best_val_auc_mean"], ascending=False, kind="stable").reset_index(drop=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="output root of a run that executed notebook 01")
    parser.add_argument("--profile", default="default", help="parameter profile (default: default)")
    parser.add_argument("--model", required=True, help="model name, as in the profile's models list")
    parser.add_argument("--rates", nargs="+", type=positive_float, required=True, help="candidate peak rates")
    parser.add_argument("--degrade-from-epochs", nargs="+", type=int, metavar="EPOCH",
                        help="candidate degradation onsets (default: the profile's aug_degrade_from_epoch)")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: the profile's first two)")
    args = parser.parse_args(argv)
    params = load_params(args.profile)
    if not paths.handoff(args.out, paths.MANIFEST).is_file():
        parser.error(f"{paths.handoff(args.out, paths.MANIFEST)} does not exist: run notebook 01 into {args.out} first")
    seeds = args.seeds or [params["seed"], params["seed"] + 1]
    if args.degrade_from_epochs and min(args.degrade_from_epochs) < 0:
        parser.error(f"--degrade-from-epochs must be >= 0, got {args.degrade_from_epochs}")
    onsets = args.degrade_from_epochs or [params["aug_degrade_from_epoch"]]
    table = train_candidates(args.out, params, args.model, args.rates, seeds, onsets)
    table.to_csv(args.out / "learning_rate_choice" / "runs.csv", index=False)
    summary = choose(table)
    summary.to_csv(args.out / "learning_rate_choice" / "summary.csv", index=False)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
        print(summary.round(3).to_string(index=False))
    print(f"chosen for {args.model}: peak learning rate {summary['learning rate'].iloc[0]:g}, degradations from "
          f"epoch {summary['degrade from epoch'].iloc[0]} "
          f"({'every run converged; ' if summary['all converged'].iloc[0] else 'no candidate converged in every run; '}"
          f"highest mean best validation AUC over seeds {seeds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
