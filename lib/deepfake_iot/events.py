"""Where the gate's decisions go: a JSON-lines file (always) and an MQTT broker (on request).

Device side: the standard library, plus paho-mqtt (``requirements-device-mqtt.txt``) imported
only when MQTT is asked for.

**The events file**: one JSON object per line, appended and flushed per decision, so a crash or
a power cut loses at most the line being written.

**MQTT** (``MqttPublisher``), in the shape home-automation brokers expect:

- ``deepfake-iot/<device>/decision``: every decision, QoS 1 (at least once: a decision may
  arrive twice after a reconnect, never not at all while the queue holds it);
- ``deepfake-iot/<device>/status``: ``online`` (retained) once connected, ``offline`` (retained)
  when the gate stops, and the same ``offline`` as the broker-held last will when the gate dies
  or its connection drops;
- with ``discovery``: Home Assistant's MQTT discovery record for a binary sensor "deepfake
  attack" (``homeassistant/binary_sensor/<device>_deepfake_attack/config``, retained), on when
  the latest decision is ``attack``, available while the status is ``online``.

Decisions are handed to the client only while it is connected, at most ``MAX_INFLIGHT`` of them
unacknowledged; the rest wait in a bounded queue (``queue_size``; when it is full the oldest
waiting decision is dropped and counted in ``dropped``). paho keeps the unacknowledged ones and
sends them again after a reconnect (QoS 1), and its network thread reconnects on its own with a
growing delay, so the gate never waits on the broker. At start-up, an address that does not
resolve, refused credentials, or a broker that answers but refuses the connection are errors
(one line naming the broker); a broker that cannot be reached yet only delays delivery.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

TOPIC_ROOT = "deepfake-iot"
DISCOVERY_PREFIX = "homeassistant"
MAX_INFLIGHT = 20
QUEUE_SIZE = 1000
CONNECT_WAIT_S = 10.0  # how long start-up waits for the broker's answer
USERNAME_ENV, PASSWORD_ENV = "DFIOT_MQTT_USERNAME", "DFIOT_MQTT_PASSWORD"
RECONNECT_DELAY_S = (1, 30)  # paho's growing delay between reconnects, first and longest


class EventLog:
    """Decisions appended to a JSON-lines file, one line each, flushed as written."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open for the run
        except OSError as error:
            raise ValueError(f"cannot write the events file {self.path}: {error.strerror or error}") from error
        self.written = 0

    def write(self, event: dict) -> None:
        self.handle.write(json.dumps(event, separators=(",", ":")) + "\n")
        self.handle.flush()
        self.written += 1

    def close(self) -> None:
        self.handle.close()


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as ``(host, port)``; ``ValueError`` naming it."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"broker address {text!r} is not HOST:PORT (e.g. localhost:1883)")
    return host, int(port)


def read_credentials(path: Path | str | None) -> tuple[str | None, str | None]:
    """``(username, password)`` from a file (first line the username, second the password) or,
    without one, from ``DFIOT_MQTT_USERNAME`` / ``DFIOT_MQTT_PASSWORD``; never from the command
    line, where every user of the machine could read them."""
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ValueError(f"cannot read the MQTT credentials file {path}: {error.strerror or error}") from error
        if not lines or not lines[0].strip():
            raise ValueError(f"the MQTT credentials file {path} has no username on its first line")
        return lines[0].strip(), (lines[1].rstrip("\n") if len(lines) > 1 else None)
    return os.environ.get(USERNAME_ENV) or None, os.environ.get(PASSWORD_ENV) or None


def topics(device: str) -> dict:
    root = f"{TOPIC_ROOT}/{device}"
    return {"decision": f"{root}/decision", "status": f"{root}/status",
            "discovery": f"{DISCOVERY_PREFIX}/binary_sensor/{device}_deepfake_attack/config"}  # fmt: skip


def discovery_record(device: str) -> dict:
    """Home Assistant's MQTT discovery payload of the "deepfake attack" binary sensor."""
    names = topics(device)
    return {"name": "deepfake attack", "unique_id": f"{device}_deepfake_attack",
            "state_topic": names["decision"],
            "value_template": "{{ 'ON' if value_json.decision == 'attack' else 'OFF' }}",
            "availability_topic": names["status"], "payload_available": "online",
            "payload_not_available": "offline", "json_attributes_topic": names["decision"],
            "device": {"identifiers": [f"deepfake-iot-{device}"], "name": f"deepfake-iot {device}",
                       "model": "deepfake-iot-gate"}}  # fmt: skip


