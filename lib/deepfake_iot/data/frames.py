"""Choosing and reading frames of a video.

Frames are sampled evenly over the whole video (``linspace``, as DeepfakeBench does) or at a
fixed rate. Reading is sequential by default: OpenCV's seeking in compressed video can land on
the wrong frame, and the frame count a container reports can be wrong; a sequential pass is
exact and tells the true length when the reported one lies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from deepfake_iot.data.intake import BadMediaError, open_video


def sample_frame_indices(
    n_total: int,
    n_frames: int | None = None,
    fps: float | None = None,
    video_fps: float | None = None,
) -> list[int]:
    """Indices of the frames to keep from a video of ``n_total`` frames.

    - ``n_frames``: that many frames, evenly spaced from the first to the last
      (all frames when the video is shorter);
    - ``fps`` (with the video's own ``video_fps``): one frame every ``1/fps`` seconds;
    - neither: every frame.
    The result is sorted and has no duplicates.
    """
    n_total = int(n_total)
    if n_total < 0:
        raise ValueError(f"n_total must be >= 0, got {n_total}")
    if n_frames is not None and fps is not None:
        raise ValueError("give either n_frames or fps, not both")
    if n_total == 0:
        return []
    if n_frames is not None:
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        if n_total <= n_frames:
            return list(range(n_total))
        return sorted({int(i) for i in np.linspace(0, n_total - 1, int(n_frames)).round()})
    if fps is not None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if not video_fps or video_fps <= 0:
            raise ValueError(f"sampling at fps={fps} needs the video's frame rate, got {video_fps}")
        step = float(video_fps) / float(fps)
        if step <= 1.0:
            return list(range(n_total))
        return sorted({int(i) for i in np.floor(np.arange(0.0, n_total, step))})
    return list(range(n_total))


def iter_video_frames(
    path: Path | str, indices: Iterable[int], *, seek: bool = False
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame_bgr)`` for each wanted index that exists in the video.

    Sequential by default: frames are grabbed in order and only the wanted ones decoded to
    pixels. With ``seek=True`` each wanted frame is reached with ``CAP_PROP_POS_FRAMES`` (faster
    on long videos); when a seek fails the rest is read sequentially. Indices past the true end
    of the video are silently missing from the output: compare with what you asked for.
    Raises BadMediaError when the video cannot be opened or has no frame.
    """
    wanted = sorted({int(i) for i in indices if int(i) >= 0})
    if not wanted:
        return
    with open_video(path) as video:
        capture = video.capture
        position = 0
        remaining = list(wanted)
        if seek:
            while remaining:
                index = remaining[0]
                if index != position and not capture.set(cv2.CAP_PROP_POS_FRAMES, index):
                    break
                if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != index:
                    break
                ok, frame = capture.read()
                if not ok or frame is None:
                    break
                yield index, frame
                remaining.pop(0)
                position = index + 1
            if not remaining:
                return
            # Fall back to a sequential pass from the start for what is left.
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != 0:
                return
            position = 0
        targets = set(remaining)
        last = remaining[-1]
        while position <= last:
            if not capture.grab():
                return
            if position in targets:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    yield position, frame
            position += 1


def count_frames_exact(path: Path | str) -> int:
    """Count the frames of a video by grabbing them all (ignores the container's count)."""
    with open_video(path) as video:
        count = 0
        while video.capture.grab():
            count += 1
    return count


def sample_video_frames(
    path: Path | str,
    *,
    n_frames: int | None = None,
    fps: float | None = None,
    seek: bool = False,
) -> list[tuple[int, np.ndarray]]:
    """Sample frames of a video (see :func:`sample_frame_indices`) and read them.

    Uses the container's frame count first; when frames are missing at the end (the count
    lied), counts the frames exactly and samples again, so the samples still span the video.
    Raises BadMediaError (``no_frames``) when nothing could be read.
    """
    with open_video(path) as video:
        reported, video_fps = video.reported_frames, video.fps
    n_total = reported if reported > 0 else count_frames_exact(path)
    indices = sample_frame_indices(n_total, n_frames=n_frames, fps=fps, video_fps=video_fps)
    frames = list(iter_video_frames(path, indices, seek=seek))
    if len(frames) < len(indices):
        true_total = count_frames_exact(path)
        if true_total != n_total:
            indices = sample_frame_indices(
                true_total, n_frames=n_frames, fps=fps, video_fps=video_fps
            )
            frames = list(iter_video_frames(path, indices, seek=seek))
    if not frames:
        raise BadMediaError("no_frames", path, "no frame could be decoded")
    return frames
