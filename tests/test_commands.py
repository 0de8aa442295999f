"""The commands a user reaches for (``deepfake-iot-demo``, ``-score``, ``-benchmark-frame-path``):
installed entry points and ``python -m`` modules that answer ``--help``, flags checked by
argparse naming the flag, a model without a sidecar, errors on one line without the runtime's
or OpenCV's chatter, outputs announced only when written, and files readable under the umask."""

import importlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tomllib

from deepfake_iot import paths

from .conftest import ROOT
from .test_demo import portrait

COMMANDS = {
    "deepfake-iot-demo": ("deepfake_iot.demo", "deepfake_iot.demo_command"),
    "deepfake-iot-score": ("deepfake_iot.score", "deepfake_iot.score"),
    "deepfake-iot-benchmark-frame-path": ("deepfake_iot.frame_path_command", "deepfake_iot.frame_path_command"),
    "deepfake-iot-gate": ("deepfake_iot.gate_command", "deepfake_iot.gate_command"),
}


def quiet_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DFIOT_VERBOSE")}
    return {**env, **extra}


def python_m(module, *args, cwd=None, **env):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=quiet_env(**env))  # fmt: skip


def test_pyproject_declares_the_commands_and_their_targets_exist():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == set(COMMANDS)
    for name, target in scripts.items():
        module, function = target.split(":")
        assert module == COMMANDS[name][1]
        assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_python_m_answers_help(command):
    done = python_m(COMMANDS[command][0], "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {command}") and "--help" in done.stdout


def test_the_installed_commands_answer_help_where_installed():
    installed = [shutil.which(name, path=os.path.dirname(sys.executable)) for name in COMMANDS]
    if not all(installed):
        pytest.skip("the package was installed before [project.scripts]: rerun scripts/setup_env.sh")
    for name, path in zip(COMMANDS, installed, strict=True):
        done = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.startswith(f"usage: {name}"), done.stderr


