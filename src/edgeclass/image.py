"""The one image reader: every command that decodes an image file (split, check, augment, train,
eval, calibrate, export parity, bench, run on an image folder) reads it here, so a file means the
same picture, or the same refusal, everywhere.

Each file is one of:

- **ok**: decoded to uint8 HxWx3 (RGB, or BGR for the runtime) or HxW grey, whatever it was stored
  as (16-bit, palette, grey, grey+alpha, RGBA, CMYK: converted to 8-bit colour; alpha is dropped,
  not composited), turned upright by its EXIF orientation;
- **unreadable**, with a reason: ``empty``, ``truncated``, ``corrupt`` (bad CRC, a broken marker,
  bytes OpenCV cannot decode), ``not an image`` (HTML or text named .jpg, a GIF, random bytes),
  ``too large`` (over the pixel limit), ``cannot open`` (a symlink loop, a folder, a FIFO, no
  permission);
- **unusable**: decodes, but ``too small`` for a model (under ``MIN_SIDE`` pixels on a side).

The pixel limit (``EDGECLASS_MAX_IMAGE_PIXELS``, default 64 Mi pixels) is checked from the header
(``edgeclass.image_header``) before OpenCV sees the bytes, so OpenCV's own limit
(``CV_IO_MAX_IMAGE_PIXELS``, an assertion) is never what stops a file; the limit may not be set
above OpenCV's. EXIF orientation is applied here (OpenCV decodes with IMREAD_IGNORE_ORIENTATION),
because which formats OpenCV rotates by itself depends on its version.
"""

from __future__ import annotations

import os
import stat
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Union

import numpy as np

from .errors import EdgeclassError, UnreadableImage
from .image_header import (CANNOT_OPEN, CORRUPT, EMPTY, TOO_LARGE, TOO_SMALL, TRUNCATED, Header, HeaderProblem,
                           png_crc_problem, read_header)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
MAX_PIXELS_ENV = "EDGECLASS_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 64 * 2**20  # 67,108,864: a 64 MP phone photo (9248 x 6936) still fits
OPENCV_PIXELS_ENV = "CV_IO_MAX_IMAGE_PIXELS"  # OpenCV's own limit (an assertion, not a message)
OPENCV_DEFAULT_PIXELS = 1 << 30
OPENCV_MAX_SIDE = 1 << 20  # OpenCV's CV_IO_MAX_IMAGE_WIDTH / HEIGHT
MIN_SIDE = 2  # the smallest side the preprocessing can resize from
BYTES_PER_PIXEL = 4  # a file over this many bytes per allowed pixel is refused unread

OK, UNREADABLE, UNUSABLE = "ok", "unreadable", "unusable"
MODES = ("rgb", "bgr", "grey")

PathLike = Union[str, os.PathLike]


def _cv2():
    import cv2  # imported lazily so that `import edgeclass.image` stays cheap

    return cv2


