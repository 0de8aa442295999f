#!/usr/bin/env python
"""Does the input pipeline keep up with training? Images per second of both, side by side.

Measures the ``tf.data`` pipeline of ``deepfake_iot.pipeline.make_dataset`` without and with
training augmentation, and the training step of a small stand-in CNN (SeparableConv2D + BN +
ReLU blocks) fed one batch over and over, then prints the ratio pipeline / training: above 1 the
pipeline is not the bottleneck.

    python scripts/benchmark_pipeline.py                       # a temporary set of random PNGs
    python scripts/benchmark_pipeline.py --manifest data/manifest.csv --data-dir data
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepfake_iot.augment import AUGMENT_DEFAULTS  # noqa: E402

AUGMENT = {
    key: AUGMENT_DEFAULTS[key]
    for key in ("flip", "rotation_deg", "zoom", "color_jitter", "degrade_prob", "degrade_max_level")
}


def random_manifest(folder: Path, count: int, size: int, seed: int = 0) -> pd.DataFrame:
    """``count`` smooth random RGB PNG crops of ``size`` pixels, all in the train split."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        small = rng.integers(0, 256, (size // 8 + 1, size // 8 + 1, 3), dtype=np.uint8)
        image = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        image = cv2.add(image, rng.integers(0, 20, image.shape, dtype=np.uint8))
        rel = f"crops/{index:05d}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / rel), image)
        rows.append({"path": rel, "label": index % 2, "split": "train"})
    return pd.DataFrame(rows)


def stand_in_model(image_size: int, width: int = 32, blocks: int = 4):
    """A small separable CNN of the kind the paper trains, for timing only."""
    import tf_keras as keras

    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for block in range(blocks):
        filters = width * 2 ** min(block, 3)
        x = keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        x = keras.layers.MaxPooling2D()(x) if block < blocks - 1 else x
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, help="manifest.csv (default: random PNGs)")
    parser.add_argument("--data-dir", type=Path, help="folder the manifest's paths start from")
    parser.add_argument("--split", default="train", help="split to read (default: train)")
    parser.add_argument("--image-size", type=int, default=96, help="square side in pixels")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=50, help="timed batches / steps")
    parser.add_argument("--images", type=int, default=1024, help="random PNGs to make")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from deepfake_iot import pipeline

    with tempfile.TemporaryDirectory() as scratch:
        if args.manifest is None:
            data_dir = Path(scratch)
            manifest = random_manifest(data_dir, args.images, args.image_size, args.seed)
            split = "train"
        else:
            from deepfake_iot.data.manifest import load_manifest

            manifest = load_manifest(args.manifest)
            data_dir = args.data_dir or args.manifest.parent
            split = args.split
        count = int((manifest["split"] == split).sum())
        epoch = -(-count // args.batch_size)
        print(f"{count} images of split '{split}', {args.image_size} px, batch {args.batch_size}")

        def dataset(augment_cfg):
            return pipeline.make_dataset(
                manifest,
                data_dir,
                split,
                image_size=args.image_size,
                batch_size=args.batch_size,
                training=True,
                augment_cfg=augment_cfg,
                seed=args.seed,
            )

        # warm-up: one epoch (fills the cache) plus a few batches
        warmup = epoch + 3
        results = {
            "pipeline": pipeline.benchmark_pipeline(dataset(None), args.batches, warmup),
            "pipeline_augmented": pipeline.benchmark_pipeline(
                dataset(AUGMENT), args.batches, warmup
            ),
        }
        model = stand_in_model(args.image_size)
        results["train_step"] = pipeline.benchmark_train_step(model, dataset(None), args.batches)
    rows = [
        ("pipeline, no augmentation", results["pipeline"]),
        ("pipeline, augmented", results["pipeline_augmented"]),
        (f"training step ({model.count_params():,}-parameter CNN)", results["train_step"]),
    ]
    for label, rate in rows:
        print(f"{label:<44}{rate:10.0f} images/s")
    for key in ("pipeline", "pipeline_augmented"):
        ratio = results[key] / results["train_step"]
        print(f"{'ratio ' + key + ' / training step':<44}{ratio:10.2f}")
    return results


if __name__ == "__main__":
    main()
