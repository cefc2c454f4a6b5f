"""The web view and the events as one object for the loop: opened before the camera, fed per source
frame and per step, closed at the end::

    outputs = LiveOutputs(ServeOptions(serve="8080", mqtt="mqtt://broker/home/door"), info)  # binds now
    for step in pipeline:
        for r in step.results:
            outputs.observe(r.source, r.frame.image, regions, r.frame.index)   # before drawing: clean snapshots
            overlay.draw(...)
            outputs.publish(r.source, r.frame.image, regions, r.frame.index)   # after drawing: the web view
        outputs.status({"fps": fps, "ms": p50s, "dropped": d, "reconnects": n})
    outputs.close()                                                            # flushes the events

``regions``: ``[{"track", "name", "score", "box", "confirmed"}]`` per frame (``records.plain_region``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .events import EventConfig, EventHub
from .mqtt import MqttSink, parse_mqtt_url
from .records import stderr_line
from .sinks import JsonLinesSink, QueuedSink
from .snapshots import SnapshotStore
from .web import TOKEN_ENV, WebServer, parse_address
from .webhook import WebhookSink, check_webhook_url


@dataclass
class ServeOptions:
    """``--serve``, ``--serve-token``, ``--events``, ``--webhook``, ``--mqtt``, ``--snapshots``."""

    serve: Optional[str] = None  # [HOST:]PORT of the web view; None: no web view
    serve_token: Optional[str] = None  # default: $EDGECLASS_SERVE_TOKEN
    events: Optional[str] = None  # JSON lines file ("-" = stdout)
    webhook: Optional[str] = None  # http(s) URL
    mqtt: Optional[str] = None  # mqtt://[user:pass@]host[:port]/topic
    snapshots: Optional[str] = None  # folder
    snapshot_mb: float = 200.0  # disk budget of the snapshots
    event_queue: int = 1000  # events each sink holds while its receiver is away
    event_config: EventConfig = field(default_factory=EventConfig)

    def validate(self) -> "ServeOptions":
        """Every address and URL checked before anything opens (one-line EdgeclassError)."""
        if self.serve is not None:
            parse_address(self.serve)
        if self.webhook:
            check_webhook_url(self.webhook)
        if self.mqtt:
            parse_mqtt_url(self.mqtt)
        self.event_config.validate()
        return self

    @property
    def wants_events(self) -> bool:
        return any((self.serve, self.events, self.webhook, self.mqtt, self.snapshots))


class LiveOutputs:
    def __init__(self, options: ServeOptions, info: Mapping[str, Any], log: Callable[[str], None] = stderr_line):
        options.validate()
        self.web: Optional[WebServer] = None
        self.events: Optional[EventHub] = None
        sinks: List[QueuedSink] = []
        try:
            if options.serve is not None:
                host, port = parse_address(options.serve)
                token = options.serve_token or os.environ.get(TOKEN_ENV) or None
                self.web = WebServer(host, port, token=token, info=info, log=log).start()
            q = options.event_queue
            if options.events:
                sinks.append(JsonLinesSink(options.events, q, log=log))
            if options.webhook:
                sinks.append(WebhookSink(options.webhook, q, log=log))
            if options.mqtt:
                sinks.append(MqttSink(options.mqtt, q, log=log))
            store = SnapshotStore(options.snapshots, int(options.snapshot_mb * 2**20)) if options.snapshots else None
            if options.wants_events:
                listeners = [self.web.publish_event] if self.web else []
                self.events = EventHub(sinks, store, options.event_config, info.get("sources", ()), listeners, q)
        except BaseException:
            for sink in sinks:
                sink.close(0.5)
            if self.web is not None:
                self.web.close()
            raise

    def observe(self, source: int, image: Optional[np.ndarray], regions: Sequence[Mapping[str, Any]],
                frame: Optional[int] = None, time: Optional[float] = None) -> List[Dict[str, Any]]:
        """Events of this frame (call before drawing on ``image``: snapshots are cut from it)."""
        return self.events.update(source, image, regions, frame, time) if self.events else []

    def publish(self, source: int, image: np.ndarray, regions: Sequence[Mapping[str, Any]],
                frame: Optional[int] = None, time: Optional[float] = None) -> None:
        """The annotated frame for the web view."""
        if self.web is not None:
            self.web.publish_frame(source, image, regions, frame, time)

    def status(self, status: Mapping[str, Any]) -> None:
        if self.web is not None:
            extra = {"events": self.events.stats()} if self.events else {}
            self.web.publish_status({**status, **extra})

    def close(self, timeout: float = 5.0) -> None:
        """Flush the events (at most ``timeout`` s), then stop the web view."""
        if self.events is not None:
            self.events.close(timeout)
        if self.web is not None:
            self.web.close()
