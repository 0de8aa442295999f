import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from deepfake_iot import calibration, device_plots, metrics, plots  # noqa: E402


def _labels_text(figure) -> list[str]:
    texts = []
    for ax in figure.axes:
        texts += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    for legend in figure.legends:
        texts += [t.get_text() for t in legend.get_texts()]
    return texts


def _check(figure):
    assert isinstance(figure, Figure)
    assert not any("_" in text for text in _labels_text(figure))
    plt.close(figure)


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    return labels, np.clip(0.4 * labels + 0.6 * rng.random(300), 0, 1)


def test_roc_pr_figure(scored):
    from sklearn import metrics as skm

    labels, scores = scored
    figure = plots.roc_pr_figure({"light_cnn": (labels, scores), "meso4": (labels, 1 - scores)})
    assert len(figure.axes) == 2
    roc_ax, pr_ax = figure.axes
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    light, meso, chance = roc_ax.get_lines()
    assert np.allclose(light.get_xdata(), fpr) and np.allclose(light.get_ydata(), tpr)
    assert light.get_label() == f"light cnn (AUC {skm.roc_auc_score(labels, scores):.3f})"
    assert meso.get_label() == f"meso4 (AUC {skm.roc_auc_score(labels, 1 - scores):.3f})"
    assert list(chance.get_xdata()) == [0, 1] and chance.get_label() == "chance"
    precision, recall, _ = skm.precision_recall_curve(labels, scores)
    step = pr_ax.get_lines()[0]
    assert np.allclose(step.get_xdata(), recall) and np.allclose(step.get_ydata(), precision)
    assert (roc_ax.get_xlabel(), pr_ax.get_xlabel()) == ("False positive rate", "Recall (fake)")
    _check(figure)


def test_confusion_figure(scored):
    result = metrics.frame_metrics(*scored)
    _check(plots.confusion_figure(result, title="light_cnn int8"))
    figure = plots.confusion_figure([[5, 1], [2, 6]])
    cells = [text.get_text() for text in figure.axes[0].texts]
    assert cells == ["5\n83.3%", "1\n16.7%", "2\n25.0%", "6\n75.0%"]  # counts with row shares, rows true
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["real", "fake"]
    _check(plots.confusion_figure([[5, 1], [2, 7]]))


def test_reliability_figure(scored):
    labels, scores = scored
    tables = {
        "light_cnn": calibration.reliability_table(labels, scores, 10),
        "meso4_t_scaled": calibration.reliability_table(labels, scores**2, 10),
    }
    _check(plots.reliability_figure(tables))


def test_robustness_figure():
    rows = [
        {"model": m, "variant": v, "degradation": d, "level": level, "auc": 0.9 - 0.05 * level}
        for m in ("light_cnn", "meso4")
        for v in ("float32", "int8_ptq")
        for d in ("jpeg", "gaussian_blur", "noise", "low_light")
        for level in range(4)
    ]
    figure = plots.robustness_figure(pd.DataFrame(rows))
    assert sum(ax.get_visible() for ax in figure.axes) == 4
    first = figure.axes[0]
    assert len(first.get_lines()) == 4  # one line per model and variant
    assert all(np.allclose(line.get_ydata(), [0.9, 0.85, 0.8, 0.75]) for line in first.get_lines())
    assert list(first.get_lines()[0].get_xdata()) == [0, 1, 2, 3] and first.get_ylabel() == "ROC-AUC"
    _check(figure)
    with pytest.raises(ValueError, match="missing"):
        plots.robustness_figure(pd.DataFrame({"model": ["a"]}))


def test_latency_vs_auc_figure():
    table = pd.DataFrame(
        {
            "model": ["light_cnn", "light_cnn", "mobilenet_v2_035"],
            "variant": ["float32", "int8_ptq", "float32"],
            "latency_ms": [3.2, 1.4, 12.0],
            "auc": [0.93, 0.92, 0.95],
        }
    )
    figure = device_plots.latency_vs_auc_figure(table)
    points = np.concatenate([c.get_offsets() for c in figure.axes[0].collections])
    assert sorted(map(tuple, points.tolist())) == [(1.4, 0.92), (3.2, 0.93), (12.0, 0.95)]
    assert figure.axes[0].get_xscale() == "log"
    _check(figure)


def test_overlay_and_crop_grids_share_one_tile_grid():
    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    heatmap = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    blended = plots.overlay(images[0], heatmap, alpha=0.5)
    assert blended.shape == (32, 32, 3)
    assert blended.min() >= 0.0 and blended.max() <= 1.0
    assert np.allclose(plots.overlay(images[0], heatmap, alpha=0.0), images[0])
    _check(plots.explanation_figure(images, np.zeros((3, 32, 32)), ["real", "face_swap", "x"]))
    fig, tiles = plots.tile_grid(5, 2, rows_per_item=2)
    assert len(tiles) == 5 and all(len(tile) == 2 for tile in tiles) and len(fig.axes) == 12
    plt.close(fig)
    _check(plots.image_grid(images, [0, 1, 0], columns=2))
    _check(plots.gallery_figure(images, ["face_swap 0.91", "real 0.20", "x"], ncols=2))
    cases = {"fake, wrong": (images[:2], np.zeros((2, 32, 32)), ["face_swap 0.1", "gan 0.2"]),
             "real, wrong": (images[:0], np.zeros((0, 32, 32)), [])}
    _check(plots.case_figure(cases))


def test_training_curves_and_the_device_figures():
    history = pd.DataFrame({"epoch": [0, 1], "loss": [0.7, 0.5], "auc": [0.6, 0.8],
                            "val_loss": [0.7, 0.6], "val_auc": [0.55, 0.7]})
    curves = plots.training_curves({"light_cnn": history, "meso4": history})
    loss_ax, auc_ax = curves.axes
    train_line, val_line = auc_ax.get_lines()[:2]
    assert list(train_line.get_xdata()) == [1, 2] and list(train_line.get_ydata()) == [0.6, 0.8]
    assert list(val_line.get_ydata()) == [0.55, 0.7] and val_line.get_linestyle() == "--"
    assert len(loss_ax.get_lines()) == 4 and list(loss_ax.get_lines()[0].get_ydata()) == [0.7, 0.5]
    _check(curves)
    quantization = pd.DataFrame({"model": ["light_cnn"] * 2 + ["meso4"] * 2, "variant": ["float32", "int8_ptq"] * 2,
                                 "size_kb": [400.0, 110.0, 300.0, 80.0], "val_auc": [0.9, 0.89, 0.8, 0.78]})
    _check(plots.quantization_figure(quantization))
    latency = pd.DataFrame({"model": ["light_cnn"] * 4, "variant": ["float32", "int8_ptq"] * 2, "threads": [1, 1, 2, 2],
                            "median_ms": [3.0, 1.5, 2.0, 1.0], "min_ms": [2.5, 1.2, 1.8, 0.9], "p99_ms": [4.0, 2.0, 3.0, 1.5]})
    _check(device_plots.latency_figure(latency[latency["threads"] == 1]))
    _check(device_plots.thread_scaling_figure(latency))
    trade = pd.DataFrame({"model": ["light_cnn", "light_cnn_w0.5", "meso4"], "group": ["main", "sweep", "main"],
                          "int8_ms": [1.5, 0.9, 2.0], "val_auc": [0.9, 0.85, 0.8]})
    _check(device_plots.tradeoff_figure(trade))
    with pytest.raises(ValueError, match="missing"):
        plots.quantization_figure(pd.DataFrame({"model": ["a"]}))
