#!/usr/bin/env python
"""Does on-the-fly self-blending teach what it should? Validation AUC per manipulation family.

Trains the light CNN with the profile's recipe in three arms on the same seeds: without
self-blended fakes, with them as blended (the crop's new pixels never pass a JPEG encoder), and
with them followed by the self-blending recipe's JPEG re-encoding of every crop (quality drawn
from ``--jpeg``). For each run it prints the best checkpoint's validation AUC over all fakes and
per family, the benchmark's own ``self_blended`` family included: training on self-blended fakes
should help most there. Only the validation split is read.

    ./run_all.sh --only 01 --out /tmp/sbi --skip-paper
    python scripts/diagnose_sbi.py /tmp/sbi --seeds 1234 1235
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

from deepfake_iot import metrics, paths  # noqa: E402
from deepfake_iot import plan as planning  # noqa: E402
from deepfake_iot.params import load_params  # noqa: E402


def epoch_lines():
    """A callback printing each finished epoch (a training takes minutes: the terminal and a log
    redirected from it show where it is)."""
    import tf_keras as keras

    return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(
        f"  epoch {epoch + 1}: validation AUC {logs.get('val_auc', float('nan')):.3f}", flush=True))


def arms(sbi_prob: float, jpeg: tuple[int, int]) -> dict:
    """Arm name -> (self-blending probability, JPEG re-encoding range or None)."""
    return {"no self-blending": (0.0, None), "self-blending, no re-encoding": (sbi_prob, None),
            f"self-blending, JPEG {jpeg[0]}-{jpeg[1]}": (sbi_prob, jpeg)}


def light_entries(params: dict, manifest, seeds: list[int]) -> list[dict]:
    light_options = {"width": params["light_width"], "depth": tuple(params["light_depth"]),
                     "expansion": params["light_expansion"], "dropout": params["light_dropout"]}
    first = min(seeds)
    plan = planning.training_plan(["light_cnn"], first, max(seeds) - first + 1, manifest=manifest,
                                  crop_size=params["crop_size"], light_options=light_options,
                                  degrade_prob=params["aug_degrade_prob"])
    return [entry for entry in plan if entry["seed"] in seeds]


def run_arms(out: Path, params: dict, seeds: list[int], sbi_prob: float, jpeg: tuple[int, int]) -> pd.DataFrame:
    from deepfake_iot.augment import augment_config
    from deepfake_iot.data.manifest import load_crops, load_manifest
    from deepfake_iot.train import (
        Recipe,
        class_weights,
        global_batch_size,
        make_strategy,
        train_planned,
    )
    from deepfake_iot.trained import load_trained

    manifest_path = paths.handoff(out, paths.MANIFEST)
    manifest = load_manifest(manifest_path)
    val = manifest[manifest["split"] == "val"].reset_index(drop=True)
    val_images = load_crops(val["path"], out / "data", params["crop_size"])
    recipe = Recipe(epochs=params["epochs"], learning_rate=params["learning_rate"], warmup_epochs=params["warmup_epochs"],
                    final_lr_fraction=params["final_lr_fraction"], patience=params["patience"], min_delta=params["min_delta"],
                    stop_from_epoch=params["stop_from_epoch"])
    strategy = make_strategy("default")
    rows = []
    for arm, (prob, quality) in arms(sbi_prob, jpeg).items():
        augment = augment_config({"flip": params["aug_flip"], "rotation_deg": params["aug_rotation_deg"],
                                  "zoom": params["aug_zoom"], "color_jitter": params["aug_color_jitter"],
                                  "degrade_prob": params["aug_degrade_prob"], "sbi_jpeg_quality": quality})
        models_dir = out / "sbi_diagnosis" / arm.replace(" ", "_").replace(",", "")
        for entry in light_entries(params, manifest, seeds):
            train_planned({**entry, "sbi_prob": prob}, manifest, out / "data", models_dir, augment_cfg=augment,
                          manifest_hash=hashlib.sha256(manifest_path.read_bytes()).hexdigest()[:16],
                          global_batch=global_batch_size(params["batch_size"], strategy), recipe=recipe,
                          bn_momentum=params["bn_momentum"],
                          class_weight=class_weights(manifest.loc[manifest["split"] == "train", "label"]),
                          strategy=strategy, tensorboard=False, callbacks=[epoch_lines()])
            model, card = load_trained(models_dir / "light_cnn" / f"seed{entry['seed']}")
            scores = model.predict(val_images, batch_size=256, verbose=0).ravel()
            per_family = metrics.per_method_auc(val, scores)
            row = {"arm": arm, "seed": entry["seed"], "best epoch": card["best_epoch"],
                   "val AUC": metrics.frame_metrics(val["label"], scores)["roc_auc"],
                   **{f"{method} AUC": auc for method, auc in zip(per_family["method"], per_family["roc_auc"], strict=True)}}
            print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="output root of a run that executed notebook 01")
    parser.add_argument("--profile", default="default", help="parameter profile (default: default)")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: the profile's first two)")
    parser.add_argument("--jpeg", nargs=2, type=int, default=[40, 100], metavar=("LOW", "HIGH"),
                        help="JPEG quality range of the re-encoding arm (default: 40 100)")
    args = parser.parse_args(argv)
    params = load_params(args.profile)
    if not paths.handoff(args.out, paths.MANIFEST).is_file():
        parser.error(f"{paths.handoff(args.out, paths.MANIFEST)} does not exist: run notebook 01 into {args.out} first")
    seeds = args.seeds or [params["seed"], params["seed"] + 1]
    sbi_prob = params["sbi_study_prob"] or 0.3
    table = run_arms(args.out, params, seeds, sbi_prob, tuple(args.jpeg))
    table.to_csv(args.out / "sbi_diagnosis" / "runs.csv", index=False)
    summary = table.drop(columns=["seed", "best epoch"]).groupby("arm", sort=False).mean()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
