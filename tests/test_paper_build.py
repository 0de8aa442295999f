"""The paper's build macros: commit, machine, dataset switch, and each figure's notebook.

The whole PDF is built and checked for LaTeX warnings by the end-to-end smoke run
(tests/test_run_all.py); here a small document checks the macros themselves with LaTeX.
"""

import json
import re
import shutil
import subprocess

import pytest

from deepfake_iot.build_facts import build_macros, write_build_macros

from .conftest import ROOT


def fake_run(tmp_path, dataset="synthetic"):
    (tmp_path / "figures").mkdir(parents=True)
    (tmp_path / "results").mkdir()
    manifest = {
        "data_samples": {"notebook": "01_data_setup", "profile": "smoke", "commit": "abc123def456"},
        "latency_auc": {
            "notebook": "06_device_benchmark",
            "profile": "smoke",
            "commit": "abc123def456",
        },
    }
    (tmp_path / "figures" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "results" / "data_setup.json").write_text(json.dumps({"dataset": dataset}))
    return tmp_path


def test_macros_name_commit_machine_and_figure_notebooks(tmp_path):
    status = {
        "01_data_setup": {"status": "ok", "seconds": 90.0},
        "02_x": {"status": "failed", "seconds": 600.0},
    }
    text = build_macros(fake_run(tmp_path), ROOT, status)
    assert "\\SyntheticDatatrue" in text
    assert "\\newcommand{\\RunCommits}{abc123def456}" in text
    assert "\\newcommand{\\RunProfiles}{smoke}" in text
    assert "\\newcommand{\\NotebookMinutes}{1.5}" in text  # failed notebooks do not count
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert re.search(r"\\newcommand\{\\BuildCommit\}\{" + re.escape(commit), text)
    for name in (
        "BuildCpu",
        "BuildCores",
        "BuildMemoryGiB",
        "BuildGpu",
        "BuildOs",
        "BuildTensorflow",
    ):
        assert f"\\newcommand{{\\{name}}}" in text
    assert "figsource@data_samples\\endcsname{\\href{" in text
    assert (
        "notebooks/01\\_data\\_setup.ipynb" in text
        and "notebooks/06\\_device\\_benchmark.ipynb" in text
    )


def test_real_dataset_turns_the_synthetic_switch_off(tmp_path):
    assert "\\SyntheticDatafalse" in build_macros(fake_run(tmp_path, "ffpp"), ROOT)


def test_no_run_yet_still_gives_valid_macros(tmp_path):
    text = build_macros(tmp_path, ROOT)
    assert "\\SyntheticDatafalse" in text and "\\DeclareRobustCommand{\\figsource}" in text


def test_damaged_manifest_names_its_path(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match="manifest.json"):
        build_macros(tmp_path, ROOT)


DOCUMENT = r"""\documentclass[conference]{IEEEtran}
\usepackage[T1]{fontenc}
\usepackage[hidelinks]{hyperref}
\input{generated/build}
\begin{document}
\ifSyntheticData synthetic\else real\fi; commit \texttt{\BuildCommit{}} on \BuildCpu{}.
\begin{figure}[t]\centering x\caption{Samples (\figsource{data_samples}).}\label{fig:a}\end{figure}
\begin{figure}[t]\centering y\caption{Latency (\figsource{latency_auc}).}\label{fig:b}\end{figure}
\begin{figure}[t]\centering z\caption{Other (\figsource{not_saved}).}\label{fig:c}\end{figure}
Figs.~\ref{fig:a}, \ref{fig:b}, \ref{fig:c}.
\end{document}
"""


@pytest.mark.skipif(not shutil.which("latexmk"), reason="needs latexmk and TeX Live")
def test_captions_name_their_notebook_in_latex(tmp_path):
    out = fake_run(tmp_path / "out")
    write_build_macros(out, ROOT)
    paper = out / "paper"
    (paper / "main.tex").write_text(DOCUMENT)
    result = subprocess.run(
        ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
        cwd=paper,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (paper / "main.log").read_text(errors="replace")
    assert result.returncode == 0, log[-3000:]
    warnings = [line for line in log.splitlines() if "Warning" in line]
    # Only the figure that no notebook saved warns, and it names itself.
    assert len(warnings) == 1 and "not_saved" in warnings[0], warnings
    pdftotext = shutil.which("pdftotext")
    if pdftotext:
        text = subprocess.run(
            [pdftotext, str(paper / "main.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert (
            "notebooks/01_data_setup.ipynb" in text
            and "notebooks/06_device_benchmark.ipynb" in text
        )
        assert "synthetic" in text


def test_study_switches_follow_the_result_files(tmp_path):
    """A study the profile turned off leaves an empty table (or list): its switch is false, and the
    paper prints one sentence instead of a section that would need its figures."""
    from deepfake_iot.build_facts import study_switches

    run = fake_run(tmp_path)
    (run / "results" / "ablation.csv").write_text("arm,auc\nwith,0.9\n")
    (run / "results" / "sbi_study.csv").write_text("\n")
    (run / "results" / "cross_manipulation.csv").write_text("study\n")
    (run / "results" / "sweep_models.json").write_text("[]")
    text = study_switches(run)
    assert "\\newif\\ifStudyAblation\n\\StudyAblationtrue" in text
    for switch in ("StudySbi", "StudyLofo", "StudyCrossDataset", "StudySweep"):
        assert f"\\{switch}false" in text
    (run / "results" / "sweep_models.json").write_text('[{"model": "light_cnn_w0.5"}]')
    assert "\\StudySweeptrue" in study_switches(run)
    assert "\\ifStudyLofo" in (ROOT / "paper" / "main.tex").read_text()


def test_the_onnx_and_gpu_switches_follow_the_export_and_the_committed_runs(tmp_path):
    """``\\ifStudyOnnx``: notebook 04 exported ONNX files; ``\\ifGpuMeasured``: a committed device
    run timed a file on TensorRT or CUDA (else the paper says that no Jetson or GPU was measured)."""
    import json

    from deepfake_iot.build_facts import gpu_measured, study_switches

    run = fake_run(tmp_path)
    (run / "results" / "onnx_export.csv").write_text("model,variant,status\n")
    assert "\\StudyOnnxfalse" in study_switches(run)
    (run / "results" / "onnx_export.csv").write_text("model,variant,status\nlight_cnn,int8_ptq,ok\n")
    assert "\\StudyOnnxtrue" in study_switches(run)
    device = tmp_path / "checkout" / "results" / "device" / "raspberry-pi-4-model-b"
    device.mkdir(parents=True)
    (device / "run.json").write_text(json.dumps({"rows": [{"runtime": "onnxruntime", "provider": "CPU"}]}))
    assert not gpu_measured(tmp_path / "checkout") and not gpu_measured(tmp_path / "nowhere")
    (device.parent / "jetson").mkdir()
    (device.parent / "jetson" / "run.json").write_text(json.dumps({"rows": [{"runtime": "tensorrt 8.2.1 (int8)"}]}))
    assert gpu_measured(tmp_path / "checkout")
    text = (ROOT / "paper" / "main.tex").read_text()
    assert "\\ifGpuMeasured" in text and "No Jetson and no GPU was measured" in text
