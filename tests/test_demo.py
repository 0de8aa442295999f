"""The demo (``deepfake_iot.demo``, ``scripts/demo.py``): crops through ``data.faces``, the overlay
and its timings, the CSV log, the one-line errors, the headless fallback, and the device
requirement files it runs under."""

import contextlib
import csv
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT

NOTE = "it shows the pipeline working, it is not a detector for real faces"


def tiny_model(folder: Path, variant: str = "int8_ptq", **sidecar) -> Path:
    """A tiny .tflite classifier with its sidecar (TensorFlow only builds it)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    from deepfake_iot import quantize

    keras.utils.set_random_seed(0)  # weights drawn once: the same model every run
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    samples = [
        [np.random.default_rng(i).random((1, 16, 16, 3), dtype=np.float32)] for i in range(8)
    ]
    content = quantize.convert(model, variant, samples if variant == "int8_ptq" else None)
    path = Path(folder) / f"{variant}.tflite"
    quantize.write_variant(content, path, {"variant": variant, "threshold": 0.5, **sidecar})
    return path


def portrait() -> np.ndarray:
    """A real face: the portrait matplotlib ships (Grace Hopper, 512x600)."""
    import cv2
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def portrait_clip(path: Path, frames: int = 8, size=(640, 480)) -> np.ndarray:
    """A video of the portrait on a grey background (static); returns its frame."""
    import cv2

    width, height = size
    frame = np.full((height, width, 3), 60, np.uint8)
    face = cv2.resize(portrait(), (300, 352), interpolation=cv2.INTER_AREA)
    top, left = (height - 352) // 2, (width - 300) // 2
    frame[top : top + 352, left : left + 300] = face
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, size)
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return frame


def start_xvfb(size: str = "1280x800x24"):
    """``(process, ":N")`` of an Xvfb on a free display (it picks one), or None without Xvfb."""
    if shutil.which("Xvfb") is None:
        return None
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", size, "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    ready, _, _ = select.select([server.stdout], [], [], 20)
    number = server.stdout.readline().strip() if ready else b""
    if not number.isdigit():
        server.kill()
        server.wait()
        raise AssertionError("Xvfb did not report its display within 20 s")
    return server, f":{number.decode()}"


@contextlib.contextmanager
def xvfb():
    started = start_xvfb()
    if started is None:
        yield None
        return
    server, display = started
    try:
        yield display
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tflite") / "tiny"
    return {variant: tiny_model(folder, variant) for variant in ("float32", "int8_ptq")}


def run_demo(*args, cwd=None, display=None, window=False):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        env["DISPLAY"] = display
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *map(str, args)]
        + ([] if window else ["--no-window"]),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def demo_script():
    """scripts/demo.py as a module, to run ``main`` in this process (with monkeypatching)."""
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FixedFace:
    def __init__(self, box):
        self.box = box

    def detect(self, image):
        return [self.box]


def test_demo_headless_default_output_and_a_found_face(tiny_models, tmp_path):
    import cv2

    from deepfake_iot.classifier import DeepfakeClassifier

    image = np.full((120, 160, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "still.jpg"), image)
    result = run_demo("--model", tiny_models["float32"], "--image", "still.jpg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "still_annotated.png").is_file() and "still_annotated.png" in result.stdout
    classifier = DeepfakeClassifier(tiny_models["int8_ptq"], smooth=2)
    classifier.face_detector.detector = FixedFace((40, 20, 60, 60))
    for _ in range(3):
        annotated, found = classifier.annotate(image)
    assert found["face"] and found["label"] in {"real", "fake"} and 0 <= found["p_fake"] <= 1
    assert len(classifier.recent) == 2 and annotated.shape == image.shape
    assert not np.array_equal(annotated, image)
    assert found["detect_ms"] >= 0 and found["classify_ms"] >= 0 and found["fps"] > 0
    assert found["ms"] == pytest.approx(found["detect_ms"] + found["classify_ms"], abs=0.002)


def test_demo_shows_the_calibrated_p_fake_its_sidecar_carries_and_decides_on_the_raw_score(tmp_path):
    from deepfake_iot import evaluate
    from deepfake_iot.classifier import DeepfakeClassifier

    path = tiny_model(tmp_path / "calibrated", "int8_ptq")
    evaluate.update_sidecar(path, calibration={"method": "platt", "slope": 2.0, "intercept": -1.0})
    classifier = DeepfakeClassifier(path)
    classifier.face_detector.detector = FixedFace((40, 20, 60, 60))
    _, found = classifier.annotate(np.full((120, 160, 3), 90, np.uint8))
    raw = np.clip(found["p_fake_smoothed"], 1e-7, 1 - 1e-7)  # an int8 output can be exactly 0
    assert found["p_fake_calibrated"] == pytest.approx(1 / (1 + np.exp(-(2.0 * np.log(raw / (1 - raw)) - 1.0))))
    assert found["label"] == ("fake" if found["p_fake_smoothed"] >= classifier.threshold else "real")


def test_demo_on_an_image_and_a_video(tiny_models, tmp_path):
    import cv2

    image = np.full((120, 160, 3), 90, np.uint8)
    cv2.circle(image, (80, 60), 30, (180, 190, 220), -1)
    cv2.imwrite(str(tmp_path / "frame.png"), image)
    result = run_demo(
        "--model",
        tiny_models["int8_ptq"],
        "--image",
        tmp_path / "frame.png",
        "--out",
        tmp_path / "out.png",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "1 frame(s)" in result.stdout and cv2.imread(str(tmp_path / "out.png")).shape == image.shape
    )
    writer = cv2.VideoWriter(
        str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120)
    )
    for _ in range(4):
        writer.write(image)
    writer.release()
    result = run_demo(
        "--model",
        tiny_models["int8_ptq"],
        "--video",
        tmp_path / "clip.mp4",
        "--out",
        tmp_path / "out.mp4",
        "--log",
        tmp_path / "video.csv",
    )
    assert result.returncode == 0, result.stderr
    assert "4 frame(s)" in result.stdout and (tmp_path / "out.mp4").stat().st_size > 0
    log = (tmp_path / "video.csv").read_text().splitlines()
    assert log[0].startswith("frame,") and len(log) == 5


def test_demo_names_missing_files(tiny_models, tmp_path):
    result = run_demo("--model", tmp_path / "absent.tflite", "--image", tmp_path / "none.png")
    assert result.returncode == 2 and "absent.tflite" in result.stderr
    result = run_demo("--model", tiny_models["float32"], "--image", tmp_path / "none.png")
    assert result.returncode == 2 and "none.png" in result.stderr
    result = run_demo("--model", tiny_models["float32"], "--video", tmp_path / "none.mp4")
    assert result.returncode == 2 and "none.mp4" in result.stderr


def test_demo_folder_log_and_smoothing(tiny_models, tmp_path):
    import cv2

    folder = tmp_path / "faces"
    folder.mkdir()
    for index in range(3):
        cv2.imwrite(str(folder / f"{index}.png"), np.full((60, 60, 3), 40 * index, np.uint8))
    (folder / "broken.png").write_text("not an image")
    result = run_demo(
        "--model",
        tiny_models["int8_ptq"],
        "--images",
        folder,
        "--out",
        tmp_path / "annotated",
        "--log",
        tmp_path / "log.csv",
        "--smooth",
        "3",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["frame"] for r in rows] == ["0.png", "1.png", "2.png", "broken.png"]
    assert {r["label"] for r in rows} <= {"no face", "real", "fake", "unreadable"} and rows[-1][
        "label"
    ] == "unreadable"
    assert len(list((tmp_path / "annotated").glob("*.png"))) == 3


def test_demo_refuses_mismatched_sidecar_and_missing_camera(tiny_models, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(tiny_models["int8_ptq"].read_bytes())
    sidecar = json.loads(tiny_models["int8_ptq"].with_suffix(".json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**sidecar, "input_size": 99}))
    result = run_demo("--model", model, "--images", tmp_path)
    assert result.returncode == 2 and "input size 99" in result.stderr
    result = run_demo("--model", tiny_models["int8_ptq"], "--camera", "97")
    assert result.returncode == 2 and "camera index 97" in result.stderr
    corrupt = tmp_path / "c.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    (tmp_path / "c.json").write_text(json.dumps(sidecar))
    result = run_demo("--model", corrupt, "--images", tmp_path)
    assert result.returncode == 2 and "c.tflite" in result.stderr


def test_demo_finds_a_real_face_and_logs_the_timings(tmp_path):
    model = tiny_model(tmp_path, trained_on="the embedded synthetic benchmark", note=NOTE)
    portrait_clip(tmp_path / "clip.mp4", frames=6)
    result = run_demo("--model", model, "--video", "clip.mp4", "--log", "log.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"model: {model} (int8_ptq), trained on the embedded synthetic benchmark: {NOTE}"
    )
    assert "6 frame(s), 6 with a face" in result.stdout and "fps" in lines[1]
    assert "detector blazeface_short" in lines[1]
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert list(rows[0]) == [
        "frame", "face", "p_fake", "p_fake_smoothed", "label", "detect_ms", "classify_ms", "ms",
        "fps",
    ]  # fmt: skip
    assert len(rows) == 6 and all(r["face"] == "True" for r in rows)
    assert all(float(r["detect_ms"]) > 0 and float(r["fps"]) > 0 for r in rows)
    assert (tmp_path / "clip_annotated.mp4").stat().st_size > 0
    assert not list(tmp_path.glob(".*part*")), "a temporary file was left behind"


def test_classifier_takes_the_detector_and_enlarge_from_the_sidecar(tmp_path):
    from deepfake_iot.classifier import DeepfakeClassifier

    plain = DeepfakeClassifier(tiny_model(tmp_path / "plain"))
    assert (plain.detector, plain.enlarge) == ("blazeface_short", 1.3)
    assert plain.describe() == f"model: {plain.model_path} (int8_ptq)"
    model = tiny_model(tmp_path / "haar", face_detector="haar", face_enlarge=1.5)
    from_sidecar = DeepfakeClassifier(model)
    assert (from_sidecar.detector, from_sidecar.enlarge) == ("haar", 1.5)
    given = DeepfakeClassifier(model, detector="none", enlarge=1.0)
    assert (given.detector, given.enlarge) == ("none", 1.0)
    _, result = given.annotate(portrait())  # "none": the whole frame is the face
    assert result["face"] and result["label"] in {"real", "fake"}


def test_a_frame_without_a_face_is_not_an_error(tiny_models, tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "wall.png"), np.full((240, 320, 3), 200, np.uint8))
    result = run_demo(
        "--model", tiny_models["int8_ptq"], "--image", "wall.png", "--log", "log.csv", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (row,) = csv.DictReader(open(tmp_path / "log.csv"))
    assert row["label"] == "no face" and row["face"] == "False" and row["p_fake"] == ""


def test_demo_names_a_missing_or_corrupt_detector_model(tiny_models, tmp_path):
    portrait_clip(tmp_path / "clip.mp4", frames=2)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(os.urandom(256))
    junk_xml = tmp_path / "junk.xml"
    junk_xml.write_text("not a cascade")
    cases = [
        ("blazeface_short", tmp_path / "absent.tflite"),
        ("blazeface_full", garbage),
        ("haar", junk_xml),
        ("yunet", tmp_path / "absent.onnx"),
        ("yunet", garbage),
    ]
    for name, path in cases:
        result = run_demo(
            "--model", tiny_models["int8_ptq"], "--video", "clip.mp4", "--detector", name,
            "--detector-model", path, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 2, (name, result.stderr)
        # a missing file is argparse's "deepfake-iot-demo: error: argument --detector-model: ..."
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and path.name in errors[0], (name, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "clip_annotated.mp4").exists()


def test_demo_refuses_an_unwritable_output_before_processing(tiny_models, tmp_path):
    portrait_clip(tmp_path / "clip.mp4", frames=2)
    (tmp_path / "a_file").write_text("")
    cases = [
        ("--out", tmp_path / "missing" / "out.mp4"),
        ("--log", tmp_path / "missing" / "log.csv"),
        ("--log", tmp_path / "a_file" / "log.csv"),
        ("--out", tmp_path / "out.txt"),
    ]
    for flag, path in cases:
        result = run_demo(
            "--model", tiny_models["int8_ptq"], "--video", "clip.mp4", flag, path, cwd=tmp_path
        )
        assert result.returncode == 2 and str(path) in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "frame(s)" not in result.stdout
    assert not (tmp_path / "clip_annotated.mp4").exists()


class FakeCamera:
    """A camera that delivers ``frames`` frames, then fails to read."""

    def __init__(self, frame, frames):
        self.frame, self.left = frame, frames

    def isOpened(self):
        return True

    def get(self, prop):
        return 15.0

    def read(self):
        self.left -= 1
        return (True, self.frame.copy()) if self.left >= 0 else (False, None)

    def release(self):
        pass


def test_a_camera_that_stops_mid_run_keeps_what_was_processed(
    tiny_models, tmp_path, monkeypatch, capsys
):
    import cv2

    from deepfake_iot import demo

    frame = portrait_clip(tmp_path / "clip.mp4", frames=1)
    monkeypatch.setattr(demo.cv2, "VideoCapture", lambda source: FakeCamera(frame, 3))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.chdir(tmp_path)
    args = ["--model", str(tiny_models["int8_ptq"]), "--camera", "0", "--log", "log.csv"]
    assert demo_script().main(args) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "camera index 0" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning:") and "after 3" in warnings[0]
    assert "3 frame(s)" in captured.out
    assert len(list(csv.DictReader(open("log.csv")))) == 3
    monkeypatch.undo()  # the real VideoCapture reads the annotated file back
    annotated = cv2.VideoCapture(str(tmp_path / "camera0_annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_an_error_mid_run_keeps_the_log_and_a_finished_video(
    tiny_models, tmp_path, monkeypatch, capsys
):
    import cv2

    from deepfake_iot.classifier import DeepfakeClassifier

    portrait_clip(tmp_path / "clip.mp4", frames=6)
    annotate = DeepfakeClassifier.annotate
    calls = []

    def failing(self, frame):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("the interpreter broke on frame 3")
        return annotate(self, frame)

    monkeypatch.setattr(DeepfakeClassifier, "annotate", failing)
    args = ["--model", str(tiny_models["int8_ptq"]), "--video", str(tmp_path / "clip.mp4")]
    args += ["--out", str(tmp_path / "out.mp4"), "--log", str(tmp_path / "log.csv")]
    assert demo_script().main(args + ["--no-window"]) == 2
    assert "error: RuntimeError: the interpreter broke on frame 3" in capsys.readouterr().err
    assert len(list(csv.DictReader(open(tmp_path / "log.csv")))) == 3
    annotated = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "log.csv", "out.mp4"]


def test_headless_opencv_with_a_display_says_so_once_and_writes_the_file(tiny_models, tmp_path):
    portrait_clip(tmp_path / "clip.mp4", frames=3)
    with xvfb() as display:  # headless OpenCV refuses any window, with or without a server
        result = run_demo(
            "--model", tiny_models["int8_ptq"], "--video", "clip.mp4", cwd=tmp_path,
            display=display or ":99", window=True,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "no window" in line]
    assert len(notes) == 1 and "opencv-python-headless" in notes[0]
    assert "requirements-device-gui.txt" in notes[0] and "clip_annotated.mp4" in notes[0]
    assert "Traceback" not in result.stderr and "3 frame(s)" in result.stdout
    assert (tmp_path / "clip_annotated.mp4").stat().st_size > 0


def test_demo_stays_small_and_off_the_heavy_modules(tiny_models, tmp_path):
    """Detector and classifier loaded, frames flowing: under 150 MB peak RSS, and none of
    TensorFlow, pandas or the benchmark module imported. The peak is the kernel's VmHWM,
    which, unlike ``ru_maxrss``, does not inherit the forking test process's size."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs Linux's /proc/self/status for the peak RSS")
    portrait_clip(tmp_path / "clip.mp4", frames=20)
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['demo.py', '--model', {str(tiny_models['int8_ptq'])!r}, "
        "'--video', 'clip.mp4', '--no-window']\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT / 'scripts' / 'demo.py')!r}, run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "heavy = {'tensorflow', 'pandas', 'deepfake_iot.timing'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('peak_kb', hwm.split()[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.split("peak_kb")[-1]) / 1024
    print(f"demo peak RSS: {peak_mb:.0f} MB")
    assert peak_mb < 150


def requirement_pins(path: Path) -> dict:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_gui_requirements_match_the_device_requirements_but_for_opencv():
    device = requirement_pins(ROOT / "requirements-device.txt")
    gui = requirement_pins(ROOT / "requirements-device-gui.txt")
    assert device.pop("opencv-python-headless") == gui.pop("opencv-python")
    assert "opencv-python" not in device and "opencv-python-headless" not in gui
    assert gui == device
