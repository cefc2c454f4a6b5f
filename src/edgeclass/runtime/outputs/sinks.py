"""Where events go, off the loop thread: a bounded queue and a worker thread per sink.

``put(event)`` only appends to the sink's queue (it never waits on a disk, a receiver or a broker).
The worker delivers the oldest event; a failure that may pass (``Retry``: receiver down, broker
away, disk full) keeps the event at the head and tries again after an exponential backoff, so a
receiver that comes back gets every event, in order, up to the queue bound. Past the bound new
events are dropped and counted (``dropped``). ``close(timeout)`` keeps delivering until the queue
is empty or the timeout passes, then counts what is left as ``unsent``.

Delivery is at least once: an event whose answer was lost is sent again; its ``id`` tells them apart.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Mapping, Optional

from ...errors import EdgeclassError
from .records import stderr_line


class Retry(Exception):
    """A delivery failed in a way that may pass: keep the event and try again after the backoff."""


class Rejected(Exception):
    """The receiver refused this event for good (e.g. HTTP 400): it is counted and skipped."""


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait after the n-th failure in a row: initial * factor**n, at most ``maximum``."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        return min(self.maximum, self.initial * self.factor ** max(0, failures - 1))


def event_json(event: Mapping[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), default=str)


class QueuedSink:
    """Base of every sink: subclasses implement ``deliver(event)`` (raise ``Retry``/``Rejected``)."""

    name = "sink"

    def __init__(self, maxsize: int = 1000, backoff: Optional[Backoff] = None, log: Callable[[str], None] = stderr_line):
        if maxsize < 1:
            raise EdgeclassError(f"{self.name}: the event queue needs room for at least 1 event (got {maxsize})")
        self.maxsize = int(maxsize)
        self.backoff = backoff or Backoff()
        self.log = log
        self.sent = self.dropped = self.rejected = self.retries = self.unsent = 0
        self.last_error: Optional[str] = None
        self._items: Deque[Dict[str, Any]] = collections.deque()
        self._cond = threading.Condition()
        self._closing = self._shut = False
        self._gone = threading.Event()  # closed for good
        self._nudge = threading.Event()  # retry now: the receiver is back, or close() began
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name=f"edgeclass-{self.name}", daemon=True)
        self._thread.start()

    # -- subclass hooks ---------------------------------------------------------------------------
    def deliver(self, event: Dict[str, Any]) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Release the sink's resources (file, connection) once its worker has ended."""

    def nudge(self) -> None:
        """The receiver is back (e.g. the broker reconnected): end the current backoff now."""
        self._nudge.set()

    def time_left(self, cap: float) -> float:
        """How long one delivery attempt may take: ``cap``, less once ``close`` has a deadline."""
        return max(0.05, min(cap, self._deadline - time.monotonic()))

    # -- the loop's side ----------------------------------------------------------------------------
    def put(self, event: Mapping[str, Any]) -> bool:
        """Queue ``event``; False (and counted in ``dropped``) when the queue is full or closed."""
        with self._cond:
            if self._closing or len(self._items) >= self.maxsize:
                self.dropped += 1
                if self.dropped == 1:
                    self.log(f"warning: {self.name}: event queue full ({self.maxsize}); dropping new events "
                             f"until it drains ({self.last_error or 'delivery is slow'})")
                return False
            self._items.append(dict(event))
            self._cond.notify()
            return True

    def pending(self) -> int:
        with self._cond:
            return len(self._items)

    def stats(self) -> Dict[str, Any]:
        with self._cond:
            return {"sent": self.sent, "pending": len(self._items), "dropped": self.dropped, "rejected": self.rejected,
                    "retries": self.retries, "unsent": self.unsent, "last_error": self.last_error}

    def stop(self, timeout: float = 5.0) -> None:
        """Start closing: deliver what is queued for at most ``timeout`` s more (``close`` waits for it)."""
        with self._cond:
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + max(0.0, timeout)
            self._cond.notify_all()
        self._nudge.set()

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued for at most ``timeout`` s, then stop; what is left counts as ``unsent``."""
        self.stop(timeout)
        self._thread.join(max(0.0, self._deadline - time.monotonic()) + 1.0)
        with self._cond:
            if self._shut:
                return
            self._shut = True  # a worker still inside deliver() leaves without touching the queue
            self._gone.set()
            self.unsent += len(self._items)
            self._items.clear()
        if self.unsent:
            self.log(f"warning: {self.name}: {self.unsent} events not delivered at exit ({self.last_error or 'the receiver was still busy'})")
        self.shutdown()

    # -- worker -------------------------------------------------------------------------------------
    def _next(self) -> Optional[Dict[str, Any]]:
        with self._cond:
            while not self._items and not self._closing:
                self._cond.wait()
            if self._shut or not self._items or time.monotonic() >= self._deadline:
                return None
            return self._items[0]

    def _run(self) -> None:
        failures = 0
        while True:
            event = self._next()
            if event is None:
                return
            delivered = False
            try:
                self.deliver(event)
                delivered = True
            except Retry as e:
                failures += 1
                with self._cond:
                    self.retries += 1
                    self.last_error = str(e)
                    wait = min(self.backoff.delay(failures), self._deadline - time.monotonic())
                # new events do not cut a backoff short; nudge() (the receiver is back) and close() do
                if wait > 0 and self._closing:
                    self._gone.wait(wait)
                elif wait > 0:
                    self._nudge.wait(wait)
                    self._nudge.clear()
                continue
            except Rejected as e:
                with self._cond:
                    self.rejected += 1
                    self.last_error = str(e)
                self.log(f"warning: {self.name}: event {event.get('id')} refused: {e}")
            failures = 0
            with self._cond:
                if self._shut:  # closed while this one was on its way: it was counted as unsent
                    return
                self._items.popleft()
                self.sent += delivered


class JsonLinesSink(QueuedSink):
    """``--events FILE``: one JSON object per line, appended (``-`` = standard output).

    Each line is one ``write`` on a file opened with O_APPEND, so lines of two writers never mix
    and a reader never sees half a line of a finished write; fsync'd at close.
    """

    name = "events"

    def __init__(self, path: str, maxsize: int = 1000, backoff: Optional[Backoff] = None, log: Callable[[str], None] = stderr_line):
        self.path = path
        if path == "-":
            self._fd, self._own = sys.stdout.fileno(), False
        else:
            p = Path(path)
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                self._fd, self._own = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644), True
            except OSError as e:
                raise EdgeclassError(f"--events {path}: cannot open for writing ({e.strerror})") from None
        self._rest: Optional[bytes] = None
        super().__init__(maxsize, backoff or Backoff(0.5, 5.0), log)

    def deliver(self, event: Dict[str, Any]) -> None:
        data = self._rest if self._rest is not None else (event_json(event) + "\n").encode("utf-8")
        try:
            written = os.write(self._fd, data)
        except OSError as e:
            raise Retry(f"cannot write {self.path}: {e.strerror}") from None
        # a short write (disk full mid-line): the rest of this line goes first on the next attempt
        self._rest = data[written:] if written < len(data) else None
        if self._rest is not None:
            raise Retry(f"short write to {self.path} (disk full?)")

    def shutdown(self) -> None:
        if self._own:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._own = False
