"""Colab: each notebook's guarded set-up cell does nothing elsewhere, and nothing depends on the
current directory."""

import json
import re
import subprocess
import sys

import pytest

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def pins(path):
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if "==" in line)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_cell_is_a_no_op_outside_colab(path, monkeypatch, tmp_path):
    cell = code_cells(path)[0]
    assert '"google.colab" in sys.modules' in cell

    def forbidden(*args, **kwargs):
        raise AssertionError(f"the Colab cell acted outside Colab: {args}")

    monkeypatch.chdir(tmp_path)  # before os.chdir is replaced below
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr("os.chdir", forbidden)
    path_before = list(sys.path)
    exec(compile(cell, f"{path.name}[colab cell]", "exec"), {})
    assert sys.path == path_before


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_cell_in_a_fake_colab_clones_installs_and_imports_the_project(path, monkeypatch, tmp_path):
    """Executed as Colab would run it (a ``google.colab`` module present, a fresh /content): it
    clones the project, installs the Colab requirements with the kernel's own pip, makes lib/
    importable without a restart and moves into notebooks/; run again, it clones nothing."""
    import types

    cell = code_cells(path)[0]
    calls, moves, cloned = [], [], set()

    def run(command, check=False, **kwargs):
        calls.append(list(command))
        if command[:2] == ["git", "clone"]:
            cloned.add(command[-1])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr("os.chdir", moves.append)
    monkeypatch.setattr("os.path.isdir", lambda folder: folder in cloned)
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(cell, f"{path.name}[colab cell]", "exec"), {})
    clone, install = calls
    assert clone[:2] == ["git", "clone"] and clone[-2].startswith("https://github.com/") and clone[-1] == "/content/deepfake-iot"
    assert install[:4] == [sys.executable, "-m", "pip", "install"]
    assert install[-1] == "/content/deepfake-iot/requirements-colab.txt"
    assert sys.path[0] == "/content/deepfake-iot/lib" and moves == ["/content/deepfake-iot/notebooks"]
    exec(compile(cell, f"{path.name}[colab cell]", "exec"), {})
    assert len(calls) == 2, "a second run of the cell cloned or installed again"


def test_colab_requirements_pin_what_colab_lacks_as_the_project_does():
    colab, project = pins(ROOT / "requirements-colab.txt"), pins(ROOT / "requirements.txt")
    for package in ("tf-keras", "tensorflow-model-optimization", "tensorflow"):
        assert package in colab, f"requirements-colab.txt must pin {package}"
    for package, version in colab.items():
        assert project.get(package) == version, (
            f"{package}: Colab {version}, project {project.get(package)}"
        )


CWD_USES = re.compile(r"os\.getcwd\(|Path\.cwd\(|Path\(\s*['\"]\.|['\"]\.\./|os\.chdir\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_take_paths_from_the_package_not_the_current_directory(path):
    """Outside the Colab cell, no notebook reads the working directory or a ``..`` path."""
    for index, cell in enumerate(code_cells(path)[1:], start=1):
        match = CWD_USES.search(cell)
        assert match is None, (
            f"{path.name} code cell {index} depends on the working directory: {match.group(0)}"
        )
