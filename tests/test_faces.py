"""The one face path: BlazeFace decoded against a hand-checked box on a real portrait, the
letterbox undone on camera-sized frames, and the same crop in extraction, benchmark and demo."""

import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_iot import detector_study, frame_path_study, machine, timing
from deepfake_iot.claims import DEVICE, Limits, frame_path_targets
from deepfake_iot.data import faces
from deepfake_iot.params import load_params

from .test_demo import tiny_model


@pytest.fixture(scope="module")
def portrait():
    return detector_study.load_portrait()


@pytest.fixture(scope="module")
def detectors():
    return {name: faces.make_detector(name) for name in ("blazeface_short", "blazeface_full")}


def test_anchor_layout_matches_the_models():
    short = faces.BLAZEFACE["short"]
    centres = faces.ssd_anchor_centres(short.input_size, short.strides, short.anchors_per_layer)
    assert centres.shape == (896, 2)  # 16x16 cells x 2 + 8x8 cells x 6
    assert np.allclose(centres[0], [1 / 32, 1 / 32]) and np.allclose(centres[1], centres[0])
    assert np.allclose(centres[512], [1 / 16, 1 / 16])  # first cell of the stride-16 map
    assert np.allclose(centres[512:518], centres[512])  # its six anchors share a centre
    full = faces.BLAZEFACE["full"]
    centres = faces.ssd_anchor_centres(full.input_size, full.strides, full.anchors_per_layer)
    assert centres.shape == (2304, 2) and np.allclose(centres[1], [1.5 / 48, 0.5 / 48])


def test_weighted_nms_averages_overlaps_and_keeps_the_rest():
    rows = np.array([[0, 0, 10, 10, 1], [1, 1, 11, 11, 3], [50, 50, 60, 60, 7]], np.float32)
    merged, scores = faces.weighted_nms(rows, np.array([0.9, 0.3, 0.8], np.float32))
    assert len(merged) == 2 and np.allclose(scores, [0.9, 0.8])
    assert np.allclose(merged[0], (0.9 * rows[0] + 0.3 * rows[1]) / 1.2)  # payload averaged too
    assert np.allclose(merged[1], rows[2])
    empty, none = faces.weighted_nms(np.zeros((0, 5), np.float32), np.zeros(0, np.float32))
    assert empty.shape == (0, 5) and none.shape == (0,)


@pytest.mark.parametrize("name, least_iou", [("blazeface_short", 0.85), ("blazeface_full", 0.7)])
def test_blazeface_finds_the_hand_checked_face(portrait, detectors, name, least_iou):
    found = detectors[name].detections(portrait)
    assert len(found) == 1, found
    face = found[0]
    assert detector_study.iou(face["box"], detector_study.PORTRAIT_FACE_BOX) >= least_iou, face["box"]
    assert face["score"] > 0.7
    right_eye, left_eye, nose, mouth = face["keypoints"][:4]
    # the subject's right eye is on the image's left; eyes above the nose above the mouth
    assert right_eye[0] < nose[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    x, y, w, h = detector_study.PORTRAIT_FACE_BOX
    assert x < nose[0] < x + w and y < nose[1] < y + h


def test_the_letterbox_is_undone_on_camera_frames(portrait, detectors):
    for size in ((640, 480), (1280, 720), (480, 640)):
        frame, box = detector_study.place_portrait(
            portrait, size, 0.4, (0.3, 0.45), 0.0, detector_study.room_background(size, 3)
        )
        for name, detector in detectors.items():
            best = faces.largest_face(detector.detect(frame))
            assert best is not None, (name, size)
            assert detector_study.iou(best, box) >= 0.6, (name, size, best, box)


def test_no_detection_on_face_free_frames(detectors):
    for frame in detector_study.face_free_frames(count=8):
        for name, detector in detectors.items():
            assert detector.detect(frame) == [], name


def test_bad_detector_model_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        faces.make_detector("blazeface_short", tmp_path / "missing.tflite")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="corrupt.tflite"):
        faces.make_detector("blazeface_short", corrupt)
    # the full-range file is a valid model, but not the short-range one
    with pytest.raises(ValueError, match="not BlazeFace short-range"):
        faces.make_detector("blazeface_short", faces.blazeface_model_path("full"))
    with pytest.raises(ValueError, match="unknown face detector"):
        faces.make_detector("mtcnn")


