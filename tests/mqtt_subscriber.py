"""A subscriber for the gate's tests, run in the MQTT device environment (paho-mqtt is not in
the analysis environment): ``python mqtt_subscriber.py PORT OUT.jsonl TOPIC...``.

It connects to the broker on 127.0.0.1:PORT, subscribes to each topic at QoS 1 (again after
every reconnect, retrying every 0.2 s, faster than the gate, so it is back before the gate's
queued decisions arrive), and appends one JSON line per message received: ``topic``,
``payload`` (text), ``retain``. A line ``{"subscribed": true}`` is written each time the
subscriptions are granted. It runs until SIGTERM.
"""

import json
import signal
import sys
import threading

import paho.mqtt.client as mqtt


def main() -> int:
    port, out_path, topics = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    out = open(out_path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run
    lock, done = threading.Lock(), threading.Event()

    def write(record):
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()

    def on_connect(client, userdata, flags, reason_code, properties=None):
        client.subscribe([(topic, 1) for topic in topics])

    def on_subscribe(client, userdata, mid, reason_codes, properties=None):
        write({"subscribed": True})

    def on_message(client, userdata, message):
        write({"topic": message.topic, "payload": message.payload.decode(), "retain": bool(message.retain)})

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.reconnect_delay_set(0.2, 0.2)
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    client.connect_async("127.0.0.1", port, keepalive=10)
    client.loop_start()
    done.wait()
    client.loop_stop()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
