"""TFLite export of a trained model in five variants, and the checks every exported file gets.

Variants (``VARIANTS``), all made with ``tf.lite.TFLiteConverter.from_keras_model``:

- ``float32``: no optimization, the reference file;
- ``float16``: weights stored as float16 (``Optimize.DEFAULT`` + ``supported_types``);
- ``dynamic_range``: int8 weights, float activations, no representative set;
- ``int8_ptq``: full-integer post-training quantization, int8 input and output, calibrated on a
  representative set of training crops;
- ``int8_qat``: the same converter settings applied to a quantization-aware fine-tuned model
  (the converter still asks for a representative set).

A quantized binary classifier can collapse to one class; every file is therefore evaluated
through the TFLite interpreter itself (``evaluate_tflite``, scored by ``evaluate.tflite_scores``,
threshold by ``metrics.choose_thresholds``) and compared with the float model
(``collapse_check``). Each ``.tflite`` is written with a JSON sidecar that holds all the
device needs: input size, dtype, scale and zero point, the class order and the threshold.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from deepfake_iot import inference, metrics  # noqa: E402
from deepfake_iot.evaluate import tflite_scores  # noqa: E402
from deepfake_iot.paths import atomic_write_bytes, atomic_write_json
from deepfake_iot.provenance import package_versions  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the converter logs every temporary SavedModel it writes

VARIANTS = ("float32", "float16", "dynamic_range", "int8_ptq", "int8_qat")
INT8_VARIANTS = ("int8_ptq", "int8_qat")
CLASS_ORDER = ["real", "fake"]  # label 0, label 1; the model's single output is P(fake)


def _as_generator_function(representative, model=None) -> Callable[[], Iterable]:
    """The converter's representative dataset, checked: not empty, and shaped like the input."""
    samples = list(representative() if callable(representative) else representative)
    if not samples:
        raise ValueError("the representative dataset is empty: give it 100-500 training crops")
    expected = tuple(model.input_shape[1:]) if model is not None else None
    for index, sample in enumerate(samples):
        array = np.asarray(sample[0] if isinstance(sample, list | tuple) else sample)
        if array.ndim != 4 or (expected is not None and tuple(array.shape[1:]) != expected):
            raise ValueError(
                f"representative sample {index} has shape {array.shape}; the model takes (1, *{expected}) "
                "as [float32 array]"
            )
    return lambda: iter(samples)


def quantizable_copy(model: keras.Model) -> keras.Model:
    """``tfmot.quantization.keras.quantize_model`` with an error that names the layer and the fix."""
    import tensorflow_model_optimization as tfmot

    try:
        return tfmot.quantization.keras.quantize_model(model)
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"quantization-aware training cannot wrap '{model.name}': {error} Fix: build the model from "
            "layers with an 8-bit config (Conv2D/DepthwiseConv2D followed by BatchNormalization, "
            "ReLU/ReLU6, Add, pooling, Dense), keep input scaling and squeeze-excite out of the "
            "network, or use post-training quantization (int8_ptq) for it"
        ) from error


