"""Safe reading of images and videos from real datasets.

Real datasets contain broken files: empty downloads, truncated JPEGs, HTML error pages saved as
``.jpg``, 16-bit or transparent PNGs, images whose header claims billions of pixels. Every
reader here either returns clean 8-bit BGR pixels or raises :class:`BadMediaError` with a short,
stable ``reason`` code, so that a long extraction can skip the file, count it and go on.

Reason codes: ``missing_file``, ``empty_file``, ``not_an_image``, ``truncated``, ``too_large``,
``too_small``, ``decode_failed``, ``unsupported_pixels``, ``unreadable_video``, ``no_frames``.

Parsers of untrusted bytes raise all sorts of exceptions on hostile input (``struct.error``,
``IndexError``, ``cv2.error``, ...): each parsing step here turns *any* exception into a
``BadMediaError``, and a fuzz test (tests/test_fuzz_intake.py) holds it to that.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError


class BadMediaError(ValueError):
    """A media file that cannot be used. ``reason`` is a short code, ``detail`` free text."""

    def __init__(self, reason: str, path: Path | str = "", detail: str = ""):
        self.reason = reason
        self.path = str(path)
        self.detail = detail
        message = f"{self.path}: {reason}" if self.path else reason
        super().__init__(f"{message} ({detail})" if detail else message)


def _read_nonempty_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise BadMediaError("missing_file", path, "no such file")
    data = path.read_bytes()
    if not data:
        raise BadMediaError("empty_file", path, "zero bytes")
    return data


def _check_header(
    data: bytes, path: Path, max_pixels: int, min_side: int
) -> tuple[str, tuple[int, int]]:
    """Open the image lazily (header only) and refuse it before any pixel is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                image_format, size = image.format or "", image.size
        except Image.DecompressionBombError as error:
            raise BadMediaError("too_large", path, str(error)) from error
        except UnidentifiedImageError as error:
            raise BadMediaError("not_an_image", path, "unrecognised image format") from error
        except Exception as error:  # noqa: BLE001 - hostile headers raise anything
            raise BadMediaError("not_an_image", path, f"{type(error).__name__}: {error}") from error
    width, height = size
    if width * height > max_pixels:
        raise BadMediaError("too_large", path, f"{width}x{height} exceeds {max_pixels} pixels")
    if min(width, height) < min_side:
        raise BadMediaError("too_small", path, f"{width}x{height}, sides must be >= {min_side}")
    return image_format, size


def _check_complete(data: bytes, path: Path, image_format: str) -> None:
    """Detect truncated files, which OpenCV would silently decode in part."""
    if image_format == "JPEG":
        # Fast path: a complete JPEG ends with the EOI marker (maybe padded with zeros).
        if data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
            return
        # Trailing bytes after EOI are legal: let PIL decode fully to tell them from truncation.
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        except Exception as error:  # noqa: BLE001 - hostile data raises anything
            raise BadMediaError("truncated", path, f"{type(error).__name__}: {error}") from error
        return
    if image_format == "PNG":
        # verify() walks every chunk up to IEND and checks the CRCs.
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except Exception as error:  # noqa: BLE001 - hostile data raises anything
            raise BadMediaError("truncated", path, f"{type(error).__name__}: {error}") from error


def to_bgr_uint8(pixels: np.ndarray) -> np.ndarray:
    """Convert gray, gray+alpha, BGRA, 16-bit or float pixels to 8-bit, 3-channel BGR."""
    if pixels.dtype == np.uint16:
        pixels = np.round(pixels.astype(np.float32) / 257.0).astype(np.uint8)
    elif pixels.dtype in (np.float32, np.float64):
        scale = 255.0 if float(np.nanmax(pixels)) <= 1.0 else 1.0
        pixels = np.clip(np.nan_to_num(pixels) * scale, 0, 255).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        raise BadMediaError("unsupported_pixels", "", f"pixel type {pixels.dtype}")
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    channels = pixels.shape[2]
    if channels in (1, 2):  # gray, or gray + alpha: drop alpha
        return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), cv2.COLOR_GRAY2BGR)
    if channels == 3:
        return np.ascontiguousarray(pixels)
    if channels == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    raise BadMediaError("unsupported_pixels", "", f"{channels} channels")


