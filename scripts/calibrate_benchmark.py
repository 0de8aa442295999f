#!/usr/bin/env python
"""How hard is the synthetic benchmark? Measured with a model from none of the compared families.

Trains ``models.build_reference_cnn`` (plain 3x3 convolutions, batch norm, ReLU and max pooling:
no depthwise convolution, no residual) with the paper's recipe on the training split that
notebook 01 wrote, picks its best epoch on validation, and prints its test AUC overall, per
manipulation family (the reals against that family's fakes) and on the cross-dataset set.
The benchmark's strengths (``data/synthetic.py``'s DEFAULT_STRENGTH, the profile's
``family_strength``) are set so that this reference lands where light detectors land on real
in-domain data, and the cross set is measurably harder; the calibration then does not favour the
light CNN's own family.

    ./run_all.sh --only 01 --out /tmp/calibration      # render the benchmark and its cross set
    python scripts/calibrate_benchmark.py /tmp/calibration
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from deepfake_iot import paths  # noqa: E402
from deepfake_iot.data.manifest import load_crops, load_manifest  # noqa: E402
from deepfake_iot.params import load_params  # noqa: E402


def family_aucs(frame: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """AUC of all fakes, then of each family's fakes, against the same reals."""
    labels = frame["label"].to_numpy()
    result = {"all": roc_auc_score(labels, scores)}
    for method in sorted(set(frame["method"]) - {"real"}):
        keep = ((frame["method"] == method) | (labels == 0)).to_numpy()
        result[method] = roc_auc_score(labels[keep], scores[keep])
    return result


def train_reference(out: Path, size: int, epochs: int, batch: int, learning_rate: float, seed: int):
    """The reference CNN trained on the run's training split; returns (model, manifest, data dir)."""
    import tf_keras as keras

    from deepfake_iot.models import build_reference_cnn
    from deepfake_iot.train import class_weights, learning_rate_schedule, set_seeds

    manifest = load_manifest(paths.handoff(out, paths.MANIFEST))
    data_dir = out / "data"
    train, val = (manifest[manifest["split"] == name].reset_index(drop=True) for name in ("train", "val"))
    x_train, x_val = (load_crops(part["path"], data_dir, size, progress=True) for part in (train, val))
    set_seeds(seed)
    model = build_reference_cnn(size)
    steps = -(-len(train) // batch)
    schedule = learning_rate_schedule(learning_rate, epochs, steps, warmup_epochs=1)
    model.compile(keras.optimizers.Adam(schedule), "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    best = keras.callbacks.ModelCheckpoint(str(out / "reference_cnn.weights.h5"), monitor="val_auc", mode="max",
                                           save_best_only=True, save_weights_only=True)
    history = model.fit(x_train, train["label"].to_numpy(), batch_size=batch, epochs=epochs,
                        validation_data=(x_val, val["label"].to_numpy()), callbacks=[best],
                        class_weight=class_weights(train["label"]), verbose=2)
    model.load_weights(str(out / "reference_cnn.weights.h5"))
    return model, manifest, data_dir, history.history


def main(argv=None) -> int:
    defaults = load_params("default")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="output root of a run of notebook 01 (holds data/manifest.csv)")
    parser.add_argument("--epochs", type=int, default=int(defaults["epochs"]), help="epochs (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=int(defaults["seed"]))
    args = parser.parse_args(argv)
    if not paths.handoff(args.out, paths.MANIFEST).is_file():
        parser.error(f"{paths.handoff(args.out, paths.MANIFEST)} not found: run notebook 01 with --out {args.out} first")
    started = time.perf_counter()
    size, batch = int(defaults["crop_size"]), int(defaults["batch_size"])
    model, manifest, data_dir, history = train_reference(args.out, size, args.epochs, batch,
                                                         float(defaults["learning_rate"]), args.seed)
    rows = {}
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    rows["test"] = family_aucs(test, model.predict(load_crops(test["path"], data_dir, size), verbose=0).ravel())
    cross_path = paths.handoff(args.out, paths.CROSS_MANIFEST)
    if cross_path.is_file():
        cross = load_manifest(cross_path)
        rows["cross set"] = family_aucs(cross, model.predict(load_crops(cross["path"], data_dir, size), verbose=0).ravel())
    table = pd.DataFrame(rows).T
    best_epoch = int(np.argmax(history["val_auc"])) + 1
    print(f"reference CNN ({model.count_params()} parameters), best validation AUC {max(history['val_auc']):.3f} "
          f"at epoch {best_epoch} of {len(history['val_auc'])}, {time.perf_counter() - started:.0f} s")
    print(table.round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
