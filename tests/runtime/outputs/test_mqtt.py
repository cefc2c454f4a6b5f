"""Events over MQTT to a real broker: Debian's mosquitto, started here on a free loopback port."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.runtime.outputs.events import EventConfig, EventHub
from edgeclass.runtime.outputs.mqtt import MqttSink, parse_mqtt_url
from serve_helpers import REPO, free_port, require_binary, wait_until

TOPIC = "home/door"


def start_broker(tmp_path, port: int) -> subprocess.Popen:
    conf = tmp_path / f"mosquitto-{port}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([require_binary("mosquitto", "mosquitto"), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    if not wait_until(listening, timeout=10):
        proc.kill()
        pytest.fail(f"mosquitto did not listen on 127.0.0.1:{port}")
    return proc


def stop_broker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def broker(tmp_path):
    port = free_port()
    proc = start_broker(tmp_path, port)
    yield port
    stop_broker(proc)


class Subscriber:
    """A paho client on TOPIC/#: every message as (topic, text, retained)."""

    def __init__(self, port: int):
        import paho.mqtt.client as mqtt

        self.messages: "queue.Queue" = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{time.monotonic_ns()}")
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload.decode(), bool(m.retain)))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{TOPIC}/#", qos=1)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def next(self, topic: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                t, text, retained = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if t == topic:
                return text, retained
        raise AssertionError(f"no message on {topic} within {timeout} s")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def regions_of(frame: int):
    """Two known people, one after the other: alice on track 1 (frames 0-5), bob on track 2 (frames 9-14)."""
    if frame < 6:
        return [{"track": 1, "name": "alice", "score": 0.95, "box": [10, 10, 50, 50], "confirmed": frame >= 1}]
    if 9 <= frame < 15:
        return [{"track": 2, "name": "bob", "score": 0.88, "box": [60, 10, 100, 50], "confirmed": True}]
    return []


def test_events_arrive_in_order_with_retained_availability(broker):
    sub = Subscriber(broker)
    sink = MqttSink(f"mqtt://127.0.0.1:{broker}/{TOPIC}", log=lambda line: None)
    hub = EventHub([sink], config=EventConfig(stable_frames=2, leave_frames=3, leave_seconds=0))
    try:
        assert sub.next(f"{TOPIC}/availability")[0] == "online"
        for frame in range(20):
            hub.update(0, None, regions_of(frame), frame=frame, time=1000.0 + frame / 10)
        got = [json.loads(sub.next(f"{TOPIC}/events")[0]) for _ in range(4)]
        assert [(e["event"], e["name"], e["track"]) for e in got] == [
            ("appear", "alice", 1), ("leave", "alice", 1), ("appear", "bob", 2), ("leave", "bob", 2)]
        assert [e["id"] for e in got] == [1, 2, 3, 4] and got[0]["frame"] == 2 and got[2]["frame"] == 10
        late = Subscriber(broker)  # joins after the fact: gets the retained availability at once
        assert late.next(f"{TOPIC}/availability") == ("online", True)
        late.close()
    finally:
        hub.close(3.0)
    assert sub.next(f"{TOPIC}/availability")[0] == "offline"  # a clean exit says so
    assert sink.stats()["sent"] == 4 and sink.dropped == 0
    after = Subscriber(broker)
    assert after.next(f"{TOPIC}/availability") == ("offline", True)
    after.close()
    sub.close()


def test_a_process_that_dies_is_marked_offline_by_its_last_will(broker):
    script = textwrap.dedent(f"""
        import time
        from edgeclass.runtime.outputs.mqtt import MqttSink
        sink = MqttSink("mqtt://127.0.0.1:{broker}/{TOPIC}")
        while not sink.client.is_connected():
            time.sleep(0.02)
        print("connected", flush=True)
        time.sleep(30)
        """)
    sub = Subscriber(broker)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert proc.stdout.readline().strip() == "connected"
        assert sub.next(f"{TOPIC}/availability")[0] == "online"
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert sub.next(f"{TOPIC}/availability")[0] == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        sub.close()


def test_events_wait_for_a_broker_that_starts_late(tmp_path):
    port = free_port()
    sink = MqttSink(f"mqtt://127.0.0.1:{port}/{TOPIC}", log=lambda line: None)
    try:
        for i in range(3):
            assert sink.put({"id": i + 1, "event": "appear", "name": f"p{i}"})
        assert wait_until(lambda: sink.retries >= 1)
        proc = start_broker(tmp_path, port)
        try:
            sub = Subscriber(port)
            got = [json.loads(sub.next(f"{TOPIC}/events", timeout=15)[0])["id"] for _ in range(3)]
            assert got == [1, 2, 3]
            sub.close()
        finally:
            sink.close(2.0)
            stop_broker(proc)
    finally:
        sink.close(0.5)


def test_mqtt_urls():
    t = parse_mqtt_url("mqtt://user:p%40ss@broker.local:1884/home/door/")
    assert (t.host, t.port, t.topic, t.username, t.password) == ("broker.local", 1884, "home/door", "user", "p@ss")
    assert t.events == "home/door/events" and t.availability == "home/door/availability"
    assert parse_mqtt_url("mqtt://10.0.0.2").topic == "edgeclass" and parse_mqtt_url("mqtt://10.0.0.2").port == 1883
    for bad in ("http://broker/x", "mqtt:///topic", "mqtt://broker:99999/x", "mqtt://broker/home/#"):
        with pytest.raises(EdgeclassError, match="--mqtt"):
            parse_mqtt_url(bad)
