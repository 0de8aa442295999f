"""How the notebooks' results reach the paper, all generated: figures (PDF for the paper, PNG for
notebooks and the README, each recorded with its provenance in ``figures/manifest.json``, which
the captions cite), LaTeX booktabs tables (with a CSV twin under ``results/tables``) and
``\\newcommand`` macros under ``paper/generated``. Notebooks call them through
``Run.save_figure``, ``Run.write_table`` and ``Run.write_macros``; every figure is drawn in
``plots.py``. The facts of the build itself (commit, machine, which notebook drew each figure)
are ``build_facts.py``'s."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from deepfake_iot.paths import atomic_path, atomic_write_json, atomic_write_text, ensure_dir
from deepfake_iot.provenance import Stamp

_MACRO = re.compile(r"^[A-Za-z]+$")
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in str(text))


def format_number(value, digits: int = 3) -> str:
    """Integers with thin thousands separators, floats with ``digits`` decimals, text escaped."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "{,}")
    if isinstance(value, float):
        if math.isnan(value):
            return "--"
        return f"{value:,.{digits}f}".replace(",", "{,}")
    return latex_escape(value)


WHOLE_UNITS = ("Fps", "Mb", "MB", "KB", "Kb")  # frames per second and sizes: whole numbers
LATENCY_UNITS = ("Ms",)  # latencies: three significant digits


def carried(name: str, value):
    """``value`` rounded to what a macro of that name can carry: frames per second and sizes in
    whole units, latencies to three significant digits; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value):
        return value
    if name.endswith(WHOLE_UNITS):
        return int(round(value))
    if name.endswith(LATENCY_UNITS) and value:
        decimals = max(0, 2 - math.floor(math.log10(abs(value))))
        return f"{value:.{decimals}f}"
    return value


def write_macros(values: dict, path: Path, stamp: Stamp, digits: int = 3) -> Path:
    """One ``\\newcommand`` per entry; names are letters only (LaTeX's rule for macro names)."""
    lines = [stamp.header()]
    for name, value in values.items():
        if not _MACRO.match(name):
            raise ValueError(f"macro name '{name}' must be letters only (no digits, no '_')")
        lines.append(f"\\newcommand{{\\{name}}}{{{format_number(carried(name, value), digits)}}}\n")
    return atomic_write_text(path, "".join(lines))


def _whole(value):
    """A size or frame rate as a whole number (NaN and text pass through)."""
    value = value.item() if hasattr(value, "item") else value
    return int(round(value)) if isinstance(value, float) and math.isfinite(value) else value


def write_table(
    frame: pd.DataFrame,
    tex_path: Path,
    csv_path: Path,
    stamp: Stamp,
    digits: int = 3,
    column_format: str | None = None,
) -> Path:
    """A booktabs ``tabular`` (no float: the caption lives in main.tex) and its CSV twin.

    Numbers get ``digits`` decimals, except columns of sizes and frame rates (names ending in
    KB, MB or fps), which print whole: they carry no more."""
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    header = [latex_escape(column) for column in frame.columns]
    align = column_format or "l" + "r" * (len(frame.columns) - 1)
    lines = [
        stamp.header(),
        f"\\begin{{tabular}}{{{align}}}\n",
        "\\toprule\n",
        " & ".join(header) + " \\\\\n",
    ]
    lines.append("\\midrule\n")
    whole = [str(column).lower().endswith(("kb", "fps", "mb")) for column in frame.columns]
    for row in frame.itertuples(index=False):
        cells = [
            format_number(_whole(value) if is_whole else (value.item() if hasattr(value, "item") else value), digits)
            for value, is_whole in zip(row, whole, strict=True)
        ]
        lines.append(" & ".join(cells) + " \\\\\n")
    lines += ["\\bottomrule\n", "\\end{tabular}\n"]
    return atomic_write_text(tex_path, "".join(lines))


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve")  # fmt: skip


def number_word(count: int) -> str:
    """``count`` in words up to twelve (digits above), as prose writes small counts."""
    count = int(count)
    return NUMBER_WORDS[count] if 0 <= count < len(NUMBER_WORDS) else str(count)


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
