#!/usr/bin/env python3
r"""Prove that the paper quotes no hand-typed number: every number comes from a generated macro.

    python scripts/check_paper_numbers.py [paper/main.tex]

Prints ``path:line: reason: text`` for every offending line and exits 1 when there is one.
There is no opt-out: a line that needs a number needs a macro from ``paper/generated/``.

What is checked
    Every line from ``\begin{document}`` to ``\end{document}``: the abstract, every section and
    appendix (also after the bibliography), captions, footnotes, tables, math, both branches of an
    ``\if...``. Comments are not printed and are not checked. A fragment without
    ``\begin{document}`` is checked as body. The preamble is checked too, so that a number cannot
    be defined by hand there and used in the body: it may hold no digit outside the arguments below
    and no number word at all. The bibliography file is not read.

Digits
    A digit is allowed only
    - in a name: the arguments of ``\cite`` (and its natbib forms, not their ``[p.~3]`` notes),
      ``\ref``, ``\eqref``, ``\pageref``, ``\autoref``, ``\cref``, ``\label``, ``\url``, the link
      (first argument only) of ``\href``, ``\includegraphics``, ``\figsource``, ``\graphicspath``,
      ``\bibliography``, ``\bibliographystyle``, environment names, the options and names of
      ``\documentclass`` and ``\usepackage``, and the ``[1]`` arity of a ``\newcommand``;
    - in ``\input``/``\include`` of a file under ``generated/`` (any other file is an offence: its
      numbers would not be checked; nor may the path climb out with ``..``);
    - in a length that lays out and prints nothing: ``\hspace``, ``\vspace``, ``\\[...]``,
      ``\setlength``/``\addtolength``, ``\resizebox``, ``\rule``, ``\parbox`` and ``minipage`` widths,
      ``width``/``height``/``totalheight`` in the optional argument of ``\includegraphics`` -- each
      only when it *is* a length (``3pt``, ``0.48\linewidth``; ``\hspace{3}`` is not);
    - in the column spec of ``tabular``, ``tabular*``, ``tabularx`` and ``array``, except the text
      that ``@{}``, ``!{}``, ``>{}`` and ``<{}`` print in every row, which is checked;
    - in ``#1``, a macro's parameter;
    - in the fixed names of NAMES below (F1, int8, MobileNetV3, ISO/IEC 30107-3, ...).
    Nothing else is stripped: there is no ``[...]`` or ``\texttt`` exemption, so ``[0.69, 0.89]``,
    ``\texttt{0.97}``, a short ``\caption[...]``, ``$3\times3$`` and ``\verb|7|`` are offences.
    Generated macros have names of letters only (LaTeX's rule), so ``\NumCrops{}`` holds no digit.

Numbers in words
    A number word followed by a counted noun quotes a setting or a result: ``three seeds``,
    ``ten epochs``, ``five families``, ``two threads``, ``four manipulation methods`` (at most two
    words may stand between them, none of them a function word such as ``of``/``the``/``per``;
    hyphens count as spaces, so ``ten-epoch`` is caught too).
    - Number words: zero, two to twenty, thirty to ninety, hundred, thousand, million, billion,
      dozen, double, triple, the ordinals third to tenth and twentieth, and ``one``/``single``.
      ``first`` and ``second`` read as order (and ``second`` is a unit), so they are not counted.
    - ``twice``, ``thrice`` and ``half`` are offences wherever they stand (``twice as fast``),
      except ``half-width``, the name of an interval's statistic.
    - ``one``/``single`` are exempt when they distribute (``one model per method``, ``one crop at
      a time``) and in ``leave-one-...-out``; ``one thread`` or ``a single seed`` is an offence.
    - A scale word right after a macro is that macro's unit (``\LightMMacs{} million``).
    - ALLOWED_PHRASES names the few counts that are facts of the task, not settings
      (``two classes``: the task is binary).
    Counted nouns are listed in COUNTED_NOUNS (seeds, epochs, methods, models, crops, threads,
    levels, splits, times, percent, ms, MB, ...), each also in the singular.
"""

from __future__ import annotations

import bisect
import re
import sys
from pathlib import Path

