"""The newest frame of every source, shared by every viewer of the web view.

The loop thread only stores a copy of the frame (``publish``); an encoder thread turns the newest
frame of each watched source into JPEG bytes, once per published frame however many viewers there
are, and tells the server (``on_encoded``). A source nobody watches is never encoded, except when a
snapshot asks for it. Frames published faster than they can be encoded are skipped, never queued.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .records import encode_jpeg, plain_regions

BOUNDARY = "edgeclass-frame"  # of the multipart MJPEG stream


@dataclass
class Latest:
    """What the web view knows of one source."""

    seq: int = 0  # frames published so far
    image: Optional[np.ndarray] = None  # the newest frame (a copy)
    regions: List[Dict[str, Any]] = field(default_factory=list)
    frame: Optional[int] = None  # the loop's frame index
    time: Optional[float] = None
    jpeg: Optional[bytes] = None  # JPEG of frame ``jpeg_seq``
    part: bytes = b""  # ``jpeg`` as an MJPEG part
    jpeg_seq: int = 0
    viewers: int = 0


@dataclass(frozen=True)
class Encoded:
    seq: int
    frame: Optional[int]
    jpeg: bytes
    part: bytes  # the JPEG as one part of the MJPEG stream, made once for every viewer


def mjpeg_part(jpeg: bytes, frame: int) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\nX-Frame: {frame}\r\n\r\n"
    return head.encode("ascii") + jpeg + b"\r\n"


class FrameHub:
    """Thread-safe store of each source's newest frame and its JPEG (see the module docstring)."""

    def __init__(self, quality: int = 80, on_encoded: Optional[Callable[[int], None]] = None):
        self.quality = int(quality)
        self.on_encoded = on_encoded
        self._cond = threading.Condition()
        self._latest: Dict[int, Latest] = {}
        self._pending: set = set()
        self._stop = False
        self._thread: Optional[threading.Thread] = None
        self.published = 0
        self.encoded = 0

    # -- loop thread ----------------------------------------------------------------------------
    def publish(self, source: int, image: np.ndarray, regions: Sequence[Mapping[str, Any]],
                frame: Optional[int] = None, t: Optional[float] = None) -> None:
        copy = np.array(image, dtype=np.uint8, copy=True)
        plain = plain_regions(regions)
        with self._cond:
            slot = self._latest.setdefault(int(source), Latest())
            slot.seq += 1
            slot.image, slot.regions, slot.frame = copy, plain, frame
            slot.time = time.time() if t is None else float(t)
            self.published += 1
            if slot.viewers:
                self._pending.add(int(source))
                self._cond.notify()

    # -- server side ----------------------------------------------------------------------------
    def watch(self, source: int, delta: int) -> None:
        """A stream viewer of ``source`` arrived (+1) or left (-1); a new viewer gets the current frame."""
        with self._cond:
            slot = self._latest.setdefault(int(source), Latest())
            slot.viewers = max(0, slot.viewers + delta)
            if delta > 0 and slot.image is not None and slot.jpeg_seq != slot.seq:
                self._pending.add(int(source))
                self._cond.notify()

    def encoded_frame(self, source: int) -> Optional[Encoded]:
        with self._cond:
            slot = self._latest.get(int(source))
            if slot is None or slot.jpeg is None:
                return None
            return Encoded(slot.jpeg_seq, slot.frame, slot.jpeg, slot.part)

    def snapshot(self, source: int) -> Optional[bytes]:
        """JPEG of the newest frame of ``source`` (encoded now if no viewer made it); None before any frame."""
        with self._cond:
            slot = self._latest.get(int(source))
            if slot is None or slot.image is None:
                return None
            if slot.jpeg is not None and slot.jpeg_seq == slot.seq:
                return slot.jpeg
            seq, image, frame = slot.seq, slot.image, slot.frame
        return self._encode(source, seq, image, frame)

    def sources(self) -> Dict[int, Dict[str, Any]]:
        """Per source: frame index, time, regions, viewers (for /status)."""
        with self._cond:
            return {i: {"frame": s.frame, "time": s.time, "regions": list(s.regions), "viewers": s.viewers}
                    for i, s in sorted(self._latest.items()) if s.seq}

    def viewers(self) -> int:
        with self._cond:
            return sum(s.viewers for s in self._latest.values())

    # -- encoder thread -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._encode_loop, name="edgeclass-jpeg", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _encode_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                work = [(i, self._latest[i].seq, self._latest[i].image, self._latest[i].frame) for i in sorted(self._pending)]
                self._pending.clear()
            for source, seq, image, frame in work:
                self._encode(source, seq, image, frame)

    def _encode(self, source: int, seq: int, image: np.ndarray, frame: Optional[int]) -> bytes:
        jpeg = encode_jpeg(image, self.quality)
        self._store(source, seq, jpeg, mjpeg_part(jpeg, seq if frame is None else frame))
        return jpeg

    def _store(self, source: int, seq: int, jpeg: bytes, part: bytes) -> None:
        with self._cond:
            slot = self._latest[int(source)]
            if seq <= slot.jpeg_seq:  # a newer frame was encoded meanwhile
                return
            slot.jpeg, slot.part, slot.jpeg_seq = jpeg, part, seq
            self.encoded += 1
        if self.on_encoded is not None:
            self.on_encoded(int(source))
