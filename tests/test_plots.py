import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from deepfake_iot import metrics, plots  # noqa: E402


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
    labels, scores = scored
    figure = plots.roc_pr_figure({"light_cnn": (labels, scores), "meso4": (labels, 1 - scores)})
    assert len(figure.axes) == 2
    _check(figure)


def test_confusion_figure(scored):
    result = metrics.frame_metrics(*scored)
    _check(plots.confusion_figure(result, title="light_cnn int8"))
    _check(plots.confusion_figure([[5, 1], [2, 7]]))


def test_reliability_figure(scored):
    labels, scores = scored
    tables = {
        "light_cnn": metrics.reliability_table(labels, scores, 10),
        "meso4_t_scaled": metrics.reliability_table(labels, scores**2, 10),
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
    _check(plots.latency_vs_auc_figure(table))
