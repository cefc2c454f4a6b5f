"""Headers read without decoding: sizes of every format, EXIF orientation from each container, and
what a file that is none of them looks like."""

from __future__ import annotations

import numpy as np
import pytest

from edgeclass.image_header import HeaderProblem, describe_content, exif_orientation, read_header
import bad_images as B


@pytest.mark.parametrize("ext, fmt", [(".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"), (".bmp", "BMP")])
def test_the_size_comes_from_the_header_of_every_format(ext, fmt):
    for h, w in ((48, 64), (7, 301), (300, 2)):
        header = read_header(B.encode(B.photo(h, w), ext))
        assert (header.format, header.width, header.height, header.complete) == (fmt, w, h, True)
    lossless = read_header(B.pil_bytes(B.photo(33, 17), "RGB", "WEBP", lossless=True))
    assert (lossless.width, lossless.height) == (17, 33)
    extended = read_header(B.with_exif_orientation(B.photo(33, 17), "WEBP", 5))  # VP8X + EXIF chunk
    assert (extended.width, extended.height, extended.orientation) == (17, 33, 5)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_read_from_each_container(fmt):
    for o in range(1, 9):
        assert read_header(B.with_exif_orientation(B.photo(), fmt, o)).orientation == o


def test_a_broken_exif_block_never_makes_a_picture_unreadable():
    for junk in (b"", b"Exif\x00\x00", b"Exif\x00\x00II*\x00\xff\xff\xff\xff", b"MM\x00*\x00\x00\x00\x08\xff\xff", bytes(64)):
        assert exif_orientation(junk) == 1
    tiff = b"II*\x00\x08\x00\x00\x00" + b"\x01\x00" + b"\x12\x01\x03\x00\x01\x00\x00\x00\x09\x00\x00\x00"
    assert exif_orientation(tiff) == 1  # 9 is no orientation


def test_what_a_file_that_is_no_image_looks_like():
    assert describe_content(b"\xef\xbb\xbf<!doctype html><p>") == "an HTML page"
    assert describe_content(b"GIF89a....") == "a GIF file"
    assert describe_content(b"\x00\x00\x00\x18ftypheic") .startswith("an ISO media file (heic")
    assert describe_content(b"hello\n") == "text"
    assert describe_content(np.arange(16, dtype=np.uint8).tobytes()).startswith("unknown content starting 00 01")
    with pytest.raises(HeaderProblem) as e:
        read_header(b"\x89PN")
    assert e.value.reason == "truncated"
