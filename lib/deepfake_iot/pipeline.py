"""The ``tf.data`` input pipeline shared by every dataset, and throughput helpers.

``make_dataset`` turns the rows of one split of the manifest into batches of
``(image, label)``: float32 RGB images in [0, 1] of shape ``(image_size, image_size, 3)`` and
float32 labels (1 = fake). The stages, in order:

1. file names and labels from the manifest, decoded in parallel (``tf.io.decode_png``) and
   resized when the crops are not ``image_size`` pixels (kept as uint8);
2. ``cache``: decoded images are kept in memory when they fit (``cache=True`` checks the size
   against half the free memory; a string caches to that file instead; ``False`` never caches);
3. training only: ``shuffle`` with ``seed`` (reshuffled every epoch, the same epochs every run);
4. conversion to float32 in [0, 1], then, for training with ``augment_cfg``, the augmenter of
   ``deepfake_iot.augment``: element ``i`` of an epoch gets the seed ``(seed, i)`` from a counter,
   so a run repeats exactly while the shuffle hands each crop a new seed every epoch;
5. ``batch`` and ``prefetch``.

Input scaling stays outside the model: the model receives [0, 1] floats.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2; harmless otherwise

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_SHUFFLE_BUFFER = 10_000


def _free_memory_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def cache_fits(count: int, image_size: int, fraction: float = 0.5) -> bool:
    """Whether ``count`` uint8 RGB images of the given side fit in ``fraction`` of free memory."""
    return count * image_size * image_size * 3 <= fraction * _free_memory_bytes()


def _decoder(image_size: int):
    def load(path, label):
        image = tf.io.decode_png(tf.io.read_file(path), channels=3)
        shape = tf.shape(image)
        image = tf.cond(
            tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size)),
            lambda: image,
            lambda: tf.cast(
                tf.round(
                    tf.clip_by_value(
                        tf.image.resize(image, [image_size, image_size], antialias=True), 0, 255
                    )
                ),
                tf.uint8,
            ),
        )
        return tf.ensure_shape(image, (image_size, image_size, 3)), label

    return load


def make_dataset(manifest: pd.DataFrame, data_dir: Path | str, split: str, *, image_size: int, batch_size: int,
                 training: bool, augment_cfg: dict | None = None, seed: int = 0, cache: bool | str = True,
                 shuffle_buffer: int | None = None, degradation_onset=None) -> tf.data.Dataset:
    """Batches of ``(float32 RGB image in [0, 1], float32 label)`` for one split.

    ``training`` shuffles (buffer ``shuffle_buffer``, default the split size up to 10 000) and
    applies ``augment_cfg`` (see ``deepfake_iot.augment``; None: no augmentation), its
    degradations switched by ``degradation_onset`` (an ``augment.DegradationOnset``) if given. The last
    batch may be smaller. Raises ValueError when the split is empty or a file is missing.
    """
    if image_size < 1 or batch_size < 1:
        raise ValueError(
            f"image_size and batch_size must be positive, got {image_size}, {batch_size}"
        )
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        splits = ", ".join(sorted(manifest["split"].astype(str).unique()))
        raise ValueError(f"the manifest has no rows for split '{split}' (it has: {splits})")
    data_dir = Path(data_dir)
    paths = [str(data_dir / p) for p in rows["path"]]
    missing = [p for p in paths[:1000] if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} crop file(s) of split '{split}' are missing, e.g. {missing[0]}: "
            "is data_dir the folder the manifest's paths are relative to?"
        )
    labels = rows["label"].to_numpy(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    dataset = dataset.map(_decoder(image_size), num_parallel_calls=AUTOTUNE)
    if isinstance(cache, str):
        dataset = dataset.cache(cache)
    elif cache and cache_fits(len(paths), image_size):
        dataset = dataset.cache()
    if training:
        buffer = shuffle_buffer or min(len(paths), DEFAULT_SHUFFLE_BUFFER)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(
        lambda image, label: (tf.cast(image, tf.float32) / 255.0, label),
        num_parallel_calls=AUTOTUNE,
    )
    if training and augment_cfg is not None:
        from deepfake_iot.augment import make_augmenter

        augment = make_augmenter(augment_cfg, degradation_onset)
        counter = tf.data.Dataset.counter(dtype=tf.int64)
        dataset = tf.data.Dataset.zip((dataset, counter)).map(
            lambda pair, index: augment(
                pair[0], pair[1], tf.stack([tf.constant(seed, tf.int64), index])
            ),
            num_parallel_calls=AUTOTUNE,
        )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def split_arrays(
    manifest: pd.DataFrame, data_dir: Path | str, split: str, image_size: int, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split as numpy arrays, in manifest order, through the same
    pipeline as training (unaugmented): what the TFLite checks of notebook 04 score."""
    dataset = make_dataset(manifest, data_dir, split, image_size=image_size, batch_size=batch_size, training=False)
    batches = list(dataset)
    images = np.concatenate([x.numpy() for x, _ in batches])
    return images, np.concatenate([y.numpy() for _, y in batches]).astype(int)


def benchmark_pipeline(dataset: tf.data.Dataset, batches: int, warmup: int = 5) -> float:
    """Images per second that ``dataset`` delivers, after ``warmup`` batches (repeats as needed).

    For a cached dataset, pass a warm-up of at least one epoch to time the steady state.
    """
    iterator = iter(dataset.repeat())
    for _ in range(warmup):
        next(iterator)
    images = 0
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
        images += int(tf.shape(batch[0])[0])
    return images / (time.perf_counter() - start)


def benchmark_train_step(model, dataset: tf.data.Dataset, steps: int, warmup: int = 3) -> float:
    """Images per second of ``model``'s compiled training step, without the input pipeline.

    One batch of ``dataset`` is fed again and again through Keras' own train function (the one
    ``fit`` runs), so the number is the model's speed alone: compare it with
    ``benchmark_pipeline`` to see whether the input pipeline keeps up.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("compile the model (optimizer and loss) before timing its train step")
    batch = next(iter(dataset))
    batch_size = int(tf.shape(batch[0])[0])
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    train_function = model.make_train_function()
    for _ in range(warmup):
        train_function(iterator)
    per_call = getattr(model, "_steps_per_execution", None)
    per_call = int(np.asarray(per_call)) if per_call is not None else 1
    start = time.perf_counter()
    for _ in range(steps):
        logs = train_function(iterator)
    # results are computed lazily on some backends: fetch them before stopping the clock
    tf.nest.map_structure(lambda value: np.asarray(value), logs)
    return steps * per_call * batch_size / (time.perf_counter() - start)