@pytest.mark.parametrize(
    ("module", "args", "flag"),
    [
        ("demo_command", ["--camera", "0", "--threads", "0"], "--threads"),
        ("demo_command", ["--camera", "0", "--threads", "-1"], "--threads"),
        ("demo_command", ["--camera", "0", "--smooth", "0"], "--smooth"),
        ("demo_command", ["--camera", "0", "--smooth", "-3"], "--smooth"),
        ("demo_command", ["--camera", "0", "--max-frames", "-1"], "--max-frames"),
        ("demo_command", ["--camera", "-2"], "--camera"),
        ("demo_command", ["--image", "/nonexistent/face.png"], "--image"),
        ("demo_command", ["--images", "/nonexistent"], "--images"),
        ("demo_command", ["--model", "/nonexistent.tflite", "--camera", "0"], "--model"),
        ("score", ["--model", "/nonexistent.tflite", "--csv", "x.csv"], "--model"),
        ("score", ["--model", __file__, "--real", "/nonexistent", "--fake", "."], "--real"),
        ("score", ["--model", __file__, "--csv", __file__, "--frames", "0"], "--frames"),
        ("frame_path_command", ["--models", "/nonexistent"], "--models"),
        ("frame_path_command", ["--runs", "0"], "--runs"),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(module, args, flag, capsys):
    command = importlib.import_module(f"deepfake_iot.{module}")
    parse = command.parse_args if hasattr(command, "parse_args") else command.main
    with pytest.raises(SystemExit) as stopped:
        parse(args)
    assert stopped.value.code == 2
    assert f"argument {flag}:" in capsys.readouterr().err


def test_a_folder_for_a_file_and_a_file_for_a_folder_are_named_as_such(capsys):
    from deepfake_iot import demo_command

    for args, reason in ((["--image", str(ROOT)], "is a folder, not a file"),
                         (["--images", __file__], "is a file, not a folder")):  # fmt: skip
        with pytest.raises(SystemExit):
            demo_command.parse_args(args)
        assert reason in capsys.readouterr().err


def test_score_needs_its_labelled_data_one_way(capsys):
    from deepfake_iot import score

    for args in (["--real", "."], ["--csv", __file__, "--real", ".", "--fake", "."]):
        with pytest.raises(SystemExit):
            score.parse_args(["--model", __file__, *args])
        assert "--csv" in capsys.readouterr().err


def test_a_models_folder_without_the_files_is_an_error_not_the_demo_model(tmp_path, capsys):
    from deepfake_iot import frame_path_command

    assert frame_path_command.main(["--models", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(tmp_path) in err and "float32.tflite" in err


def test_a_model_without_a_sidecar_runs_with_the_defaults_and_one_warning(tmp_path):
    import cv2

    from deepfake_iot.demo_model import demo_model_path

    model = tmp_path / "model.tflite"
    shutil.copy(demo_model_path(), model)
    cv2.imwrite(str(tmp_path / "face.png"), portrait())
    done = python_m("deepfake_iot.demo", "--model", model, "--image", "face.png", "--no-window",
                    "--out", "annotated.png", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: no sidecar")
    assert "model.json" in lines[0] and "threshold 0.5" in lines[0] and "README" in lines[0]
    assert "XNNPACK" not in done.stdout + done.stderr
    assert "annotated output: annotated.png" in done.stdout and (tmp_path / "annotated.png").is_file()
    # a sidecar that lacks only the threshold: the same defaults, the missing key named
    (tmp_path / "model.json").write_text(json.dumps({"variant": "int8_ptq"}))
    done = python_m("deepfake_iot.demo", "--model", model, "--image", "face.png", "--no-window",
                    "--out", "annotated.png", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0 and "lacks threshold, class_order" in done.stderr


def test_runtime_and_opencv_chatter_stay_off_unless_verbose(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "face.png"), portrait())
    done = python_m("deepfake_iot.demo", "--camera", "7", "--no-window", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == "error: cannot open camera index 7"
    done = python_m("deepfake_iot.demo", "--image", "face.png", "--no-window", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    done = python_m("deepfake_iot.demo", "--camera", "7", "--no-window", cwd=tmp_path, DFIOT_VERBOSE="1")
    assert done.returncode == 2 and "WARN" in done.stderr  # OpenCV's own lines when asked for


def test_an_output_is_announced_only_when_written(tmp_path, monkeypatch, capsys):
    from deepfake_iot import demo, demo_command

    class EmptyVideo:
        def __init__(self, source):
            pass

        def isOpened(self):
            return True

        def get(self, prop):
            return 15.0

        def read(self):
            return False, None

        def release(self):
            pass

    (tmp_path / "clip.mp4").write_bytes(b"not decoded: the capture is replaced")
    monkeypatch.setattr(demo.cv2, "VideoCapture", EmptyVideo)
    out = tmp_path / "annotated.mp4"
    assert demo_command.main(["--video", str(tmp_path / "clip.mp4"), "--out", str(out), "--no-window"]) == 0
    printed = capsys.readouterr().out
    assert not out.exists() and "\nannotated output:" not in printed
    assert f"{out} was not written" in printed


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_keep_the_umask_mode(tmp_path, umask, mode):
    from deepfake_iot import demo

    previous = os.umask(umask)
    try:
        written = [paths.atomic_write_bytes(tmp_path / "model.tflite", b"bytes")]
        with paths.atomic_path(tmp_path / "figure.png") as tmp:
            tmp.write_bytes(b"png")
        written.append(tmp_path / "figure.png")
        video = demo.VideoOut(tmp_path / "clip.mp4", 15)
        video.write(np.zeros((48, 64, 3), np.uint8))
        video.close()
        written.append(tmp_path / "clip.mp4")
    finally:
        os.umask(previous)
    for path in written:
        assert oct(path.stat().st_mode & 0o777) == oct(mode), path.name


@pytest.mark.parametrize(("script", "expected"), [("run_all.sh", "usage: run_all.sh"),
                                                  ("run_tests.sh", "usage: ./run_tests.sh")])  # fmt: skip
def test_help_answers_before_any_set_up(tmp_path, script, expected):
    """A fresh copy without .venv: --help prints at once and creates nothing."""
    for name in ("run_all.sh", "run_tests.sh", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup_env.sh", tmp_path / "scripts" / "setup_env.sh")
    shutil.copytree(ROOT / "lib", tmp_path / "lib", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["bash", str(tmp_path / script), "--help"], capture_output=True, text=True,
                          timeout=60, env=env)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith(expected), done.stderr
    assert "[setup]" not in done.stderr and not (tmp_path / ".venv").exists()


def test_the_device_venv_is_ignored_by_git():
    lines = (ROOT / ".gitignore").read_text().splitlines()
    assert ".venv-device/" in lines


def test_the_readme_documents_the_commands_and_the_sidecar():
    from deepfake_iot.classifier import DEFAULT_DETECTOR, DEFAULT_THRESHOLD, SIDECAR_NEEDS

    readme = (ROOT / "README.md").read_text()
    for command in COMMANDS:
        assert f"{command} " in readme or f"`{command}`" in readme, command
    section = readme[readme.index("## The sidecar") :]
    for field in (*SIDECAR_NEEDS, "operating_points", "face_detector", "face_enlarge"):
        assert f"`{field}`" in section, field
    assert str(DEFAULT_THRESHOLD) in section and DEFAULT_DETECTOR in section