# Fixed names that contain digits but quote no number of this paper.
NAMES = re.compile(
    r"\bF1\b|\bint8\b|\bfloat(?:16|32)\b|\bReLU6\b|\bMobileNetV[23]\b|\bEfficientNet-B0\b|\bMeso-4\b"
    r"|\bDeeperForensics-1\.0\b|\bCeleb-DF(?:[ ~-]|\\ )?v2\b|\bISO/IEC(?:[ ~]|\\ )30107-3\b|\bc(?:23|40)\b"
)
NUMBER_WORDS = frozenset(
    "zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion dozen double triple "
    "third fourth fifth sixth seventh eighth ninth tenth twentieth".split()
)
ONE_WORDS = frozenset({"one", "single"})
ALWAYS_WORDS = frozenset({"twice", "thrice", "half"})
SCALE_WORDS = frozenset({"hundred", "thousand", "million", "billion"})
_NOUNS = (
    "seed epoch family method model identity group video frame crop image sample pixel bit run "
    "level degradation thread core baseline variant target fold split class layer block stage "
    "channel parameter batch step iteration resample notebook profile dataset detector runtime "
    "file point position rotation angle size member mistake pair invoke subject time "
    "minute hour day second percent cent ms KB MB GB KiB MiB GiB MAC FLOP fps accumulate"
).split()  # "accumulate": hyphens split words, so "multiply-accumulates" ends in it


def _plural(noun: str) -> str:
    if noun in {"batch", "class"}:
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


COUNTED_NOUNS = frozenset(
    {noun.lower() for noun in _NOUNS} | {_plural(noun).lower() for noun in _NOUNS} | {"%", "errors"}
)
# (number word, counted noun) pairs that state a fact of the task rather than a setting.
ALLOWED_PHRASES = frozenset({("two", "classes"), ("two", "class"), ("one", "class")})
# Words that end the window between a number word and its noun.
FUNCTION_WORDS = frozenset(
    "of the a an and or but nor to in on at by for from with without that which who whose is are "
    "was were be been being it its as than then per each every into onto over under between "
    "against not no more less most least this these those there their his her our we they "
    "if so such".split()
)
# Commands that only format their argument: transparent to the number-word rule.
WRAPPERS = frozenset(
    "textbf textit emph texttt textsc textrm textsf textup textmd textnormal text mbox underline "
    "textsl hbox".split()
)

UNITS = r"(?:pt|pc|in|bp|cm|mm|dd|cc|sp|em|ex|mu|px|fil{1,3}|\\[A-Za-z@]+)"
_FACTOR = r"[-+]?\s*(?:(?:\d+(?:\.\d*)?|\.\d+)\s*)?"
LENGTH = re.compile(
    rf"\s*(?:!|{_FACTOR}{UNITS}(?:\s*(?:plus|minus)\s*{_FACTOR}{UNITS})*)\s*"
)

# Argument specs, one letter per argument in order. Lower case: optional ([...]).
#   K/k a name, masked; o an optional text, checked; L/l masked when a length;
#   g graphics keys, width/height masked when lengths; I a file, allowed under generated/ only;
#   C a column spec; n the arity of a definition, masked when an integer.
COMMAND_ARGS = {
    **dict.fromkeys(("cite", "citep", "citet", "citealp", "citeauthor", "citeyear", "nocite"), "ooK"),
    **dict.fromkeys(("ref", "pageref", "eqref", "autoref", "cref", "Cref", "nameref", "label"), "K"),
    **dict.fromkeys(("url", "href", "figsource", "graphicspath", "bibliography", "bibliographystyle", "end"), "K"),
    **dict.fromkeys(("documentclass", "usepackage", "RequirePackage"), "kK"),
    "PassOptionsToPackage": "KK",
    "includegraphics": "gK",
    **dict.fromkeys(("input", "include"), "I"),
    **dict.fromkeys(("hspace", "vspace"), "L"),
    "\\": "l",
    **dict.fromkeys(("setlength", "addtolength"), "KL"),
    "resizebox": "LL",
    "rule": "lLL",
    "parbox": "oloL",
    **dict.fromkeys(("newcommand", "renewcommand", "providecommand", "DeclareRobustCommand"), "Kn"),
}
ENVIRONMENT_ARGS = {
    "tabular": "oC",
    "array": "oC",
    "tabular*": "LoC",
    "tabularx": "LoC",
    "minipage": "oloL",
}


def _blank_comments(text: str) -> str:
    """Replace every comment by spaces, keeping the text's length and line breaks."""
    out = []
    for line in text.split("\n"):
        cut = len(line)
        for match in re.finditer("%", line):
            backslashes = len(line[: match.start()]) - len(line[: match.start()].rstrip("\\"))
            if backslashes % 2 == 0:
                cut = match.start()
                break
        out.append(line[:cut] + " " * (len(line) - cut))
    return "\n".join(out)


