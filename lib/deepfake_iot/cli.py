"""What the installed commands (``deepfake-iot-demo``, ``deepfake-iot-score``,
``deepfake-iot-benchmark-frame-path``) share: argparse types whose errors name the flag, errors
on one line, and the native libraries' chatter kept off the terminal.

Device side: standard library only here (OpenCV is imported where it is silenced), so a command's
``--help`` answers at once and nothing heavy is imported on the way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

VERBOSE_ENV = "DFIOT_VERBOSE"


def int_at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum``. argparse prefixes the message
    with the flag, e.g. ``argument --threads: must be an integer >= 1, got '0'``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def apcer_target(text: str) -> float:
    """An argparse type: one of the target APCERs notebook 05 chooses thresholds for (0.01,
    0.05, 0.10; a percentage such as ``5%`` too)."""
    targets = (0.01, 0.05, 0.10)  # presentation.APCER_TARGETS (not imported: numpy stays unloaded)
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = None
    match = [target for target in targets if value is not None and abs(value - target) < 1e-9]
    if not match:
        raise argparse.ArgumentTypeError(f"must be one of 0.01, 0.05, 0.10, got {text!r}")
    return match[0]


def _existing(text: str, folder: bool) -> Path:
    path, (want, other) = Path(text), (("folder", "file") if folder else ("file", "folder"))
    if not (path.is_dir() if folder else path.is_file()):
        reason = f"is a {other}, not a {want}" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text} {reason}")
    return path


def existing_file(text: str) -> Path:
    """An argparse type: a path to a file that exists."""
    return _existing(text, folder=False)


def existing_dir(text: str) -> Path:
    """An argparse type: a path to a folder that exists."""
    return _existing(text, folder=True)


def one_line(error: BaseException, expected: tuple[type, ...] = ()) -> str:
    """The error's message on one line; a kind of error not in ``expected`` also names its type."""
    message = " ".join(str(error).split())
    return message if isinstance(error, expected) else f"{type(error).__name__}: {message}"


def verbose_requested(flag: bool = False) -> bool:
    """Whether native libraries may talk: ``--verbose`` or ``DFIOT_VERBOSE=1``."""
    return flag or os.environ.get(VERBOSE_ENV) == "1"


def silence_opencv(verbose: bool = False) -> None:
    """OpenCV's own log lines (a camera index that does not open prints two) off, unless
    ``verbose``; OpenCV's errors still reach the caller as exceptions or return values."""
    if verbose:
        return
    import cv2

    logging = getattr(cv2.utils, "logging", None)  # OpenCV 4.14; 4.10 has cv2.setLogLevel only
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    elif hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(0)  # LOG_LEVEL_SILENT


@contextlib.contextmanager
def quiet_native_stderr(verbose: bool = False):
    """Hold back what native code writes to file descriptor 2 inside the block (the TFLite
    runtime's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."), unless ``verbose``.

    Python's own ``sys.stderr`` shares that descriptor, so keep the block small: around the
    loading of models, not around a loop that prints warnings. Nothing is shown afterwards;
    failures still arrive as exceptions.
    """
    if verbose:
        yield
        return
    with tempfile.TemporaryFile() as sink, stderr_to(sink):
        yield


@contextlib.contextmanager
def stderr_to(sink):
    """File descriptor 2 of this process (native code's stderr, and Python's) goes to the open
    binary file ``sink`` inside the block, and comes back after it."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
