"""The demo's window, for real: ``scripts/demo.py`` under the GUI build of OpenCV
(``requirements-device-gui.txt``) on an Xvfb display, playing a clip of a real portrait.

Slow: the GUI environment is built once and cached (``tests/device_envs.py``). Skipped when
pip cannot reach the package index, or without the X tools (Debian packages: xvfb, xdotool, and imagemagick or
x11-apps for the screenshot).
"""

import csv
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT
from .device_envs import build_venv, run
from .test_demo import portrait_clip, tiny_model, xvfb

pytestmark = pytest.mark.slow

FRAMES, WAIT_MS = 80, 150  # about 12 s on screen: a loaded machine may take seconds to map and paint the window
BOX_COLORS = ((0, 200, 0), (0, 0, 255))  # BGR: real, fake


def _missing_tools() -> list[str]:
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if shutil.which("import") is None and shutil.which("xwd") is None:
        missing.append("import (imagemagick) or xwd (x11-apps)")
    return missing


@pytest.fixture(scope="module")
def gui_python(tmp_path_factory):
    missing = _missing_tools()
    if missing:
        reason = (
            f"the window test needs {', '.join(missing)}: apt-get install xvfb xdotool imagemagick"
        )
        print(reason)
        pytest.skip(reason)
    python, seconds = build_venv("gui", tmp_path_factory.mktemp("device-gui-venv"))
    state = f"built in {seconds:.0f} s" if seconds else "reused"
    print(f"GUI device environment {state}: {python.parent.parent}")
    return python


def read_xwd(path: Path) -> np.ndarray:
    """A 24- or 32-bit ZPixmap XWD file (what ``xwd -root`` writes on Xvfb) as a BGR array."""
    data = path.read_bytes()
    header = np.frombuffer(data[:100], ">u4")
    size, width, height = int(header[0]), int(header[4]), int(header[5])
    byte_order, bits, row_bytes, colors = (int(header[i]) for i in (7, 11, 12, 19))
    if bits not in (24, 32):
        raise AssertionError(f"{path}: {bits} bits per pixel, this reader takes 24 or 32")
    step, start = bits // 8, size + 12 * colors
    pixels = np.frombuffer(data[start : start + height * row_bytes], np.uint8)
    pixels = pixels.reshape(height, row_bytes)[:, : width * step].reshape(height, width, step)
    return pixels[..., :3] if byte_order == 0 else pixels[..., -3:][..., ::-1]  # LSB: B, G, R


def screenshot(display: str, folder: Path, env: dict) -> tuple[np.ndarray, Path]:
    """The whole screen as BGR, and the PNG it was saved to."""
    import cv2

    png = folder / "window.png"
    if shutil.which("import"):
        done = run(["import", "-window", "root", str(png)], timeout=30, env=env)
        assert done.returncode == 0, done.stderr
        image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    else:
        xwd = folder / "window.xwd"
        done = run(["xwd", "-root", "-silent", "-out", str(xwd)], timeout=30, env=env)
        assert done.returncode == 0, done.stderr
        image = read_xwd(xwd)
        cv2.imwrite(str(png), image)
    return image, png


def find_frame(shot: np.ndarray, frame: np.ndarray) -> tuple[int, int] | None:
    """Where ``frame`` lies on the screen (top left), found from a patch the overlay never
    covers (the portrait's jacket), or None when the window does not show it (yet)."""
    import cv2

    top, left, bottom, right = 300, 180, 440, 460
    scores = cv2.matchTemplate(shot, frame[top:bottom, left:right], cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(scores)
    return (x - left, y - top) if best > 0.9 else None


def box_color_mask(image: np.ndarray) -> np.ndarray:
    near = [np.abs(image.astype(int) - color).max(axis=2) <= 12 for color in BOX_COLORS]
    return near[0] | near[1]


def test_the_demo_shows_the_annotated_video_in_a_window(gui_python, tmp_path):

    model = tiny_model(tmp_path)
    frame = portrait_clip(tmp_path / "clip.mp4", frames=FRAMES)
    command = [str(gui_python), str(ROOT / "scripts" / "demo.py"), "--model", str(model)]
    command += ["--video", "clip.mp4", "--wait-ms", str(WAIT_MS), "--log", "log.csv"]
    with xvfb() as display:
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env["DISPLAY"] = display
        demo = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            window = shown = shot = png = None
            deadline = time.monotonic() + 60
            while demo.poll() is None and time.monotonic() < deadline and shown is None:
                if window is None:
                    found = run(["xdotool", "search", "--name", "^deepfake-iot$"], 10, env=env)
                    window = found.stdout.split()[0] if found.stdout.split() else None
                if window is not None:
                    shot, png = screenshot(display, tmp_path, env)
                    shown = find_frame(shot, frame)
                time.sleep(0.2)
            stdout, stderr = demo.communicate(timeout=120)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    print(f"screenshot of the demo window: {png or 'none taken'}")
    assert demo.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "no window" not in stderr
    assert window is not None, "xdotool never found the window 'deepfake-iot'"
    assert shot.std() > 5, f"the screenshot {png} is blank"
    assert shown is not None, f"the screenshot {png} does not show the video frame"
    x, y = shown
    view = shot[y : y + frame.shape[0], x : x + frame.shape[1]]
    boxes = box_color_mask(view)
    assert boxes.sum() > 800, f"no face box or verdict in {png}"
    # the verdict: white text on the box colour, in the rows the coloured band fills
    band_rows = np.flatnonzero(boxes.sum(axis=1) > 60)
    white = (view >= 200).all(axis=2)
    text = sum(
        white[row, np.flatnonzero(boxes[row]).min() : np.flatnonzero(boxes[row]).max()].sum()
        for row in band_rows
    )
    assert text > 20, f"no verdict text on the box colour in {png}"
    # the timings: white text on a black band along the bottom
    bottom = view[-15:, :300]
    assert (bottom <= 10).all(axis=2).sum() > 1500 and (bottom >= 200).all(axis=2).sum() > 30
    assert stdout.splitlines()[0].startswith("model: ")
    summary = stdout.splitlines()[1]
    assert f"{FRAMES} frame(s)" in summary
    fps = float(summary.split(" fps")[0].split()[-1])
    assert fps < 1000 / WAIT_MS * 1.2, f"--wait-ms {WAIT_MS} did not pace the video: {summary}"
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert len(rows) == FRAMES and {"detect_ms", "fps"} <= set(rows[0])
    assert sum(row["face"] == "True" for row in rows) >= 0.8 * FRAMES
    assert all(float(row["detect_ms"]) > 0 and float(row["fps"]) > 0 for row in rows)
