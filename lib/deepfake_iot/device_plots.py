"""The device benchmark's figures (notebook 06): latency per model and variant, LiteRT beside ONNX
Runtime, thread scaling, latency against AUC, the latency/AUC trade-off of the sweep, face
detection rates under the IoT degradations, and the whole frame path per stage.

Each function returns a matplotlib ``Figure`` and saves nothing, like ``plots.py``. No
TensorFlow and no scikit-learn: this runs on the device.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from deepfake_iot.plots import pretty, require_columns


def latency_vs_auc_figure(df: pd.DataFrame, figsize=(5.2, 4.0), log_latency: bool = True):
    """ROC-AUC against latency per image: one marker per model/variant, colour by model and
    shape by variant. ``df`` has columns ``model, variant, latency_ms, auc``."""
    import seaborn as sns  # imported here: keeps importing this module light

    require_columns(df, ("model", "variant", "latency_ms", "auc"), "latency_vs_auc_figure")
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


def latency_figure(latency: pd.DataFrame, threads: int = 1):
    """Bare-invoke latency per file (log): bar at the median, whiskers from min to p99.

    ``timing`` has ``model``, ``variant``, ``median_ms``, ``min_ms``, ``p99_ms`` (one row per file,
    as measured at ``threads``, which only labels the axis)."""
    require_columns(latency, ("model", "variant", "median_ms", "min_ms", "p99_ms"), "latency_figure")
    names = latency["model"].map(pretty) + " " + latency["variant"].map(pretty)
    fig, ax = plt.subplots(figsize=(7.0, 0.28 * len(latency) + 1.0))
    whiskers = [latency["median_ms"] - latency["min_ms"], latency["p99_ms"] - latency["median_ms"]]
    ax.barh(names, latency["median_ms"], xerr=whiskers, color="C0", alpha=0.8)
    ax.set_xscale("log")
    thread_word = "thread" if threads == 1 else "threads"
    ax.set_xlabel(f"latency per frame, ms (bar: median; whiskers: min to p99), {threads} {thread_word}")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def runtime_figure(table: pd.DataFrame):
    """Median invoke latency (log) of the same models under each runtime: a group of bars per
    model and variant, a bar per runtime (``runtimes.runtime_table``'s frame; "fails": no bar)."""
    require_columns(table, ("model", "variant"), "runtime_figure")
    columns = [column for column in table.columns if column not in ("model", "variant")]
    values = table[columns].apply(pd.to_numeric, errors="coerce")
    height = 0.8 / max(1, len(columns))
    positions = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(7.0, 0.25 * len(table) * max(2, len(columns)) + 1.2))
    for index, column in enumerate(columns):
        ax.barh(positions + index * height, values[column], height=height, label=column, color=f"C{index}")
    ax.set_yticks(positions + height * (len(columns) - 1) / 2,
                  table["model"].map(pretty) + " " + table["variant"].map(pretty))  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("median invoke latency, ms, one thread (each runtime in a process of its own)")
    ax.invert_yaxis()
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def thread_scaling_figure(latency: pd.DataFrame, figsize=(4.5, 3.0)):
    """Median latency (log) against interpreter threads, one line per model and variant."""
    require_columns(latency, ("model", "variant", "threads", "median_ms"), "thread_scaling_figure")
    scaling = latency.pivot_table(index=["model", "variant"], columns="threads", values="median_ms")
    fig, ax = plt.subplots(figsize=figsize)
    for (model_name, variant), values in scaling.iterrows():
        ax.plot(values.index, values.to_numpy(), marker="o", label=pretty(f"{model_name} {variant}"))
    ax.set_xlabel("threads")
    ax.set_ylabel("median latency, ms")
    ax.set_yscale("log")
    ax.set_xticks(list(scaling.columns))
    ax.legend(fontsize=5, ncols=2)
    fig.tight_layout()
    return fig


def tradeoff_figure(trade: pd.DataFrame, figsize=(5.5, 3.8)):
    """int8 latency (log) against validation AUC of the int8 files: the compared models and the
    light CNN sweep, each point named. ``trade`` is ``timing.tradeoff``'s table."""
    require_columns(trade, ("model", "group", "int8_ms", "val_auc"), "tradeoff_figure")
    fig, ax = plt.subplots(figsize=figsize)
    for kind, color, marker in (("main", "C0", "o"), ("sweep", "C1", "s")):
        part = trade[trade["group"] == kind]
        ax.scatter(part["int8_ms"], part["val_auc"], color=color, marker=marker, s=36,
                   label="compared models" if kind == "main" else "light CNN sweep")
        for row in part.itertuples():
            ax.annotate(pretty(row.model), (row.int8_ms, row.val_auc), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("int8 median latency, ms (1 thread, this device)")
    ax.set_ylabel("validation AUC of the int8 file")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def detection_rate_figure(rates: pd.DataFrame, ncols: int = 3, panel_size=(2.6, 2.1)):
    """Face detection rate against degradation level, one panel per degradation, one line per
    detector; the clean frames' rate is level 0 of every panel. ``rates`` is
    ``detector_study.rate_table``'s frame (degradation, level, one column per detector)."""
    require_columns(rates, ("degradation", "level"), "rates")
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
    ``frame_path_study.frame_path_table``'s frame."""
    require_columns(frame_path, ("frame", "detector", "threads", "decode_median_ms", "detect_median_ms",
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
