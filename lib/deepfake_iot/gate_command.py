"""The face gate on a device: one decision per presentation, sent as an event (no TensorFlow).

The command ``deepfake-iot-gate`` (also ``python -m deepfake_iot.gate_command`` and
``scripts/gate.py``):

deepfake-iot-gate --camera 0 --device door1 --events door1.jsonl --mqtt localhost:1883
deepfake-iot-gate --picamera --device door1 --events door1.jsonl --apcer 0.01
deepfake-iot-gate --video clip.mp4 --realtime --events events.jsonl

It follows the face from frame to frame (detect-then-track, ``data.tracking.FaceTracker``),
scores it with a .tflite (or .onnx) file and decides per presentation of at most N frames (the face
leaving ends one early): ``bona_fide``, ``attack`` or ``no_face`` (N frames without a face,
once), with the window, the aggregation (the mean raw P(fake)) and the threshold for the
target APCER that the model's sidecar carries (notebook 05 chose them on validation;
``presentation.py``). Where the sidecar has no operating point for the target, its validation
threshold is used and a one-line note says so.

Every decision is one JSON line in --events (flushed as written) and, with --mqtt, a QoS 1
message on deepfake-iot/<device>/decision; deepfake-iot/<device>/status is retained "online"
while the gate runs, "offline" when it stops or dies (the broker's last will). The broker's
username and password come from DFIOT_MQTT_USERNAME / DFIOT_MQTT_PASSWORD or --mqtt-credentials
FILE (username on the first line, password on the second), never from the command line. While
the broker is away decisions queue (--mqtt-queue, the oldest dropped and counted) and go out on
reconnect; the gate never stops deciding for it.

Exit codes: 0 when the source ends, also a camera or stream that stops mid-run (status offline,
one line saying so, the events kept); 2 for every start-up error, in one line naming the flag,
file or broker (a broker that does not resolve, refuses the credentials, or TLS files that
cannot be used). SIGTERM (systemd's stop) and Ctrl-C end the run as the source's end does.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from deepfake_iot.cli import (
    apcer_target,
    existing_dir,
    existing_file,
    int_at_least,
    one_line,
    quiet_native_stderr,
    silence_opencv,
    verbose_requested,
)

DETECTORS = ("blazeface_short", "blazeface_full", "haar", "yunet", "none")  # faces.DETECTOR_NAMES


def device_name(text: str) -> str:
    """An argparse type: a device name fit for an MQTT topic level (letters, digits, - and _)."""
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise argparse.ArgumentTypeError(f"must be letters, digits, '-' or '_' (a topic level), got {text!r}")
    return text


def broker_address(text: str) -> str:
    """An argparse type: ``HOST:PORT``."""
    from deepfake_iot.events import parse_address

    try:
        parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def parse_args(argv=None) -> argparse.Namespace:
    from deepfake_iot.demo_model import demo_model_path

    parser = argparse.ArgumentParser(prog="deepfake-iot-gate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--model", type=existing_file, default=demo_model_path(),
                        help=".tflite or .onnx file with its sidecar .json (default: the committed demo model, "
                        "trained on synthetic faces only)")  # fmt: skip
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=int_at_least(0), help="OpenCV camera index, e.g. 0")
    source.add_argument("--picamera", action="store_true", help="the Raspberry Pi camera (picamera2)")
    source.add_argument("--url", help="an RTSP or HTTP stream OpenCV can open")
    source.add_argument("--video", type=existing_file, help="a video file")
    source.add_argument("--images", type=existing_dir, help="a folder of images, in name order")
    parser.add_argument("--realtime", action="store_true", help="play --video at its frame rate")
    parser.add_argument("--loop", action="store_true", help="play --video again from its start at its end")
    parser.add_argument("--max-frames", type=int_at_least(0), default=0, help="stop after this many frames (0: all)")
    parser.add_argument("--apcer", type=apcer_target, default=0.05,
                        help="target APCER whose threshold decides: 0.01, 0.05 or 0.10 (default 0.05)")  # fmt: skip
    parser.add_argument("--window", type=int_at_least(1),
                        help="frames per presentation (default: the sidecar's gate window)")  # fmt: skip
    parser.add_argument("--device", type=device_name, default="gate", help="this device's name in events and topics")
    parser.add_argument("--events", type=Path, default=Path("gate_events.jsonl"),
                        help="JSON-lines file the decisions are appended to (default gate_events.jsonl)")  # fmt: skip
    parser.add_argument("--detector", choices=DETECTORS, help="face detector (default: the sidecar's, else blazeface_short)")
    parser.add_argument("--detector-model", type=existing_file, help="the face detector's model file, where it takes one")
    parser.add_argument("--no-track", action="store_true", help="search every whole frame instead of following the face")
    parser.add_argument("--threads", type=int_at_least(1), default=1, help="runtime threads (default: 1)")
    parser.add_argument("--providers", help="ONNX Runtime execution providers for an .onnx model, in order, comma-separated: tensorrt, cuda, cpu (default: TensorRT, CUDA, then CPU, those installed)")
    mqtt = parser.add_argument_group("MQTT (needs requirements-device-mqtt.txt)")
    mqtt.add_argument("--mqtt", type=broker_address, metavar="HOST:PORT", help="publish decisions to this broker")
    mqtt.add_argument("--mqtt-credentials", type=existing_file, metavar="FILE",
                      help="username (first line) and password (second line); default: the "
                      "DFIOT_MQTT_USERNAME and DFIOT_MQTT_PASSWORD environment variables")  # fmt: skip
    mqtt.add_argument("--mqtt-tls", action="store_true", help="connect with TLS (the system's CAs unless --mqtt-cafile)")
    mqtt.add_argument("--mqtt-cafile", type=existing_file, help="CA certificate(s) the broker's is checked against (TLS)")
    mqtt.add_argument("--mqtt-certfile", type=existing_file, help="this device's client certificate (TLS)")
    mqtt.add_argument("--mqtt-keyfile", type=existing_file, help="the client certificate's key (TLS)")
    mqtt.add_argument("--mqtt-queue", type=int_at_least(1), default=1000,
                      help="decisions kept while the broker is away; the oldest are dropped (default 1000)")  # fmt: skip
    mqtt.add_argument("--ha-discovery", action="store_true",
                      help="announce a Home Assistant binary sensor 'deepfake attack' (MQTT discovery)")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="let the runtime and OpenCV print their own messages")
    args = parser.parse_args(argv)
    if args.realtime and args.video is None:
        parser.error("argument --realtime: only with --video")
    if args.loop and args.video is None:
        parser.error("argument --loop: only with --video")
    if args.mqtt is None and any((args.mqtt_tls, args.mqtt_cafile, args.mqtt_certfile, args.mqtt_credentials)):
        parser.error("argument --mqtt: the MQTT options need --mqtt HOST:PORT")
    return args


def resident_mb() -> float | None:
    """This process's resident memory in MB (Linux ``/proc``), None elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)


