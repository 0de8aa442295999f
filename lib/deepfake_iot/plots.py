"""Evaluation figures: ROC/PR curves, confusion matrix, reliability, robustness, latency vs AUC.

Every function returns a matplotlib ``Figure`` and leaves saving to
``deepfake_iot.figures.save_figure``. Names such as ``light_cnn`` or ``int8_ptq`` are shown
with spaces instead of underscores. No TensorFlow here.
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


def _require(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [column for column in columns if column not in df]
    if missing:
        raise ValueError(f"{what} needs columns {', '.join(columns)}; missing {', '.join(missing)}")


def _series_names(df: pd.DataFrame) -> pd.Series:
    return df["model"].map(pretty) + " / " + df["variant"].map(pretty)


def robustness_figure(df: pd.DataFrame, ncols: int = 3, panel_size=(3.4, 2.8)):
    """AUC against degradation level, one small panel per degradation and one line per
    model/variant. ``df`` has columns ``model, variant, degradation, level, auc`` and, when
    present, ``auc_low, auc_high``: a shaded 95% interval around each line."""
    _require(df, ("model", "variant", "degradation", "level", "auc"), "robustness_figure")
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


def latency_vs_auc_figure(df: pd.DataFrame, figsize=(5.2, 4.0), log_latency: bool = True):
    """ROC-AUC against latency per image: one marker per model/variant, colour by model and
    shape by variant. ``df`` has columns ``model, variant, latency_ms, auc``."""
    import seaborn as sns  # imported here: keeps importing this module light

    _require(df, ("model", "variant", "latency_ms", "auc"), "latency_vs_auc_figure")
    fig, ax = plt.subplots(figsize=figsize)
    shown = df.assign(Model=df["model"].map(pretty), Variant=df["variant"].map(pretty))
    sns.scatterplot(data=shown, x="latency_ms", y="auc", hue="Model", style="Variant", s=60, ax=ax)
    if log_latency and (shown["latency_ms"] > 0).all():
        ax.set_xscale("log")
    ax.set(xlabel="Latency per image (ms)", ylabel="ROC-AUC", title="Accuracy against speed")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def gallery_figure(images, titles, ncols: int = 8, tile: float = 1.35):
    """Crops in a grid, each with its own title (e.g. method and score); empty tiles blank."""
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("gallery_figure got no images")
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    ncols = max(1, min(ncols, len(images)))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(tile * ncols, (tile + 0.3) * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            ax.imshow(np.clip(images[index], 0, 1))
            ax.set_title(pretty(titles[index]), fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


def detection_rate_figure(rates: pd.DataFrame, ncols: int = 3, panel_size=(2.6, 2.1)):
    """Face detection rate against degradation level, one panel per degradation, one line per
    detector; the clean frames' rate is level 0 of every panel. ``rates`` is
    ``facebench.rate_table``'s frame (degradation, level, one column per detector)."""
    _require(rates, ("degradation", "level"), "rates")
    detectors = [c for c in rates.columns if c not in ("degradation", "level")]
    clean = rates[rates["degradation"] == "none"]
    names = [n for n in rates["degradation"].unique() if n != "none"]
    nrows = max(1, -(-len(names) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             sharex=True, sharey=True, squeeze=False)  # fmt: skip
    for ax, name in zip(axes.flat, names, strict=False):
        part = pd.concat([clean, rates[rates["degradation"] == name]]).sort_values("level")
        for index, detector in enumerate(detectors):
            ax.plot(part["level"], part[detector], marker="os^v"[index % 4], label=pretty(detector))
        ax.set_title(pretty(name), fontsize=9)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("level (0: clean)")
    for ax in axes[:, 0]:
        ax.set_ylabel("detection rate")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def frame_path_figure(frame_path: pd.DataFrame, threads: int = 1, figsize=(3.6, 3.0)):
    """Median time per camera frame of each stage (decode, detect, crop, classify) and of the
    whole path without decoding, one row per frame size and detector, at ``threads``, on a log
    axis (the stages differ by orders of magnitude). ``frame_path`` is
    ``facebench.frame_path_table``'s frame."""
    _require(frame_path, ("frame", "detector", "threads", "decode_median_ms", "detect_median_ms",
                          "crop_median_ms", "classify_median_ms", "path_median_ms"), "frame_path")  # fmt: skip
    part = frame_path[frame_path["threads"] == threads].reset_index(drop=True)
    labels = (part["frame"] + " " + part["detector"].map(pretty)).tolist()
    rows = np.arange(len(part))
    fig, ax = plt.subplots(figsize=figsize)
    for stage, marker in (("decode", "s"), ("detect", "o"), ("crop", "^"), ("classify", "v")):
        ax.scatter(part[f"{stage}_median_ms"], rows, marker=marker, s=28, label=stage, zorder=3)
    ax.scatter(part["path_median_ms"], rows, marker="|", s=260, color="black",
               label="path (detect + crop + classify)", zorder=4)  # fmt: skip
    ax.set_yticks(rows, labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(f"median ms per frame ({threads} thread{'s' if threads > 1 else ''})", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.invert_yaxis()
    ax.grid(alpha=0.3, which="both", axis="x")
    ax.legend(fontsize=6, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.22))
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
