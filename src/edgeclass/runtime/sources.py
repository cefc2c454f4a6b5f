"""Video sources: cameras, Jetson CSI cameras, network streams, video files, image folders, GStreamer.

``open_source("0")`` returns a ``Source``. Two behaviours, chosen by the kind of source:

- **Live** (camera, CSI, rtsp/http stream, GStreamer pipeline): a capture thread reads continuously and
  keeps only the newest frame, so a slow consumer sees fresh frames and latency never builds up
  (``dropped`` counts the frames it never saw). When the capture fails (camera unplugged, stream
  down) the thread reopens it with exponential backoff and the run goes on.
- **Files** (video file, image folder, glob, single image): every frame (or every ``stride``-th) is
  delivered, decoded ahead by a reader thread into a small bounded queue; the end of the file ends
  the source cleanly. Images are read by the one reader (``edgeclass.image``: pixel limit, EXIF
  orientation): a file it refuses is skipped and counted on the source (``skipped``,
  ``skip_reasons``, ``skipped_files``), never the end of the run; a single image given as the
  whole source that it refuses is an error when the source opens.

Frames are OpenCV BGR uint8 images. Iterating a source yields the images; ``read()`` returns a
``Frame`` with its index, media time and capture time for the pipeline. This module says what a
``--source`` string means and opens it; the capture threads are ``edgeclass.runtime.capture``.
"""

from __future__ import annotations

import glob as globmod
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Union

from ..errors import EdgeclassError, UnreadableImage
from ..image import ReadLimits, is_image_file, read_image
from .capture import FLIPS, CaptureOptions, FileSource, Frame, FrameShaper, LiveSource, Source, load_cv2

__all__ = [
    "FLIPS", "CaptureOptions", "FileSource", "Frame", "LiveSource", "Source", "SourceSpec", "csi_pipeline",
    "image_files", "open_source", "parse_source",
]

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
# nvvidconv flip-method values for the same flips (done in hardware on a Jetson)
NVVIDCONV_FLIP = {"none": 0, "horizontal": 4, "vertical": 6, "rotate-180": 2}


@dataclass(frozen=True)
class SourceSpec:
    """What a ``--source`` string means."""

    kind: str  # camera | csi | stream | gstreamer | video | images
    target: Union[int, str]
    text: str

    @property
    def live(self) -> bool:
        return self.kind in ("camera", "csi", "stream", "gstreamer")


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
    if p.is_file() or (os.path.lexists(p) and is_image_file(p)):  # a broken image link: the reader says why
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
    cv2 = load_cv2()
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


def _video_frames(path: str, opts: CaptureOptions) -> Callable[[FileSource], Iterator[Frame]]:
    cv2 = load_cv2()
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise EdgeclassError(f"cannot open video file {path} (unsupported codec or not a video)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    shape = FrameShaper(opts)

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
    """The images of a folder (sorted, recursive; dot files ignored), a glob (sorted) or a single
    image file. Anything with an image extension that is not a folder is listed, a broken link or a
    symlink loop too: the reader then names and counts it instead of it vanishing."""
    target = str(spec.target)
    if any(c in target for c in "*?["):
        files = sorted(f for f in globmod.glob(target, recursive=True) if is_image_file(f) and not os.path.isdir(f))
    elif os.path.isdir(target):
        files = sorted(str(p) for p in Path(target).rglob("*")
                       if is_image_file(p) and not p.name.startswith(".") and not p.is_dir())
    else:
        files = [target]
    if not files:
        raise EdgeclassError(f"source {target} has no images (jpg, jpeg, png, bmp, webp)")
    return files


def _image_frames(files: List[str], opts: CaptureOptions, fps: float) -> Callable[[FileSource], Iterator[Frame]]:
    shape = FrameShaper(opts)
    limits = ReadLimits.from_env()

    def produce(src: FileSource) -> Iterator[Frame]:
        for index in range(0, len(files), opts.stride):
            t0 = time.perf_counter()
            try:
                img = read_image(files[index], "bgr", limits)
            except UnreadableImage as e:
                src.skip(files[index], e.reason, str(e))
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
    if len(files) == 1 and files[0] == str(spec.target):  # one image is the whole source: it must be usable
        try:
            read_image(files[0], "grey")
        except UnreadableImage as e:
            raise EdgeclassError(f"source {e}; give an image the reader can use, a folder or a video") from None
    rate = float(fps or 1.0)
    return FileSource(spec.text, _image_frames(files, opts, rate), rate, opts.prefetch)
