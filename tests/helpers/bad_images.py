"""Real image files of every kind the reader must handle, good and bad, with what it must say about
each (shared by the reader tests, the CLI tests and benchmarks/red_team.py; not a test module).

Good files are written by OpenCV and Pillow (odd modes: 16-bit, palette, grey, grey+alpha, RGBA,
CMYK, 1-bit, progressive, EXIF-rotated); bad ones are cut, flipped, mislabelled or crafted headers
(a 1 KB PNG that claims 100000 x 100000 pixels)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np


@dataclass(frozen=True)
class Kind:
    name: str  # file name to write (the extension is part of the test: HTML named .jpg)
    status: str  # ok | unreadable | unusable
    reason: str = ""  # the reader's reason ("" for ok)
    make: Optional[Callable[[Path], None]] = None  # writes the file (for links, folders, FIFOs)
    data: bytes = b""


def photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """An RGB picture with structure (gradients, a block, noise): every codec keeps it recognisable."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(h + w - 2, 1)], -1).astype(np.uint8)
    img[h // 4 : h // 2, w // 4 : w // 2] = (250, 20, 20)
    return np.clip(img.astype(int) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)


def encode(rgb: np.ndarray, ext: str, **params) -> bytes:
    flags = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 92], ".webp": [cv2.IMWRITE_WEBP_QUALITY, 90]}.get(ext, [])
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), flags)
    assert ok
    return buf.tobytes()