def _skip_space(text: str, i: int) -> int:
    """Skip spaces and at most one line break (a blank line ends a command's arguments)."""
    j, breaks = i, 0
    while j < len(text) and text[j] in " \t\n":
        breaks += text[j] == "\n"
        if breaks > 1:
            return i
        j += 1
    return j


def _group(text: str, i: int, close: str):
    """``(start, end, after)`` of the balanced group opening at ``text[i]``; None if none."""
    if i >= len(text) or text[i] != ("{" if close == "}" else "["):
        return None
    depth, j = 0, i + 1
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return (i + 1, j, j + 1) if close == "}" else None
            depth -= 1
        elif char == close and depth == 0:
            return i + 1, j, j + 1
        j += 1
    return None


def _token_arg(text: str, i: int, letter: str):
    """An argument without braces: one control word or one character (a file name for ``I``)."""
    match = re.compile(r"\S+" if letter == "I" else r"\\[A-Za-z@]+|\S").match(text, i)
    return (match.start(), match.end(), match.end()) if match else None


class _Scan:
    """Masks the allowed spans of a text and collects the offences that are not digits."""

    def __init__(self, text: str):
        self.text = text
        self.masked: list[tuple[int, int]] = []
        self.notes: list[tuple[int, str]] = []  # (offset, reason)

    def mask(self, start: int, end: int) -> None:
        self.masked.append((start, end))

    def masked_text(self) -> str:
        chars = list(self.text)
        for start, end in self.masked:
            for k in range(start, end):
                if chars[k] != "\n":
                    chars[k] = " "
        return "".join(chars)

    def arguments(self, spec: str, i: int) -> int:
        for letter in spec:
            j = _skip_space(self.text, i)
            if letter.islower():
                group = _group(self.text, j, "]")
                if group is None:
                    continue
            else:
                group = _group(self.text, j, "}") or (_token_arg(self.text, j, letter) if letter in "KLI" else None)
                if group is None:
                    return i
            start, end, i = group
            self.argument(letter, start, end)
        return i

    def argument(self, letter: str, start: int, end: int) -> None:
        content = self.text[start:end]
        if letter in "Kk":
            self.mask(start, end)
        elif letter in "Ll":
            if LENGTH.fullmatch(content):
                self.mask(start, end)
        elif letter == "n":
            if content.strip().isdigit():
                self.mask(start, end)
        elif letter == "I":
            if content.strip().startswith("generated/") and ".." not in content:
                self.mask(start, end)
            else:
                self.notes.append((start, f"inputs {content.strip()!r}, which is not generated"))
        elif letter == "g":
            offset = start
            for item in content.split(","):
                key, _, value = item.partition("=")
                key = key.strip()
                if (key in {"width", "height", "totalheight"} and LENGTH.fullmatch(value)) or (
                    key in {"keepaspectratio", "clip", "draft"} and not value.strip("truefals ")
                ):
                    self.mask(offset, offset + len(item))
                offset += len(item) + 1
        elif letter == "C":
            keep, k = [], start
            while k < end:
                if self.text[k] in "@!<>":
                    group = _group(self.text, _skip_space(self.text, k + 1), "}")
                    if group and group[2] <= end:
                        keep.append((group[0], group[1]))
                        k = group[2]
                        continue
                k += 1
            cursor = start
            for keep_start, keep_end in keep:
                self.mask(cursor, keep_start)
                cursor = keep_end
            self.mask(cursor, end)

    def run(self) -> None:
        text, i = self.text, 0
        for match in NAMES.finditer(text):
            self.mask(match.start(), match.end())
        for match in re.finditer(r"#[1-9]", text):
            self.mask(match.start(), match.end())
        command = re.compile(r"\\([A-Za-z@]+|.)")
        while True:
            match = command.search(text, i)
            if match is None:
                return
            name, i = match.group(1), match.end()
            if name == "verb":
                i += text[i : i + 1] == "*"
                close = text.find(text[i], i + 1) if i < len(text) else -1
                i = close + 1 if close > 0 else i
                continue
            if i < len(text) and text[i] == "*":
                i += 1
            if name == "begin":
                group = _group(text, _skip_space(text, i), "}")
                if group:
                    self.mask(group[0], group[1])
                    spec = ENVIRONMENT_ARGS.get(text[group[0] : group[1]].strip(), "")
                    self.arguments(spec, group[2])
            elif name in COMMAND_ARGS:
                self.arguments(COMMAND_ARGS[name], i)


