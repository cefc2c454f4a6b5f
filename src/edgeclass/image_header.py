"""What an image file's header says, read without decoding a pixel: its format, its size, its EXIF
orientation and whether the file is whole. ``edgeclass.image`` (the one reader) checks the pixel
limit and the minimum size against this before it lets OpenCV decode anything, so a 1 KB PNG that
claims 100000 x 100000 pixels is refused without allocating its 30 GB.

Formats: JPEG, PNG, WebP and BMP (the extensions ``edgeclass.image.IMAGE_EXTENSIONS`` lists). Any
other content is "not an image", named by what it looks like (HTML, text, a GIF, a TIFF...).
Completeness: a JPEG needs its end-of-image marker after the scan, a PNG its IEND chunk, a WebP the
bytes its RIFF header counts, an uncompressed BMP its pixel rows (older OpenCV builds decode a cut
JPEG into a half-grey picture without a word; this check makes every build refuse it).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Optional

# the reasons a file is refused (``UnreadableImage.reason``)
EMPTY = "empty"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
NOT_AN_IMAGE = "not an image"
TOO_LARGE = "too large"
CANNOT_OPEN = "cannot open"
TOO_SMALL = "too small"
REASONS = (EMPTY, TRUNCATED, CORRUPT, NOT_AN_IMAGE, TOO_LARGE, CANNOT_OPEN, TOO_SMALL)

FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic)
_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_STANDALONE = frozenset((0x01, 0xD8, *range(0xD0, 0xD8)))


class HeaderProblem(Exception):
    """The header cannot be read: ``reason`` (one of ``REASONS``) and what was found."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason} ({detail})")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Header:
    format: str  # one of FORMATS
    width: int  # as stored, before the EXIF orientation is applied
    height: int
    orientation: int = 1  # EXIF orientation 1..8 (1 = as stored)
    complete: bool = True  # the file's end marker / declared length is there
    problem: str = ""  # what is missing when not complete

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _u16(b: bytes, at: int, order: str = ">") -> int:
    return struct.unpack_from(order + "H", b, at)[0]


def _u32(b: bytes, at: int, order: str = ">") -> int:
    return struct.unpack_from(order + "I", b, at)[0]


def exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 of an EXIF (TIFF-structured) block; 1 when absent or
    malformed (a broken EXIF block never makes a picture unreadable)."""
    if tiff.startswith(b"Exif\x00\x00"):
        tiff = tiff[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    if _u16(tiff, 2, order) != 42:
        return 1
    ifd = _u32(tiff, 4, order)
    if ifd + 2 > len(tiff):
        return 1
    for k in range(min(_u16(tiff, ifd, order), 512)):
        at = ifd + 2 + 12 * k
        if at + 12 > len(tiff):
            break
        tag, kind = _u16(tiff, at, order), _u16(tiff, at + 2, order)
        if tag == 0x0112:
            value = _u16(tiff, at + 8, order) if kind == 3 else (_u32(tiff, at + 8, order) if kind == 4 else 1)
            return value if 1 <= value <= 8 else 1
    return 1


def describe_content(data: bytes) -> str:
    """What a file that is not one of our formats looks like, for the message."""
    head = data[:512]
    known = {b"GIF8": "a GIF file", b"II*\x00": "a TIFF file", b"MM\x00*": "a TIFF file", b"%PDF": "a PDF file",
             b"PK\x03\x04": "a ZIP archive", b"\x00\x00\x01\x00": "an ICO file", b"8BPS": "a Photoshop file"}
    for magic, what in known.items():
        if head.startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        return f"an ISO media file ({head[8:12].decode('ascii', 'replace').strip()}: HEIC, AVIF or video)"
    if head[:4] == b"RIFF":
        return f"a RIFF file of type {head[8:12].decode('ascii', 'replace')!r}"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text[:200]:
        return "an HTML page"
    if text.startswith((b"<?xml", b"<svg")):
        return "an XML/SVG document"
    if head and all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        return "text"
    return f"unknown content starting {head[:8].hex(' ')}" if head else "nothing"


def sniff(data: bytes) -> Optional[str]:
    """The format by content (never by the file name), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == _PNG_MAGIC:
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM" and len(data) >= 6:
        return "BMP"
    return None