def pil_bytes(rgb: np.ndarray, mode: str, fmt: str, **kw) -> bytes:
    from PIL import Image

    im = Image.fromarray(rgb)
    im = Image.fromarray((np.asarray(im.convert("L")).astype(np.uint16) * 257)) if mode == "I;16" else im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def with_exif_orientation(rgb: np.ndarray, fmt: str, orientation: int) -> bytes:
    """``rgb`` stored as is, with an EXIF block saying how to turn it (what a phone writes)."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    kw = {"quality": 95} if fmt == "JPEG" else ({"lossless": True} if fmt == "WEBP" else {})
    Image.fromarray(rgb).save(buf, fmt, exif=exif.tobytes(), **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 1 KB PNG whose header claims ``width`` x ``height`` RGB pixels (30 GB decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + png_chunk(b"IEND", b"")


def big_grey_png(path: Path, side: int = 16_000) -> Path:
    """A valid ``side`` x ``side`` grey PNG, streamed (never held in memory): 256 MP at 16000."""
    comp = zlib.compressobj(1)
    row = b"\x00" + bytes(side)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)))
        idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
        f.write(png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
    return path


def jpeg_header_bomb() -> bytes:
    """A JPEG whose frame header says 65535 x 65535 (4.3 G pixels)."""
    good = encode(photo(), ".jpg")
    i = 2
    while good[i + 1] not in (0xC0, 0xC2):
        i += 2 + struct.unpack(">H", good[i + 2 : i + 4])[0]
    return good[: i + 5] + struct.pack(">HH", 65535, 65535) + good[i + 9 :]


def bmp_header_bomb() -> bytes:
    return b"BM" + struct.pack("<IHHI", 54 + 12, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 100_000, 100_000, 1, 24, 0, 0, 0, 0, 0, 0) + bytes(12)


def flip_crc(png: bytes, kind: bytes = b"IDAT") -> bytes:
    at = png.index(kind) - 4
    length = struct.unpack(">I", png[at : at + 4])[0]
    bad = bytearray(png)
    bad[at + 8 + length] ^= 0xFF
    return bytes(bad)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def kinds() -> List[Kind]:
    """Every kind, with the verdict the reader must give."""
    rgb = photo()
    jpg, png, webp, bmp = (encode(rgb, e) for e in (".jpg", ".png", ".webp", ".bmp"))
    ok = [
        Kind("plain.jpg", "ok", data=jpg), Kind("plain.png", "ok", data=png), Kind("plain.webp", "ok", data=webp),
        Kind("plain.bmp", "ok", data=bmp), Kind("__underscore.jpg", "ok", data=jpg), Kind("UPPER.JPG", "ok", data=jpg),
        Kind("grey.png", "ok", data=pil_bytes(rgb, "L", "PNG")), Kind("grey.jpg", "ok", data=pil_bytes(rgb, "L", "JPEG")),
        Kind("grey-alpha.png", "ok", data=pil_bytes(rgb, "LA", "PNG")), Kind("rgba.png", "ok", data=pil_bytes(rgb, "RGBA", "PNG")),
        Kind("rgba.webp", "ok", data=pil_bytes(rgb, "RGBA", "WEBP")), Kind("palette.png", "ok", data=pil_bytes(rgb, "P", "PNG")),
        Kind("bits16.png", "ok", data=pil_bytes(rgb, "I;16", "PNG")), Kind("cmyk.jpg", "ok", data=pil_bytes(rgb, "CMYK", "JPEG")),
        Kind("onebit.png", "ok", data=pil_bytes(rgb, "1", "PNG")),
        Kind("progressive.jpg", "ok", data=pil_bytes(rgb, "RGB", "JPEG", progressive=True)),
        Kind("lossless.webp", "ok", data=pil_bytes(rgb, "RGB", "WEBP", lossless=True)),
        Kind("trailing-bytes.jpg", "ok", data=jpg + b"\x00" * 64),
    ]
    ok += [Kind(f"exif{o}.{fmt.lower()}", "ok", data=with_exif_orientation(rgb, fmt, o)) for fmt in ("JPEG", "PNG", "WEBP") for o in (3, 6, 8)]
    bad = [
        Kind("empty.jpg", "unreadable", "empty", data=b""),
        Kind("html.jpg", "unreadable", "not an image", data=b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"),
        Kind("text.png", "unreadable", "not an image", data=b"these are my notes, not a picture\n"),
        Kind("random.jpg", "unreadable", "not an image", data=np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes()[1:] + b"\x00"),
        Kind("gif.jpg", "unreadable", "not an image", data=b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
        Kind("tiff.png", "unreadable", "not an image", data=b"II*\x00\x08\x00\x00\x00" + bytes(32)),
        Kind("badsig.png", "unreadable", "corrupt", data=b"\x89PNG garbage here"),
        Kind("bad-crc.png", "unreadable", "corrupt", data=flip_crc(png)),
        Kind("bad-ihdr-crc.png", "unreadable", "corrupt", data=flip_crc(png, b"IHDR")),
        Kind("bomb.png", "unreadable", "too large", data=png_header_bomb()),
        Kind("bomb.jpg", "unreadable", "too large", data=jpeg_header_bomb()),
        Kind("bomb.bmp", "unreadable", "too large", data=bmp_header_bomb()),
        Kind("loop.jpg", "unreadable", "cannot open", make=lambda p: os.symlink(p.name, p)),
        Kind("dangling.png", "unreadable", "cannot open", make=lambda p: os.symlink("no-such-file.png", p)),
        Kind("folder.jpg", "unreadable", "cannot open", make=lambda p: p.mkdir()),
        Kind("fifo.jpg", "unreadable", "cannot open", make=_fifo),
        Kind("tiny.png", "unusable", "too small", data=encode(np.zeros((1, 1, 3), np.uint8), ".png")),
        Kind("sliver.png", "unusable", "too small", data=encode(np.zeros((1, 40, 3), np.uint8), ".png")),
    ]
    for ext, data in ((".jpg", jpg), (".png", png), (".webp", webp), (".bmp", bmp)):
        stem = ext[1:]
        bad += [Kind(f"cut-half.{stem}", "unreadable", "truncated", data=data[: len(data) // 2]),
                Kind(f"cut-end.{stem}", "unreadable", "truncated", data=data[:-2]),
                Kind(f"cut-header.{stem}", "unreadable", "truncated", data=data[:20])]
    return ok + bad


def write(folder: Path, kind: Kind) -> Path:
    path = folder / kind.name
    if kind.make is not None:
        kind.make(path)
    else:
        path.write_bytes(kind.data)
    return path


def write_all(folder: Path, only: Optional[str] = None) -> Dict[str, Tuple[Path, Kind]]:
    """Every kind (or those of status ``only``) into ``folder``: {name: (path, kind)}."""
    folder.mkdir(parents=True, exist_ok=True)
    return {k.name: (write(folder, k), k) for k in kinds() if only is None or k.status == only}
