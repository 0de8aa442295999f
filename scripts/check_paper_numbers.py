#!/usr/bin/env python3
"""Prove that the paper quotes no hand-typed number where results are reported.

In the abstract and in every section whose title names results, experiments or the dataset,
every digit must come from a generated macro (``\\NumCrops{}``) or sit inside a reference, label,
citation, input or figure file name. Prints each offending line and exits 1 when there is one.

    python scripts/check_paper_numbers.py [paper/main.tex]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CHECKED_SECTIONS = re.compile(r"result|experiment|dataset|evaluation|latency", re.IGNORECASE)
# Commands whose braced argument may hold digits: references, files, labels, layout.
ALLOWED_ARGUMENTS = re.compile(
    r"\\(?:cite|ref|label|eqref|input|includegraphics|url|href|texttt|resizebox|begin|end|hspace|vspace)"
    r"(?:\[[^\]]*\])?\{[^}]*\}(?:\{[^}]*\})?"
)
# Names that contain digits but quote no result.
ALLOWED_WORDS = re.compile(
    r"\bF1\b|\bint8\b|\bfloat(?:16|32)\b|MobileNetV[23]|EfficientNet-B0|Meso-4|DeeperForensics-1\.0|Celeb-DF v2|ISO/IEC 30107-3"
)
ALLOW_LINE_COMMENT = "% numbers-ok"  # a line may opt out with a reason, e.g. a year in prose


def checked_lines(text: str):
    """Yield ``(line_number, line)`` of the abstract and of the checked sections."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("\\begin{abstract}"):
            inside = True
            continue
        if stripped.startswith("\\end{abstract}"):
            inside = False
            continue
        section = re.match(r"\\(sub)*section\*?\{([^}]*)\}", stripped)
        if section and not section.group(1):
            inside = bool(CHECKED_SECTIONS.search(section.group(2)))
            continue
        if inside:
            yield number, line


def offending(text: str) -> list[tuple[int, str]]:
    bad = []
    for number, line in checked_lines(text):
        if ALLOW_LINE_COMMENT in line:
            continue
        code = re.sub(r"(?<!\\)%.*", "", line)
        code = ALLOWED_ARGUMENTS.sub("", code)
        code = ALLOWED_WORDS.sub("", code)
        code = re.sub(r"\[[^\]]*\]", "", code)  # optional arguments: widths, placements
        if re.search(r"\d", code):
            bad.append((number, line.strip()))
    return bad


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "paper" / "main.tex"
    bad = offending(path.read_text(encoding="utf-8"))
    for number, line in bad:
        print(f"{path}:{number}: hand-typed number: {line}")
    if bad:
        print(f"{len(bad)} line(s) quote a number that no notebook generated; use a macro from paper/generated/")
        return 1
    print(f"{path}: every number in the checked sections is generated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
