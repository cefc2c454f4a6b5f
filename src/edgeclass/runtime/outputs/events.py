"""Identity events: who appeared, changed or left, per source and per track, debounced.

``IdentityTracker`` (one per source) turns the loop's regions into events:

- ``appear``: a track's identity is confirmed on ``stable_frames`` consecutive frames;
- ``change``: a confirmed track is confirmed as someone else for ``stable_frames`` frames;
- ``leave``: a track that appeared has been gone for ``leave_frames`` frames of its source and
  ``leave_seconds`` of frame time.

Whole-frame classification (``track`` None) is one pseudo-track per source: it appears and changes,
and never leaves while the source delivers frames. An event is
``{id, event, time, source, track, name, score, box, snapshot, frame}`` (+ ``previous`` for a change,
``source_name`` when known).

``EventHub`` runs the trackers for the loop and hands events to a dispatcher thread, which writes
the snapshot (so the file exists before anyone hears of it) and then queues the event on every
sink and calls every listener. ``update`` never waits on a disk or the network.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...errors import EdgeclassError
from .records import UNKNOWN, plain_region
from .snapshots import SnapshotStore

APPEAR, CHANGE, LEAVE = "appear", "change", "leave"


@dataclass
class EventConfig:
    stable_frames: int = 2  # consecutive confirmed frames of one name before appear / change
    leave_frames: int = 10  # a track gone this many frames of its source ...
    leave_seconds: float = 1.0  # ... and this long (frame time) has left
    unknown: bool = True  # a confirmed "unknown" (a stranger) makes events too

    def validate(self) -> "EventConfig":
        if self.stable_frames < 1 or self.leave_frames < 1 or self.leave_seconds < 0:
            raise EdgeclassError("events: stable_frames and leave_frames must be >= 1, leave_seconds >= 0")
        return self


@dataclass
class _Track:
    name: Optional[str] = None  # the identity announced (appear/change); None until it appeared
    candidate: Optional[str] = None  # the confirmed name seen on the latest frames
    streak: int = 0  # consecutive frames of ``candidate``
    seen: int = 0  # the source's update count when last seen
    t: float = 0.0  # frame time when last seen
    score: float = 0.0
    box: Optional[List[int]] = None
    snapshot: Optional[str] = None  # path of its latest snapshot (a leave event repeats it)


class IdentityTracker:
    """Events of one source (see the module docstring)."""

    def __init__(self, source: int, config: Optional[EventConfig] = None):
        self.source = int(source)
        self.config = (config or EventConfig()).validate()
        self._tracks: Dict[Hashable, _Track] = {}
        self._updates = 0

    def update(self, regions: Sequence[Mapping[str, Any]], t: float, frame: Optional[int] = None) -> List[Dict[str, Any]]:
        """The events this frame's regions cause (appear/change of present tracks, leave of gone ones)."""
        self._updates += 1
        out = []
        for key, r in self._keyed(regions):
            tr = self._tracks.setdefault(key, _Track())
            tr.seen, tr.t, tr.score, tr.box = self._updates, t, r["score"], r["box"]
            name = self._confirmed_name(r)
            if name is None:
                tr.candidate, tr.streak = None, 0
                continue
            tr.streak = tr.streak + 1 if name == tr.candidate else 1
            tr.candidate = name
            if tr.streak >= self.config.stable_frames and name != tr.name:
                kind, previous = (APPEAR, None) if tr.name is None else (CHANGE, tr.name)
                tr.name = name
                out.append(self._event(kind, r["track"], tr, t, frame, previous))
        out.extend(self._leaves(t, frame))
        return out

    def _keyed(self, regions: Sequence[Mapping[str, Any]]) -> Iterable[Tuple[Hashable, Dict[str, Any]]]:
        for i, region in enumerate(regions):
            r = plain_region(region)
            yield ("frame", i) if r["track"] is None else r["track"], r

    def _confirmed_name(self, r: Mapping[str, Any]) -> Optional[str]:
        if not r["confirmed"] or (r["name"] == UNKNOWN and not self.config.unknown):
            return None
        return r["name"]

    def _leaves(self, t: float, frame: Optional[int]) -> List[Dict[str, Any]]:
        out = []
        for key in list(self._tracks):
            tr = self._tracks[key]
            gone = self._updates - tr.seen >= self.config.leave_frames and t - tr.t >= self.config.leave_seconds
            if not gone:
                continue
            del self._tracks[key]
            if tr.name is not None:
                out.append(self._event(LEAVE, None if isinstance(key, tuple) else key, tr, t, frame))
        return out

    def _event(self, kind: str, track: Optional[int], tr: _Track, t: float, frame: Optional[int],
               previous: Optional[str] = None) -> Dict[str, Any]:
        event = {"event": kind, "time": round(float(t), 3), "source": self.source, "track": track, "name": tr.name,
                 "score": tr.score, "box": tr.box, "snapshot": tr.snapshot if kind == LEAVE else None, "frame": frame}
        if previous is not None:
            event["previous"] = previous
        return event

    def remember_snapshot(self, track: Optional[int], path: str) -> None:
        key = track if track is not None else ("frame", 0)
        if key in self._tracks:
            self._tracks[key].snapshot = path


