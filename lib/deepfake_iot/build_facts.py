"""What the paper says about its own build: commit, machine, run time, and which notebook made
each figure, written as ``paper/generated/build.tex`` by the runner just before LaTeX runs (the
results' numbers and tables are ``publish.py``'s, written by the notebooks themselves).

``\\figsource{name}`` prints the notebook that saved ``figures/name.pdf`` (read from the figure
manifest that :func:`deepfake_iot.publish.save_figure` keeps), so a caption never names its
notebook by hand. ``\\ifSyntheticData`` is true when the run used the synthetic benchmark, so the
text can describe the dataset the run used. ``\\ifStudy<Name>`` is true when the run carried out
that optional study (``STUDIES``: its result file holds rows), so a profile that turns a study off
still builds a whole paper, saying in one sentence that the study was not run.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

from deepfake_iot.machine import device_info
from deepfake_iot.paths import (
    ABLATION,
    CROSS_DATASET,
    CROSS_MANIPULATION,
    DATA_SETUP,
    ONNX_EXPORT,
    SBI_STUDY,
    SWEEP_MODELS,
    atomic_write_text,
    handoff,
    read_json,
)
from deepfake_iot.provenance import git_state
from deepfake_iot.publish import format_number, latex_escape, number_word

NOTEBOOK_URL = (
    "https://github.com/deepfake-iot/deepfake-iot-compendium/blob/main/notebooks/{}.ipynb"
)


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return pages * size / 2**30


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict:
    """The build machine in a few words, from ``machine.device_info`` (no TensorFlow import:
    versions come from metadata)."""
    info = device_info()
    memory = _memory_gib()
    return {
        "cpu": info["cpu"],
        "cores": info["cores"] or 0,
        "memory_gib": round(memory) if memory else 0,
        "gpu": ", ".join(f"{info['gpus'].count(n)} x {n}" for n in dict.fromkeys(info["gpus"])) or "none",
        "os": info["os"],
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
    }


def figure_sources(manifest_path: Path) -> dict[str, dict]:
    """``{figure name: manifest entry}``; empty when no notebook saved a figure yet."""
    if not manifest_path.is_file():
        return {}
    try:
        return json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"figure manifest {manifest_path} is not valid JSON: {error}") from error


def _texttt(text: str) -> str:
    return f"\\texttt{{{latex_escape(text)}}}"


# LaTeX switch -> the result file whose rows say that the optional study ran
STUDIES = {
    "StudyAblation": ABLATION,
    "StudySbi": SBI_STUDY,
    "StudyLofo": CROSS_MANIPULATION,
    "StudyCrossDataset": CROSS_DATASET,
    "StudySweep": SWEEP_MODELS,
    "StudyOnnx": ONNX_EXPORT,  # notebook 04 exported ONNX files (export_onnx, tf2onnx installed)
}


def study_ran(out: Path, name: str) -> bool:
    """Whether the result file ``name`` (a CSV table or a JSON list) of the run under ``out``
    holds at least one row."""
    path = handoff(out, name)
    if not path.is_file() or not path.read_text().strip():
        return False
    if path.suffix == ".json":
        return bool(read_json(path, default=[]))
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return len(lines) > 1


GPU_RUNTIMES = ("tensorrt", "cuda")  # a committed device row that ran on one of these used a GPU


def gpu_measured(root: Path) -> bool:
    """Whether a committed device run (``results/device/<device>/*.json`` of the checkout
    ``root``) holds a row timed on a GPU: a TensorRT or CUDA provider, or a trtexec run."""
    for path in sorted((Path(root) / "results" / "device").glob("*/*.json")):
        try:
            rows = json.loads(path.read_text()).get("rows") or []
        except (OSError, ValueError, AttributeError):
            continue
        for row in (row for row in rows if isinstance(row, dict)):
            names = f"{row.get('runtime', '')} {row.get('provider', '')}".lower()
            if any(name in names for name in GPU_RUNTIMES):
                return True
    return False


def study_switches(out: Path) -> str:
    """``\\newif\\ifStudy<Name>`` and its value for every optional study of ``STUDIES``."""
    return "".join(f"\\newif\\if{switch}\n\\{switch}{'true' if study_ran(out, name) else 'false'}\n"
                   for switch, name in STUDIES.items())


# Profiles that test the code, not the method: a paper or an index built from one says on its
# first page that its numbers are meaningless (``\ifScratchRun``, ``\ScratchNote``).
SCRATCH_PROFILES = ("smoke",)
SCRATCH_NOTE = (
    "This build ran the {profiles} profile: seconds of training on a handful of synthetic faces, "
    "to test the code. Every number, table and figure in it is meaningless; do not cite them."
)


def scratch_profiles(profiles) -> list[str]:
    """The profiles among ``profiles`` that only test the code (``SCRATCH_PROFILES``)."""
    return sorted({str(p) for p in profiles} & set(SCRATCH_PROFILES))


def scratch_note(profiles) -> str:
    """The first-page warning for a build from a scratch profile; empty for a real run."""
    scratch = scratch_profiles(profiles)
    return SCRATCH_NOTE.format(profiles=" and ".join(scratch)) if scratch else ""


def build_macros(out: Path, root: Path, run_status: dict | None = None) -> str:
    """The text of ``build.tex`` for the run under ``out`` of the checkout ``root``."""
    commit, dirty = git_state(root)
    manifest = figure_sources(out / "figures" / "manifest.json")
    dataset = read_json(handoff(out, DATA_SETUP), default={}).get("dataset", "")
    run_commits = sorted({entry.get("commit", "unknown") for entry in manifest.values()})
    profiles = sorted({entry.get("profile", "unknown") for entry in manifest.values()})
    seconds = sum(
        row.get("seconds") or 0.0
        for row in (run_status or {}).values()
        if row.get("status") == "ok"
    )
    machine = machine_info()
    values = {
        "BuildCommit": commit + (" (with uncommitted changes)" if dirty else ""),
        "RunCommits": ", ".join(run_commits) or commit,
        "RunProfiles": ", ".join(profiles) or "none",
        "BuildCpu": machine["cpu"],
        "BuildCores": machine["cores"],
        "BuildMemoryGiB": machine["memory_gib"],
        "BuildGpu": machine["gpu"],
        "BuildOs": machine["os"],
        "BuildPython": machine["python"],
        "BuildTensorflow": machine["tensorflow"],
        "NotebookMinutes": round(seconds / 60.0, 1),
        "NumNotebooks": number_word(len(list((root / "notebooks").glob("[0-9][0-9]_*.ipynb")))),
    }
    note = scratch_note(profiles + [row.get("profile", "") for row in (run_status or {}).values()])
    values["ScratchNote"] = note
    lines = [
        f"% generated by run_all.sh when it built the paper, at commit {commit}; do not edit\n",
        "\\newif\\ifSyntheticData\n",
        f"\\SyntheticData{'true' if dataset == 'synthetic' else 'false'}\n",
        "\\newif\\ifScratchRun\n",
        f"\\ScratchRun{'true' if note else 'false'}\n",
        study_switches(out),
        "\\newif\\ifGpuMeasured\n",
        f"\\GpuMeasured{'true' if gpu_measured(root) else 'false'}\n",
    ]
    for name, value in values.items():
        text = format_number(value, 1) if not isinstance(value, str) else latex_escape(value)
        lines.append(f"\\newcommand{{\\{name}}}{{{text}}}\n")
    lines.append(
        "% \\figsource{name}: the notebook that saved figures/name.pdf, from figures/manifest.json\n"
        "\\DeclareRobustCommand{\\figsource}[1]{\\ifcsname figsource@#1\\endcsname"
        "\\csname figsource@#1\\endcsname\\else"
        "\\textbf{(no notebook recorded this figure)}"
        "\\PackageWarning{build}{figure #1 has no entry in figures/manifest.json}\\fi}\n"
    )
    for name, entry in sorted(manifest.items()):
        notebook = entry.get("notebook", "unknown")
        link = (
            f"\\href{{{NOTEBOOK_URL.format(notebook)}}}{{{_texttt(f'notebooks/{notebook}.ipynb')}}}"
        )
        lines.append(f"\\expandafter\\def\\csname figsource@{name}\\endcsname{{{link}}}\n")
    return "".join(lines)


def write_build_macros(out: Path, root: Path, run_status: dict | None = None) -> Path:
    """Write ``out/paper/generated/build.tex`` (see :func:`build_macros`)."""
    return atomic_write_text(
        out / "paper" / "generated" / "build.tex", build_macros(out, root, run_status)
    )
