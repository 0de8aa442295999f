"""The face gate as a device runs it: ``scripts/gate.py`` in the MQTT device environment
(``requirements-device-mqtt.txt``: LiteRT, headless OpenCV, paho-mqtt, no TensorFlow) against a
real Mosquitto broker that each test starts on a free loopback port, and a real subscriber
(``tests/mqtt_subscriber.py``, in the same environment).

Skipped, saying why, where Debian's ``mosquitto`` is not installed (``.ci/run`` installs it as
root). Slow: the environment is built once and cached (``tests/device_envs.py``).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepfake_iot import detector_study, frame_path_study, inference
from deepfake_iot.demo_model import demo_model_path

from .conftest import ROOT
from .device_envs import build_venv

pytestmark = pytest.mark.slow

GATE = ROOT / "scripts" / "gate.py"
SUBSCRIBER = Path(__file__).with_name("mqtt_subscriber.py")
FIELDS = {"time", "device", "decision", "p_fake", "frames", "window", "threshold", "apcer_target", "model",
          "face_box", "detector_ms", "ms"}  # fmt: skip
WINDOW, THRESHOLD = 6, 0.25
MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.path.exists(p)), None)


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    if MOSQUITTO is None:
        print("mosquitto is not installed (apt-get install mosquitto): skipping the gate's MQTT tests")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    python, seconds = build_venv("mqtt", tmp_path_factory.mktemp("mqtt-venv"))
    state = f"built in {seconds:.0f} s" if seconds else "reused"
    print(f"MQTT device environment {state}: {python.parent.parent}")
    return python


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The committed demo model with a sidecar as notebook 05 writes it: a gate of ``WINDOW``
    frames, an operating point at APCER 5% only (1% and 10% not met), and a Platt calibration."""
    folder = tmp_path_factory.mktemp("gate-model")
    path = folder / "model.tflite"
    shutil.copy(demo_model_path(), path)
    sidecar = json.loads(demo_model_path().with_suffix(".json").read_text())
    sidecar["gate"] = {"window": WINDOW, "aggregation": "mean of the window's frame scores", "operating_points": [
        {"target_apcer": 0.01, "threshold": None, "status": "not met", "note": "not met: too few presentations"},
        {"target_apcer": 0.05, "threshold": THRESHOLD, "status": "met", "note": ""},
        {"target_apcer": 0.1, "threshold": None, "status": "not met", "note": "not met: too few presentations"}]}  # fmt: skip
    sidecar["operating_points"] = [{"apcer": 0.05, "threshold": THRESHOLD, "window": WINDOW}]
    sidecar["calibration"] = {"method": "platt", "slope": 1.5, "intercept": -0.4}
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """60 frames of the portrait drifting at 15 fps: 4 s played in real time, 10 decisions."""
    return frame_path_study.write_portrait_clip(tmp_path_factory.mktemp("clip") / "portrait.mp4", frames=60, fps=15.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """Mosquitto on 127.0.0.1:``port`` from a three-line config (and a password file)."""

    def __init__(self, folder: Path, port: int | None = None, password_file: Path | None = None):
        self.port = port or free_port()
        self.config = folder / f"mosquitto-{self.port}.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous " + ("false" if password_file else "true"),
                 "persistence false"] + ([f"password_file {password_file}"] if password_file else [])  # fmt: skip
        # as root, mosquitto would switch to its own user, who cannot read a test's private folder
        lines += ["user root"] if password_file and os.geteuid() == 0 else []
        self.config.write_text("\n".join(lines) + "\n")
        self.process = None
        self.start()

    def start(self) -> None:
        self.log = self.config.with_suffix(".log")
        with open(self.log, "a") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on port {self.port}: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def broker(tmp_path):
    started = Broker(tmp_path)
    yield started
    started.kill()