def read_header(data: bytes) -> Header:
    """The header of encoded image bytes; raises HeaderProblem for bytes that are not one of our
    formats or whose header is cut short or inconsistent."""
    if not data:
        raise HeaderProblem(EMPTY, "0 bytes")
    fmt = sniff(data)
    if fmt is None:
        for magic, name in ((_PNG_MAGIC, "PNG"), (b"\xff\xd8\xff", "JPEG")):
            if len(data) < len(magic) and magic.startswith(data):
                raise HeaderProblem(TRUNCATED, f"{len(data)} bytes of a {name} signature")
            if data[:2] == magic[:2]:
                raise HeaderProblem(CORRUPT, f"a damaged {name} signature")
        raise HeaderProblem(NOT_AN_IMAGE, describe_content(data))
    try:
        return {"JPEG": _jpeg, "PNG": _png, "WEBP": _webp, "BMP": _bmp}[fmt](data)
    except struct.error:  # a field read past the end of the bytes
        raise HeaderProblem(TRUNCATED, f"{fmt} header cut short at {len(data)} bytes") from None


def _jpeg(data: bytes) -> Header:
    n, i = len(data), 2
    size, orientation = None, 1
    while True:
        if i + 2 > n:
            raise HeaderProblem(TRUNCATED, f"JPEG ends at byte {n} before its image data")
        if data[i] != 0xFF:
            raise HeaderProblem(CORRUPT, f"JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker == 0xD9:
            raise HeaderProblem(CORRUPT, "JPEG ends before its image data")
        length = _u16(data, i + 2)
        if length < 2:
            raise HeaderProblem(CORRUPT, f"JPEG segment of length {length} at byte {i}")
        segment = data[i + 4 : i + 2 + length]
        if i + 2 + length > n:
            raise HeaderProblem(TRUNCATED, f"JPEG ends at byte {n} inside a segment")
        if marker == 0xE1 and orientation == 1 and segment.startswith(b"Exif\x00\x00"):
            orientation = exif_orientation(segment)
        elif marker in _SOF and size is None:
            size = (_u16(segment, 3), _u16(segment, 1))
        elif marker == 0xDA:
            if size is None:
                raise HeaderProblem(CORRUPT, "JPEG image data without a frame header")
            scan = i + 2 + length
            break
        i += 2 + length
    w, h = size
    if not w or not h:
        raise HeaderProblem(CORRUPT, f"JPEG frame header says {w}x{h} pixels")
    complete = data.find(b"\xff\xd9", scan) >= 0  # inside the scan, 0xFF is always followed by 00 or a restart
    return Header("JPEG", w, h, orientation, complete, "" if complete else "JPEG ends before its end-of-image marker")


def _png(data: bytes) -> Header:
    n = len(data)
    if _u32(data, 8) != 13 or data[12:16] != b"IHDR":
        raise HeaderProblem(CORRUPT, "PNG without an IHDR chunk first")
    w, h = _u32(data, 16), _u32(data, 20)
    if not w or not h:
        raise HeaderProblem(CORRUPT, f"PNG header says {w}x{h} pixels")
    orientation, at, complete = 1, 8, False
    while at + 8 <= n:
        length, kind = _u32(data, at), data[at + 4 : at + 8]
        end = at + 12 + length
        if length > 2**31 - 1:
            raise HeaderProblem(CORRUPT, f"PNG chunk {kind!r} of length {length}")
        if end > n:
            break
        if kind == b"eXIf":
            orientation = exif_orientation(data[at + 8 : at + 8 + length])
        elif kind == b"IEND":
            complete = True
            break
        at = end
    return Header("PNG", w, h, orientation, complete, "" if complete else f"PNG ends at byte {n} before its IEND chunk")


def png_crc_problem(data: bytes) -> str:
    """The first critical PNG chunk whose CRC does not match (what libpng refuses), or ""."""
    at = 8
    while at + 12 <= len(data):
        length = _u32(data, at)
        kind = data[at + 4 : at + 8]
        if at + 12 + length > len(data):
            return ""
        stored = _u32(data, at + 8 + length)
        if kind[:1].isupper() and zlib.crc32(data[at + 4 : at + 8 + length]) & 0xFFFFFFFF != stored:
            return f"CRC error in the {kind.decode('latin-1')} chunk at byte {at}"
        if kind == b"IEND":
            return ""
        at += 12 + length
    return ""


def _webp(data: bytes) -> Header:
    n, need = len(data), 8 + _u32(data, 4, "<")
    try:
        return _webp_header(data, n, need)
    except (HeaderProblem, struct.error):
        if n < need:  # a header that does not parse in a file cut short: it is the cut
            raise HeaderProblem(TRUNCATED, f"WebP has {n} of the {need} bytes its header counts") from None
        raise


def _webp_header(data: bytes, n: int, need: int) -> Header:
    kind, length = data[12:16], _u32(data, 16, "<")
    payload = data[20 : 20 + length]
    orientation = 1
    if kind == b"VP8 ":
        if payload[3:6] != b"\x9d\x01\x2a":
            raise HeaderProblem(CORRUPT, "WebP (lossy) without its frame start code")
        w, h = _u16(payload, 6, "<") & 0x3FFF, _u16(payload, 8, "<") & 0x3FFF
    elif kind == b"VP8L":
        if payload[:1] != b"\x2f":
            raise HeaderProblem(CORRUPT, "WebP (lossless) without its signature")
        bits = _u32(payload, 1, "<")
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8X":
        w = 1 + int.from_bytes(payload[4:7], "little")
        h = 1 + int.from_bytes(payload[7:10], "little")
        at = 20 + length + (length & 1)
        while at + 8 <= min(n, need):
            sub, sub_len = data[at : at + 4], _u32(data, at + 4, "<")
            if sub == b"EXIF":
                orientation = exif_orientation(data[at + 8 : at + 8 + sub_len])
                break
            at += 8 + sub_len + (sub_len & 1)
    else:
        raise HeaderProblem(CORRUPT, f"WebP with an unknown first chunk {kind!r}")
    if not w or not h:
        raise HeaderProblem(CORRUPT, f"WebP header says {w}x{h} pixels")
    complete = n >= need
    return Header("WEBP", w, h, orientation, complete, "" if complete else f"WebP has {n} of the {need} bytes its header counts")


def _bmp(data: bytes) -> Header:
    n = len(data)
    offset, dib = _u32(data, 10, "<"), _u32(data, 14, "<")
    if dib == 12:  # OS/2 BITMAPCOREHEADER
        w, h, bpp, compression = _u16(data, 18, "<"), _u16(data, 20, "<"), _u16(data, 24, "<"), 0
    elif dib >= 40:
        w, h = struct.unpack_from("<ii", data, 18)
        bpp, compression = _u16(data, 28, "<"), _u32(data, 30, "<")
    else:
        raise HeaderProblem(CORRUPT, f"BMP with a {dib}-byte info header")
    h = abs(h)
    if w <= 0 or h == 0:
        raise HeaderProblem(CORRUPT, f"BMP header says {w}x{h} pixels")
    complete, problem = True, ""
    if compression in (0, 3) and bpp in (1, 4, 8, 16, 24, 32):  # uncompressed: the rows can be counted
        need = offset + ((w * bpp + 31) // 32) * 4 * h
        complete = n >= need
        problem = "" if complete else f"BMP has {n} of the {need} bytes its pixel rows need"
    return Header("BMP", w, h, 1, complete, problem)