class MqttPublisher:
    """Decisions to an MQTT broker, queued while it cannot take them (see the module's text)."""

    def __init__(self, address: str, device: str, *, credentials=(None, None), tls: bool = False,
                 cafile=None, certfile=None, keyfile=None, discovery: bool = False,
                 queue_size: int = QUEUE_SIZE, keepalive: int = 30):  # fmt: skip
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise ImportError("--mqtt needs the paho-mqtt package: pip install -r requirements-device-mqtt.txt") from None
        self.mqtt, self.address, self.device = mqtt, address, device
        self.host, self.port = parse_address(address)
        self.topics, self.discovery = topics(device), discovery
        self.pending: collections.deque = collections.deque()
        self.queue_size, self.dropped, self.published, self.sent = int(queue_size), 0, 0, 0
        self.inflight: dict[int, bytes] = {}
        self.acks: collections.deque = collections.deque()
        self.lock = threading.Lock()
        self.connected, self.refused, self.unreachable, self.disconnects = False, None, False, 0
        self.answered, self.wake, self.stopping = threading.Event(), threading.Event(), threading.Event()
        self.sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self.keepalive = int(keepalive)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"deepfake-iot-{device}",
                                  protocol=mqtt.MQTTv311, clean_session=True)  # fmt: skip
        self.client.will_set(self.topics["status"], "offline", qos=1, retain=True)
        username, password = credentials
        if username:
            self.client.username_pw_set(username, password)
        if tls or cafile or certfile:
            try:
                self.client.tls_set(ca_certs=cafile, certfile=certfile, keyfile=keyfile,
                                    tls_version=ssl.PROTOCOL_TLS_CLIENT)  # fmt: skip
            except (OSError, ssl.SSLError) as error:
                raise ValueError(f"broker {address}: the TLS files cannot be used: {error}") from error
        self.client.reconnect_delay_set(*RECONNECT_DELAY_S)
        self.client.on_connect, self.client.on_disconnect = self._on_connect, self._on_disconnect
        self.client.on_publish, self.client.on_connect_fail = self._on_publish, self._on_connect_fail

    # -- paho's network thread: these take no lock of ours (paho calls on_publish holding its
    # own message lock, which our sender needs to publish), they only note and wake the sender
    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            self.refused = str(reason_code)
            self.answered.set()
            return
        self.connected = True
        client.publish(self.topics["status"], "online", qos=1, retain=True)
        if self.discovery:
            client.publish(self.topics["discovery"], json.dumps(discovery_record(self.device)), qos=1, retain=True)
        self.answered.set()
        self.wake.set()

    def _on_connect_fail(self, client, userdata):
        self.unreachable = True
        self.answered.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        if self.connected and not self.stopping.is_set():
            self.disconnects += 1
        self.connected = False

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None):
        self.acks.append(mid)
        self.wake.set()

    # -- our sender thread: the only one that hands decisions to paho --------------------------
    def _send_loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(0.25)
            self.wake.clear()
            self.drain()

    def drain(self) -> None:
        with self.lock:
            while self.acks:
                if self.inflight.pop(self.acks.popleft(), None) is not None:
                    self.published += 1
            while self.connected and self.pending and len(self.inflight) < MAX_INFLIGHT:
                info = self.client.publish(self.topics["decision"], self.pending[0], qos=1)
                if info.rc != self.mqtt.MQTT_ERR_SUCCESS:
                    break
                self.inflight[info.mid] = self.pending.popleft()
                self.sent += 1

    # -- the gate's thread ---------------------------------------------------------------------
    def start(self) -> None:
        """Connect, and wait up to ``CONNECT_WAIT_S`` for the broker's answer: an address that
        does not resolve or a refused connection raise ``ValueError`` naming the broker; an
        unreachable broker is warned about once and reached later."""
        try:
            socket.getaddrinfo(self.host, self.port)
        except socket.gaierror as error:
            raise ValueError(f"broker {self.address}: the host name does not resolve ({error.strerror})") from error
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        if not self.answered.wait(CONNECT_WAIT_S) or (self.unreachable and not self.connected):
            print(f"warning: broker {self.address} cannot be reached yet: decisions are queued "
                  f"(up to {self.queue_size}) until it can", file=sys.stderr, flush=True)  # fmt: skip
        elif self.refused:
            self.client.loop_stop()
            raise ValueError(f"broker {self.address} refused the connection: {self.refused}")
        self.sender.start()

    def publish(self, event: dict) -> None:
        """Queue a decision for the sender (the oldest waiting one dropped when the queue is full)."""
        payload = json.dumps(event, separators=(",", ":")).encode()
        with self.lock:
            self.pending.append(payload)
            while len(self.pending) + len(self.inflight) > self.queue_size and self.pending:
                self.pending.popleft()
                self.dropped += 1
        self.wake.set()

    def waiting(self) -> int:
        with self.lock:
            return len(self.pending) + len(self.inflight)

    def stop(self, wait_s: float = 5.0) -> None:
        """Send what is queued (up to ``wait_s`` while connected), say ``offline`` and leave."""
        deadline = time.monotonic() + wait_s
        while self.waiting() and self.connected and time.monotonic() < deadline:
            self.wake.set()
            time.sleep(0.02)
        self.stopping.set()
        if self.sender.is_alive():
            self.sender.join(timeout=2)
        if self.connected:
            info = self.client.publish(self.topics["status"], "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.5, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
