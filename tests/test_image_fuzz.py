"""Fuzzing the one reader: random truncations and byte flips of real JPEG / PNG / WebP / BMP files in
every odd mode, and headers that claim random sizes. Every case must decode to a valid uint8
HxWx3 image within the pixel limit or be refused with a reason; nothing else may come out (no
cv2.error, no ValueError, no None), and memory stays small."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import skimage.data

from edgeclass.errors import UnreadableImage
from edgeclass.image import ReadLimits, decode
from edgeclass.image_header import REASONS
import bad_images as B

LIMIT = ReadLimits(max_pixels=200 * 200)  # small, so that size mutations cross it often


def seeds():
    """Real pictures in each format and odd mode."""
    photo = np.ascontiguousarray(skimage.data.astronaut()[::8, ::8])  # 64 x 64 real photo
    small = B.photo(40, 56)
    out = {f"astronaut{e}": B.encode(photo, e) for e in (".jpg", ".png", ".webp", ".bmp")}
    out.update({f"photo{e}": B.encode(small, e) for e in (".jpg", ".png", ".webp")})
    for mode, fmt in (("L", "PNG"), ("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("I;16", "PNG"), ("CMYK", "JPEG"),
                      ("L", "JPEG"), ("RGBA", "WEBP"), ("1", "PNG")):
        out[f"{mode}.{fmt}"] = B.pil_bytes(small, mode, fmt)
    out["progressive.jpg"] = B.pil_bytes(photo, "RGB", "JPEG", progressive=True)
    for fmt in ("JPEG", "PNG", "WEBP"):
        out[f"exif6.{fmt}"] = B.with_exif_orientation(small, fmt, 6)
    return out


def mutations(data: bytes, rng: np.random.Generator, n: int):
    """Truncations, byte flips (mostly in the first 64 bytes, where the headers are), runs of
    random bytes and size fields overwritten."""
    size = len(data)
    for _ in range(n):
        kind = rng.integers(0, 4)
        if kind == 0:
            yield data[: int(rng.integers(0, size))]
        elif kind == 1:
            b = bytearray(data)
            for _ in range(int(rng.integers(1, 6))):
                at = int(rng.integers(0, min(size, 64))) if rng.random() < 0.6 else int(rng.integers(0, size))
                b[at] ^= 1 << int(rng.integers(0, 8))
            yield bytes(b)
        elif kind == 2:
            at = int(rng.integers(0, size))
            run = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
            yield data[:at] + run + data[at + len(run):]
        else:
            b = bytearray(data)
            at = int(rng.integers(2, min(size, 40) - 4))
            b[at : at + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()  # often a width/height field
            yield bytes(b)


def check_case(data: bytes, name: str) -> str:
    """'ok' or the reason; fails the test on anything else."""
    try:
        img = decode(data, name, "rgb", LIMIT)
    except UnreadableImage as e:
        assert e.reason in REASONS and e.status in ("unreadable", "unusable") and e.detail, (name, str(e))
        return e.reason
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
    assert min(img.shape[:2]) >= LIMIT.min_side and img.shape[0] * img.shape[1] <= LIMIT.max_pixels, (name, img.shape)
    return "ok"


@pytest.fixture(scope="module")
def seed_files():
    return seeds()


def test_every_seed_decodes(seed_files):
    for name, data in seed_files.items():
        assert check_case(data, name) == "ok", name


def test_thousands_of_mutations_decode_or_are_refused_with_a_reason(seed_files):
    rng = np.random.default_rng(2024)
    verdicts: dict = {}
    t0 = time.perf_counter()
    tracemalloc.start()
    for name, data in seed_files.items():
        for i, case in enumerate(mutations(data, rng, 500)):
            v = check_case(case, f"{name}#{i}")
            verdicts[v] = verdicts.get(v, 0) + 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds = time.perf_counter() - t0
    total = sum(verdicts.values())
    print(f"{total} fuzz cases in {seconds:.1f} s: {verdicts}")
    assert total >= 10000
    assert {"ok", "truncated", "corrupt"} <= set(verdicts)  # the fuzz reaches both sides of the reader
    assert peak < 32 * 2**20  # nothing near a bomb's worth is ever allocated


def test_headers_claiming_random_sizes_never_decode_past_the_limit():
    rng = np.random.default_rng(7)
    made = {"png": 0, "jpg": 0, "bmp": 0}
    for _ in range(300):
        w, h = (int(x) for x in rng.integers(1, 70_000, 2))
        for kind, data in (("png", B.png_header_bomb(w, h)), ("bmp", _bmp(w, h))):
            verdict = check_case(data, f"{kind} {w}x{h}")
            if w * h > LIMIT.max_pixels:
                assert verdict == "too large", (kind, w, h, verdict)
            made[kind] += 1
    bomb = B.jpeg_header_bomb()
    assert check_case(bomb, "jpeg bomb") == "too large"


def _bmp(w: int, h: int) -> bytes:
    import struct

    return b"BM" + struct.pack("<IHHI", 66, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0) + bytes(12)
