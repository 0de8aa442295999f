"""Fuzzing the image and video intake: whatever the bytes, ``read_image`` returns clean 8-bit
BGR pixels within its limits or raises ``BadMediaError``; the video readers likewise.

Inputs are random bytes and mutations (truncation, byte flips, insertions, header fields set
to extreme values) of small valid files in every format the intake meets. Hypothesis runs a
fixed number of examples with a per-example deadline and without a database, derandomized so
that a CI failure repeats on a laptop.
"""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from deepfake_iot.data.frames import sample_video_frames
from deepfake_iot.data.intake import BadMediaError, frame_count, open_video, read_image

MAX_PIXELS = 200_000
FUZZ = settings(
    max_examples=150,
    deadline=3000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ_VIDEO = settings(FUZZ, max_examples=40, deadline=5000)


def _image(seed=0, size=(24, 20)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (*size, 3), dtype=np.uint8)


def _pil_bytes(fmt: str, mode: str = "RGB", size=(24, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_image(0, size)).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


SEEDS = {
    "png": cv2.imencode(".png", _image())[1].tobytes(),
    "jpg": cv2.imencode(".jpg", _image())[1].tobytes(),
    "pil.jpg": _pil_bytes("JPEG"),
    "bmp": cv2.imencode(".bmp", _image())[1].tobytes(),
    "gif": _pil_bytes("GIF", "P"),
    "tiff": _pil_bytes("TIFF"),
    "webp": _pil_bytes("WEBP"),
    "gray16.png": cv2.imencode(".png", (_image()[:, :, 0].astype(np.uint16) * 257))[1].tobytes(),
    "rgba.png": cv2.imencode(".png", np.dstack([_image(), _image(1)[:, :, :1]]))[1].tobytes(),
    "ico": _pil_bytes("ICO", size=(32, 32)),
}


@st.composite
def mutated(draw, seeds=SEEDS):
    """A valid file with up to four mutations, or plain random bytes."""
    name = draw(st.sampled_from(sorted(seeds) + ["random"]))
    if name == "random":
        return "bin", draw(st.binary(min_size=0, max_size=2048))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "big_number", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "truncate":
            data = data[:at]
        elif kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "big_number" and len(data) >= at + 4:
            # Header fields (sizes, offsets, counts) set to extremes: bombs and overflows.
            value = draw(st.sampled_from([0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
            fmt = draw(st.sampled_from([">I", "<I", ">H", "<H"]))
            struct.pack_into(fmt, data, at, value & (0xFFFF if "H" in fmt else 0xFFFFFFFF))
    return name.rsplit(".", 1)[-1], bytes(data)


def _check_image_result(path):
    try:
        pixels = read_image(path, max_pixels=MAX_PIXELS)
    except BadMediaError as error:
        assert error.reason and str(path) in str(error)
        return "refused"
    assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8
    assert pixels.ndim == 3 and pixels.shape[2] == 3
    assert pixels.shape[0] * pixels.shape[1] <= MAX_PIXELS
    return "read"


@FUZZ
@given(sample=mutated())
def test_read_image_never_raises_anything_but_bad_media(sample, tmp_path_factory):
    extension, data = sample
    path = tmp_path_factory.mktemp("fuzz") / f"sample.{extension}"
    path.write_bytes(data)
    _check_image_result(path)


def test_the_seeds_themselves_are_read(tmp_path):
    """The fuzzer starts from files the intake accepts (else mutations prove little)."""
    for name, data in SEEDS.items():
        path = tmp_path / f"seed.{name}"
        path.write_bytes(data)
        assert _check_image_result(path) == "read", name


def _video_bytes(tmp_path, suffix, fourcc):
    path = tmp_path / f"seed{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (32, 32))
    for index in range(4):
        writer.write(_image(index, (32, 32)))
    writer.release()
    return path.read_bytes()


@pytest.fixture(scope="module")
def video_seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_seeds")
    return {
        "mp4": _video_bytes(folder, ".mp4", "mp4v"),
        "avi": _video_bytes(folder, ".avi", "MJPG"),
    }


def test_video_seeds_are_read(video_seeds, tmp_path):
    for extension, data in video_seeds.items():
        path = tmp_path / f"seed.{extension}"
        path.write_bytes(data)
        assert frame_count(path, exact=True) == 4


@FUZZ_VIDEO
@given(data=st.data())
def test_video_readers_never_raise_anything_but_bad_media(video_seeds, data, tmp_path_factory):
    extension, content = data.draw(mutated(video_seeds))
    path = tmp_path_factory.mktemp("fuzzv") / f"sample.{extension}"
    path.write_bytes(content)
    try:
        frames = sample_video_frames(path, n_frames=3)
    except BadMediaError:
        frames = []
    for index, frame in frames:
        assert index >= 0 and frame.dtype == np.uint8 and frame.ndim == 3
    try:
        assert frame_count(path) >= 1
        with open_video(path, max_pixels=MAX_PIXELS) as video:
            for _ in zip(range(3), video, strict=False):
                pass
    except BadMediaError as error:
        assert error.reason
