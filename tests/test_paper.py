"""The paper's text quotes no hand-typed result."""

import importlib.util

from .conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "check_paper_numbers", ROOT / "scripts" / "check_paper_numbers.py"
)
checker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checker)


def test_main_tex_has_no_hand_typed_numbers():
    assert checker.offending((ROOT / "paper" / "main.tex").read_text()) == []


def test_checker_catches_a_typed_number():
    text = "\\begin{abstract}\nWe reach an AUC of 0.93.\n\\end{abstract}\n\\section{Results}\nIt is \\Auc{} (Table~\\ref{tab:x2}).\n"
    assert [n for n, _ in checker.offending(text)] == [2]
    text = "\\section{Experiments}\nAt 96 pixels.\n\\section{Method}\nAt 96 pixels.\n"
    assert [n for n, _ in checker.offending(text)] == [2]


def test_names_with_digits_are_not_numbers():
    text = "\\section{Results}\nThe int8 MobileNetV2 has an F1 of \\Fone{}.\nAn F1 of 0.9.\n"
    assert [n for n, _ in checker.offending(text)] == [3]


TEX = (ROOT / "paper" / "main.tex").read_text()
BIB = (ROOT / "paper" / "refs.bib").read_text()


def test_every_figure_caption_names_its_notebook_from_the_manifest():
    import re

    figures = re.findall(r"\\begin\{figure\*?\}.*?\\end\{figure\*?\}", TEX, flags=re.S)
    assert figures
    for block in figures:
        graphic = re.search(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]+)\}", block).group(1)
        name = graphic.rsplit(".", 1)[0]
        assert f"\\figsource{{{name}}}" in block, (
            f"caption of {graphic} must say \\figsource{{{name}}}"
        )
        assert "notebooks/" not in block, f"caption of {graphic} names a notebook by hand"


def test_references_labels_and_citations_resolve():
    import re

    labels = set(re.findall(r"\\label\{([^}]+)\}", TEX))
    refs = set(re.findall(r"\\ref\{([^}]+)\}", TEX))
    assert refs <= labels, f"\\ref without \\label: {sorted(refs - labels)}"
    keys = set(re.findall(r"@\w+\{([^,]+),", BIB))
    cited = {
        key.strip() for group in re.findall(r"\\cite\{([^}]+)\}", TEX) for key in group.split(",")
    }
    assert cited <= keys, f"cited but not in refs.bib: {sorted(cited - keys)}"


def test_related_work_cites_the_works_it_builds_on():
    for key in (
        "roessler2019faceforensics",  # FaceForensics++
        "li2020celebdf",
        "jiang2020deeperforensics",
        "afchar2018mesonet",
        "chollet2017xception",
        "sandler2018mobilenetv2",
        "howard2019mobilenetv3",
        "tan2019efficientnet",
        "shiohara2022sbi",
        "li2020facexray",
        "yan2023deepfakebench",
        "jacob2018quantization",
        "tflite",
    ):
        assert f"{{{key}," in BIB and key in TEX, key


def test_paper_has_every_section_and_names_its_build():
    for section in (
        "Introduction",
        "Related work",
        "Dataset",
        "Method",
        "Experiments and results",
        "Limitations and ethics",
        "Reproducibility",
    ):
        assert f"\\section{{{section}}}" in TEX, section
    assert "\\input{generated/build}" in TEX
    for macro in ("\\BuildCommit", "\\RunCommits", "\\BuildCpu", "\\BuildCores", "\\RunProfiles"):
        assert macro in TEX.split("\\section{Reproducibility}")[1], macro
