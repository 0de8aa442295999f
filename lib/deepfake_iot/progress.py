"""Where a running notebook is, shown on the terminal that runs it (``run_all.sh``).

Two halves and one small file between them:

- inside the kernel, a long step writes one status line with ``report`` (training: with
  ``report_training`` or the Keras callback of ``training_callback``) into the file named by
  ``DFIOT_PROGRESS_FILE``; outside ``run_all.sh`` that variable is unset and ``report`` does
  nothing, so a notebook opened in JupyterLab is unaffected;
- outside, ``Ticker`` (started by ``run_all.py`` around each notebook) prints a line at least every
  ``DFIOT_PROGRESS_SECONDS`` (default 30): the notebook, the time so far, the cell i of n it is
  executing and the kernel's status line while that cell runs. The runner clears the status when
  a cell starts, so a finished step's line never lingers under a later cell.

Standard library only: importing this module never imports TensorFlow or Keras;
``training_callback`` imports ``tf_keras`` when it is called.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

PROGRESS_ENV = "DFIOT_PROGRESS_FILE"
INTERVAL_ENV = "DFIOT_PROGRESS_SECONDS"
DEFAULT_INTERVAL_S = 30.0


# Inside the kernel --------------------------------------------------------------------------------
def report(text: str) -> None:
    """Make ``text`` (one line) the running notebook's status; nothing outside ``run_all.sh``.
    A status that cannot be written is dropped: progress never fails a run."""
    target = os.environ.get(PROGRESS_ENV)
    if not target:
        return
    line = " ".join(str(text).split())
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(line + "\n")
        os.replace(tmp, target)
    except OSError:
        pass


def training_line(run: int, runs: int, model: str, seed, epoch: int | None = None,
                  epochs: int | None = None, detail: str = "") -> str:  # fmt: skip
    """``training run 3/12: light_cnn seed 1, epoch 5/30`` (``detail`` appended after a comma)."""
    line = f"training run {run}/{runs}: {model} seed {seed}"
    if epoch is not None:
        line += f", epoch {epoch}" + (f"/{epochs}" if epochs else "")
    return line + (f", {detail}" if detail else "")


def report_training(run: int, runs: int, model: str, seed, epoch: int | None = None,
                    epochs: int | None = None, detail: str = "") -> None:  # fmt: skip
    """``report(training_line(...))``."""
    report(training_line(run, runs, model, seed, epoch, epochs, detail))


def training_callback(run: int, runs: int, model: str, seed, epochs: int):
    """A ``tf_keras`` callback reporting the run i of n, model, seed and epoch as training goes:
    at each epoch's start, and at its end with the validation AUC when the logs carry one."""
    import tf_keras

    class EpochProgress(tf_keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            report_training(run, runs, model, seed, detail="starting")

        def on_epoch_begin(self, epoch, logs=None):
            report_training(run, runs, model, seed, epoch + 1, epochs)

        def on_epoch_end(self, epoch, logs=None):
            auc = (logs or {}).get("val_auc")
            detail = f"done (val_auc {float(auc):.3f})" if auc is not None else "done"
            report_training(run, runs, model, seed, epoch + 1, epochs, detail)

    return EpochProgress()


# Outside: the runner ------------------------------------------------------------------------------
def read(path: Path | str) -> str:
    """The status line in ``path``; empty when there is none."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def interval_seconds() -> float:
    """``DFIOT_PROGRESS_SECONDS`` (a positive number), else 30; an invalid value is a
    ``ValueError`` naming the variable."""
    value = os.environ.get(INTERVAL_ENV)
    if not value:
        return DEFAULT_INTERVAL_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"{INTERVAL_ENV} must be a positive number of seconds, got {value!r}")
    return seconds


def clock(seconds: float) -> str:
    """``42 s``, ``12 min 05 s``, ``1 h 02 min``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Ticker:
    """Prints ``  <name>: <time>, cell i/n[; status]`` every ``interval`` seconds from a thread
    while a notebook runs. ``cell`` is called as each cell starts (it clears the status file)."""

    def __init__(self, name: str, status_file: Path | str, interval: float, stream=None):
        self.name, self.status_file, self.interval = name, Path(status_file), interval
        self.stream = stream or sys.stdout
        self.position: tuple[int, int] | None = None
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{name}", daemon=True)

    def cell(self, number: int, total: int) -> None:
        self.position = (number, total)
        self.status_file.unlink(missing_ok=True)

    def line(self) -> str:
        text = f"  {self.name}: {clock(time.monotonic() - self.started)}"
        if self.position:
            text += f", cell {self.position[0]}/{self.position[1]}"
        status = read(self.status_file)
        return text + (f"; {status}" if status else "")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self) -> Ticker:
        self.status_file.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.status_file.unlink(missing_ok=True)
