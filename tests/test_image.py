"""The one image reader: every kind of real file is ok, unreadable or unusable with the right reason;
odd modes decode to the picture; EXIF orientation is applied like a photo viewer does; a header
bomb is refused before anything is decoded; the pixel limit is configurable and checked."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest

from edgeclass.errors import EdgeclassError, UnreadableImage
from edgeclass.image import (DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, PixelBudget, ReadLimits, check_image, decode, max_pixels_from_env,
                             read_image)
from edgeclass.preprocess import preprocess_rgb
from edgeclass.spec import Preprocess
import bad_images as B

KINDS = B.kinds()


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_every_kind_of_file_gets_its_verdict(tmp_path, kind):
    path = B.write(tmp_path, kind)
    problem = check_image(path)
    got = (problem.status, problem.reason) if problem else ("ok", "")
    assert got == (kind.status, kind.reason), problem.text() if problem else path
    if problem is None:
        for mode, ndim in (("rgb", 3), ("bgr", 3), ("grey", 2)):
            img = read_image(path, mode)
            assert img.dtype == np.uint8 and img.ndim == ndim and img.flags.c_contiguous and min(img.shape[:2]) >= 2
            if ndim == 3:
                assert img.shape[2] == 3
    else:
        assert problem.text().startswith(f"{path}: {kind.reason}") and problem.detail
        with pytest.raises(UnreadableImage) as e:
            read_image(path)
        assert str(e.value) == problem.text() and "\n" not in str(e.value)


def _pil_view(data: bytes) -> np.ndarray:
    """What a photo viewer shows: Pillow, EXIF-transposed, as RGB."""
    from PIL import Image, ImageOps

    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


@pytest.mark.parametrize("kind", [k for k in KINDS if k.status == "ok" and k.name != "bits16.png"], ids=lambda k: k.name)
def test_odd_modes_decode_to_the_same_picture_pillow_shows(kind):
    got = decode(kind.data, kind.name)
    want = _pil_view(kind.data)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want).mean() < 6, kind.name  # codecs' rounding differs a little, never the picture


def test_sixteen_bit_png_keeps_its_top_eight_bits():
    grey = np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(B.photo()).convert("L"))
    got = decode(B.pil_bytes(B.photo(), "I;16", "PNG"), "bits16.png", "grey")
    assert np.array_equal(got, grey)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied_as_a_photo_viewer_does_for_all_eight(fmt):
    rgb = B.photo(30, 50)
    for orientation in range(1, 9):
        data = B.with_exif_orientation(rgb, fmt, orientation)
        got, want = decode(data, "x"), _pil_view(data)
        assert got.shape == want.shape, (fmt, orientation)
        tolerance = 3 if fmt == "JPEG" else 0
        assert np.abs(got.astype(int) - want).max() <= tolerance * 40 and np.abs(got.astype(int) - want).mean() <= tolerance, (fmt, orientation)
        assert decode(data, "x", "grey").shape == want.shape[:2]  # grey (hashing) is turned the same way


def test_a_header_bomb_is_refused_before_a_pixel_is_decoded():
    bomb = B.png_header_bomb()
    assert len(bomb) < 2048
    tracemalloc.start()
    for _ in range(200):
        with pytest.raises(UnreadableImage, match="too large .*100000x100000"):
            decode(bomb, "bomb.png")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 256 * 1024


def test_peak_memory_stays_small_on_bombs_and_a_valid_16000_px_png(tmp_path):
    big = B.big_grey_png(tmp_path / "big.png", 16_000)
    for name, data in (("bomb.png", B.png_header_bomb()), ("bomb.jpg", B.jpeg_header_bomb()), ("bomb.bmp", B.bmp_header_bomb())):
        (tmp_path / name).write_bytes(data)
    code = (  # VmHWM: the peak RSS of this process image (ru_maxrss would carry the parent's over exec)
        "import sys\nfrom edgeclass.image import check_image\nimport cv2\n"
        "def hwm():\n    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "before = hwm()\n"
        "verdicts = [check_image(p).reason for p in sys.argv[1:]]\n"
        "print(verdicts, (hwm() - before) // 1024)\n"
    )
    paths = [str(big)] + [str(tmp_path / n) for n in ("bomb.png", "bomb.jpg", "bomb.bmp")]
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=60, check=True).stdout
    verdicts, grown_mb = out.rsplit(" ", 1)
    assert verdicts == str(["too large"] * 4)
    assert int(grown_mb) < 32  # a 256 MP decode alone would be 256 MB


def test_the_pixel_limit_is_configurable_and_checked(tmp_path):
    assert max_pixels_from_env({}) == DEFAULT_MAX_PIXELS == 64 * 2**20
    assert max_pixels_from_env({MAX_PIXELS_ENV: "1_000_000"}) == 1_000_000
    for bad in ("abc", "0", "-5", "1e9", str(2**31)):
        with pytest.raises(EdgeclassError, match=MAX_PIXELS_ENV):
            max_pixels_from_env({MAX_PIXELS_ENV: bad})
    assert max_pixels_from_env({MAX_PIXELS_ENV: str(2**31), "CV_IO_MAX_IMAGE_PIXELS": str(2**32)}) == 2**31
    data = B.encode(B.photo(48, 64), ".png")
    with pytest.raises(UnreadableImage, match="too large .*3,072 pixels; the limit is 3,000"):
        decode(data, "x.png", limits=ReadLimits(max_pixels=3000))
    assert decode(data, "x.png", limits=ReadLimits(max_pixels=3072)).shape == (48, 64, 3)
    with pytest.raises(UnreadableImage, match="too small"):
        decode(data, "x.png", limits=ReadLimits(min_side=49))


def test_the_cli_refuses_a_bad_limit_in_one_line_and_applies_a_good_one(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        (tmp_path / c / "x.png").write_bytes(B.encode(B.photo(48, 64), ".png"))
    env = {"EDGECLASS_MAX_IMAGE_PIXELS": "lots", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "edgeclass", "data", "check", str(tmp_path)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and MAX_PIXELS_ENV in r.stderr
    r = subprocess.run([sys.executable, "-m", "edgeclass", "--max-image-pixels", "1000", "data", "check", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert "a/x.png: too large (64x48 = 3,072 pixels; the limit is 1,000" in r.stdout


def test_a_fifo_named_jpg_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "cam.jpg"
    import os

    os.mkfifo(fifo)
    t0 = time.perf_counter()
    assert check_image(fifo).detail == "not a regular file"
    assert time.perf_counter() - t0 < 1.0


def test_the_pixel_budget_never_holds_more_than_one_limit_of_large_images():
    budget, peak, lock = PixelBudget(100), [0], threading.Lock()

    def work(n):
        with budget.hold(n):
            with lock:
                peak[0] = max(peak[0], budget.in_use)
            time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(n,)) for n in (80, 80, 30, 30, 150, 10, 60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert peak[0] <= 150 and budget.in_use == 0  # 150 alone (one image always may), otherwise <= 100


def test_an_extreme_aspect_ratio_is_preprocessed_without_a_huge_intermediate():
    sliver = np.full((2, 200_000, 3), 128, np.uint8)
    pp = Preprocess.for_size(224)
    tracemalloc.start()
    x = preprocess_rgb(sliver, pp)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert x.shape == (3, 224, 224) and abs(float(x.mean()) - 128 / 255) < 1e-3
    assert peak < 64 * 2**20  # the plain resize-then-crop would allocate 256 x 25,600,000 x 3 bytes