@dataclass
class _Work:
    event: Dict[str, Any]
    crop: Optional[np.ndarray] = field(default=None, repr=False)


class EventHub:
    """Trackers for every source, snapshots, sinks and listeners (e.g. ``WebServer.publish_event``)."""

    def __init__(self, sinks: Sequence[Any] = (), snapshots: Optional[SnapshotStore] = None,
                 config: Optional[EventConfig] = None, source_names: Sequence[str] = (),
                 listeners: Sequence[Callable[[Dict[str, Any]], None]] = (), queue_size: int = 1000):
        self.config = (config or EventConfig()).validate()
        self.sinks = list(sinks)
        self.snapshots = snapshots
        self.source_names = [str(s) for s in source_names]
        self.listeners = list(listeners)
        self._trackers: Dict[int, IdentityTracker] = {}
        self._queue: "queue.Queue[Optional[_Work]]" = queue.Queue(maxsize=max(1, queue_size))
        self._next_id = 1
        self.emitted = self.dropped = 0
        self._thread = threading.Thread(target=self._dispatch, name="edgeclass-events", daemon=True)
        self._thread.start()

    def add_listener(self, listener: Callable[[Dict[str, Any]], None]) -> None:
        self.listeners.append(listener)

    # -- loop thread --------------------------------------------------------------------------------
    def update(self, source: int, image: Optional[np.ndarray], regions: Sequence[Mapping[str, Any]],
               frame: Optional[int] = None, time: Optional[float] = None) -> List[Dict[str, Any]]:
        """Feed one source frame; returns the events it caused (their snapshots are written shortly).
        Pass the frame *before* the overlay is drawn on it for clean snapshots."""
        tracker = self._trackers.get(int(source))
        if tracker is None:
            tracker = self._trackers[int(source)] = IdentityTracker(source, self.config)
        t = _now() if time is None else float(time)
        events = tracker.update(regions, t, frame)
        for event in events:
            event["id"] = self._next_id
            self._next_id += 1
            if int(source) < len(self.source_names):
                event["source_name"] = self.source_names[int(source)]
            crop = None
            if self.snapshots is not None and image is not None and event["event"] != LEAVE:
                crop = self.snapshots.crop(image, event["box"])
                if crop is not None:
                    event["snapshot"] = str(self.snapshots.path_for(event))
                    tracker.remember_snapshot(event["track"], event["snapshot"])
            try:
                self._queue.put_nowait(_Work(event, crop))
                self.emitted += 1
            except queue.Full:
                self.dropped += 1
        return events

    def stats(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"emitted": self.emitted, "dropped": self.dropped,
                               "sinks": {s.name: s.stats() for s in self.sinks}}
        if self.snapshots is not None:
            files, size = self.snapshots.usage()
            out["snapshots"] = {"files": files, "bytes": size, "failed": self.snapshots.failed}
        return out

    # -- dispatcher thread ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            event = work.event
            if work.crop is not None and not self.snapshots.write(Path(event["snapshot"]), work.crop):
                event["snapshot"] = None
            for sink in self.sinks:
                sink.put(event)
            for listener in self.listeners:
                try:
                    listener(event)
                except Exception:  # a listener's bug must not stop the events
                    pass

    def close(self, timeout: float = 5.0) -> None:
        """Dispatch what is queued, then close every sink; all within about ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(0.1, deadline - time.monotonic()))
        left = max(0.1, deadline - time.monotonic())
        for sink in self.sinks:  # the sinks flush side by side, not one after the other
            sink.stop(left)
        for sink in self.sinks:
            sink.close(left)


def _now() -> float:
    return time.time()
