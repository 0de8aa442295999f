"""Notebook hygiene: committed clean, same top in every notebook, a plain python3 kernel."""

import json

import pytest

from deepfake_iot.run_all import list_notebooks

from .conftest import ROOT

NOTEBOOKS = list_notebooks(ROOT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean(path):
    nb = json.loads(path.read_text())
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], (
                f"{path.name} cell {index} has outputs: jupyter nbconvert --clear-output --inplace {path}"
            )
            assert cell.get("execution_count") is None, (
                f"{path.name} cell {index} has an execution count"
            )
    assert "papermill" not in nb["metadata"], f"{path.name} is an executed copy"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_the_common_top(path):
    cells = json.loads(path.read_text())["cells"]
    source = ["".join(c["source"]) for c in cells]
    assert cells[0]["cell_type"] == "markdown" and source[0].startswith(f"# {path.name[:2]}")
    for word in ("Purpose", "Inputs", "Outputs", "Run time"):
        assert word in source[0], f"{path.name}: header lacks '{word}'"
    assert "colab.research.google.com" in source[1] and path.name in source[1]
    assert '"google.colab" in sys.modules' in source[2]
    tagged = [
        i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(tagged) == 1
    parameters = source[tagged[0]]
    for line in parameters.splitlines():
        if line.strip():
            assert "#" in line, f"{path.name}: parameter line without a comment: {line}"
    assert f'Run.start("{path.stem}", globals())' in source[tagged[0] + 1]


def test_notebooks_are_numbered_in_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path):
    """papermill's own parser must read each line, or it warns and drops injected values."""
    import papermill

    from deepfake_iot.params import notebook_parameters

    seen = set(papermill.inspect_notebook(str(path)))
    assert seen == set(notebook_parameters(path)), (
        f"papermill cannot parse: {set(notebook_parameters(path)) - seen}"
    )


MAX_LOGIC_LINES = 15


def logic_lines(source: str) -> int:
    """Lines that do something: not blank, not a comment (a statement's continuation lines count)."""
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_stay_short_enough_to_narrate(path):
    """A cell over 15 logic lines computes rather than narrates: its work belongs in the library.

    Exempt: the parameters cell, one documented parameter a line, which papermill needs as one
    tagged cell. The Colab set-up cell at the top is not exempt (it fits)."""
    cells = json.loads(path.read_text())["cells"]
    long = [
        (cell.get("id"), logic_lines("".join(cell["source"])))
        for cell in cells
        if cell["cell_type"] == "code" and "parameters" not in cell.get("metadata", {}).get("tags", [])
        and logic_lines("".join(cell["source"])) > MAX_LOGIC_LINES
    ]
    assert not long, f"{path.name}: cells over {MAX_LOGIC_LINES} logic lines (id, lines): {long}"


def test_logic_lines_skip_blanks_and_comments():
    assert logic_lines("x = 1\n\n# a note\n  # indented note\ny = f(\n    2)\n") == 3