def _tokens(text: str):
    """``(offset, token)`` for prose: words, ``%``, ``MACRO`` (a command) or ``BREAK``."""
    pattern = re.compile(r"\\([A-Za-z@]+)|\\(.)|([A-Za-z][A-Za-z']*)|[{}\s~-]|(.)", re.S)
    for match in pattern.finditer(text):
        control, symbol, word, other = match.groups()
        if control is not None:
            if control not in WRAPPERS:
                yield match.start(), "MACRO"
        elif symbol is not None:
            if symbol == "%":
                yield match.start(), "%"
            elif symbol not in " ,;:!_":
                yield match.start(), "BREAK"
        elif word is not None:
            yield match.start(), word
        elif other is not None and not other.isdigit():
            yield match.start(), "BREAK"


def _number_words(text: str) -> list[tuple[int, str]]:
    """``(offset, reason)`` for every number written in words before a counted noun."""
    spelled = list(_tokens(text))
    tokens = [(offset, token if token in {"MACRO", "BREAK"} else token.lower()) for offset, token in spelled]
    found = []
    for k, (offset, word) in enumerate(tokens):
        before = tokens[k - 1][1] if k else ""
        if word in ALWAYS_WORDS:
            if word == "half" and tokens[k + 1 : k + 2] and tokens[k + 1][1] == "width":
                continue  # an interval's half-width is a statistic's name, not a count
            found.append((offset, f'number in words "{spelled[k][1]}"'))
            continue
        if word not in NUMBER_WORDS and word not in ONE_WORDS:
            continue
        if word in SCALE_WORDS and before == "MACRO":
            continue
        if word in ONE_WORDS and before == "leave":
            continue
        for j in range(k + 1, min(k + 4, len(tokens))):
            noun = tokens[j][1]
            if noun == "per" and tokens[j + 1 : j + 2] and tokens[j + 1][1] == "cent":
                j, noun = j + 1, "cent"
            if noun in COUNTED_NOUNS:
                after = [t for _, t in tokens[j + 1 : j + 4]]
                distributes = after[:1] == ["per"] or after == ["at", "a", "time"]
                if (word, noun) in ALLOWED_PHRASES or (word in ONE_WORDS and distributes):
                    break
                phrase = " ".join(t for _, t in spelled[k : j + 1])
                found.append((offset, f'number in words "{phrase}"'))
                break
            if noun in {"MACRO", "BREAK"} or noun in FUNCTION_WORDS:
                break
    return found


def offences(text: str) -> list[tuple[int, str, str]]:
    """``(line_number, reason, line)`` of every offence, one entry per offending line."""
    code = _blank_comments(text)
    begin = code.find("\\begin{document}")
    end = code.find("\\end{document}")
    if end >= 0:
        code = code[:end] + re.sub(r"[^\n]", " ", code[end:])
    scan = _Scan(code)
    scan.run()
    masked = scan.masked_text()
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    line_of = lambda offset: bisect.bisect_right(starts, offset)  # noqa: E731
    reasons: dict[int, list[str]] = {}

    def note(offset: int, reason: str) -> None:
        line = reasons.setdefault(line_of(offset), [])
        if reason not in line:
            line.append(reason)

    for offset, reason in scan.notes:
        note(offset, reason)
    for offset, char in enumerate(masked):
        if char.isnumeric():  # digits of any script, fractions, superscripts
            note(offset, "hand-typed number")
    body_start = max(begin, 0)
    preamble = masked[:body_start]
    for match in re.finditer(r"\\?[A-Za-z@]+", preamble):
        if match.group().lower() in NUMBER_WORDS | ONE_WORDS | ALWAYS_WORDS:
            note(match.start(), f'number word "{match.group()}" in the preamble')
    for offset, reason in _number_words(masked[body_start:]):
        note(body_start + offset, reason)
    lines = text.split("\n")
    return [(number, "; ".join(reasons[number]), lines[number - 1].strip()) for number in sorted(reasons)]


def offending(text: str) -> list[tuple[int, str]]:
    """``(line_number, line)`` of every offending line."""
    return [(number, line) for number, _, line in offences(text)]


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "paper" / "main.tex"
    found = offences(path.read_text(encoding="utf-8"))
    for number, reason, line in found:
        print(f"{path}:{number}: {reason}: {line}")
    if found:
        print(f"{len(found)} line(s) quote a number that no notebook generated; use a macro from paper/generated/")
        return 1
    print(f"{path}: every number in the paper is generated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
