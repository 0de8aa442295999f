"""Safe media reading, frame sampling and face crops (data.intake, data.frames, data.faces)."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from deepfake_iot.data.faces import largest_face, make_detector, square_crop
from deepfake_iot.data.frames import (
    iter_video_frames,
    sample_frame_indices,
    sample_video_frames,
)
from deepfake_iot.data.intake import BadMediaError, frame_count, open_video, read_image


def write_video(path, n_frames, size=32, fps=10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for index in range(n_frames):
        writer.write(np.full((size, size, 3), 40 * index, np.uint8))
    writer.release()
    return path


def png_claiming(width, height):
    """A tiny PNG whose header claims width x height pixels (valid CRCs)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def reason_of(path, **kwargs):
    with pytest.raises(BadMediaError) as caught:
        read_image(path, **kwargs)
    return caught.value.reason


def test_read_image_valid_and_converted_modes(tmp_path):
    cv2.imwrite(str(tmp_path / "rgb.jpg"), noise((40, 50, 3)))
    cv2.imwrite(str(tmp_path / "gray.png"), noise((40, 50)))
    cv2.imwrite(str(tmp_path / "rgba.png"), noise((40, 50, 4)))
    deep = (np.arange(40 * 50, dtype=np.uint16).reshape(40, 50) * 30).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "gray16.png"), deep)
    cv2.imwrite(str(tmp_path / "rgb16.png"), np.dstack([deep, deep, deep]))
    Image.fromarray(noise((40, 50), 1) % 4).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(noise((40, 50, 2), 2), mode="LA").save(tmp_path / "la.png")
    for name in (
        "rgb.jpg",
        "gray.png",
        "rgba.png",
        "gray16.png",
        "rgb16.png",
        "palette.png",
        "la.png",
    ):
        image = read_image(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == (40, 50, 3), name
    expected = np.round(deep[5, 7] / 257.0)
    assert read_image(tmp_path / "gray16.png")[5, 7, 0] == expected


def test_read_image_rejects_bad_files(tmp_path):
    assert reason_of(tmp_path / "missing.jpg") == "missing_file"
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert reason_of(tmp_path / "empty.jpg") == "empty_file"
    (tmp_path / "text.jpg").write_text("<html>404 not found</html>")
    assert reason_of(tmp_path / "text.jpg") == "not_an_image"
    data = cv2.imencode(".jpg", noise((64, 64, 3)))[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert reason_of(tmp_path / "cut.jpg") == "truncated"
    png = cv2.imencode(".png", noise((64, 64, 3)))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    assert reason_of(tmp_path / "cut.png") == "truncated"
    cv2.imwrite(str(tmp_path / "tiny.png"), noise((4, 4, 3)))
    assert reason_of(tmp_path / "tiny.png") == "too_small"
    (tmp_path / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    assert reason_of(tmp_path / "bomb.png") == "too_large"
    cv2.imwrite(str(tmp_path / "big.png"), noise((100, 100, 3)))
    assert reason_of(tmp_path / "big.png", max_pixels=5000) == "too_large"


def test_jpeg_with_trailing_bytes_after_eoi_is_accepted(tmp_path):
    data = cv2.imencode(".jpg", noise((32, 32, 3)))[1].tobytes()
    (tmp_path / "tail.jpg").write_bytes(data + b"trailing junk")
    assert read_image(tmp_path / "tail.jpg").shape == (32, 32, 3)


def test_bad_media_error_names_path_and_reason(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png: empty_file"):
        read_image(tmp_path / "empty.png")


def test_open_video_and_frame_count(tmp_path):
    video = write_video(tmp_path / "v.mp4", 5)
    assert frame_count(video) == 5 and frame_count(video, exact=True) == 5
    with open_video(video) as reader:
        assert reader.reported_frames == 5 and reader.fps == pytest.approx(10)
        assert [index for index, _ in reader] == [0, 1, 2, 3, 4]
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 50)
    write_video(tmp_path / "zero.mp4", 0)
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name, reasons in (
        ("junk.mp4", {"unreadable_video"}),
        ("zero.mp4", {"unreadable_video", "no_frames", "empty_file"}),
        ("empty.mp4", {"empty_file"}),
        ("absent.mp4", {"missing_file"}),
    ):
        with pytest.raises(BadMediaError) as caught:
            frame_count(tmp_path / name)
        assert caught.value.reason in reasons, name


def test_sample_frame_indices():
    assert sample_frame_indices(100, n_frames=5) == [0, 25, 50, 74, 99]
    assert sample_frame_indices(3, n_frames=8) == [0, 1, 2]
    assert sample_frame_indices(0, n_frames=8) == []
    assert sample_frame_indices(10, fps=5, video_fps=25) == [0, 5]
    assert sample_frame_indices(4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="either n_frames or fps"):
        sample_frame_indices(10, n_frames=2, fps=1, video_fps=25)
    with pytest.raises(ValueError, match="frame rate"):
        sample_frame_indices(10, fps=1)


@pytest.mark.parametrize("seek", [False, True])
def test_iter_video_frames_reads_wanted_frames(tmp_path, seek):
    video = write_video(tmp_path / "v.mp4", 5)
    frames = list(iter_video_frames(video, [4, 1, 9, 1], seek=seek))
    assert [index for index, _ in frames] == [1, 4]  # sorted, unique, past-the-end dropped
    assert frames[0][1].shape == (32, 32, 3)
    assert abs(frames[1][1].mean() - 160) < 12  # the frame written with value 40 * 4


def test_sample_video_frames_spans_video(tmp_path):
    video = write_video(tmp_path / "v.mp4", 5)
    assert [i for i, _ in sample_video_frames(video, n_frames=3)] == [0, 2, 4]


def test_detectors(tmp_path):
    blank = np.zeros((120, 160, 3), np.uint8)
    haar = make_detector("haar")
    assert haar.detect(blank) == []
    assert make_detector("none").detect(blank) == [(0, 0, 160, 120)]
    with pytest.raises(FileNotFoundError, match="yunet"):
        make_detector("yunet", tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("mtcnn")


def test_largest_face_and_square_crop():
    assert largest_face([]) is None
    assert largest_face([(0, 0, 5, 5), (10, 10, 8, 9), (1, 1, 9, 8)]) == (10, 10, 8, 9)
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 40:60] = 255
    crop = square_crop(image, (40, 40, 20, 20), enlarge=1.0, size=20)
    assert crop.shape == (20, 20, 3) and crop.min() == 255
    # A face at the corner: the square leaves the frame and is padded by replication.
    image[:10, :10] = 200
    corner = square_crop(image, (0, 0, 10, 10), enlarge=2.0, size=40)
    assert corner.shape == (40, 40, 3) and corner[:20, :20].min() == 200
    with pytest.raises(ValueError, match="positive size"):
        square_crop(image, (0, 0, 0, 5))
