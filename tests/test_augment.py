"""In-graph degradations and augmentation, and the tf.data pipeline."""

import importlib.util

import cv2
import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")

from deepfake_iot import augment, degrade, pipeline  # noqa: E402
from tests.test_degrade import textured  # noqa: E402

# Mean absolute difference in [0, 1] units between tf_degrade and the OpenCV version on the
# same float image (the augment module docstring gives the reasons).
PIXEL_BOUNDS = {
    "gaussian_blur": 1e-4,
    "motion_blur": 1e-4,
    "downscale": 1e-4,
    "low_light": 1e-4,
    "color_cast": 1e-4,
    "jpeg": 0.01,
}
# Relative difference of the residual's standard deviation (random noise: pixels cannot match).
STD_BOUNDS = {"gaussian_noise": 0.05, "poisson_noise": 0.05, "iot_camera": 0.10}
FIXED = {"motion_blur": {"angle_deg": 30.0}, "color_cast": {"angle_rad": 1.0}}


def both(name, level, height=96, width=96):
    """(OpenCV result, TF result, original) as float RGB for the same image."""
    bgr = textured(height, width).astype(np.float32) / 255
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    kwargs = FIXED.get(name, {})
    reference = degrade.DEGRADATIONS[name](bgr, level, np.random.default_rng(0), **kwargs)
    graph = augment.tf_degrade(rgb, name, level, [1, 2], **kwargs).numpy()
    return reference[..., ::-1], graph, rgb


def test_bounds_cover_every_degradation():
    assert set(PIXEL_BOUNDS) | set(STD_BOUNDS) == set(degrade.NAMES)


@pytest.mark.parametrize("name", sorted(PIXEL_BOUNDS))
def test_in_graph_matches_opencv_pixel_by_pixel(name):
    for size in ((96, 96), (45, 70)):
        for level in range(1, 6):
            reference, graph, _ = both(name, level, *size)
            difference = np.abs(reference - graph).mean()
            assert difference < PIXEL_BOUNDS[name], (size, level, difference)


@pytest.mark.parametrize("name", sorted(STD_BOUNDS))
def test_in_graph_noise_matches_opencv_statistics(name):
    for level in range(1, 6):
        reference, graph, original = both(name, level)
        ratio = (graph - original).std() / (reference - original).std()
        assert abs(ratio - 1) < STD_BOUNDS[name], (level, ratio)
        assert abs((graph - original).mean() - (reference - original).mean()) < 0.01


def test_tf_degrade_is_stateless_and_checks_its_arguments():
    image = textured().astype(np.float32) / 255
    for name in degrade.NAMES:
        a = augment.tf_degrade(image, name, 3, [5, 6]).numpy()
        assert a.shape == image.shape and a.dtype == np.float32
        assert np.array_equal(a, augment.tf_degrade(image, name, 3, [5, 6]).numpy())
        assert np.array_equal(augment.tf_degrade(image, name, 0, [5, 6]).numpy(), image)
    noisy = augment.tf_degrade(image, "gaussian_noise", 3, [5, 7]).numpy()
    assert not np.array_equal(noisy, augment.tf_degrade(image, "gaussian_noise", 3, [5, 6]))
    with pytest.raises(ValueError, match="unknown degradation 'fog'"):
        augment.tf_degrade(image, "fog", 1, [0, 0])
    with pytest.raises(ValueError, match="out of range"):
        augment.tf_degrade(image, "jpeg", 6, [0, 0])


def test_tf_blur_handles_images_smaller_than_the_kernel():
    image = np.random.default_rng(0).random((3, 2, 3)).astype(np.float32)
    reference = degrade.gaussian_blur(image[..., ::-1], 5, None)[..., ::-1]
    graph = augment.tf_degrade(image, "gaussian_blur", 5, [0, 0]).numpy()
    assert np.abs(reference - graph).max() < 1e-5


