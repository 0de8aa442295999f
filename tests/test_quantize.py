"""TFLite export: every variant converts and runs, int8 sidecars, QAT, the collapse guard."""

import json
import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_model_optimization")

from deepfake_iot import inference, metrics, models, quantize  # noqa: E402

SIZE = 32


def _arrays(count=64, seed=0):
    """Fakes are brighter, so one epoch already separates the classes a little."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 2).astype(np.float32)
    images = rng.random((count, SIZE, SIZE, 3)) * 0.7 + 0.3 * labels[:, None, None, None]
    return images.astype(np.float32), labels


@pytest.fixture(scope="module")
def trained():
    models.keras.utils.set_random_seed(0)
    model = models.build_light_cnn(SIZE, width=0.5, bn_momentum=0.5)
    model.compile(optimizer=models.keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    images, labels = _arrays()
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    representative = [[images[i : i + 1]] for i in range(16)]
    val_images, val_labels = _arrays(32, seed=1)
    return model, representative, (images, labels), (val_images, val_labels)


@pytest.fixture(scope="module")
def converted(trained):
    model, representative, _, _ = trained
    return {
        variant: quantize.convert(model, variant, representative)
        for variant in quantize.VARIANTS
        if variant != "int8_qat"
    }


def test_every_variant_converts_loads_and_predicts(trained, converted):
    model, _, _, (images, labels) = trained
    float_scores = model.predict(images, verbose=0).reshape(-1)
    for variant, content in converted.items():
        interpreter, _ = inference.load_model(content)
        scores = inference.predict(interpreter, images)
        assert scores.shape == (len(images),), variant
        assert np.all((scores >= 0) & (scores <= 1)), variant
        measured = quantize.evaluate_tflite(content, images, labels, 0.5, float_scores=float_scores)
        assert {"auc", "accuracy", "f1", "score_std", "agreement", "mean_abs_diff"} <= set(measured)
        assert measured["mean_abs_diff"] < 0.1, variant
    assert len(converted["int8_ptq"]) < len(converted["float32"])
    assert len(converted["float16"]) < len(converted["float32"])


def test_int8_needs_a_representative_set_and_per_tensor_works(trained):
    model, representative, _, _ = trained
    with pytest.raises(ValueError, match="representative"):
        quantize.convert(model, "int8_ptq")
    with pytest.raises(ValueError, match="unknown variant"):
        quantize.convert(model, "int4")
    per_tensor = quantize.convert(model, "int8_ptq", representative, per_channel=False)
    interpreter, _ = inference.load_model(per_tensor)
    assert inference.io_details(interpreter)["input_dtype"] == "int8"


def test_write_variant_sidecar_holds_int8_parameters(trained, converted, tmp_path):
    out = tmp_path / "light_cnn_int8_ptq.tflite"
    record = quantize.write_variant(
        converted["int8_ptq"],
        out,
        {"variant": "int8_ptq", "threshold": 0.42, "source_model": "runs/light_cnn/card.json"},
    )
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar == json.loads(json.dumps(record))
    assert out.read_bytes() == converted["int8_ptq"]
    assert sidecar["input_dtype"] == "int8" and sidecar["output_dtype"] == "int8"
    assert sidecar["input_scale"] > 0 and sidecar["output_scale"] > 0
    assert isinstance(sidecar["input_zero_point"], int)
    assert sidecar["input_size"] == SIZE and sidecar["class_order"] == ["real", "fake"]
    assert sidecar["file_size_bytes"] == len(converted["int8_ptq"])
    assert sidecar["threshold"] == 0.42 and "tensorflow" in sidecar["tool_versions"]
    with pytest.raises(ValueError, match="threshold"):
        quantize.write_variant(converted["float32"], tmp_path / "x.tflite", {"variant": "f"})


def test_qat_finetune_runs_and_converts(trained):
    model, representative, (images, labels), (val_images, val_labels) = trained
    train_ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    val_ds = tf.data.Dataset.from_tensor_slices((val_images, val_labels)).batch(32)
    qat = quantize.quantization_aware_finetune(
        model, train_ds, val_ds, epochs=1, learning_rate=1e-3, seed=0
    )
    content = quantize.convert(qat, "int8_qat", representative)
    interpreter, _ = inference.load_model(content)
    assert inference.io_details(interpreter)["input_dtype"] == "int8"
    scores = inference.predict(interpreter, val_images[:4])
    assert np.all((scores >= 0) & (scores <= 1))


def test_collapse_check_flags_a_constant_score_model(trained, tmp_path):
    keras = models.keras
    inputs = keras.Input((SIZE, SIZE, 3))
    outputs = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros")(
        keras.layers.GlobalAveragePooling2D()(inputs)
    )
    constant = quantize.convert(keras.Model(inputs, outputs), "float32")
    _, _, _, (images, labels) = trained
    measured = quantize.evaluate_tflite(constant, images, labels, 0.5)
    reasons = quantize.collapse_check(
        measured, float_auc=0.9, auc_tolerance=0.05, min_score_std=1e-3
    )
    assert any("score spread collapsed" in reason for reason in reasons)
    assert any("AUC drop" in reason for reason in reasons)
    healthy = {"auc": 0.88, "score_std": 0.2}
    assert quantize.collapse_check(healthy, 0.9, 0.05, 1e-3) == []


def test_variants_share_the_youden_threshold_of_metrics_and_need_both_classes(trained, tmp_path):
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.8, 0.9])
    assert metrics.choose_thresholds(labels, scores)["youden"] == pytest.approx(0.35)
    model, representative, _, (images, _) = trained
    with pytest.raises(ValueError, match="both"):
        quantize.export_and_verify("m", model, ["float32"], images, np.ones(len(images)), representative=representative,
                                   tflite_dir=tmp_path, out_root=tmp_path, sidecar={})


def test_representative_dataset_uses_training_crops_only(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for index in range(12):
        split = "train" if index < 8 else "test"
        label = index % 2
        name = f"{split}_{index}.png"
        pixels = np.full((SIZE, SIZE, 3), 255 if split == "test" else 100, np.uint8)
        pixels[0, 0] = rng.integers(0, 255, 3)
        tf.io.write_file(str(tmp_path / name), tf.io.encode_png(pixels))
        rows.append({"path": name, "label": label, "split": split})
    manifest = pd.DataFrame(rows)
    generate = quantize.representative_dataset(manifest, tmp_path, SIZE, n=6, seed=3)
    first = [sample[0] for sample in generate()]
    second = [sample[0] for sample in generate()]
    assert len(first) == 6
    assert all(s.shape == (1, SIZE, SIZE, 3) and s.dtype == np.float32 for s in first)
    assert all(np.allclose(s[0, 1:, 1:], 100 / 255) for s in first)  # never a test crop
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_bad_representative_sets_and_unquantizable_layers_are_named(trained):
    model = trained[0]
    keras = models.keras
    with pytest.raises(ValueError, match="representative dataset is empty"):
        quantize.convert(model, "int8_ptq", [])
    wrong = [[np.zeros((1, 7, 7, 3), np.float32)]]
    with pytest.raises(ValueError, match="representative sample 0 has shape"):
        quantize.convert(model, "int8_ptq", wrong)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(2.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
    bad = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(ValueError, match="(?s)rescaling.*Fix"):
        quantize.quantizable_copy(bad)


def test_batched_and_single_invokes_give_the_same_scores(trained, converted):
    _, _, (images, labels), _ = trained
    for variant, content in converted.items():
        single = quantize.evaluate_tflite(content, images, labels, 0.5, batch_size=1)
        for batch in (7, 64, 256):  # a padded last chunk, one exact batch, a batch above N
            batched = quantize.evaluate_tflite(content, images, labels, 0.5, batch_size=batch)
            for key in ("auc", "accuracy", "f1", "score_mean", "score_std"):
                assert batched[key] == pytest.approx(single[key], abs=1e-6), (variant, batch, key)
        interpreter, _ = inference.load_model(content)
        one = inference.predict(interpreter, images, batch_size=1)
        assert np.allclose(inference.predict(interpreter, images, batch_size=9), one, atol=1e-6)
        assert np.allclose(inference.predict(interpreter, images, batch_size=1), one, atol=1e-6)


class _FixedBatch:
    """An interpreter whose input cannot be resized, as for a graph with its batch built in."""

    def __init__(self, interpreter):
        self._interpreter = interpreter

    def __getattr__(self, name):
        return getattr(self._interpreter, name)

    def resize_tensor_input(self, index, shape, strict=False):
        if shape[0] != 1:
            raise RuntimeError("tensor 0 has a fixed batch of 1")
        self._interpreter.resize_tensor_input(index, shape, strict=strict)


def test_a_model_that_cannot_be_batched_falls_back_on_single_invokes(trained, converted):
    _, _, (images, _), _ = trained
    interpreter, _ = inference.load_model(converted["int8_ptq"])
    single = inference.predict(interpreter, images[:10])
    with pytest.warns(RuntimeWarning, match="one invoke per image"):
        batched = inference.predict(_FixedBatch(interpreter), images[:10], batch_size=4)
    assert np.array_equal(batched, single)


def test_convert_variants_exports_once_and_matches_convert(trained, converted):
    model, representative, (images, _), _ = trained
    together = quantize.convert_variants(
        model, ["float32", "dynamic_range", "int8_ptq"], representative
    )
    assert list(together) == ["float32", "dynamic_range", "int8_ptq"]
    for variant, content in together.items():
        ours, theirs = (
            inference.predict(inference.load_model(c)[0], images[:16])
            for c in (content, converted[variant])
        )
        assert np.array_equal(ours, theirs), variant