def test_face_crop_fallbacks(portrait, detectors):
    blank = np.full((120, 160, 3), 90, np.uint8)
    skipped = faces.face_crop(blank, detectors["blazeface_short"], size=32)
    assert skipped.crop is None and skipped.box is None and not skipped.found
    centred = faces.face_crop(blank, detectors["blazeface_short"], size=32, fallback="center")
    assert centred.crop.shape == (32, 32, 3) and not centred.found
    assert centred.box == (32, 12, 96, 96)
    found = faces.face_crop(portrait, detectors["blazeface_short"], size=48, enlarge=1.3)
    assert found.found and found.crop.shape == (48, 48, 3)
    with pytest.raises(ValueError, match="fallback"):
        faces.face_crop(blank, detectors["blazeface_short"], size=32, fallback="guess")


def test_extraction_benchmark_and_demo_crop_alike(portrait, tmp_path, monkeypatch):
    """Training extraction, the frame-path benchmark and the demo all reach ``square_crop``
    with the same box, enlargement and size for the same frame."""
    from deepfake_iot.classifier import DeepfakeClassifier
    from deepfake_iot.data.extract import extract_face_crops

    frame, _ = detector_study.place_portrait(
        portrait, (640, 480), 0.4, (0.5, 0.5), 0.0, detector_study.room_background((640, 480), 1)
    )
    cv2.imwrite(str(tmp_path / "face.png"), frame)
    calls = []
    original = faces.square_crop

    def spy(image, box, enlarge=1.3, size=96):
        calls.append((tuple(int(v) for v in box), float(enlarge), int(size)))
        return original(image, box, enlarge=enlarge, size=size)

    monkeypatch.setattr(faces, "square_crop", spy)
    items = pd.DataFrame([{"media_path": str(tmp_path / "face.png"), "source_path": "face.png",
                           "media_type": "image", "label": 0, "method": "real", "video_id": "v0",
                           "group": "g0", "dataset": "generic", "split": "test"}])  # fmt: skip
    crops, _ = extract_face_crops(items, tmp_path / "crops", crop_size=16, enlarge=1.3,
                                  detector="blazeface_short", workers=1, progress=False)  # fmt: skip
    model = tiny_model(tmp_path / "tiny", "float32")
    encoded = cv2.imencode(".png", frame)[1].tobytes()
    frame_path_study.end_to_end_benchmark(model, [encoded], detector="blazeface_short", enlarge=1.3, runs=1)
    classifier = DeepfakeClassifier(model, detector="blazeface_short", enlarge=1.3)
    classifier.annotate(frame)
    assert len(calls) == 3 and calls[0] == calls[1] == calls[2], calls
    saved = cv2.imread(str(tmp_path / "crops" / crops["path"].iloc[0]))
    assert np.array_equal(saved, original(frame, calls[0][0], enlarge=1.3, size=16))


def test_portrait_frames_cover_sizes_angles_and_degradations():
    frames = detector_study.portrait_frames((640, 480))
    assert {f["angle"] for f in frames} == set(detector_study.ANGLES_DEG)
    assert {f["face_fraction"] for f in frames} == set(detector_study.FACE_FRACTIONS)
    for item in frames:
        x, y, w, h = item["box"]
        assert item["frame"].shape == (480, 640, 3) and 0 <= x and x + w <= 640 and y + h <= 480
    degraded = detector_study.degraded_frames(frames[:2], names=("jpeg", "low_light"), levels=(1, 5))
    assert len(degraded) == 8 and {d["level"] for d in degraded} == {1, 5}
    assert degraded[-1]["frame"].mean() < frames[1]["frame"].mean()  # low light, level 5