OFF = {
    "flip": False,
    "rotation_deg": 0,
    "zoom": 0,
    "color_jitter": 0,
    "degrade_prob": 0,
    "sbi_prob": 0,
}


def test_augmenter_off_is_identity_and_on_is_deterministic():
    image = tf.constant(textured(), tf.float32) / 255
    label = tf.constant(0.0)
    out, out_label = augment.make_augmenter(OFF)(image, label, tf.constant([1, 2], tf.int64))
    assert np.array_equal(out.numpy(), image.numpy()) and float(out_label) == 0.0

    cfg = {"degrade_prob": 1.0, "degrade_names": ["jpeg", "gaussian_noise"], "degrade_max_level": 5}
    augmenter = augment.make_augmenter(cfg)
    seed = tf.constant([3, 4], tf.int64)
    a, _ = augmenter(image, label, seed)
    b, _ = augmenter(image, label, seed)
    c, _ = augmenter(image, label, tf.constant([3, 5], tf.int64))
    assert a.shape == image.shape and np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    assert 0 <= a.numpy().min() and a.numpy().max() <= 1


def test_degrade_probability_is_respected():
    image = tf.constant(textured(32, 32), tf.float32) / 255
    label = tf.constant(1.0)
    seeds = [tf.constant([0, i], tf.int64) for i in range(60)]
    for probability, expected in ((0.0, 0), (1.0, 60)):
        augmenter = augment.make_augmenter(
            {**OFF, "degrade_prob": probability, "degrade_names": ["low_light"]}
        )
        changed = sum(
            not np.array_equal(augmenter(image, label, s)[0].numpy(), image.numpy()) for s in seeds
        )
        assert changed == expected


def test_augmenter_config_is_checked():
    with pytest.raises(ValueError, match="unknown augmentation key.*rotaton.*valid keys"):
        augment.make_augmenter({"rotaton": 5})
    with pytest.raises(ValueError, match="degrade_prob"):
        augment.make_augmenter({"degrade_prob": 2})
    with pytest.raises(ValueError, match="unknown degradation"):
        augment.make_augmenter({"degrade_names": ["fog"]})
    with pytest.raises(ValueError, match="degrade_max_level"):
        augment.make_augmenter({"degrade_max_level": 6})


def test_geometry_and_colour_keep_shape_and_range():
    image = tf.constant(textured(), tf.float32) / 255
    augmenter = augment.make_augmenter(
        {**OFF, "flip": True, "rotation_deg": 15, "zoom": 0.2, "color_jitter": 0.2}
    )
    out, _ = augmenter(image, tf.constant(0.0), tf.constant([9, 9], tf.int64))
    assert out.shape == image.shape
    assert 0 <= out.numpy().min() and out.numpy().max() <= 1
    assert not np.array_equal(out.numpy(), image.numpy())


@pytest.mark.skipif(
    importlib.util.find_spec("deepfake_iot.data.sbi") is None,
    reason="deepfake_iot.data.sbi (self-blended images) is not available",
)
def test_self_blending_turns_real_crops_into_fakes_only():
    image = tf.constant(textured(), tf.float32) / 255
    augmenter = augment.make_augmenter({**OFF, "sbi_prob": 1.0, "sbi_jpeg_quality": None})
    seed = tf.constant([1, 1], tf.int64)
    fake, label = augmenter(image, tf.constant(0.0), seed)
    assert float(label) == 1.0 and not np.array_equal(fake.numpy(), image.numpy())
    again, _ = augmenter(image, tf.constant(0.0), seed)
    assert np.array_equal(fake.numpy(), again.numpy())
    kept, label = augmenter(image, tf.constant(1.0), seed)
    assert float(label) == 1.0 and np.array_equal(kept.numpy(), image.numpy())