def is_image_file(path: PathLike) -> bool:
    """True for the supported extensions, case-insensitive (jpg, jpeg, png, bmp, webp)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def opencv_max_pixels(environ: Mapping[str, str] = os.environ) -> int:
    try:
        return int(environ.get(OPENCV_PIXELS_ENV, OPENCV_DEFAULT_PIXELS))
    except ValueError:
        return OPENCV_DEFAULT_PIXELS


def max_pixels_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """``EDGECLASS_MAX_IMAGE_PIXELS`` (default ``DEFAULT_MAX_PIXELS``); a value that is not a whole
    number in [1, OpenCV's limit] is a one-line error naming the variable."""
    text = environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    cv_limit = opencv_max_pixels(environ)
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if not 1 <= value <= cv_limit:
        raise EdgeclassError(
            f"{MAX_PIXELS_ENV}={text!r}: give a whole number of pixels from 1 to {cv_limit:,} "
            f"(OpenCV's {OPENCV_PIXELS_ENV}; raise that too for larger images), e.g. 100000000"
        )
    return value


@dataclass(frozen=True)
class ReadLimits:
    """What the reader refuses: more than ``max_pixels`` pixels, a side under ``min_side``."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = MIN_SIDE

    @property
    def max_bytes(self) -> int:
        return max(BYTES_PER_PIXEL * self.max_pixels, 1 << 20)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ReadLimits":
        return cls(max_pixels=max_pixels_from_env(environ))


@dataclass(frozen=True)
class ImageProblem:
    """A file the reader refused, as the reports, sidecars and metrics.json store it."""

    path: str
    status: str  # unreadable | unusable
    reason: str  # one of edgeclass.image_header.REASONS
    detail: str = ""

    @classmethod
    def of(cls, e: UnreadableImage, path: Optional[str] = None) -> "ImageProblem":
        return cls(path if path is not None else e.path, e.status, e.reason, e.detail)

    def text(self) -> str:
        return f"{self.path}: {self.reason}" + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ImageProblem":
        return cls(str(d["path"]), str(d.get("status", UNREADABLE)), str(d.get("reason", "")), str(d.get("detail", "")))


def read_bytes(path: PathLike, limits: Optional[ReadLimits] = None) -> bytes:
    """The bytes of an image file. A file that cannot be opened, is not a regular file (folder, FIFO,
    device: never opened, so never a hang), is empty or too big raises UnreadableImage."""
    limits = limits or ReadLimits.from_env()
    try:
        st = os.stat(path)
    except OSError as e:  # missing, symlink loop, permission
        raise UnreadableImage(str(path), CANNOT_OPEN, e.strerror or str(e)) from None
    if not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UnreadableImage(str(path), CANNOT_OPEN, what)
    if st.st_size == 0:
        raise UnreadableImage(str(path), EMPTY, "0 bytes")
    if st.st_size > limits.max_bytes:
        raise UnreadableImage(str(path), TOO_LARGE, f"{st.st_size:,} bytes; files over {limits.max_bytes:,} bytes are not read ({MAX_PIXELS_ENV})")
    try:
        with open(path, "rb") as f:
            return f.read(limits.max_bytes + 1)
    except OSError as e:
        raise UnreadableImage(str(path), CANNOT_OPEN, e.strerror or str(e)) from None


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """An image stored with EXIF ``orientation`` (1..8), turned upright (what a photo viewer shows)."""
    if orientation in (1, 0) or orientation > 8:
        return img
    cv2 = _cv2()
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.rotate(img, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(img, 0)
    if orientation == 5:
        return cv2.transpose(img)
    if orientation == 6:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(img), cv2.ROTATE_180)
    return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)


def header_of(data: bytes, name: str = "<bytes>") -> Header:
    """The header of encoded bytes (format, size, orientation), or UnreadableImage."""
    try:
        return read_header(data)
    except HeaderProblem as e:
        raise UnreadableImage(name, e.reason, e.detail) from None


def _check_size(name: str, w: int, h: int, limits: ReadLimits) -> None:
    if w * h > limits.max_pixels or max(w, h) > OPENCV_MAX_SIDE:
        raise UnreadableImage(name, TOO_LARGE, f"{w}x{h} = {w * h:,} pixels; the limit is {limits.max_pixels:,} ({MAX_PIXELS_ENV})")
    if min(w, h) < limits.min_side:
        raise UnreadableImage(name, TOO_SMALL, f"{w}x{h} pixels; a model needs at least {limits.min_side} on each side", UNUSABLE)


def decode(data: bytes, name: str = "<bytes>", mode: str = "rgb", limits: Optional[ReadLimits] = None) -> np.ndarray:
    """Encoded image bytes -> uint8 HxWx3 (``rgb``/``bgr``) or HxW (``grey``), upright. Raises
    UnreadableImage (never returns None, never lets an OpenCV error out)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    limits = limits or ReadLimits.from_env()
    header = header_of(data, name)
    _check_size(name, header.width, header.height, limits)  # before a single pixel is allocated
    if not header.complete:
        raise UnreadableImage(name, TRUNCATED, header.problem)
    crc = png_crc_problem(data) if header.format == "PNG" else ""
    if crc:  # refused here, so libpng never prints its own complaint
        raise UnreadableImage(name, CORRUPT, crc)
    cv2 = _cv2()
    flags = (cv2.IMREAD_GRAYSCALE if mode == "grey" else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise UnreadableImage(name, CORRUPT, f"OpenCV: {lines[-1][:160] if lines else 'decode error'}") from None
    if img is None or img.size == 0:
        raise UnreadableImage(name, CORRUPT, f"OpenCV cannot decode this {header.format}")
    _check_size(name, img.shape[1], img.shape[0], limits)
    img = apply_orientation(img, header.orientation)
    if mode == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def read_image(path: PathLike, mode: str = "rgb", limits: Optional[ReadLimits] = None) -> np.ndarray:
    """Read an image file (see ``decode``). Raises UnreadableImage naming the file and the reason."""
    limits = limits or ReadLimits.from_env()
    return decode(read_bytes(path, limits), str(path), mode, limits)


def check_image(path: PathLike, limits: Optional[ReadLimits] = None, name: Optional[str] = None) -> Optional[ImageProblem]:
    """None when ``path`` decodes to a usable image, else what is wrong with it (never raises for a
    bad file). ``name`` is the path the problem records (e.g. relative to a dataset root)."""
    try:
        read_image(path, "grey", limits)
    except UnreadableImage as e:
        return ImageProblem.of(e, name)
    return None


class PixelBudget:
    """Bounds the pixels decoded at once by a pool of threads: ``with budget.hold(n):`` waits until
    ``n`` more pixels fit (one image always may), so eight threads never hold eight 64 MP images."""

    def __init__(self, pixels: int):
        self.pixels, self.in_use = pixels, 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, n: int) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self.in_use == 0 or self.in_use + n <= self.pixels)
            self.in_use += n
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= n
                self._cond.notify_all()
