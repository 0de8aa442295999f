"""Save every figure one way: PDF for the paper, PNG for notebooks and the README, provenance in
``figures/manifest.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from deepfake_iot.paths import atomic_path, atomic_write_json, ensure_dir
from deepfake_iot.provenance import Stamp

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


def save_figure(
    fig, name: str, figures_dir: Path, stamp: Stamp, caption: str = "", dpi: int = 150
) -> dict:
    """Write ``name.pdf`` and ``name.png`` atomically and record them in the manifest."""
    if not _NAME.match(name):
        raise ValueError(f"figure name '{name}' must be lower-case letters, digits, '_' or '-'")
    figures_dir = ensure_dir(figures_dir)
    files = []
    for ext in ("pdf", "png"):
        target = figures_dir / f"{name}.{ext}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
        files.append(target.name)
    entry = {**stamp.as_dict(), "files": files, "caption": caption}
    manifest_path = figures_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest[name] = entry
    atomic_write_json(manifest_path, manifest)
    return entry


def sample_grid(manifest, data_dir: Path, per_method: int = 6, seed: int = 0, split: str = "train"):
    """One row per method ('real' first), ``per_method`` crops from different videos of ``split``."""
    import cv2
    import matplotlib.pyplot as plt
    import numpy as np

    part = manifest[manifest["split"] == split]
    methods = ["real"] + sorted(m for m in part["method"].unique() if m != "real")
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        len(methods), per_method, figsize=(1.3 * per_method, 1.4 * len(methods)), squeeze=False
    )
    for row, method in enumerate(methods):
        videos = part.loc[part["method"] == method, "video_id"].unique()
        picked = (
            rng.choice(videos, size=min(per_method, len(videos)), replace=False)
            if len(videos)
            else []
        )
        for col in range(per_method):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(picked):
                rows = part[part["video_id"] == picked[col]]
                image = cv2.imread(
                    str(Path(data_dir) / rows.iloc[len(rows) // 2]["path"]), cv2.IMREAD_COLOR
                )
                ax.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            else:
                ax.axis("off")
            if col == 0:
                ax.set_ylabel(method.replace("_", " "), fontsize=8)
    fig.tight_layout(pad=0.2)
    return fig


def degradation_grid(image_bgr, names, levels, seed: int = 0):
    """One face under every degradation (rows) at every level (columns), via the OpenCV suite."""
    import cv2
    import matplotlib.pyplot as plt

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
                ax.set_ylabel(name.replace("_", " "), fontsize=7)
    fig.tight_layout(pad=0.2)
    return fig


def image_grid(images, labels=None, columns: int = 8, label_names=("real", "fake")):
    """A grid of RGB float images in [0, 1] (a batch from the input pipeline), titled by label."""
    import matplotlib.pyplot as plt
    import numpy as np

    images = np.asarray(images)
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.3 * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            ax.imshow(np.clip(images[index], 0, 1))
            if labels is not None:
                ax.set_title(label_names[int(labels[index])], fontsize=7)
    fig.tight_layout(pad=0.2)
    return fig


def training_curves(histories: dict):
    """Loss and AUC per epoch for each model: training solid, validation dashed.

    ``histories`` maps a model name to its Keras CSV log (columns epoch, loss, auc, val_loss, val_auc).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.6))
    for index, (name, history) in enumerate(histories.items()):
        color = f"C{index}"
        epochs = history["epoch"] + 1
        for ax, metric in zip(axes, ("loss", "auc"), strict=True):
            ax.plot(epochs, history[metric], color=color, label=name.replace("_", " "))
            ax.plot(epochs, history[f"val_{metric}"], color=color, linestyle="--")
    axes[0].set_ylabel("binary cross-entropy")
    axes[1].set_ylabel("AUC")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, title="solid: train, dashed: validation", title_fontsize=7)
    fig.tight_layout()
    return fig
