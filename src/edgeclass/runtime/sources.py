"""Video sources: cameras, Jetson CSI cameras, network streams, video files, image folders, GStreamer.

``open_source("0")`` returns a ``Source``. Two behaviours, chosen by the kind of source:

- **Live** (camera, CSI, rtsp/http stream, GStreamer pipeline): a capture thread reads continuously and
  keeps only the newest frame, so a slow consumer sees fresh frames and latency never builds up
  (``dropped`` counts the frames it never saw). When the capture fails (camera unplugged, stream
  down) the thread reopens it with exponential backoff and the run goes on.
- **Files** (video file, image folder, glob, single image): every frame (or every ``stride``-th) is
  delivered, decoded ahead by a reader thread into a small bounded queue; the end of the file ends
  the source cleanly.

Frames are OpenCV BGR uint8 images. Iterating a source yields the images; ``read()`` returns a
``Frame`` with its index, media time and capture time for the pipeline.
"""

from __future__ import annotations

import glob as globmod
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Union

import numpy as np

from ..errors import EdgeclassError
from ..preprocess import is_image_file

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
FLIPS = ("none", "horizontal", "vertical", "rotate-180")
# nvvidconv flip-method values for the same flips (done in hardware on a Jetson)
NVVIDCONV_FLIP = {"none": 0, "horizontal": 4, "vertical": 6, "rotate-180": 2}
CV2_FLIP = {"horizontal": 1, "vertical": 0, "rotate-180": -1}


def _cv2():
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


@dataclass(frozen=True)
class SourceSpec:
    """What a ``--source`` string means."""

    kind: str  # camera | csi | stream | gstreamer | video | images
    target: Union[int, str]
    text: str

    @property
    def live(self) -> bool:
        return self.kind in ("camera", "csi", "stream", "gstreamer")


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


def parse_source(text: Union[str, int]) -> SourceSpec:
    """Classify a ``--source`` string: ``0``, ``/dev/video0``, ``csi://0``, ``rtsp://...``, a pipeline
    with ``!``, a glob, a folder, an image or a video file."""
    s = str(text).strip()
    if s.isdigit():
        return SourceSpec("camera", int(s), s)
    if s.startswith("/dev/video"):
        return SourceSpec("camera", s, s)
    if s.startswith("csi://"):
        sensor = s[len("csi://") :] or "0"
        if not sensor.isdigit():
            raise EdgeclassError(f"{s}: a CSI source is csi://N with N the sensor id (csi://0)")
        return SourceSpec("csi", int(sensor), s)
    if s.lower().startswith(STREAM_SCHEMES):
        return SourceSpec("stream", s, s)
    if "!" in s:
        return SourceSpec("gstreamer", s, s)
    if any(c in s for c in "*?["):
        return SourceSpec("images", s, s)
    p = Path(s)
    if p.is_dir():
        return SourceSpec("images", s, s)
    if p.is_file():
        return SourceSpec("images" if is_image_file(p) else "video", s, s)
    raise EdgeclassError(
        f"source {s!r} does not exist (give a camera index like 0, /dev/videoN, csi://N, rtsp://..., "
        "a video file, an image folder or glob, or a GStreamer pipeline)"
    )


def csi_pipeline(sensor: int, opts: CaptureOptions) -> str:
    """GStreamer pipeline for a Jetson CSI camera: nvarguscamerasrc -> nvvidconv (flip, resize) -> BGR appsink.

    appsink drop=true max-buffers=1 keeps only the newest frame on the GStreamer side as well."""
    w, h = opts.width or 1280, opts.height or 720
    fps = int(round(opts.fps or 30))
    return (
        f"nvarguscamerasrc sensor-id={sensor} ! "
        f"video/x-raw(memory:NVMM), width=(int){w}, height=(int){h}, framerate=(fraction){fps}/1 ! "
        f"nvvidconv flip-method={NVVIDCONV_FLIP[opts.flip]} ! video/x-raw, format=(string)BGRx ! "
        "videoconvert ! video/x-raw, format=(string)BGR ! appsink drop=true max-buffers=1 sync=false"
    )


def _has_gstreamer(cv2: Any) -> bool:
    info = cv2.getBuildInformation()
    for line in info.splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def capture_opener(spec: SourceSpec, opts: CaptureOptions) -> Callable[[], Any]:
    """A function that opens (and reopens) the OpenCV capture for a live source."""
    cv2 = _cv2()
    if spec.kind in ("csi", "gstreamer") and not _has_gstreamer(cv2):
        raise EdgeclassError(
            f"{spec.text}: this OpenCV was built without GStreamer; on a Jetson use JetPack's OpenCV "
            "(python3 -c 'import cv2; print(cv2.getBuildInformation())' shows GStreamer: YES)"
        )

    def open_capture() -> Any:
        if spec.kind == "camera":
            api = cv2.CAP_V4L2 if isinstance(spec.target, str) and os.name == "posix" else cv2.CAP_ANY
            cap = cv2.VideoCapture(spec.target, api)
            if cap.isOpened():
                if opts.width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, opts.width)
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, opts.height)
                if opts.fps:
                    cap.set(cv2.CAP_PROP_FPS, opts.fps)
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            return cap
        if spec.kind == "csi":
            return cv2.VideoCapture(csi_pipeline(int(spec.target), opts), cv2.CAP_GSTREAMER)
        if spec.kind == "gstreamer":
            return cv2.VideoCapture(str(spec.target), cv2.CAP_GSTREAMER)
        # network stream: bounded open/read timeouts so a dead server cannot hang the run
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000]
        return cv2.VideoCapture(str(spec.target), cv2.CAP_FFMPEG, params)

    return open_capture


