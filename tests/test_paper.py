"""The paper's text quotes no hand-typed result."""

import importlib.util

from .conftest import ROOT

spec = importlib.util.spec_from_file_location("check_paper_numbers", ROOT / "scripts" / "check_paper_numbers.py")
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