def convert(
    model: keras.Model,
    variant: str,
    representative=None,
    per_channel: bool = True,
    saved_model_dir: Path | str | None = None,
) -> bytes:
    """The ``.tflite`` flatbuffer of ``model`` for one of ``VARIANTS``.

    ``representative`` (required for the int8 variants) is a generator function yielding
    ``[float32 array (1, S, S, 3)]`` samples, or an iterable of them. ``per_channel=False``
    quantizes convolution weights with one scale per tensor instead of one per output channel,
    through the converter's private ``_experimental_disable_per_channel`` flag (present in
    TensorFlow 2.21; a ValueError says so if a later version drops it).

    ``saved_model_dir``, a SavedModel of ``model`` (see ``convert_variants``), is converted
    instead of the Keras model: ``from_keras_model`` writes such a SavedModel itself on every
    call, which for a large model costs about as much as the conversion.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant '{variant}': use one of {', '.join(VARIANTS)}")
    if saved_model_dir is None:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant in INT8_VARIANTS:
        if representative is None:
            raise ValueError(
                f"variant '{variant}' needs a representative dataset (see representative_dataset)"
            )
        converter.representative_dataset = _as_generator_function(representative, model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not per_channel:
        if not hasattr(converter, "_experimental_disable_per_channel"):
            raise ValueError(
                "this TensorFlow's converter has no _experimental_disable_per_channel flag: "
                "per-tensor quantization is unavailable, use per_channel=True"
            )
        converter._experimental_disable_per_channel = True
    return converter.convert()


def convert_variants(
    model: keras.Model, variants: Iterable[str], representative=None, per_channel: bool = True
) -> dict[str, bytes]:
    """``{variant: .tflite bytes}`` for several variants of one model, exported once.

    The model is written once as a SavedModel (what ``from_keras_model`` does on each call)
    and every variant is converted from it; the files compute the same scores as ``convert``'s.
    A model that cannot be saved that way is converted variant by variant with ``convert``.
    """
    import shutil
    import tempfile

    variants = list(variants)
    folder = tempfile.mkdtemp(prefix="tflite-export-")
    try:
        try:
            tf.saved_model.save(
                model, folder, options=tf.saved_model.SaveOptions(save_debug_info=True)
            )
        except Exception:  # noqa: BLE001 - the converter's own fallback path handles it
            folder_ok = False
        else:
            folder_ok = True
        return {
            variant: convert(
                model,
                variant,
                representative if variant in INT8_VARIANTS else None,
                per_channel=per_channel,
                saved_model_dir=folder if folder_ok else None,
            )
            for variant in variants
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def representative_dataset(
    manifest: pd.DataFrame, data_dir: Path | str, image_size: int, n: int, seed: int
) -> Callable[[], Iterable]:
    """A generator function yielding ``n`` training crops as ``[float32 array (1, S, S, 3)]``.

    Only the training split is used (calibrating on validation or test crops would leak them).
    The sample is drawn with ``seed``, half real and half fake when both classes have enough
    crops, the rest from the larger class. The crops are decoded once by the same pipeline as
    training (``deepfake_iot.pipeline.make_dataset``, no augmentation); every call of the
    returned function yields the same samples in the same order.
    """
    from deepfake_iot.pipeline import make_dataset

    rows = manifest[manifest["split"] == "train"]
    if rows.empty or n < 1:
        raise ValueError(f"need n >= 1 and a non-empty training split; got n={n}, {len(rows)} rows")
    n = min(n, len(rows))
    by_label = {label: group for label, group in rows.groupby("label")}
    quota = {label: min(len(group), n // len(by_label)) for label, group in by_label.items()}
    spare = n - sum(quota.values())
    for label, group in sorted(by_label.items(), key=lambda item: -len(item[1])):
        extra = min(spare, len(group) - quota[label])
        quota[label] += extra
        spare -= extra
    picked = pd.concat(
        [group.sample(quota[label], random_state=seed) for label, group in by_label.items()]
    ).sample(frac=1.0, random_state=seed)
    dataset = make_dataset(
        picked, data_dir, "train", image_size=image_size, batch_size=1, training=False, cache=False
    )
    samples = [np.asarray(images, dtype=np.float32) for images, _ in dataset.as_numpy_iterator()]

    def generate():
        for sample in samples:
            yield [sample]

    return generate


class _KeepBest(keras.callbacks.Callback):
    """Remembers the weights of the epoch with the highest ``monitor`` and restores them."""

    def __init__(self, monitor: str = "val_auc"):
        super().__init__()
        self.monitor = monitor
        self.best = -np.inf
        self.best_epoch = -1
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and np.isfinite(value) and value > self.best:
            self.best, self.best_epoch = float(value), epoch
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def quantization_aware_finetune(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    epochs: int,
    learning_rate: float,
    seed: int,
    verbose: int = 0,
) -> keras.Model:
    """Fine-tune a quantization-aware copy of ``model`` (tfmot's default 8-bit scheme).

    The copy starts from ``model``'s weights; it is compiled with Adam, binary cross-entropy
    and AUC, fitted for ``epochs``, and left with the weights of the epoch with the best
    validation AUC (the last epoch when AUC is undefined). Its ``history`` holds the epochs.
    """
    from deepfake_iot.train import set_seeds

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    set_seeds(seed)
    qat_model = quantizable_copy(model)
    qat_model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    keep_best = _KeepBest("val_auc")
    qat_model.fit(
        train_ds, validation_data=val_ds, epochs=epochs, callbacks=[keep_best], verbose=verbose
    )
    return qat_model


def finetune_from_manifest(
    model: keras.Model, manifest: pd.DataFrame, data_dir: Path | str, *, image_size: int,
    batch_size: int, epochs: int, learning_rate: float, seed: int,
) -> keras.Model:
    """Quantization-aware fine-tuning of ``model`` on the manifest's training split, the best
    epoch on validation AUC kept (``quantization_aware_finetune``), everything seeded."""
    from deepfake_iot.pipeline import make_dataset
    from deepfake_iot.train import set_seeds

    set_seeds(seed)
    train_ds = make_dataset(manifest, data_dir, "train", image_size=image_size, batch_size=batch_size,
                            training=True, seed=seed)
    val_ds = make_dataset(manifest, data_dir, "val", image_size=image_size, batch_size=batch_size, training=False)
    return quantization_aware_finetune(model, train_ds, val_ds, epochs, learning_rate, seed)


def evaluate_tflite(
    path_or_bytes,
    images,
    labels,
    threshold: float,
    float_scores=None,
    num_threads: int = 1,
    batch_size: int = inference.EVAL_BATCH_SIZE,
) -> dict:
    """Metrics of a ``.tflite`` file run through the TFLite interpreter, ``batch_size`` images
    per invoke (``evaluate.tflite_scores``; the scores do not depend on it).

    A score at or above ``threshold`` is called fake. Returns ``auc`` (NaN with one class),
    ``accuracy``, ``f1`` (of the fake class), ``score_mean``, ``score_std``, ``n`` and the
    ``runtime`` used; with ``float_scores`` (the float model's scores on the same images) also
    ``agreement``, the share of identical decisions at ``threshold``, and ``mean_abs_diff`` of
    the scores. The formulas are ``metrics.frame_metrics``'s.
    """
    scores = tflite_scores(path_or_bytes, images, num_threads, batch_size=batch_size)
    labels = np.asarray(labels).astype(int).reshape(-1)
    measured = metrics.frame_metrics(labels, scores, threshold)
    result = {
        "n": measured["n"],
        "auc": measured["roc_auc"],
        "accuracy": measured["accuracy"],
        "f1": measured["f1_fake"],
        "score_mean": float(np.mean(scores)),
        "score_std": float(np.std(scores)),
        "threshold": float(threshold),
        "runtime": inference.available_runtime()[1],
    }
    if float_scores is not None:
        float_scores = np.asarray(float_scores, dtype=np.float32).reshape(-1)
        result["agreement"] = float(np.mean((scores >= threshold) == (float_scores >= threshold)))
        result["mean_abs_diff"] = float(np.mean(np.abs(scores - float_scores)))
    return result


def export_and_verify(name: str, model: keras.Model, variants: Iterable[str], images: np.ndarray, labels: np.ndarray, *,
                      representative, tflite_dir: Path | str, out_root: Path | str, sidecar: dict, group: str = "main",
                      qat_model: keras.Model | None = None, per_channel: bool = True, auc_tolerance: float = 0.05,
                      min_score_std: float = 0.01) -> list[dict]:
    """Convert ``model`` to ``variants`` (and ``qat_model`` to ``int8_qat``), evaluate every file
    through the interpreter on ``images``, write ``tflite_dir/<name>/<variant>.tflite`` with its
    sidecar, and return one row per file for the quantization table.

    Every variant gets the threshold chosen for the float model on these (validation) images;
    ``sidecar`` adds what the caller knows (source folder, seed); ``group`` (``main`` for the
    compared models, ``sweep`` for the light CNN's variants) lands in the row and the sidecar.
    """
    labels = np.asarray(labels).astype(int).reshape(-1)
    if len(np.unique(labels)) < 2:
        raise ValueError("the threshold of every variant needs both real and fake validation images")
    float_scores = model.predict(images, batch_size=256, verbose=0).ravel()
    threshold = metrics.choose_thresholds(labels, float_scores)["youden"]  # Youden's J, on validation
    float_auc = metrics.frame_metrics(labels, float_scores)["roc_auc"]
    contents = convert_variants(model, variants, representative, per_channel=per_channel)
    if qat_model is not None:
        contents["int8_qat"] = convert(qat_model, "int8_qat", representative, per_channel)
    rows = []
    for variant, content in contents.items():
        measured = evaluate_tflite(content, images, labels, threshold, float_scores=float_scores)
        flags = collapse_check(measured, float_auc, auc_tolerance, min_score_std)
        path = Path(tflite_dir) / name / f"{variant}.tflite"
        record = write_variant(
            content,
            path,
            {
                **sidecar,
                "variant": variant,
                "threshold": threshold,
                "source_model": name,
                "group": group,
                "per_channel": per_channel,
                "validation_auc": measured["auc"],
            },
        )
        rows.append(
            {
                "model": name,
                "variant": variant,
                "group": group,
                "input_size": record["input_size"],
                "size_kb": len(content) / 1024,
                "val_auc": measured["auc"],
                "accuracy": measured["accuracy"],
                "f1": measured["f1"],
                "agreement": measured["agreement"],
                "mean_abs_diff": measured["mean_abs_diff"],
                "flag": "; ".join(flags) or "ok",
                "path": str(path.relative_to(out_root)),
            }
        )
    return rows


def collapse_check(
    measured: dict, float_auc: float, auc_tolerance: float, min_score_std: float
) -> list[str]:
    """Reasons to distrust a quantized file; an empty list means it passed.

    Flags a score spread below ``min_score_std`` (the classifier answers nearly the same for
    every image, the usual full-int8 failure) and an AUC more than ``auc_tolerance`` below the
    float model's ``float_auc``.
    """
    reasons = []
    std = float(measured.get("score_std", 0.0))
    if not std >= min_score_std:
        reasons.append(f"score spread collapsed: std {std:.4g} < {min_score_std:.4g}")
    auc = float(measured.get("auc", float("nan")))
    if np.isfinite(auc) and np.isfinite(float_auc):
        drop = float_auc - auc
        if drop > auc_tolerance:
            reasons.append(f"AUC drop {drop:.4f} > tolerance {auc_tolerance:.4f}")
    elif np.isfinite(float_auc):
        reasons.append("AUC undefined for the quantized file")
    return reasons


def tool_versions() -> dict[str, str]:
    return package_versions()


def write_variant(tflite_bytes: bytes, out_path: Path | str, sidecar: dict) -> dict:
    """Write ``out_path`` (.tflite) atomically and its sidecar ``<same stem>.json``; return it.

    ``sidecar`` gives what only the caller knows, at least ``variant`` and ``threshold``
    (chosen on validation), and usually ``source_model`` (the model card's path). Added here,
    read from the file itself: input size, input/output dtype, scale and zero point, class
    order, file name and size, and the tool versions.
    """
    missing = [key for key in ("variant", "threshold") if key not in sidecar]
    if missing:
        raise ValueError(f"the sidecar needs the key(s) {', '.join(missing)}")
    out_path = Path(out_path)
    interpreter, _ = inference.load_model(tflite_bytes)
    record = dict(sidecar)
    record.update(inference.io_details(interpreter))
    record.update(
        {
            "class_order": list(CLASS_ORDER),
            "output": "P(fake); fake when >= threshold",
            "file": out_path.name,
            "file_size_bytes": len(tflite_bytes),
            "tool_versions": tool_versions(),
        }
    )
    atomic_write_bytes(out_path, tflite_bytes)
    atomic_write_json(out_path.with_suffix(".json"), record)
    return record
