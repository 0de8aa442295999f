"""The face gate's decisions on a device, one per presentation, exactly as notebook 05 chose them.

Device side: numpy only. ``gate.py`` evaluates the gate on validation and test presentations and
writes what a sidecar carries (``gate``: the window, the aggregation, per target APCER the
threshold or why there is none; ``operating_points``: the met targets as ``{apcer, threshold,
window}``); this module applies it to a stream of frames:

- A **presentation** is at most ``window`` consecutive frames with a face. It ends after
  ``window`` frames, or earlier when the face leaves (a shorter presentation is decided on the
  frames it has, as ``gate.presentations`` treats a video shorter than the window).
- Its **score** is the mean raw P(fake) of its frames (``presentation_score``, the definition
  ``gate.presentations`` uses), compared with the threshold of the chosen target APCER:
  ``attack`` at or above it, ``bona_fide`` below (``gate.py``: accepted means score < threshold).
- ``no_face`` is decided once when ``window`` consecutive frames have shown no face, and not
  again until a face has been seen.
- The decision's ``p_fake`` is the presentation score calibrated as the sidecar says
  (``inference.calibrate``: Platt scaling at the deployment prior, monotone, so it orders
  presentations as the raw score does); ``p_fake_raw`` is the score the threshold applies to.

Where the sidecar carries no operating point for the target (validation could not support it,
or an older sidecar), the sidecar's validation ``threshold`` is used and ``note`` says so in one
line; where it carries no window, ``DEFAULT_WINDOW`` (``params/default.yaml``'s ``gate_window``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepfake_iot import inference

APCER_TARGETS = (0.01, 0.05, 0.10)  # the targets notebook 05 chooses thresholds for
AGGREGATION = "mean of the window's frame scores"
DEFAULT_WINDOW = 8  # params/default.yaml's gate_window, for a sidecar without a gate
DEFAULT_THRESHOLD = 0.5  # a model without a sidecar threshold (the demo's default too)
DECISIONS = ("bona_fide", "attack", "no_face")


def presentation_score(frame_scores) -> float:
    """A presentation's score: the mean of its frames' raw P(fake) (``AGGREGATION``)."""
    scores = np.asarray(frame_scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("a presentation needs at least one frame score")
    return float(scores.mean())


@dataclass(frozen=True)
class OperatingPoint:
    """What a gate decides with: the window, the raw-score threshold, the target it meets (None
    where it falls back on the validation threshold) and a note saying why, if so."""

    window: int
    threshold: float
    apcer_target: float | None
    note: str = ""


def operating_point(sidecar: dict, apcer: float, window: int | None = None) -> OperatingPoint:
    """The sidecar's operating point for target ``apcer`` (a value of ``APCER_TARGETS``).
    ``window`` overrides the sidecar's (the note then says its thresholds were chosen for
    another window)."""
    if not any(abs(apcer - target) < 1e-9 for target in APCER_TARGETS):
        raise ValueError(f"APCER target {apcer} is not one of {APCER_TARGETS}")
    gate = sidecar.get("gate") or {}
    points = [p for p in sidecar.get("operating_points") or [] if abs(float(p["apcer"]) - apcer) < 1e-9]
    carried = int(gate.get("window") or (points[0].get("window") if points else 0) or 0)
    chosen = int(window) if window else (carried or DEFAULT_WINDOW)
    if chosen < 1:
        raise ValueError(f"the window must be at least 1 frame, got {chosen}")
    notes = []
    if not carried:
        notes.append(f"the sidecar carries no gate window: deciding on {chosen} frames")
    elif chosen != carried:
        notes.append(f"the sidecar's thresholds were chosen on {carried}-frame presentations, "
                     f"this gate decides on {chosen}")  # fmt: skip
    if points and points[0].get("threshold") is not None:
        return OperatingPoint(chosen, float(points[0]["threshold"]), float(apcer), "; ".join(notes))
    threshold = float(sidecar.get("threshold", DEFAULT_THRESHOLD))
    why = [p.get("note") for p in gate.get("operating_points") or []
           if abs(float(p.get("target_apcer", -1)) - apcer) < 1e-9 and p.get("note")]  # fmt: skip
    reason = f" ({why[0]})" if why else ""
    notes.insert(0, f"the sidecar has no operating point at APCER {apcer:.0%}{reason}: deciding at its "
                    f"validation threshold {threshold:.4g}, which meets no APCER target")  # fmt: skip
    return OperatingPoint(chosen, threshold, None, "; ".join(notes))


@dataclass
class PresentationGate:
    """Frames in, decisions out: ``add`` one frame's result (its raw P(fake), or None without a
    face) and get the decision that frame completes, if any; ``finish`` decides what is left
    when the stream ends. Decisions are dicts with ``decision``, ``p_fake`` (calibrated),
    ``p_fake_raw``, ``frames``, ``window``, ``threshold``, ``apcer_target``, ``face_box`` (the
    last frame's), ``detector_ms`` and ``ms`` (means per frame of the presentation), and
    ``first_frame`` / ``last_frame`` (stream positions)."""

    sidecar: dict
    point: OperatingPoint
    scores: list = field(default_factory=list)
    timings: list = field(default_factory=list)
    empty_frames: int = 0
    empty_timings: list = field(default_factory=list)
    box: tuple | None = None
    first_frame: int = 0
    last: dict | None = None  # the latest decision, for an overlay

    def _decision(self, kind: str, frames: int, last_frame: int, raw: float | None) -> dict:
        calibrated = None if raw is None else float(inference.calibrate(raw, self.sidecar))
        detector_ms = float(np.mean([t[0] for t in self.timings])) if self.timings else 0.0
        ms = float(np.mean([t[1] for t in self.timings])) if self.timings else 0.0
        self.last = {"decision": kind, "p_fake": calibrated, "p_fake_raw": raw, "frames": frames,
                     "window": self.point.window, "threshold": self.point.threshold,
                     "apcer_target": self.point.apcer_target,
                     "face_box": list(self.box) if self.box is not None and kind != "no_face" else None,
                     "detector_ms": round(detector_ms, 3), "ms": round(ms, 3),
                     "first_frame": last_frame - frames + 1, "last_frame": last_frame}  # fmt: skip
        return self.last

    def _close(self, last_frame: int) -> dict | None:
        if not self.scores:
            return None
        raw = presentation_score(self.scores)
        kind = "attack" if raw >= self.point.threshold else "bona_fide"
        decision = self._decision(kind, len(self.scores), last_frame, raw)
        self.scores, self.timings = [], []
        return decision

    def add(self, index: int, p_fake_raw: float | None, box=None, detector_ms: float = 0.0,
            ms: float = 0.0) -> dict | None:  # fmt: skip
        """Frame ``index`` of the stream: its raw P(fake) (None: no face), box and timings."""
        if p_fake_raw is None:
            decided = self._close(index - 1)  # the face left: its presentation ends
            self.empty_frames += 1
            self.empty_timings = (self.empty_timings + [(float(detector_ms), float(ms))])[-self.point.window :]
            if decided is None and self.empty_frames == self.point.window:
                self.timings, self.empty_timings = self.empty_timings, []
                decided = self._decision("no_face", self.empty_frames, index, None)
                self.timings = []
            return decided
        self.empty_frames = 0
        self.scores.append(float(p_fake_raw))
        self.timings.append((float(detector_ms), float(ms)))
        self.box = tuple(int(v) for v in box) if box is not None else None
        if len(self.scores) == self.point.window:
            return self._close(index)
        return None

    def finish(self, last_index: int) -> dict | None:
        """The decision on a presentation the stream's end cut short (None if there is none)."""
        return self._close(last_index)
