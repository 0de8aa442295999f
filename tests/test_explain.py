import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

explain = pytest.importorskip("deepfake_iot.explain")
models = pytest.importorskip("deepfake_iot.models")
keras = explain.keras


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)


def test_grad_cam_light_cnn_shape_and_range(images):
    keras.utils.set_random_seed(1)
    model = models.build_light_cnn(32)
    assert explain.default_cam_layer(model) == "s4b1_project_bn"
    heatmaps = explain.grad_cam(model, images)
    assert heatmaps.shape == (3, 32, 32)
    assert heatmaps.dtype == np.float32
    assert np.isfinite(heatmaps).all()
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0
    single = explain.grad_cam(model, images[0])
    assert single.shape == (1, 32, 32)


def test_grad_cam_meso4_has_spatial_detail():
    rng = np.random.default_rng(2)
    batch = rng.random((4, 64, 64, 3), dtype=np.float32)
    for seed in range(5):  # an untrained net may show no positive evidence for one seed
        keras.utils.set_random_seed(seed)
        model = models.build_meso4(64)
        assert explain.default_cam_layer(model) == "block4_pool"
        heatmaps = explain.grad_cam(model, batch)
        assert heatmaps.shape == (4, 64, 64)
        assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0
        if heatmaps.max() == 1.0:
            break
    else:
        pytest.fail("no seed gave a non-empty Grad-CAM map")


def test_grad_cam_named_layer_and_errors(images):
    model = models.build_light_cnn(32)
    heatmaps = explain.grad_cam(model, images, layer_name="s2b1_project_bn")
    assert heatmaps.shape == (3, 32, 32)
    with pytest.raises(ValueError, match="images must be"):
        explain.grad_cam(model, images[0, 0])