def test_self_blending_re_encodes_every_crop_so_no_label_skips_jpeg():
    image = tf.constant(textured(), tf.float32) / 255
    seed = tf.constant([3, 4], tf.int64)
    augmenter = augment.make_augmenter({**OFF, "sbi_prob": 0.5, "sbi_jpeg_quality": (50, 50)})
    fixed = tf.image.adjust_jpeg_quality(image, 50).numpy()
    kept, label = augmenter(image, tf.constant(1.0), seed)  # a fake is not blended, but re-encoded
    assert float(label) == 1.0 and np.array_equal(kept.numpy(), fixed)
    ranged = augment.make_augmenter({**OFF, "sbi_prob": 0.5, "sbi_jpeg_quality": (40, 100)})
    first, _ = ranged(image, tf.constant(1.0), seed)
    assert not np.array_equal(first.numpy(), image.numpy())
    assert np.array_equal(first.numpy(), ranged(image, tf.constant(1.0), seed)[0].numpy())
    for bad in ((90, 40), (0, 101), "high"):
        with pytest.raises(ValueError, match="sbi_jpeg_quality"):
            augment.augment_config({"sbi_jpeg_quality": bad})


def png_manifest(folder, count=20, size=40):
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        rel = f"crops/{index}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        image = np.full((size, size, 3), index * 10, np.uint8)  # pixel value encodes the row
        image[0, 0] = rng.integers(0, 255, 3)
        cv2.imwrite(str(folder / rel), image)
        rows.append({"path": rel, "label": index % 2, "split": "train" if index < 14 else "test"})
    return pd.DataFrame(rows)


def test_make_dataset_shapes_labels_and_order(tmp_path):
    manifest = png_manifest(tmp_path)
    test = pipeline.make_dataset(
        manifest, tmp_path, "test", image_size=40, batch_size=4, training=False
    )
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in test], strict=True)
    assert [len(x) for x in images] == [4, 2]
    images, labels = np.concatenate(images), np.concatenate(labels)
    assert images.shape[1:] == (40, 40, 3) and images.dtype == np.float32
    assert labels.dtype == np.float32
    np.testing.assert_array_equal(labels, manifest.loc[14:, "label"].to_numpy(np.float32))
    np.testing.assert_allclose(images[:, 5, 5, 0] * 255, np.arange(14, 20) * 10, atol=1e-3)
    resized = pipeline.make_dataset(
        manifest, tmp_path, "test", image_size=24, batch_size=8, training=False, cache=False
    )
    assert next(iter(resized))[0].shape == (6, 24, 24, 3)


def test_make_dataset_training_is_seeded(tmp_path):
    manifest = png_manifest(tmp_path)
    cfg = {"degrade_prob": 0.5, "degrade_names": ["gaussian_noise", "jpeg"], "rotation_deg": 5}

    def epoch(seed):
        dataset = pipeline.make_dataset(
            manifest,
            tmp_path,
            "train",
            image_size=32,
            batch_size=5,
            training=True,
            augment_cfg=cfg,
            seed=seed,
        )
        batches = [(x.numpy(), y.numpy()) for x, y in dataset]
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    first, second, other = epoch(1), epoch(1), epoch(2)
    assert first[0].shape == (14, 32, 32, 3)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])
    assert sorted(first[1]) == sorted(manifest.loc[:13, "label"].astype(np.float32))


def test_degradations_start_at_their_onset_epoch(tmp_path):
    manifest = png_manifest(tmp_path)
    cfg = {"flip": False, "rotation_deg": 0.0, "zoom": 0.0, "color_jitter": 0.0, "degrade_prob": 1.0,
           "degrade_names": ["gaussian_noise"], "degrade_from_epoch": 2}
    onset = augment.DegradationOnset(augment.augment_config(cfg)["degrade_from_epoch"])
    dataset = pipeline.make_dataset(manifest, tmp_path, "train", image_size=16, batch_size=5, training=True,
                                    augment_cfg=cfg, seed=3, degradation_onset=onset)
    callback = onset.callback()

    def noisy_images(epoch):
        callback.on_epoch_begin(epoch)
        images = np.concatenate([x.numpy() for x, _ in dataset])[:, 2:, 2:]  # away from the random corner pixel
        return int(sum(np.ptp(image) > 1e-6 for image in images))

    assert [noisy_images(epoch) for epoch in (0, 1, 2, 3, 1)] == [0, 0, 14, 14, 0]
    assert noisy_images(5) == 14 and augment.DegradationOnset(0).active.numpy()
    always = pipeline.make_dataset(manifest, tmp_path, "train", image_size=16, batch_size=14, training=True,
                                   augment_cfg=cfg, seed=3)  # no switch: degraded from the first image
    assert all(np.ptp(image[2:, 2:]) > 1e-6 for image in next(iter(always))[0].numpy())
    with pytest.raises(ValueError, match="degrade_from_epoch"):
        augment.augment_config({"degrade_from_epoch": -1})


