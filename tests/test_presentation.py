"""The device gate's decisions (``presentation.py``) against the evaluation's definitions
(``gate.py``), and the face tracker (``data.tracking.FaceTracker``) on the moving portrait."""

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import detector_study, gate, inference
from deepfake_iot.data import faces, tracking
from deepfake_iot.presentation import PresentationGate, operating_point

SIDECAR = {"threshold": 0.4, "calibration": {"method": "platt", "slope": 2.0, "intercept": -1.0},
           "gate": {"window": 4, "operating_points": [
               {"target_apcer": 0.01, "threshold": None, "note": "not met: an APCER of 1% needs 300"},
               {"target_apcer": 0.05, "threshold": 0.6, "note": ""}]},
           "operating_points": [{"apcer": 0.05, "threshold": 0.6, "window": 4}]}  # fmt: skip


def run_gate(point, scores, sidecar=SIDECAR):
    presentations = PresentationGate(sidecar, point)
    decisions = [presentations.add(i, s, (0, 0, 10, 10) if s is not None else None) for i, s in enumerate(scores)]
    return [d for d in decisions if d is not None] + [d for d in [presentations.finish(len(scores) - 1)] if d]


def test_the_device_decides_on_the_presentations_the_evaluation_scores():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 22)
    point = operating_point(SIDECAR, 0.05)
    assert (point.window, point.threshold, point.apcer_target, point.note) == (4, 0.6, 0.05, "")
    decided = run_gate(point, scores)
    frame = pd.DataFrame({"video_id": "v", "label": 0, "frame_index": range(len(scores))})
    evaluated = gate.presentations(frame, scores, 4)  # complete windows only: the last 2 frames left out
    assert [d["p_fake_raw"] for d in decided[:-1]] == pytest.approx(evaluated["score"].tolist())
    assert decided[-1]["frames"] == 2 and decided[-1]["first_frame"] == 20  # the stream's end: what is left
    for d in decided:
        assert d["decision"] == ("attack" if d["p_fake_raw"] >= 0.6 else "bona_fide")
        assert d["p_fake"] == pytest.approx(float(inference.calibrate(d["p_fake_raw"], SIDECAR)))


def test_a_face_that_leaves_ends_its_presentation_and_no_face_is_said_once():
    point = operating_point(SIDECAR, 0.05)
    decided = run_gate(point, [0.9, 0.8, None, None, None, None, None, None, None, None, 0.1])
    assert [(d["decision"], d["frames"], d["first_frame"]) for d in decided] == [
        ("attack", 2, 0), ("no_face", 4, 2), ("bona_fide", 1, 10)]
    assert decided[1]["face_box"] is None and decided[1]["p_fake"] is None


def test_a_target_without_an_operating_point_falls_back_on_the_validation_threshold_with_a_note():
    point = operating_point(SIDECAR, 0.01)
    assert point.threshold == 0.4 and point.apcer_target is None
    assert point.note.startswith("the sidecar has no operating point at APCER 1% (not met: an APCER of 1% needs 300)")
    bare = operating_point({}, 0.10)
    assert (bare.window, bare.threshold) == (8, 0.5) and "carries no gate window" in bare.note
    assert "chosen on 4-frame presentations" in operating_point(SIDECAR, 0.05, window=6).note
    with pytest.raises(ValueError, match="APCER target 0.02"):
        operating_point(SIDECAR, 0.02)


def test_the_tracker_keeps_a_moving_face_that_short_range_loses():
    sequence = detector_study.moving_portrait(frames=80)
    detectors = {"blazeface_short": faces.make_detector("blazeface_short"), "tracked": tracking.make_tracker()}
    _, summary = detector_study.tracking_quality(detectors, sequence)
    rates = summary.set_index("detector")["found_rate"]
    assert rates["tracked"] >= 0.97 and rates["tracked"] > rates["blazeface_short"], summary
    assert (summary["false_per_frame"] == 0).all(), summary
    tracker = tracking.make_tracker(acquire=None)
    tracker.detect(sequence[5]["frame"])
    assert tracker.last is not None and tracker.detect(sequence[6]["frame"]) and tracker.mode == "region"
    with pytest.raises(ValueError, match="redetect_every"):
        tracking.FaceTracker(tracker.detector, redetect_every=0)


def test_the_gate_command_answers_help_and_imports_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys\nimport deepfake_iot.gate_command, deepfake_iot.presentation, deepfake_iot.events, "
            "deepfake_iot.sources\nfrom deepfake_iot.gate_command import main\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'paho', 'pandas'))\n"
            "assert not loaded, loaded[:5]\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "deepfake_iot.gate_command", "--help"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("usage: deepfake-iot-gate"), done.stderr


@pytest.mark.parametrize(("args", "flag"), [
    (["--camera", "0", "--window", "0"], "--window"), (["--camera", "0", "--apcer", "0.2"], "--apcer"),
    (["--camera", "0", "--threads", "0"], "--threads"), (["--camera", "-1"], "--camera"),
    (["--camera", "0", "--mqtt", "broker"], "--mqtt"), (["--camera", "0", "--device", "a/b"], "--device"),
    (["--camera", "0", "--mqtt-cafile", "/nonexistent/ca.pem", "--mqtt", "h:1"], "--mqtt-cafile"),
    (["--camera", "0", "--realtime"], "--realtime"), (["--camera", "0", "--mqtt-tls"], "--mqtt"),
    (["--camera", "0", "--mqtt-queue", "0", "--mqtt", "h:1"], "--mqtt-queue")])  # fmt: skip
def test_the_gate_refuses_bad_flags_naming_them(args, flag, capsys):
    from deepfake_iot import gate_command

    with pytest.raises(SystemExit) as stopped:
        gate_command.parse_args(args)
    assert stopped.value.code == 2 and f"argument {flag}:" in capsys.readouterr().err


def test_a_missing_picamera2_is_one_line_naming_the_package(tmp_path, capsys):
    pytest.importorskip("cv2")
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("picamera2 is installed here")
    from deepfake_iot import gate_command

    assert gate_command.main(["--picamera", "--events", str(tmp_path / "events.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: --picamera needs the picamera2 package"), err
