"""Capture threads behind every source: ``LiveSource`` keeps only the newest frame of a camera or
stream (reopening it with backoff when it drops), ``FileSource`` decodes a file ahead into a small
bounded queue. Frames are OpenCV BGR uint8 images wrapped in ``Frame``. What a ``--source`` string
means, and how its capture is opened, is ``edgeclass.runtime.sources``.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np

from ..errors import EdgeclassError

FLIPS = ("none", "horizontal", "vertical", "rotate-180")
SKIPPED_NAMES_KEPT = 100  # files named in ``Source.skipped_files`` (the count goes on)
CV2_FLIP = {"horizontal": 1, "vertical": 0, "rotate-180": -1}


def load_cv2():
    import cv2

    return cv2


@dataclass
class Frame:
    """One captured image and where it came from."""

    image: np.ndarray  # BGR uint8 HxWx3
    index: int  # frame number in the source (gaps = frames dropped or skipped by --stride)
    t: float  # media time (s): position in a file, seconds since the source opened for live sources
    grabbed: float  # perf_counter() when captured (live) or taken from the read-ahead queue (files): latency starts here
    capture_ms: float  # time spent grabbing and decoding this frame
    source: str = ""


@dataclass
class CaptureOptions:
    """``--width/--height/--fps/--flip/--stride`` and the reconnect policy."""

    width: Optional[int] = None
    height: Optional[int] = None
    fps: Optional[float] = None
    flip: str = "none"
    stride: int = 1  # files: deliver every stride-th frame
    reconnect: bool = True  # live: reopen a capture that fails
    backoff_start: float = 0.25  # seconds before the first reopen attempt, doubled after each failure
    backoff_max: float = 5.0
    max_reconnect_s: Optional[float] = None  # give up after this long without a frame (None = never)
    prefetch: int = 4  # files: frames decoded ahead

    def validate(self) -> "CaptureOptions":
        if self.flip not in FLIPS:
            raise EdgeclassError(f"unknown flip {self.flip!r} (choose from {', '.join(FLIPS)})")
        if self.stride < 1:
            raise EdgeclassError("--stride must be at least 1")
        if (self.width is None) != (self.height is None):
            raise EdgeclassError("give both --width and --height, or neither")
        return self


class FrameShaper:
    """Software flip and resize (cameras that ignore the requested size, files, streams)."""

    def __init__(self, opts: CaptureOptions, flip_done: bool = False):
        self.flip = None if flip_done or opts.flip == "none" else CV2_FLIP[opts.flip]
        self.size = (opts.width, opts.height) if opts.width else None

    def __call__(self, img: np.ndarray) -> np.ndarray:
        cv2 = load_cv2()
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        if self.size and (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        if self.flip is not None:
            img = cv2.flip(img, self.flip)
        return img


class Source:
    """Base class: ``read()`` -> Frame or None; iteration yields BGR images until the source ends."""

    name: str = ""
    live: bool = False
    fps: float = 0.0  # nominal frame rate (0 = unknown)

    def __init__(self) -> None:
        self.frames_read = 0  # frames delivered by read()
        self.dropped = 0  # live: frames replaced by a newer one before anyone read them
        self.skipped = 0  # files: image files the reader refused (never delivered, never the end of the run)
        self.skip_reasons: Dict[str, int] = {}  # reason ("truncated", "too large", ...) -> files
        self.skipped_files: List[str] = []  # "path: reason (detail)" of the first SKIPPED_NAMES_KEPT
        self.reconnects = 0
        self._ended = False

    def skip(self, path: str, reason: str, text: str) -> None:
        """Count a frame that could not be used (a bad file in an image folder) and go on."""
        self.skipped += 1
        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
        if len(self.skipped_files) < SKIPPED_NAMES_KEPT:
            self.skipped_files.append(text)

    @property
    def ended(self) -> bool:
        """True once the source has nothing more to give (end of file, closed, gave up reconnecting)."""
        return self._ended

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame, or None at the end (``ended``) or after ``timeout`` seconds without one."""
        raise NotImplementedError

    def close(self) -> None:
        self._ended = True

    def frames(self) -> Iterator[Frame]:
        while True:
            f = self.read(timeout=0.5)
            if f is not None:
                yield f
            elif self.ended:
                return

    def __iter__(self) -> Iterator[np.ndarray]:
        for f in self.frames():
            yield f.image

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class LiveSource(Source):
    """A capture thread over a reopenable capture; ``read`` returns the newest frame not yet read.

    ``opener`` returns an object with ``read() -> (ok, image)``, ``isOpened()`` and ``release()``
    (a ``cv2.VideoCapture``). A read that fails or raises counts as the source dropping: the capture
    is released and reopened with exponential backoff until it delivers again (or, with
    ``max_reconnect_s``, until that much time passed without a frame: then the source ends).
    """

    live = True

    def __init__(self, name: str, opener: Callable[[], Any], opts: Optional[CaptureOptions] = None, flip_done: bool = False):
        super().__init__()
        self.name = name
        self.opts = (opts or CaptureOptions()).validate()
        self._opener = opener
        self._shape = FrameShaper(self.opts, flip_done)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._newest: Optional[Frame] = None
        self._last_given = -1
        self._seq = 0
        self.error: Optional[str] = None
        cap = self._try_open()
        if cap is None:
            raise EdgeclassError(f"cannot open source {name} (check the device, URL or pipeline)")
        self.fps = float(cap.get(5) or 0.0) if hasattr(cap, "get") else 0.0  # 5 = cv2.CAP_PROP_FPS
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, args=(cap,), name=f"capture:{name}", daemon=True)
        self._thread.start()

    def _try_open(self) -> Optional[Any]:
        try:
            cap = self._opener()
        except Exception:
            return None
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            return None
        return cap

    def _loop(self, cap: Any) -> None:
        last_ok = time.perf_counter()
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                ok, img = cap.read()
            except Exception:
                ok, img = False, None
            if ok and img is not None and img.size:
                now = time.perf_counter()
                last_ok = now
                frame = Frame(self._shape(img), self._seq, now - self._t0, now, (now - t0) * 1e3, self.name)
                self._seq += 1
                with self._cond:
                    if self._newest is not None:
                        self.dropped += 1
                    self._newest = frame
                    self._cond.notify_all()
                continue
            cap.release()
            cap = self._reopen(last_ok) if self.opts.reconnect else None
            if cap is None:
                break
        if cap is not None:
            cap.release()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _reopen(self, last_ok: float) -> Optional[Any]:
        delay = self.opts.backoff_start
        while not self._stop.wait(delay):
            cap = self._try_open()
            if cap is not None:
                self.reconnects += 1
                return cap
            if self.opts.max_reconnect_s is not None and time.perf_counter() - last_ok > self.opts.max_reconnect_s:
                self.error = f"source {self.name} stayed down for {self.opts.max_reconnect_s:g} s; giving up"
                return None
            delay = min(delay * 2, self.opts.backoff_max)
        return None

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while self._newest is None and not self._ended:
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(0.1 if left is None else min(left, 0.1))
            frame, self._newest = self._newest, None
        if frame is not None:
            self.frames_read += 1
        return frame

    def close(self) -> None:
        self._stop.set()
        t = getattr(self, "_thread", None)
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout=2.0)
        with self._cond:
            self._ended = True
            self._cond.notify_all()


_END = object()


class FileSource(Source):
    """Every frame of a finite source, decoded ahead by a reader thread into a bounded queue."""

    live = False

    def __init__(self, name: str, produce: Callable[["FileSource"], Iterator[Frame]], fps: float, prefetch: int = 4):
        super().__init__()
        self.name = name
        self.fps = fps
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self.error: Optional[str] = None
        self._thread = threading.Thread(target=self._loop, args=(produce,), name=f"reader:{name}", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _loop(self, produce: Callable[["FileSource"], Iterator[Frame]]) -> None:
        try:
            for frame in produce(self):
                if not self._put(frame):
                    return
        except Exception as e:  # a decode error ends the source with a message, not a hang
            self.error = f"{self.name}: {e}"
        self._put(_END)

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        if self._ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._ended = True
            return None
        self.frames_read += 1
        # a decoded-ahead frame waited in the queue by design; its latency starts when it is taken
        item.grabbed = time.perf_counter()
        return item

    def close(self) -> None:
        self._stop.set()
        self._ended = True
        t = getattr(self, "_thread", None)
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout=2.0)