def test_quality_tables_from_known_rows():
    rows = pd.DataFrame([
        {"detector": "a", "degradation": "none", "level": 0, "found": True, "boxes": 1, "ms": 1.0},
        {"detector": "a", "degradation": "jpeg", "level": 1, "found": False, "boxes": 0, "ms": 3.0},
        {"detector": "a", "degradation": "face-free", "level": 0, "found": False, "boxes": 2, "ms": 1.0},
        {"detector": "b", "degradation": "none", "level": 0, "found": False, "boxes": 0, "ms": 9.0},
        {"detector": "b", "degradation": "jpeg", "level": 1, "found": True, "boxes": 1, "ms": 9.0},
        {"detector": "b", "degradation": "face-free", "level": 0, "found": False, "boxes": 0, "ms": 9.0},
    ])  # fmt: skip
    summary = detector_study.quality_summary(rows).set_index("detector")
    assert summary.loc["a", "clean_rate"] == 1 and summary.loc["a", "degraded_rate"] == 0
    assert summary.loc["a", "false_per_frame"] == 2 and summary.loc["b", "false_per_frame"] == 0
    assert summary.loc["a", "median_ms"] == 2.0
    rates = detector_study.rate_table(rows)
    assert list(rates.columns) == ["degradation", "level", "a", "b"] and len(rates) == 2


def test_frame_path_targets_verdicts():
    frame_path = pd.DataFrame([
        {"frame": "640x480", "detector": "blazeface_short", "threads": 1, "path_median_ms": 2.0,
         "detect_median_ms": 1.5, "invoke_median_ms": 0.1},
        {"frame": "640x480", "detector": "haar", "threads": 1, "path_median_ms": 60.0,
         "detect_median_ms": 59.0, "invoke_median_ms": 0.1},
    ])  # fmt: skip
    rates = pd.DataFrame({"degradation": ["none", "jpeg"], "level": [0, 1],
                          "blazeface_short": [1.0, 0.5], "haar": [0.5, 0.5]})  # fmt: skip
    quality = pd.DataFrame({"detector": ["blazeface_short", "haar"], "false_per_frame": [0.0, 0.2]})
    runtimes = pd.DataFrame({"model": ["light_cnn"] * 2, "variant": ["int8_ptq", "float32"],
                             "median_ms": [0.05, 0.09]})  # fmt: skip
    table = frame_path_targets(frame_path, rates, quality, runtimes, 90.0, Limits.from_params(load_params("default"), only=DEVICE))
    verdicts = dict(zip(table["target"], table["verdict"], strict=True))
    assert list(verdicts.values()) == ["met", "missed", "met", "met", "met", "met"], verdicts
    table = frame_path_targets(frame_path, rates.drop(columns="haar"), quality, runtimes, 200.0, Limits.from_params(load_params("default"), only=DEVICE))
    assert table["verdict"].tolist()[2] == "not measured" and table["verdict"].iloc[-1] == "missed"


def test_thread_counts_stop_at_the_cores():
    assert machine.thread_counts([4, 1, 2, 2], cores=2) == ([1, 2], [4])
    assert machine.thread_counts([1], cores=1) == ([1], [])
    with pytest.raises(ValueError, match="thread counts"):
        machine.thread_counts([0, 1])


def test_select_files_names_what_is_missing(tmp_path):
    (tmp_path / "models" / "tflite" / "m").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no .tflite files"):
        timing.select_files(tmp_path, tmp_path / "models" / "tflite")
    (tmp_path / "models" / "tflite" / "m" / "int8_ptq.tflite").write_bytes(b"x")
    (tmp_path / "models" / "tflite" / "m" / ".int8_ptq.tflite.tmp.tflite").write_bytes(b"x")
    assert [p.name for p in timing.select_files(tmp_path, tmp_path / "models" / "tflite")] == [
        "int8_ptq.tflite"
    ]
    with pytest.raises(FileNotFoundError, match="gone.tflite, also.tflite"):
        timing.select_files(tmp_path, tmp_path, ["models/tflite/m/int8_ptq.tflite", "gone.tflite",
                                                "also.tflite"])  # fmt: skip
    assert list(timing.latency_frame([]).columns)[:3] == ["model", "variant", "group"]


def test_peak_memory_is_the_childs_own():
    ballast = np.ones(40_000_000)  # 300 MB in this process must not count for the child
    code, small, out = machine.peak_rss_of([sys.executable, "-c", "print('hi')"])
    assert code == 0 and out.strip() == "hi" and small < 60, small
    code, large, _ = machine.peak_rss_of(
        [sys.executable, "-c", "import numpy; a = numpy.ones(25_000_000); a += 1"]
    )
    assert code == 0 and large > 190, large
    del ballast
