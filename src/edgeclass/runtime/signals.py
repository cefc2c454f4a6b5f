"""SIGTERM (``systemctl stop``, ``docker stop``, ``kill``) ends a run the way the end of a video does.

::

    with StopRequest() as stop:
        for step in pipeline:
            ...
            if stop.requested:
                break          # then the usual clean-up: files closed, events flushed, summary printed

The first SIGTERM only sets ``requested``; the loop ends after its current step. A second one raises
``KeyboardInterrupt`` in the main thread, for a loop stuck somewhere it cannot check the flag.
Outside the main thread (where Python cannot install handlers) it does nothing.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Dict, Sequence


class StopRequest:
    def __init__(self, signals: Sequence[int] = (signal.SIGTERM,)):
        self.signals = tuple(signals)
        self._event = threading.Event()
        self._previous: Dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def _handle(self, signum: int, frame: Any) -> None:
        if self._event.is_set():
            raise KeyboardInterrupt(f"signal {signum} again")
        self._event.set()

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous.clear()