class _Stop(Exception):
    """SIGTERM: end the run as the source's end does."""


def _on_term(signum, frame):
    raise _Stop


def _open(args, verbose: bool):
    """The classifier, its operating point and presentation gate, the frame source, the events
    file and the MQTT publisher (started; ``None`` without ``--mqtt``)."""
    from deepfake_iot import events, sources
    from deepfake_iot.classifier import DeepfakeClassifier
    from deepfake_iot.presentation import PresentationGate, operating_point

    with quiet_native_stderr(verbose):
        classifier = DeepfakeClassifier(args.model, detector=args.detector, detector_model=args.detector_model,
                                        threads=args.threads, track=not args.no_track,
                                        providers=args.providers)  # fmt: skip
    point = operating_point(classifier.sidecar, args.apcer, args.window)
    gate = PresentationGate(classifier.sidecar, point)
    source = sources.open_source(camera=args.camera, picamera=args.picamera, url=args.url, video=args.video,
                                 images=args.images, realtime=args.realtime, loop=args.loop)  # fmt: skip
    log, publisher = events.EventLog(args.events), None
    if args.mqtt:
        publisher = events.MqttPublisher(
            args.mqtt, args.device, credentials=events.read_credentials(args.mqtt_credentials),
            tls=args.mqtt_tls, cafile=args.mqtt_cafile, certfile=args.mqtt_certfile, keyfile=args.mqtt_keyfile,
            discovery=args.ha_discovery, queue_size=args.mqtt_queue)  # fmt: skip
        publisher.start()
    return classifier, point, gate, source, log, publisher