class Subscriber:
    def __init__(self, python, port: int, out: Path, topics=("deepfake-iot/#", "homeassistant/#")):
        self.out = out
        self.process = subprocess.Popen([str(python), str(SUBSCRIBER), str(port), str(out), *topics])
        self.wait_for(lambda records: any(r.get("subscribed") for r in records), "subscribed")

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines()] if self.out.exists() else []

    def decisions(self) -> list[dict]:
        return [json.loads(r["payload"]) for r in self.records() if r.get("topic", "").endswith("/decision")]

    def wait_for(self, condition, what: str, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = self.records()
            if condition(records):
                return records
            time.sleep(0.05)
        raise AssertionError(f"the subscriber did not see {what} within {timeout} s: {self.records()[-5:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def gate(python, *args, env=None, **popen):
    command = [str(python), str(GATE), *map(str, args)]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, **popen)


def finish(process, timeout=120):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def key(event: dict) -> tuple:
    return (event["first_frame"], event["last_frame"], event["decision"])


def test_every_decision_of_a_realtime_clip_reaches_the_subscriber(python, model, clip, broker, tmp_path):
    subscriber = Subscriber(python, broker.port, tmp_path / "received.jsonl")
    log = tmp_path / "events.jsonl"
    started = time.monotonic()
    code, stdout, stderr = finish(gate(python, "--model", model, "--video", clip, "--realtime", "--device", "door1",
                                       "--events", log, "--mqtt", f"127.0.0.1:{broker.port}", "--ha-discovery"))  # fmt: skip
    seconds = time.monotonic() - started
    assert code == 0, stderr
    written = events(log)
    assert seconds >= 60 / 15.0, f"--realtime played 60 frames at 15 fps in {seconds:.1f} s"
    assert len(written) == 10 and all(e["decision"] == "bona_fide" for e in written), written
    for event in written:
        assert FIELDS <= set(event), FIELDS - set(event)
        assert event["window"] == WINDOW and event["threshold"] == THRESHOLD and event["apcer_target"] == 0.05
        assert (event["p_fake_raw"] >= THRESHOLD) == (event["decision"] == "attack")
        calibrated = float(inference.calibrate(event["p_fake_raw"], json.loads(model.with_suffix(".json").read_text())))
        assert abs(event["p_fake"] - calibrated) < 1e-9 and event["device"] == "door1" and event["frames"] == WINDOW
    records = subscriber.wait_for(lambda r: sum(x.get("topic") == "deepfake-iot/door1/status" and x["payload"] == "offline"
                                               for x in r) >= 1, "the status offline")  # fmt: skip
    subscriber.stop()
    received = [json.loads(r["payload"]) for r in records if r.get("topic") == "deepfake-iot/door1/decision"]
    assert received == written, "the subscriber received other decisions than the events file holds"
    status = [r["payload"] for r in records if r.get("topic") == "deepfake-iot/door1/status"]
    assert status == ["online", "offline"], status
    discovery = [json.loads(r["payload"]) for r in records if r.get("topic", "").startswith("homeassistant/")]
    assert discovery and discovery[0]["state_topic"] == "deepfake-iot/door1/decision"
    assert "10 delivered" in stdout, stdout


def test_decisions_survive_the_broker_going_away_and_coming_back(python, model, tmp_path):
    """The broker is killed mid-run and started again on its port 2 s later: every decision of
    the events file reaches the subscriber, duplicates only where QoS 1 allows them (a decision
    the broker took but had not acknowledged when it died, sent again)."""
    long_clip = frame_path_study.write_portrait_clip(tmp_path / "long.mp4", frames=150, fps=15.0)
    server = Broker(tmp_path)
    subscriber = Subscriber(python, server.port, tmp_path / "received.jsonl")
    log = tmp_path / "events.jsonl"
    process = gate(python, "--model", model, "--video", long_clip, "--realtime", "--device", "door2", "--events", log,
                   "--mqtt", f"127.0.0.1:{server.port}")  # fmt: skip
    try:
        subscriber.wait_for(lambda r: len([x for x in r if x.get("topic", "").endswith("/decision")]) >= 3, "3 decisions")
        server.kill()
        time.sleep(2.0)
        server.start()
        code, stdout, stderr = finish(process)
        assert code == 0, stderr
        written = events(log)
        subscriber.wait_for(lambda r: {key(d) for d in subscriber.decisions()} >= {key(e) for e in written},
                            "every decision of the events file")  # fmt: skip
    finally:
        subscriber.stop()
        server.kill()
    received = subscriber.decisions()
    assert len(written) == 25 and {key(d) for d in received} == {key(e) for e in written}
    duplicates = len(received) - len({key(d) for d in received})
    assert duplicates <= 20, f"{duplicates} duplicates: more than the decisions in flight when the broker died"
    assert "1 disconnect(s)" in stdout and "0 dropped" in stdout and "0 undelivered" in stdout, stdout


def test_the_status_is_retained_and_the_last_will_says_offline_after_a_kill(python, model, clip, broker, tmp_path):
    status = "deepfake-iot/door3/status"
    process = gate(python, "--model", model, "--video", clip, "--realtime", "--loop", "--device", "door3",
                   "--events", tmp_path / "events.jsonl", "--mqtt", f"127.0.0.1:{broker.port}")  # fmt: skip
    try:
        late = Subscriber(python, broker.port, tmp_path / "late.jsonl", topics=(status,))
        late.wait_for(lambda r: any(x.get("payload") == "online" for x in r), "the status online")
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        late.wait_for(lambda r: any(x.get("payload") == "offline" for x in r), "the last will")
        late.stop()
        fresh = Subscriber(python, broker.port, tmp_path / "fresh.jsonl", topics=(status,))
        records = fresh.wait_for(lambda r: any(x.get("topic") == status for x in r), "the retained status")
        fresh.stop()
    finally:
        if process.poll() is None:
            process.kill()
    retained = [x for x in records if x.get("topic") == status]
    assert retained == [{"topic": status, "payload": "offline", "retain": True}], retained


def test_refused_credentials_and_bad_addresses_are_one_line(python, model, clip, tmp_path):
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gate", "right"], check=True, capture_output=True)
    passwords.chmod(0o600)
    server = Broker(tmp_path, password_file=passwords)
    try:
        common = ("--model", model, "--video", clip, "--events", tmp_path / "events.jsonl", "--max-frames", 12)
        wrong = {"DFIOT_MQTT_USERNAME": "gate", "DFIOT_MQTT_PASSWORD": "wrong"}
        code, _, stderr = finish(gate(python, *common, "--mqtt", f"127.0.0.1:{server.port}", env=wrong))
        assert code == 2 and stderr.strip().count("\n") == 0, stderr
        assert stderr.startswith(f"error: broker 127.0.0.1:{server.port} refused the connection"), stderr
        credentials = tmp_path / "credentials"
        credentials.write_text("gate\nright\n")
        code, stdout, stderr = finish(gate(python, *common, "--mqtt", f"127.0.0.1:{server.port}",
                                           "--mqtt-credentials", credentials))  # fmt: skip
        assert code == 0 and "2 delivered" in stdout, stdout + stderr
    finally:
        server.kill()
    code, _, stderr = finish(gate(python, *common, "--mqtt", "no-such-broker.invalid:1883"))
    assert code == 2 and stderr.startswith("error: broker no-such-broker.invalid:1883: the host name does not resolve")
    code, _, stderr = finish(gate(python, *common, "--mqtt", "localhost:1883", "--mqtt-cafile", tmp_path / "ca.pem"))
    assert code == 2 and "argument --mqtt-cafile:" in stderr and "does not exist" in stderr, stderr
    code, _, stderr = finish(gate(python, *common, "--window", "0"))
    assert code == 2 and "argument --window:" in stderr, stderr
    code, _, stderr = finish(gate(python, *common, "--apcer", "0.02"))
    assert code == 2 and "argument --apcer:" in stderr, stderr


def test_a_stream_that_stops_ends_the_run_and_bad_frames_are_skipped(python, model, clip, broker, tmp_path):
    """A stream gone mid-run (a URL OpenCV reads to its end): one warning line, status offline,
    the decisions kept, exit 0. An undecodable image is skipped and counted."""
    subscriber = Subscriber(python, broker.port, tmp_path / "received.jsonl")
    code, stdout, stderr = finish(gate(python, "--model", model, "--url", clip, "--device", "door4",
                                       "--events", tmp_path / "events.jsonl", "--mqtt", f"127.0.0.1:{broker.port}"))  # fmt: skip
    assert code == 0, stderr
    assert [line for line in stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: stream {clip} stopped delivering frames after 60 frame(s); status offline, the decisions so far "
        f"are in {tmp_path / 'events.jsonl'}"]  # fmt: skip
    subscriber.wait_for(lambda r: any(x.get("payload") == "offline" for x in r), "the status offline")
    subscriber.stop()
    assert len(events(tmp_path / "events.jsonl")) == 10
    folder = tmp_path / "images"
    folder.mkdir()
    for index, item in enumerate(detector_study.portrait_frames()[:7]):
        import cv2

        cv2.imwrite(str(folder / f"{index:02d}.png"), item["frame"])
    (folder / "03b.jpg").write_bytes(b"not a jpeg")
    code, stdout, stderr = finish(gate(python, "--model", model, "--images", folder, "--events", tmp_path / "images.jsonl"))
    assert code == 0 and "7 frame(s) (1 undecodable, skipped)" in stdout, stdout + stderr


def test_a_soak_of_ten_thousand_frames_keeps_memory_flat(python, model, broker, tmp_path):
    """10,000 frames of a small looping clip with events and MQTT on: every decision delivered,
    and the resident memory the events carry grows by under 5 MB from the first tenth to the end."""
    small = frame_path_study.write_portrait_clip(tmp_path / "small.mp4", size=(320, 240), frames=50, fps=15.0)
    log = tmp_path / "events.jsonl"
    code, stdout, stderr = finish(gate(python, "--model", model, "--video", small, "--loop", "--max-frames", 10_000,
                                       "--window", 25, "--events", log, "--mqtt", f"127.0.0.1:{broker.port}"),
                                  timeout=300)  # fmt: skip
    assert code == 0, stderr
    written = events(log)
    assert sum(e["frames"] for e in written) == 10_000 and "0 dropped" in stdout and "0 undelivered" in stdout, stdout
    memory = np.array([e["rss_mb"] for e in written])
    tenth = len(memory) // 10
    growth = float(np.median(memory[-tenth:]) - np.median(memory[tenth : 2 * tenth]))
    print(f"soak: {len(written)} decisions over 10,000 frames, resident memory {memory[tenth]:.1f} MB after "
          f"{tenth} decisions, {memory[-1]:.1f} MB at the end, peak {memory.max():.1f} MB; {stdout.strip()}")
    assert growth < 5.0, f"resident memory grew by {growth:.1f} MB over the soak"
    assert sys.platform != "linux" or memory.max() < 150, f"peak resident memory {memory.max():.1f} MB"


def test_a_broker_out_of_reach_queues_a_bounded_number_of_decisions(python, model, clip, tmp_path):
    """No broker on the port: one warning, every decision still decided and written, the queue
    holds the newest --mqtt-queue of them, the older ones are dropped and counted."""
    log = tmp_path / "events.jsonl"
    code, stdout, stderr = finish(gate(python, "--model", model, "--video", clip, "--events", log,
                                       "--mqtt", f"127.0.0.1:{free_port()}", "--mqtt-queue", 3))  # fmt: skip
    assert code == 0, stderr
    assert [line for line in stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: broker 127.0.0.1:{stderr.split('127.0.0.1:')[1].split()[0]} cannot be reached yet: decisions "
        "are queued (up to 3) until it can"]  # fmt: skip
    written = events(log)
    assert len(written) == 10 and [e["mqtt_dropped"] for e in written] == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    assert "0 delivered, 7 dropped from a full queue, 3 undelivered at exit" in stdout, stdout