class _FrameShaper:
    """Software flip and resize (cameras that ignore the requested size, files, streams)."""

    def __init__(self, opts: CaptureOptions, flip_done: bool = False):
        self.flip = None if flip_done or opts.flip == "none" else CV2_FLIP[opts.flip]
        self.size = (opts.width, opts.height) if opts.width else None

    def __call__(self, img: np.ndarray) -> np.ndarray:
        cv2 = _cv2()
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
        self.skipped = 0  # files: unreadable images
        self.reconnects = 0
        self._ended = False

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
        self._shape = _FrameShaper(self.opts, flip_done)
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


def _video_frames(path: str, opts: CaptureOptions) -> Callable[[FileSource], Iterator[Frame]]:
    cv2 = _cv2()
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise EdgeclassError(f"cannot open video file {path} (unsupported codec or not a video)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    shape = _FrameShaper(opts)

    def produce(src: FileSource) -> Iterator[Frame]:
        index = 0
        try:
            while True:
                t0 = time.perf_counter()
                ok, img = cap.read()
                if not ok:
                    return
                now = time.perf_counter()
                t = index / fps if fps > 0 else cap.get(cv2.CAP_PROP_POS_MSEC) / 1e3
                yield Frame(shape(img), index, t, now, (now - t0) * 1e3, path)
                index += 1
                for _ in range(opts.stride - 1):  # skipped frames are grabbed, never converted to BGR
                    if not cap.grab():
                        return
                    index += 1
        finally:
            cap.release()

    produce.fps = fps  # type: ignore[attr-defined]
    return produce


def image_files(spec: SourceSpec) -> List[str]:
    """The images of a folder (sorted, recursive), a glob (sorted) or a single image file."""
    target = str(spec.target)
    if any(c in target for c in "*?["):
        files = sorted(f for f in globmod.glob(target, recursive=True) if is_image_file(f) and os.path.isfile(f))
    elif os.path.isdir(target):
        files = sorted(str(p) for p in Path(target).rglob("*") if p.is_file() and is_image_file(p))
    else:
        files = [target]
    if not files:
        raise EdgeclassError(f"source {target} has no images (jpg, jpeg, png, bmp, webp)")
    return files


def _image_frames(files: List[str], opts: CaptureOptions, fps: float) -> Callable[[FileSource], Iterator[Frame]]:
    cv2 = _cv2()
    shape = _FrameShaper(opts)

    def produce(src: FileSource) -> Iterator[Frame]:
        for index in range(0, len(files), opts.stride):
            t0 = time.perf_counter()
            img = cv2.imread(files[index], cv2.IMREAD_COLOR)
            if img is None:
                src.skipped += 1
                continue
            now = time.perf_counter()
            yield Frame(shape(img), index, index / fps, now, (now - t0) * 1e3, files[index])

    return produce


def open_source(
    source: Union[str, int, SourceSpec],
    width: Optional[int] = None,
    height: Optional[int] = None,
    fps: Optional[float] = None,
    flip: str = "none",
    stride: int = 1,
    reconnect: bool = True,
    **options: Any,
) -> Source:
    """Open any source (see ``parse_source``). Raises EdgeclassError naming a source that does not open.

    ``for frame in open_source("0"): ...`` yields BGR images; ``src.read()`` yields ``Frame`` objects.
    Extra ``options`` are ``CaptureOptions`` fields (backoff_start, backoff_max, max_reconnect_s, prefetch).
    """
    spec = source if isinstance(source, SourceSpec) else parse_source(source)
    opts = CaptureOptions(width=width, height=height, fps=fps, flip=flip or "none", stride=stride, reconnect=reconnect, **options)
    opts.validate()
    if spec.live:
        return LiveSource(spec.text, capture_opener(spec, opts), opts, flip_done=spec.kind == "csi")
    if spec.kind == "video":
        produce = _video_frames(str(spec.target), opts)
        return FileSource(spec.text, produce, getattr(produce, "fps", 0.0), opts.prefetch)
    files = image_files(spec)
    rate = float(fps or 1.0)
    return FileSource(spec.text, _image_frames(files, opts, rate), rate, opts.prefetch)
