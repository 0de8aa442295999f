"""Where a running notebook is (``progress.py`` and ``run_all.run_notebook``): a line at least every
``DFIOT_PROGRESS_SECONDS`` with the cell i of n and the kernel's training status; and clean
executed pages (one tqdm text bar, no ipywidgets warning, native output in the log, one
retracing warning)."""

import subprocess
import sys
import time

import nbformat
import pytest

from deepfake_iot import notebook_run, progress, run_all

from .conftest import ROOT

CELLS = [
    "import logging, os, time\nfrom tqdm.auto import tqdm\nfrom deepfake_iot import progress",
    "for epoch in range(1, 4):\n"
    "    progress.report_training(1, 2, 'light_cnn', 7, epoch, 3)\n"
    "    time.sleep(0.6)",
    "for _ in tqdm(range(40), desc='steps', mininterval=0):\n    time.sleep(0.01)",
    "os.write(2, b'native library noise\\n')\n"
    "import warnings; warnings.warn('Statistics for quantized inputs were expected, but not specified; continuing anyway.')\n"
    "for calls in (5, 6):\n"
    "    logging.getLogger('tensorflow').warning(f'{calls} out of the last {calls} calls to f triggered tf.function retracing.')",
]


def make_notebook(path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(notebook, str(path))
    return path


def test_report_writes_only_under_the_runner(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.report("nothing happens")  # JupyterLab: no file, no error
    status = tmp_path / "status"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(status))
    progress.report_training(3, 12, "light_cnn", 1, 5, 30, "done (val_auc 0.812)")
    assert progress.read(status) == "training run 3/12: light_cnn seed 1, epoch 5/30, done (val_auc 0.812)"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "missing" / "status"))
    progress.report("a status that cannot be written is dropped")


def test_interval_and_clock(monkeypatch):
    monkeypatch.setenv(progress.INTERVAL_ENV, "2.5")
    assert progress.interval_seconds() == 2.5
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv(progress.INTERVAL_ENV, bad)
        with pytest.raises(ValueError, match=progress.INTERVAL_ENV):
            progress.interval_seconds()
    assert [progress.clock(s) for s in (42, 725, 3720)] == ["42 s", "12 min 05 s", "1 h 02 min"]


def test_importing_progress_pulls_in_no_keras_or_tensorflow():
    code = "import sys, deepfake_iot.progress; assert not {'tensorflow', 'tf_keras', 'keras'} & set(sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_the_keras_callback_reports_run_model_seed_and_epoch(tmp_path, monkeypatch):
    status = tmp_path / "status"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(status))
    callback = progress.training_callback(2, 5, "mobilenet_v3_small", 3, epochs=10)
    callback.on_epoch_begin(3)
    assert progress.read(status) == "training run 2/5: mobilenet_v3_small seed 3, epoch 4/10"
    callback.on_epoch_end(3, {"val_auc": 0.9})
    assert progress.read(status).endswith("epoch 4/10, done (val_auc 0.900)")


def test_ticker_prints_the_cell_and_the_status(tmp_path, capsys):
    status = tmp_path / "status"
    with progress.Ticker("03_training", status, interval=0.1) as ticker:
        ticker.cell(4, 9)
        status.write_text("training run 1/2: light_cnn seed 7, epoch 2/3\n")
        time.sleep(0.35)
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("  03_training: ") for line in lines)
    assert "cell 4/9; training run 1/2: light_cnn seed 7, epoch 2/3" in lines[-1]
    assert not status.exists()


@pytest.mark.slow
def test_a_notebook_run_shows_progress_and_a_clean_page(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(progress.INTERVAL_ENV, "0.4")
    monkeypatch.delenv("DFIOT_VERBOSE", raising=False)
    notebook = make_notebook(tmp_path / "99_probe.ipynb")
    executed = tmp_path / "build" / "executed" / "99_probe.ipynb"
    executed.parent.mkdir(parents=True)
    run_all.run_notebook(notebook, {}, executed, ROOT)
    printed = capsys.readouterr().out
    assert "99_probe: " in printed and "cell 2/4; training run 1/2: light_cnn seed 7, epoch" in printed
    page = nbformat.read(str(executed), as_version=4)
    bar_outputs = page.cells[2].outputs
    assert len(bar_outputs) == 1 and "steps: 100%" in bar_outputs[0]["text"]
    assert "\r" not in bar_outputs[0]["text"].rstrip("\n")  # only the bar's last state is kept
    text = "".join(str(output) for cell in page.cells for output in cell.outputs)
    assert "IProgress" not in text and "native library noise" not in text
    assert text.count("retracing") == 1 and "Statistics for quantized" not in text
    assert "native library noise" in run_all.kernel_log_path(executed).read_text()


@pytest.mark.slow
def test_verbose_streams_the_cells_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DFIOT_VERBOSE", "1")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("print('hello from the kernel')")]
    nbformat.write(notebook, str(tmp_path / "98_verbose.ipynb"))
    executed = tmp_path / "build" / "executed" / "98_verbose.ipynb"
    executed.parent.mkdir(parents=True)
    run_all.run_notebook(tmp_path / "98_verbose.ipynb", {}, executed, ROOT)
    printed = capsys.readouterr().out
    assert "Executing Cell 1" in printed and "hello from the kernel" in printed


def test_the_runner_and_a_notebook_run_share_the_profile_variable():
    assert run_all.PROFILE_ENV == notebook_run.PROFILE_ENV
