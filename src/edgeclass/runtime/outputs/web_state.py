"""What the web view's routes show: written by the loop thread, read by the server thread."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Deque, Dict, List, Mapping, Optional

from .frames import FrameHub


class ServerState:
    """Everything the routes show, written by the loop thread and read by the server thread."""

    def __init__(self, hub: FrameHub, token: Optional[str], info: Mapping[str, Any], recent: int):
        self.hub = hub
        self.token = token or None
        self.started = time.time()
        self._lock = threading.Lock()
        self._info: Dict[str, Any] = dict(info)
        self._status: Dict[str, Any] = {}
        self._events: Deque[Dict[str, Any]] = collections.deque(maxlen=max(1, recent))
        self.events_total = 0
        self.closing = False

    def set_info(self, info: Mapping[str, Any]) -> None:
        with self._lock:
            self._info.update(info)

    def set_status(self, status: Mapping[str, Any]) -> None:
        with self._lock:
            self._status = dict(status)

    def add_event(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._events.append(dict(event))
            self.events_total += 1

    def events(self, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        with self._lock:
            items = list(self._events)
        return items[-limit:] if limit else items

    def source_names(self) -> List[str]:
        with self._lock:
            return [str(s) for s in self._info.get("sources", [])]

    def knows_source(self, index: int) -> bool:
        return 0 <= index < len(self.source_names()) or index in self.hub.sources()

    def status(self) -> Dict[str, Any]:
        """The /status document: fixed info, the loop's numbers, each source's newest regions."""
        with self._lock:
            info, status = dict(self._info), dict(self._status)
        names = [str(s) for s in info.pop("sources", [])]
        seen = self.hub.sources()
        sources = []
        for i in sorted(set(range(len(names))) | set(seen)):
            latest = seen.get(i, {"frame": None, "time": None, "regions": [], "viewers": 0})
            sources.append({"index": i, "name": names[i] if i < len(names) else f"source {i}", **latest,
                            "stream": f"/stream/{i}.mjpg", "snapshot": f"/snapshot/{i}.jpg"})
        return {**info, **status, "started": round(self.started, 3), "uptime_s": round(time.time() - self.started, 1),
                "sources": sources, "viewers": sum(s["viewers"] for s in sources), "events_total": self.events_total,
                "frames_published": self.hub.published, "frames_encoded": self.hub.encoded}