def _decide(source, classifier, gate, emit, counts: dict, max_frames: int) -> tuple[Exception | None, int]:
    """Frames through the classifier and the gate until the source ends, SIGTERM, Ctrl-C or
    ``max_frames``; returns the failure that stopped it (or ``None``) and the last frame index."""
    previous = signal.signal(signal.SIGTERM, _on_term)
    failure, index = None, -1
    try:
        for frame in source:
            if frame is None:
                counts["skipped"] += 1
                continue
            index += 1
            box, result = classifier.score(frame)
            decided = gate.add(index, result["p_fake"], box, result["detect_ms"], result["ms"])
            if decided is not None:
                emit(decided)
            if max_frames and index + 1 >= max_frames:
                break
    except (KeyboardInterrupt, _Stop):
        pass
    except Exception as error:  # noqa: BLE001 - a failure mid-run: decisions so far are kept
        failure = error
    finally:
        signal.signal(signal.SIGTERM, previous)
    return failure, index


def _mqtt_line(publisher, broker: str) -> str:
    """The summary's MQTT clause, after stopping the publisher ("" without one)."""
    if publisher is None:
        return ""
    publisher.stop()
    return (f"; MQTT {broker}: {publisher.published} delivered, {publisher.dropped} dropped from a full "
            f"queue, {publisher.waiting()} undelivered at exit, {publisher.disconnects} disconnect(s)")  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    verbose = verbose_requested(args.verbose)
    silence_opencv(verbose)
    import cv2

    errors = (OSError, ValueError, ImportError, cv2.error)
    try:
        classifier, point, gate, source, log, publisher = _open(args, verbose)
    except errors as error:
        print(f"error: {one_line(error, errors)}", file=sys.stderr)
        return 2
    print(classifier.describe(), flush=True)
    if point.note:
        print(f"note: {point.note}", file=sys.stderr, flush=True)
    base = {"device": args.device, "model": classifier.model_path.name, "variant": classifier.sidecar.get("variant"),
            "apcer_target": point.apcer_target}  # fmt: skip
    counts = {"frames": 0, "skipped": 0, "bona_fide": 0, "attack": 0, "no_face": 0}

    def emit(decision: dict) -> None:
        event = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **base, **decision,
                 "detector": classifier.detector, "tracked": not args.no_track, "rss_mb": resident_mb()}  # fmt: skip
        if publisher is not None:  # decisions the broker will never see, so far: a gap is visible
            event["mqtt_dropped"] = publisher.dropped
        log.write(event)
        if publisher is not None:
            publisher.publish(event)
        counts[decision["decision"]] += 1

    started = time.monotonic()
    failure, index = _decide(source, classifier, gate, emit, counts, args.max_frames)
    last = gate.finish(index)
    if last is not None:
        emit(last)
    counts["frames"] = index + 1
    if source.stopped:
        print(f"warning: {source.stopped}; status offline, the decisions so far are in {args.events}",
              file=sys.stderr, flush=True)  # fmt: skip
    mqtt_line = _mqtt_line(publisher, args.mqtt)
    log.close()
    print(f"{counts['frames']} frame(s) ({counts['skipped']} undecodable, skipped) in {time.monotonic() - started:.1f} s: "
          f"{counts['bona_fide']} bona fide, {counts['attack']} attack, {counts['no_face']} no face; "
          f"window {point.window}, threshold {point.threshold:.4g}; events in {args.events}{mqtt_line}", flush=True)  # fmt: skip
    if failure is not None:
        print(f"error: {one_line(failure, errors)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