def read_image(path: Path | str, *, max_pixels: int = 50_000_000, min_side: int = 16) -> np.ndarray:
    """Read an image file as an 8-bit BGR array of shape (H, W, 3), or raise BadMediaError.

    The header is checked (format, dimensions) before decoding, so a decompression bomb is
    refused without allocating its pixels; truncated JPEG/PNG files are detected; grayscale,
    gray+alpha, RGBA, palette and 16-bit images are converted (alpha is dropped). EXIF
    orientation is not applied: pixels are returned as stored.
    """
    path = Path(path)
    data = _read_nonempty_bytes(path)
    image_format, (width, height) = _check_header(data, path, max_pixels, min_side)
    _check_complete(data, path, image_format)
    try:
        pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise BadMediaError("decode_failed", path, f"OpenCV: {error}") from error
    if pixels is None:
        # Formats OpenCV cannot read (rare ones PIL knows): decode with PIL instead.
        try:
            with Image.open(io.BytesIO(data)) as image:
                rgb = np.asarray(image.convert("RGB"))
        except Exception as error:  # noqa: BLE001 - hostile data raises anything
            raise BadMediaError(
                "decode_failed", path, f"{type(error).__name__}: {error}"
            ) from error
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    # The decoder may disagree with the header PIL read (multi-image files, odd containers).
    decoded_pixels = int(pixels.shape[0]) * int(pixels.shape[1]) if pixels.ndim >= 2 else 0
    if decoded_pixels > max_pixels or pixels.ndim < 2 or min(pixels.shape[:2]) < min_side:
        raise BadMediaError(
            "decode_failed", path, f"decoded shape {pixels.shape} differs from the header"
        )
    try:
        return to_bgr_uint8(pixels)
    except BadMediaError as error:
        raise BadMediaError(error.reason, path, error.detail) from None
    except cv2.error as error:
        raise BadMediaError("unsupported_pixels", path, f"OpenCV: {error}") from error


class VideoReader:
    """An opened video: ``capture`` (cv2.VideoCapture), ``fps``, ``reported_frames``.

    Iterating yields ``(frame_index, frame_bgr)`` for every frame from the start.
    """

    def __init__(self, path: Path, capture: cv2.VideoCapture):
        self.path = path
        self.capture = capture
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.reported_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        index = 0
        while True:
            ok, frame = self.capture.read()
            if not ok or frame is None:
                return
            yield index, frame
            index += 1


def _open_capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise BadMediaError("unreadable_video", path, "OpenCV could not open it")
    return capture


def _check_frame_size(capture: cv2.VideoCapture, path: Path, max_pixels: int) -> None:
    """Refuse a video whose stream claims frames larger than ``max_pixels``, before decoding."""
    width = float(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0.0)
    height = float(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0.0)
    if width * height > max_pixels:
        raise BadMediaError(
            "too_large", path, f"frames of {width:.0f}x{height:.0f} exceed {max_pixels} pixels"
        )


@contextlib.contextmanager
def open_video(path: Path | str, *, max_pixels: int = 50_000_000) -> Iterator[VideoReader]:
    """Open a video for reading, positioned at frame 0; release it on exit.

    Raises BadMediaError for a missing or empty file, a file OpenCV cannot open
    (``unreadable_video``), a stream whose frame size exceeds ``max_pixels`` (``too_large``,
    checked before a frame is decoded) and a video whose first frame cannot be decoded
    (``no_frames``).
    """
    path = Path(path)
    if not path.is_file():
        raise BadMediaError("missing_file", path, "no such file")
    if path.stat().st_size == 0:
        raise BadMediaError("empty_file", path, "zero bytes")
    probe = _open_capture(path)
    try:
        _check_frame_size(probe, path, max_pixels)
        has_frame = probe.grab()
    except cv2.error as error:
        raise BadMediaError("unreadable_video", path, f"OpenCV: {error}") from error
    finally:
        probe.release()
    if not has_frame:
        raise BadMediaError("no_frames", path, "no decodable frame")
    capture = _open_capture(path)  # reopened: seeking back to 0 is unreliable on some codecs
    try:
        yield VideoReader(path, capture)
    finally:
        capture.release()


def frame_count(path: Path | str, *, exact: bool = False) -> int:
    """Number of frames of a video.

    By default the container's count (``CAP_PROP_FRAME_COUNT``), falling back to counting when
    it reports none; with ``exact=True`` frames are always counted by grabbing them, since the
    container's count can be wrong for some files.
    """
    with open_video(path) as video:
        if video.reported_frames > 0 and not exact:
            return video.reported_frames
        count = 0
        while video.capture.grab():
            count += 1
    if count == 0:
        raise BadMediaError("no_frames", path, "no decodable frame")
    return count
