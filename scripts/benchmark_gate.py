#!/usr/bin/env python3
"""The gate's budgets on this machine, printed (a measurement, not a test):

1. the peak resident memory of the gate as a process (``scripts/gate.py`` on a clip of the
   portrait, events file and MQTT on), against a budget of 150 MB;
2. the cost per frame of the gate's path (tracked face, classifier, presentations, events file
   and MQTT publishing) beside the demo's (the same tracked face and classifier, the overlay
   drawn), measured side by side in one run: both see every frame in turn, each with its own
   tracker, and the ratio of their medians is compared with a budget of 1.05.

Run it in the device environment with MQTT (``requirements-device-mqtt.txt``):

    python scripts/benchmark_gate.py                  # starts its own mosquitto on a free port
    python scripts/benchmark_gate.py --broker host:1883 --frames 600

Without ``--broker`` it needs Debian's ``mosquitto`` on the PATH; ``--no-mqtt`` measures the
events file alone.
"""

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from deepfake_iot import events, frame_path_study, machine  # noqa: E402
from deepfake_iot.classifier import DeepfakeClassifier  # noqa: E402
from deepfake_iot.cli import existing_file, int_at_least  # noqa: E402
from deepfake_iot.demo_model import demo_model_path  # noqa: E402
from deepfake_iot.presentation import PresentationGate, operating_point  # noqa: E402

MEMORY_BUDGET_MB, COST_BUDGET = 150.0, 1.05


def start_broker(folder: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        raise SystemExit("error: mosquitto is not installed: give --broker HOST:PORT or --no-mqtt")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"error: mosquitto did not listen on port {port}")


def side_by_side(model: Path, frames: list, broker: str | None, folder: Path) -> dict:
    """Median ms per frame of the demo's path and the gate's, interleaved frame by frame."""
    demo = DeepfakeClassifier(model, track=True)
    demo.presentations = PresentationGate(demo.sidecar, operating_point(demo.sidecar, 0.05))
    classifier = DeepfakeClassifier(model, track=True)
    presentations = PresentationGate(classifier.sidecar, operating_point(classifier.sidecar, 0.05))
    log = events.EventLog(folder / "events.jsonl")
    publisher = events.MqttPublisher(broker, "bench") if broker else None
    if publisher is not None:
        publisher.start()
    demo_ms, gate_ms = [], []
    for index, frame in enumerate(frames):
        started = time.perf_counter()
        demo.annotate(frame)
        demo_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        box, result = classifier.score(frame)
        decided = presentations.add(index, result["p_fake"], box, result["detect_ms"], result["ms"])
        if decided is not None:
            event = {"time": time.time(), "device": "bench", "model": model.name, **decided}
            log.write(event)
            if publisher is not None:
                publisher.publish(event)
        gate_ms.append((time.perf_counter() - started) * 1000)
    delivered = None
    if publisher is not None:
        publisher.stop()
        delivered = publisher.published
    log.close()
    return {"demo_ms": float(np.median(demo_ms)), "gate_ms": float(np.median(gate_ms)),
            "decisions": log.written, "delivered": delivered}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=existing_file, default=demo_model_path(), help=".tflite file with its sidecar")
    parser.add_argument("--frames", type=int_at_least(16), default=300, help="frames of the portrait clip (default 300)")
    parser.add_argument("--broker", help="an MQTT broker HOST:PORT (default: a mosquitto started here)")
    parser.add_argument("--no-mqtt", action="store_true", help="events file only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        broker_process, broker = None, None if args.no_mqtt else args.broker
        if not args.no_mqtt and broker is None:
            broker_process, broker = start_broker(folder)
        try:
            clip = frame_path_study.write_portrait_clip(folder / "portrait.mp4", frames=args.frames)
            command = [sys.executable, str(Path(__file__).with_name("gate.py")), "--model", str(args.model),
                       "--video", str(clip), "--events", str(folder / "gate.jsonl")]  # fmt: skip
            command += ["--mqtt", broker] if broker else []
            code, peak_mb, stdout = machine.peak_rss_of(command)
            if code != 0:
                raise SystemExit(f"error: the gate exited with {code}: {stdout.strip()}")
            import cv2

            capture, frames = cv2.VideoCapture(str(clip)), []
            while (read := capture.read())[0]:
                frames.append(read[1])
            capture.release()
            costs = side_by_side(Path(args.model), frames, broker, folder)
        finally:
            if broker_process is not None:
                broker_process.kill()
                broker_process.wait()
    ratio = costs["gate_ms"] / costs["demo_ms"]
    mqtt = f"MQTT {broker}, {costs['delivered']} of {costs['decisions']} decisions delivered" if broker else "no MQTT"
    print(f"gate process peak resident memory: {peak_mb:.1f} MB (budget {MEMORY_BUDGET_MB:.0f} MB: "
          f"{'met' if peak_mb <= MEMORY_BUDGET_MB else 'missed'}); {len(frames)} frames of 640x480")
    print(f"median ms per frame, side by side: demo {costs['demo_ms']:.3f}, gate with events file and {mqtt}: "
          f"{costs['gate_ms']:.3f}; ratio {ratio:.3f} (budget {COST_BUDGET}: {'met' if ratio <= COST_BUDGET else 'missed'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
