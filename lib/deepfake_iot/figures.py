"""Saving figures, and only that: PDF for the paper, PNG for notebooks and the README, and the
provenance of each (notebook, commit, parameters, caption) in ``figures/manifest.json``, which
the paper's captions cite. Notebooks call it through ``Run.save_figure``; every figure is drawn
in ``plots.py``."""

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
