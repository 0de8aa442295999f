"""The paper's text quotes no hand-typed result."""

import importlib.util

from .conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "check_paper_numbers", ROOT / "scripts" / "check_paper_numbers.py"
)
checker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checker)


def lines_flagged(text):
    return [number for number, _ in checker.offending(text)]


def document(body, preamble=""):
    """A whole paper around ``body``; without a preamble the body starts at line 4."""
    return f"\\documentclass{{article}}\n{preamble}\\begin{{document}}\n\n{body}\n\\end{{document}}\n"


def test_main_tex_has_no_hand_typed_numbers():
    found = checker.offences((ROOT / "paper" / "main.tex").read_text())
    assert found == [], "\n".join(f"main.tex:{n}: {reason}: {line}" for n, reason, line in found)


def test_checker_catches_a_typed_number():
    text = "\\begin{abstract}\nWe reach an AUC of 0.93.\n\\end{abstract}\n\\section{Results}\nIt is \\Auc{} (Table~\\ref{tab:x2}).\n"
    assert lines_flagged(text) == [2]
    # every section counts, the method as much as the results
    text = "\\section{Experiments}\nAt 96 pixels.\n\\section{Method}\nAt 96 pixels.\n"
    assert lines_flagged(text) == [2, 4]


def test_names_with_digits_are_not_numbers():
    text = "\\section{Results}\nThe int8 MobileNetV2 has an F1 of \\Fone{}.\nAn F1 of 0.9.\n"
    assert lines_flagged(text) == [3]
    names = (
        "MobileNetV3-Small, EfficientNet-B0, Meso-4, ReLU6, float32/int8 and float16 files,\n"
        "DeeperForensics-1.0, Celeb-DF v2, FaceForensics++ c23 and c40, ISO/IEC 30107-3.\n"
    )
    assert lines_flagged(document(names)) == []


def test_every_line_of_the_body_is_checked():
    method = "\\section{Method}\nWe train at a learning rate of 0.002.\n"
    assert lines_flagged(document(method)) == [5]
    caption = (
        "\\begin{figure}[t]\n\\centering\n\\includegraphics[width=\\columnwidth]{roc.pdf}\n"
        "\\caption{ROC curves; the best AUC is\n0.97 (\\figsource{roc}).}\n\\label{fig:roc}\n\\end{figure}"
    )
    assert lines_flagged(document(caption)) == [8]
    footnote = "Trained on a GPU.\\footnote{For 7 hours.}"
    assert lines_flagged(document(footnote)) == [4]
    appendix = "Text.\n\\bibliographystyle{IEEEtran}\n\\bibliography{refs2024}\n\\appendix\n\\section{More}\nAn AUC of 0.91.\n"
    assert lines_flagged(document(appendix)) == [9]
    after_the_end = document("Text.") + "0.97 is not printed\n"
    assert lines_flagged(after_the_end) == []
    assert lines_flagged(document("% a comment with 0.97 is not printed")) == []


def test_brackets_and_texttt_hide_no_number():
    assert lines_flagged(document("The interval is [0.69, 0.89] here.")) == [4]
    assert lines_flagged(document("A threshold of \\texttt{0.97}.")) == [4]
    assert lines_flagged(document("Set by \\texttt{aug\\_sbi\\_prob} in \\texttt{params/default.yaml}.")) == []
    assert lines_flagged(document("A short caption: \\caption[AUC 0.97]{ROC curves.}")) == [4]
    assert lines_flagged(document("Kernels of $3\\times3$ and \\verb|7| and \\cite[p.~3]{a2019}.")) == [4]
    assert lines_flagged(document("\\href{https://x.org/v2}{version 2}")) == [4]


def test_layout_lengths_are_not_numbers_but_other_arguments_are():
    layout = (
        "\\begin{table*}[t]\n\\centering\n\\begin{tabular}{lrr}\nA & \\NumCrops{} \\\\[2pt]\n\\end{tabular}\n"
        "\\end{table*}\n\\hspace{3pt}\\vspace*{-0.5\\baselineskip}\\setlength{\\tabcolsep}{4pt}\n"
        "\\includegraphics[width=0.48\\linewidth]{figures/roc_curves.pdf}\n"
        "\\resizebox{0.9\\columnwidth}{!}{\\input{generated/tables/test_results2}}\n"
        "\\begin{tabular*}{\\linewidth}{@{}p{2cm}*{3}{c}@{}}\\end{tabular*}\n"
        "See Fig.~\\ref{fig:x}, Eq.~\\eqref{eq:x1}, \\cite{a2019,b2020}, \\url{https://x.org/2}.\\label{sec:x3}\n"
    )
    assert lines_flagged(document(layout)) == []
    assert lines_flagged(document("\\hspace{3}")) == [4]
    assert lines_flagged(document("\\includegraphics[scale=0.5]{roc.pdf}")) == [4]
    assert lines_flagged(document("\\begin{tabular}{l@{ 0.97 }r}\\end{tabular}")) == [4]
    assert lines_flagged(document("\\input{sections/results}")) == [4]


def test_numbers_in_words_are_numbers():
    for phrase in (
        "We train three seeds.",
        "It has five families.",
        "For ten epochs.",
        "With two threads.",
        "It compares four methods.",
        "Four manipulation methods.",
        "A ten-epoch schedule.",
        "Over \\emph{three} seeds.",
        "With one thread.",
        "From a single training seed.",
        "It is twice as fast.",
        "Within half a point.",
        "About four times smaller.",
        "At twenty-five\npercent.",
        "Five per cent of them.",
    ):
        assert lines_flagged(document(phrase)) == [4], phrase
    for phrase in (
        "One model per method, one crop at a time, leave-one-method-out.",
        "The mean recall of the two classes.",
        "It has \\LightMMacs{} million multiply-accumulates and \\NumSeeds{} seeds.",
        "The first with higher quality, the second dataset, one of the models.",
        "One question, the one that the device pins, an interval that excludes zero.",
        "Compared with \\LightVsMobileNetThree{} times.",
    ):
        assert lines_flagged(document(phrase)) == [], phrase


def test_no_opt_out_and_no_numbers_defined_by_hand():
    assert lines_flagged(document("An AUC of 0.93. % numbers-ok: quoted from a paper")) == [4]
    assert "numbers-ok" not in (ROOT / "paper" / "main.tex").read_text()
    preamble = "\\usepackage[T1]{fontenc}\n\\input{generated/macros_01_data_setup}\n\\newcommand{\\Fig}[1]{see #1}\n"
    assert lines_flagged(document("Text.", preamble)) == []
    assert lines_flagged(document("\\Auc{}", "\\newcommand{\\Auc}{0.97}\n")) == [2]
    assert lines_flagged(document("\\Seeds{} seeds", "\\newcommand{\\Seeds}{three}\n")) == [2]
    assert lines_flagged(document("Text.", "\\input{numbers}\n")) == [2]


def test_checker_reports_path_line_reason_and_text(tmp_path, capsys):
    paper = tmp_path / "main.tex"
    paper.write_text(document("We train three seeds.\nAn AUC of 0.93."))
    assert checker.main(["check", str(paper)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f'{paper}:4: number in words "three seeds": We train three seeds.'
    assert out[1] == f"{paper}:5: hand-typed number: An AUC of 0.93."
    assert out[2].startswith("2 line(s)")
    paper.write_text(document("An AUC of \\TestAucInt{}."))
    assert checker.main(["check", str(paper)]) == 0
    assert "every number in the paper is generated" in capsys.readouterr().out


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
