"""``--mqtt mqtt://[USER:PASS@]HOST[:PORT]/TOPIC``: events to an MQTT broker (paho-mqtt 2.x).

Topics (``TOPIC`` defaults to ``edgeclass``):

- ``TOPIC/availability``: ``online`` (retained, on every connect) / ``offline`` (retained, at a clean
  exit, and the broker's last will when the process dies or the network goes);
- ``TOPIC/events``: each event as JSON, QoS 1.

paho's network thread connects in the background and reconnects with a backoff (1 s .. 30 s); the
sink's worker holds events in its bounded queue while the broker is away.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from ...errors import EdgeclassError
from .records import stderr_line
from .sinks import Backoff, QueuedSink, Retry, event_json

DEFAULT_PORT = 1883
DEFAULT_TOPIC = "edgeclass"


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    topic: str
    username: Optional[str] = None
    password: Optional[str] = None

    @property
    def availability(self) -> str:
        return f"{self.topic}/availability"

    @property
    def events(self) -> str:
        return f"{self.topic}/events"


def parse_mqtt_url(url: str) -> MqttTarget:
    """``mqtt://user:pass@host:1883/home/door`` -> MqttTarget (one-line EdgeclassError when malformed)."""
    usage = f"--mqtt {url!r}: give mqtt://[USER:PASS@]HOST[:PORT]/TOPIC, e.g. mqtt://192.168.1.10:1883/edgeclass/door"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise EdgeclassError(usage)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise EdgeclassError(usage) from None
    topic = urllib.parse.unquote(parts.path).strip("/") or DEFAULT_TOPIC
    if any(c in topic for c in "+#\0") or "#" in url or parts.query:
        raise EdgeclassError(f"--mqtt {url!r}: the topic may not contain MQTT wildcards (+, #)")
    unquote = lambda s: None if s is None else urllib.parse.unquote(s)  # noqa: E731
    return MqttTarget(parts.hostname, port, topic, unquote(parts.username), unquote(parts.password))


class MqttSink(QueuedSink):
    name = "mqtt"

    def __init__(self, url: str, maxsize: int = 1000, backoff: Optional[Backoff] = None, keepalive: int = 30,
                 client_id: Optional[str] = None, publish_timeout: float = 5.0, log: Callable[[str], None] = stderr_line):
        self.target = parse_mqtt_url(url)
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise EdgeclassError("--mqtt needs paho-mqtt: pip install 'edgeclass[serve]'") from None
        self.publish_timeout = float(publish_timeout)
        t = self.target
        cid = client_id or f"edgeclass-{socket.gethostname()}-{os.getpid()}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=True)
        if t.username is not None:
            client.username_pw_set(t.username, t.password)
        client.will_set(t.availability, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.reconnect_delay_set(1, 30)
        self.client = client
        super().__init__(maxsize, backoff or Backoff(0.5, 5.0), log)
        client.connect_async(t.host, t.port, keepalive)
        client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker {self.target.host}:{self.target.port} refused the connection: {reason}"
            return
        client.publish(self.target.availability, "online", qos=1, retain=True)
        self.nudge()

    def deliver(self, event: Dict[str, Any]) -> None:
        if not self.client.is_connected():
            raise Retry(f"not connected to the broker {self.target.host}:{self.target.port}")
        info = self.client.publish(self.target.events, event_json(event), qos=1)
        try:
            info.wait_for_publish(self.time_left(self.publish_timeout))
        except (ValueError, RuntimeError) as e:
            raise Retry(f"broker {self.target.host}:{self.target.port}: {e}") from None
        if not info.is_published():
            raise Retry(f"broker {self.target.host}:{self.target.port} did not acknowledge an event")

    def shutdown(self) -> None:
        """``offline`` on the availability topic, then a clean disconnect (no last will)."""
        try:
            if self.client.is_connected():
                self.client.publish(self.target.availability, "offline", qos=1, retain=True).wait_for_publish(2.0)
            self.client.disconnect()
        except (ValueError, RuntimeError):
            pass
        self.client.loop_stop()