def test_a_keras_fit_switches_degradations_on_at_the_onset_epoch(tmp_path):
    import tf_keras as keras

    manifest = png_manifest(tmp_path)
    cfg = {"flip": False, "rotation_deg": 0.0, "zoom": 0.0, "color_jitter": 0.0, "degrade_prob": 1.0,
           "degrade_names": ["gaussian_noise"], "degrade_from_epoch": 1}
    onset = augment.DegradationOnset(1)
    dataset = pipeline.make_dataset(manifest, tmp_path, "train", image_size=16, batch_size=7, training=True,
                                    augment_cfg=cfg, seed=3, degradation_onset=onset)
    seen = []

    class Spread(keras.layers.Layer):  # records, batch by batch, how many images carry noise
        def call(self, images):
            if tf.executing_eagerly():  # not while Keras builds the model symbolically
                seen.append(int(np.sum(np.ptp(images.numpy()[:, 2:, 2:].reshape(len(images), -1), axis=1) > 1e-6)))
            return tf.reduce_mean(images, axis=[1, 2])

    model = keras.Sequential([keras.Input((16, 16, 3)), Spread(), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", run_eagerly=True)
    model.fit(dataset, epochs=3, verbose=0, callbacks=[onset.callback()])
    assert seen == [0, 0, 7, 7, 7, 7]


def test_make_dataset_explains_bad_input(tmp_path):
    manifest = png_manifest(tmp_path)
    with pytest.raises(ValueError, match="no rows for split 'val'"):
        pipeline.make_dataset(manifest, tmp_path, "val", image_size=8, batch_size=2, training=False)
    with pytest.raises(FileNotFoundError, match="missing"):
        pipeline.make_dataset(
            manifest, tmp_path / "nowhere", "test", image_size=8, batch_size=2, training=False
        )


def test_benchmarks_return_a_rate(tmp_path):
    import tf_keras

    manifest = png_manifest(tmp_path)
    dataset = pipeline.make_dataset(
        manifest, tmp_path, "train", image_size=16, batch_size=4, training=True
    )
    assert pipeline.benchmark_pipeline(dataset, batches=3, warmup=1) > 0
    model = tf_keras.Sequential(
        [tf_keras.layers.Input((16, 16, 3)), tf_keras.layers.Flatten(), tf_keras.layers.Dense(1)]
    )
    with pytest.raises(ValueError, match="compile"):
        pipeline.benchmark_train_step(model, dataset, steps=2)
    model.compile("sgd", "binary_crossentropy")
    assert pipeline.benchmark_train_step(model, dataset, steps=2, warmup=1) > 0


def test_split_arrays_are_the_unaugmented_split_in_manifest_order(tmp_path):
    manifest = png_manifest(tmp_path)
    images, labels = pipeline.split_arrays(manifest, tmp_path, "test", 40, batch_size=4)
    assert images.shape == (6, 40, 40, 3) and labels.dtype.kind == "i"
    np.testing.assert_array_equal(labels, manifest.loc[14:, "label"].to_numpy())
    np.testing.assert_allclose(images[:, 5, 5, 0] * 255, np.arange(14, 20) * 10, atol=1e-3)
