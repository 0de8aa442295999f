#!/usr/bin/env python
"""Where the training budget goes: samples per second of every model's forward pass and of one
training step (Adam, binary cross-entropy, the recipe's batch), beside its forward MAC count.

Each model is fed one fixed batch of random crops over and over (the input pipeline is measured
by ``benchmark_pipeline.py``), after warm-up steps that build the graph. Models and sizes are
timed one after the other in one process, so their ratios are comparable within a run; the
machine's other load moves every number alike.

    python scripts/benchmark_training.py                             # the default profile's models
    python scripts/benchmark_training.py --sizes 64 96 --batch 64 --steps 20
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepfake_iot.params import load_params  # noqa: E402


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def time_model(name: str, size: int, batch: int, steps: int, warmup: int = 3) -> dict:
    """Forward and training-step samples/s of ``name`` at ``size`` pixels, and its MMACs."""
    import tf_keras as keras

    from deepfake_iot.models import build_model, count_macs

    keras.utils.set_random_seed(0)
    model = build_model(name, size, bn_momentum=0.9)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    images = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    labels = (np.arange(batch) % 2).astype(np.float32)[:, None]
    for _ in range(warmup):
        model.train_on_batch(images, labels)
        model.predict_on_batch(images)
    started = time.perf_counter()
    for _ in range(steps):
        model.predict_on_batch(images)
    forward_s = (time.perf_counter() - started) / steps
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    train_s = (time.perf_counter() - started) / steps
    return {"model": name, "input": size, "MMACs": count_macs(model) / 1e6, "params": model.count_params(),
            "forward samples/s": batch / forward_s, "train samples/s": batch / train_s,
            "train / forward": forward_s / train_s}


def main(argv=None) -> int:
    defaults = load_params("default")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(defaults["models"]),
                        help="models to time (default: the default profile's)")
    parser.add_argument("--sizes", nargs="+", type=positive_int, default=[int(defaults["crop_size"])],
                        help="input sides in pixels (default: the default profile's crop_size)")
    parser.add_argument("--batch", type=positive_int, default=int(defaults["batch_size"]),
                        help="samples per step (default: the default profile's batch_size)")
    parser.add_argument("--steps", type=positive_int, default=15, help="timed steps per measurement")
    args = parser.parse_args(argv)
    rows = [time_model(name, size, args.batch, args.steps) for size in args.sizes for name in args.models]
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round({"MMACs": 1, "forward samples/s": 0, "train samples/s": 0, "train / forward": 2}).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
