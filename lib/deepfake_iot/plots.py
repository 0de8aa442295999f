"""Every figure of the paper is drawn here, and nothing is saved here.

Each function returns a matplotlib ``Figure``; the notebook saves it with ``Run.save_figure``
(``publish.save_figure``: PDF, PNG and provenance). Names such as ``light_cnn`` or ``int8_ptq``
are shown with spaces instead of underscores. No TensorFlow here: the device notebook draws too.

By notebook: 01 ``sample_grid``; 02 ``degradation_grid``, ``image_grid``; 03
``training_curves``; 04 ``quantization_figure``; 05 ``roc_pr_figure``, ``confusion_figure``,
``det_figure``, ``gallery_figure``, ``reliability_figure``, ``robustness_figure``,
``case_figure`` (Grad-CAM maps from ``explain.grad_cam``). Notebook 06's figures (latency, runtimes, threads,
trade-off, face detectors, frame path) are ``device_plots.py``. Grids of crops share ``tile_grid``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def pretty(name) -> str:
    """A label for display: underscores become spaces."""
    return str(name).replace("_", " ")


def roc_pr_figure(curves: dict, figsize=(10, 4.2)):
    """ROC (left) and precision-recall (right) curves, one line per ``name -> (labels, scores)``."""
    from sklearn import metrics as skm  # imported here: the device side draws without scikit-learn

    if not curves:
        raise ValueError("curves is empty: pass at least one name -> (labels, scores)")
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=figsize)
    for name, (labels, scores) in curves.items():
        labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
        if np.unique(labels).size < 2:
            continue  # curves are undefined with a single class
        fpr, tpr, _ = skm.roc_curve(labels, scores)
        auc = skm.roc_auc_score(labels, scores)
        roc_ax.plot(fpr, tpr, label=f"{pretty(name)} (AUC {auc:.3f})")
        precision, recall, _ = skm.precision_recall_curve(labels, scores)
        ap = skm.average_precision_score(labels, scores)
        pr_ax.step(recall, precision, where="post", label=f"{pretty(name)} (AP {ap:.3f})")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    roc_ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC")
    pr_ax.set(xlabel="Recall (fake)", ylabel="Precision (fake)", title="Precision-recall")
    for ax in (roc_ax, pr_ax):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is roc_ax else "lower left", fontsize=8)
    fig.tight_layout()
    return fig


def confusion_figure(cm, labels=("real", "fake"), title: str = "", figsize=(3.8, 3.4)):
    """Confusion matrix heat map: counts with row percentages. ``cm`` is 2x2 (rows true) or a
    dict with ``tn, fp, fn, tp`` (as :func:`deepfake_iot.metrics.frame_metrics` returns)."""
    import seaborn as sns  # imported here: keeps importing this module light

    if isinstance(cm, dict):
        cm = [[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]]
    cm = np.asarray(cm, dtype=float)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not fit labels {labels}")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    text = np.array(
        [
            [f"{int(c)}\n{100 * s:.1f}%" for c, s in zip(cr, sr, strict=True)]
            for cr, sr in zip(cm, share, strict=True)
        ]
    )
    fig, ax = plt.subplots(figsize=figsize)
    names = [pretty(label) for label in labels]
    sns.heatmap(
        share,
        annot=text,
        fmt="",
        cmap="Blues",
        vmin=0,
        vmax=1,
        cbar=False,
        ax=ax,
        xticklabels=names,
        yticklabels=names,
        square=True,
    )
    ax.set(xlabel="Predicted", ylabel="True", title=pretty(title))
    fig.tight_layout()
    return fig


def reliability_figure(tables: dict, figsize=(4.6, 4.2)):
    """Reliability diagram: fraction of fakes against mean P(fake) per bin, one line per
    ``name -> reliability_table``; the diagonal is perfect calibration."""
    if not tables:
        raise ValueError("tables is empty: pass at least one name -> reliability_table")
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    for name, table in tables.items():
        filled = table[table["count"] > 0]
        ax.plot(
            filled["mean_score"], filled["frac_fake"], marker="o", markersize=4, label=pretty(name)
        )
    ax.set(
        xlabel="Mean predicted P(fake)",
        ylabel="Fraction of fakes",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Reliability",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [column for column in columns if column not in df]
    if missing:
        raise ValueError(f"{what} needs columns {', '.join(columns)}; missing {', '.join(missing)}")


def _series_names(df: pd.DataFrame) -> pd.Series:
    return df["model"].map(pretty) + " / " + df["variant"].map(pretty)


def robustness_figure(df: pd.DataFrame, ncols: int = 3, panel_size=(3.4, 2.8)):
    """AUC against degradation level, one small panel per degradation and one line per
    model/variant. ``df`` has columns ``model, variant, degradation, level, auc`` and, when
    present, ``auc_low, auc_high``: a shaded 95% interval around each line."""
    require_columns(df, ("model", "variant", "degradation", "level", "auc"), "robustness_figure")
    if df.empty:
        raise ValueError("robustness_figure got an empty table")
    df = df.assign(series=_series_names(df))
    degradations = list(dict.fromkeys(df["degradation"]))
    ncols = max(1, min(ncols, len(degradations)))
    nrows = int(np.ceil(len(degradations) / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        squeeze=False,
        sharey=True,
    )
    for ax, degradation in zip(axes.flat, degradations, strict=False):
        part = df[df["degradation"] == degradation]
        for series, line in part.groupby("series", sort=False):
            line = line.sort_values("level")
            drawn = ax.plot(line["level"], line["auc"], marker="o", markersize=3, label=series)
            if {"auc_low", "auc_high"} <= set(line) and line["auc_low"].notna().any():
                ax.fill_between(line["level"], line["auc_low"], line["auc_high"], alpha=0.15,
                                color=drawn[0].get_color(), linewidth=0)
        ax.set_title(pretty(degradation))
        ax.set_xlabel("Level")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("ROC-AUC")
    for ax in list(axes.flat)[len(degradations) :]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 + 0.03 * ((len(names) - 1) // 4), 1, 1))
    return fig


def tile_grid(count: int, ncols: int, tile_size=(1.2, 1.3), rows_per_item: int = 1):
    """A figure for ``count`` items, ``ncols`` per row, every axis off: ``(fig, tiles)``.

    Each item gets ``rows_per_item`` axes stacked in its column (an image above its Grad-CAM
    overlay, say); ``tiles[i]`` lists them top to bottom. ``tile_size`` is one item's width and
    height in inches. The one grid of every crop gallery (``image_grid``, ``gallery_figure``,
    ``explanation_figure``).
    """
    blocks = int(np.ceil(count / ncols))
    fig, axes = plt.subplots(
        blocks * rows_per_item, ncols, figsize=(tile_size[0] * ncols, tile_size[1] * blocks), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    tiles = [
        [axes[rows_per_item * (index // ncols) + k, index % ncols] for k in range(rows_per_item)]
        for index in range(count)
    ]
    return fig, tiles


def _show(ax, image, title=None, fontsize: int = 7) -> None:
    ax.imshow(np.clip(image, 0, 1))
    if title is not None:
        ax.set_title(pretty(title), fontsize=fontsize)


def image_grid(images, labels=None, columns: int = 8, label_names=("real", "fake")):
    """A grid of RGB float images in [0, 1] (a batch from the input pipeline), titled by label."""
    images = np.asarray(images)
    fig, tiles = tile_grid(len(images), columns, (1.2, 1.3))
    for index, (ax,) in enumerate(tiles):
        _show(ax, images[index], None if labels is None else label_names[int(labels[index])])
    fig.tight_layout(pad=0.2)
    return fig


def gallery_figure(images, titles, ncols: int = 8, tile: float = 1.35):
    """Crops in a grid, each with its own title (e.g. method and score); empty tiles blank."""
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("gallery_figure got no images")
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    fig, tiles = tile_grid(len(images), max(1, min(ncols, len(images))), (tile, tile + 0.3))
    for (ax,), image, title in zip(tiles, images, titles, strict=True):
        _show(ax, image, title)
    fig.tight_layout(pad=0.3)
    return fig


def overlay(image_rgb01, heatmap, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] heat map, coloured with ``colormap``, over an RGB image in [0, 1].

    The heat map is resized (bilinear) to the image when their sizes differ. Returns float RGB
    in [0, 1] of the image's height and width.
    """
    import cv2
    import matplotlib

    image = np.asarray(image_rgb01, dtype=np.float32)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB in [0, 1], got shape {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if heatmap.shape != image.shape[:2]:
        heatmap = cv2.resize(heatmap, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    colored = matplotlib.colormaps[colormap](np.clip(heatmap, 0.0, 1.0))[..., :3]
    return np.clip((1 - alpha) * image + alpha * colored, 0.0, 1.0).astype(np.float32)


def explanation_figure(images, heatmaps, titles=None, alpha: float = 0.4, ncols: int = 6):
    """A grid of images with their Grad-CAM overlays below them."""
    images = np.asarray(images, dtype=np.float32)
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if len(images) != len(heatmaps):
        raise ValueError(f"{len(images)} images but {len(heatmaps)} heat maps")
    if len(images) == 0:
        raise ValueError("no images to show")
    titles = list(titles) if titles is not None else [""] * len(images)
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    ncols = max(1, min(ncols, len(images)))
    fig, tiles = tile_grid(len(images), ncols, (1.9, 3.9), rows_per_item=2)
    for (top, bottom), image, heatmap, title in zip(tiles, images, heatmaps, titles, strict=True):
        _show(top, image, title, fontsize=8)
        bottom.imshow(overlay(image, heatmap, alpha))
    fig.tight_layout()
    return fig


def case_figure(cases: dict, alpha: float = 0.4):
    """One row per case (e.g. "fake, wrong"): each crop beside its Grad-CAM overlay.

    ``cases`` maps a row label to ``(images, heatmaps, titles)``; a case with no crops keeps
    its row, marked "none", so that an empty category is visible rather than silently dropped.
    """
    if not cases:
        raise ValueError("no cases to show")
    per_row = max(max(len(images) for images, _, _ in cases.values()), 1)
    fig, axes = plt.subplots(len(cases), 2 * per_row, figsize=(1.5 * 2 * per_row, 1.75 * len(cases)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (label, (images, heatmaps, titles)) in enumerate(cases.items()):
        axes[row, 0].text(-0.1, 0.5, label, transform=axes[row, 0].transAxes, rotation=90,
                          ha="right", va="center", fontsize=9)
        if len(images) == 0:
            axes[row, 0].text(0.5, 0.5, "none", ha="center", va="center", fontsize=9)
        for k, (image, heatmap, title) in enumerate(zip(images, heatmaps, titles, strict=True)):
            _show(axes[row, 2 * k], image, title)
            axes[row, 2 * k + 1].imshow(overlay(image, heatmap, alpha))
    fig.tight_layout()
    return fig


def sample_grid(manifest, data_dir, per_method: int = 6, seed: int = 0, split: str = "train"):
    """One row per method ('real' first), ``per_method`` crops from different videos of ``split``."""
    from pathlib import Path

    import cv2

    part = manifest[manifest["split"] == split]
    methods = ["real"] + sorted(m for m in part["method"].unique() if m != "real")
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        len(methods), per_method, figsize=(1.3 * per_method, 1.4 * len(methods)), squeeze=False
    )
    for row, method in enumerate(methods):
        videos = part.loc[part["method"] == method, "video_id"].unique()
        picked = rng.choice(videos, size=min(per_method, len(videos)), replace=False) if len(videos) else []
        for col in range(per_method):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(picked):
                rows = part[part["video_id"] == picked[col]]
                image = cv2.imread(str(Path(data_dir) / rows.iloc[len(rows) // 2]["path"]), cv2.IMREAD_COLOR)
                ax.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            else:
                ax.axis("off")
            if col == 0:
                ax.set_ylabel(pretty(method), fontsize=8)
    fig.tight_layout(pad=0.2)
    return fig


def degradation_grid(image_bgr, names, levels, seed: int = 0):
    """One face under every degradation (rows) at every level (columns), via the OpenCV suite."""
    import cv2

    from deepfake_iot import degrade

    fig, axes = plt.subplots(
        len(names), len(levels), figsize=(1.2 * len(levels), 1.25 * len(names)), squeeze=False
    )
    for row, name in enumerate(names):
        for col, level in enumerate(levels):
            ax = axes[row][col]
            ax.imshow(cv2.cvtColor(degrade.apply(image_bgr, name, level, seed), cv2.COLOR_BGR2RGB))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"level {level}", fontsize=8)
            if col == 0:
                ax.set_ylabel(pretty(name), fontsize=7)
    fig.tight_layout(pad=0.2)
    return fig


def training_curves(histories: dict):
    """Loss and AUC per epoch for each model: training solid, validation dashed.

    ``histories`` maps a model name to its Keras CSV log (columns epoch, loss, auc, val_loss, val_auc).
    """
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.6))
    for index, (name, history) in enumerate(histories.items()):
        color = f"C{index}"
        epochs = history["epoch"] + 1
        for ax, metric in zip(axes, ("loss", "auc"), strict=True):
            ax.plot(epochs, history[metric], color=color, label=pretty(name))
            ax.plot(epochs, history[f"val_{metric}"], color=color, linestyle="--")
    axes[0].set_ylabel("binary cross-entropy")
    axes[1].set_ylabel("AUC")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, title="solid: train, dashed: validation", title_fontsize=7)
    fig.tight_layout()
    return fig


def quantization_figure(results: pd.DataFrame, figsize=(5.5, 3.6)):
    """File size (log) against validation AUC of every TFLite variant: one colour per model, one
    marker per variant. ``results`` has ``model``, ``variant``, ``size_kb``, ``val_auc``."""
    require_columns(results, ("model", "variant", "size_kb", "val_auc"), "quantization_figure")
    fig, ax = plt.subplots(figsize=figsize)
    markers = dict(zip(sorted(results["variant"].unique()), "osD^v*", strict=False))
    for index, (model_name, part) in enumerate(results.groupby("model", sort=False)):
        for row in part.itertuples():
            ax.scatter(row.size_kb, row.val_auc, color=f"C{index}", marker=markers[row.variant], s=40,
                       label=pretty(model_name) if row.variant == "float32" else None)
    for variant, marker in markers.items():
        ax.scatter([], [], color="grey", marker=marker, label=pretty(variant))
    ax.set_xscale("log")
    ax.set_xlabel("file size (KB)")
    ax.set_ylabel("validation AUC")
    ax.legend(fontsize=6, ncols=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


DET_TICKS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6)


def det_figure(curves: dict, points: pd.DataFrame | None = None, figsize=(4.6, 4.2)):
    """DET curves of a biometric gate, one per ``name -> (labels, scores)``: BPCER (real users
    rejected) against APCER (fakes accepted), both on normal-deviate axes as is usual for DET
    plots. ``points`` (``operating_points`` rows: test APCER and BPCER) are marked."""
    from scipy.stats import norm
    from sklearn import metrics as skm

    clip = lambda v: norm.ppf(np.clip(np.asarray(v, float), 1e-4, 1 - 1e-4))  # noqa: E731
    fig, ax = plt.subplots(figsize=figsize)
    for name, (labels, scores) in curves.items():
        labels = np.asarray(labels).astype(int)
        if np.unique(labels).size < 2:
            continue
        bpcer, apcer, _ = skm.det_curve(labels, np.asarray(scores, float))  # fpr, fnr
        ax.plot(clip(apcer), clip(bpcer), label=pretty(name))
    if points is not None and len(points):
        ax.scatter(clip(points["test APCER"]), clip(points["test BPCER"]), color="black", zorder=3,
                   s=22, label="operating points (thresholds from validation)")  # fmt: skip
    ticks = clip(DET_TICKS)
    labels = [f"{100 * t:g}" for t in DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(ticks[0], ticks[-1])
    ax.set_xlabel("APCER, % (fakes accepted)")
    ax.set_ylabel("BPCER, % (real users rejected)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
