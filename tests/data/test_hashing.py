"""Perceptual hashing: edited copies stay close, unrelated images stay apart, matching is exact."""

from __future__ import annotations

import hashlib
import itertools
import warnings

import cv2
import numpy as np
import pytest

from edgeclass.data.hashing import (
    DEFAULT_THRESHOLD,
    SMALL_THRESHOLD,
    HashTable,
    distance,
    hash_files,
    hash_rgb,
    near_duplicate_pairs,
    popcount64,
    popcount64_table,
)


def photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(img[..., :3] if img.ndim == 3 else np.stack([img] * 3, -1))


def jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def crop(rgb: np.ndarray, f: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return rgb[int(h * f) : h - int(h * f), int(w * f) : w - int(w * f)]


def gain(rgb: np.ndarray, g: float) -> np.ndarray:
    return np.clip(rgb.astype(np.float32) * g, 0, 255).astype(np.uint8)


EDITS = {
    "flip": lambda a: a[:, ::-1],
    "brighter": lambda a: gain(a, 1.2),
    "darker": lambda a: gain(a, 0.7),
    "jpeg q60": lambda a: jpeg(a, 60),
    "crop 3%": lambda a: crop(a, 0.03),
    "crop 2% + flip + brighter + jpeg q75": lambda a: jpeg(gain(crop(a, 0.02)[:, ::-1], 1.15), 75),
}


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "camera"])
def test_edited_copies_of_real_photos_are_near_duplicates(name):
    src = photo(name)
    h = hash_rgb(src)
    assert not h.plain and not h.small
    for edit, f in EDITS.items():
        assert distance(h, hash_rgb(f(src))) <= DEFAULT_THRESHOLD, edit


def test_distance_is_symmetric_and_a_mirror_is_exact():
    imgs = [photo(n) for n in ("astronaut", "coffee", "camera")]
    hs = [hash_rgb(a) for a in imgs] + [hash_rgb(jpeg(crop(a, 0.04), 50)) for a in imgs]
    for a, b in itertools.product(hs, hs):
        assert distance(a, b) == distance(b, a)
    # astronaut is 512 px wide: its 32 px thumbnail mirrors exactly, so the hash does too
    assert hash_rgb(imgs[0][:, ::-1]).phash == hs[0].mirror


def test_unrelated_images_are_not_merged():
    import skimage.data

    names = ["astronaut", "camera", "chelsea", "clock", "coffee", "coins", "hubble_deep_field",
             "immunohistochemistry", "moon", "page", "rocket", "text", "retina", "cell", "colorwheel"]
    hs = [hash_rgb(photo(n)) for n in names]
    assert len(near_duplicate_pairs(HashTable.of(hs), np.arange(len(hs)))) == 0
    # 200 LFW crops (100 faces, 100 other), upscaled to a camera-crop size: measured 3 of 19,900
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lfw = skimage.data.lfw_subset()
    faces = [cv2.resize((x * 255).round().astype(np.uint8), (96, 96)) for x in lfw]
    pairs = near_duplicate_pairs(HashTable.of([hash_rgb(f) for f in faces]), np.arange(len(faces)))
    assert len(pairs) <= 5


def test_blocked_matching_equals_brute_force():
    rng = np.random.default_rng(0)
    n = 90
    base = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64)
    for i in range(0, n, 3):  # plant near-duplicates: flip a few bits of a neighbour's hash
        flips = rng.choice(64, size=rng.integers(0, 12), replace=False)
        base[i + 1] = base[i] ^ np.uint64(sum(1 << int(b) for b in flips))
    table = HashTable([""] * n, base, base ^ np.uint64(0xAAAA), rng.random(n) < 0.2, rng.random(n) < 0.1)

    def brute(i, j):
        if table.plain[i] or table.plain[j]:
            return None
        d = lambda x, y: bin(int(x) ^ int(y)).count("1")  # noqa: E731
        fa, ta, fb, tb = table.phash[i, 0], table.phash[i, 1], table.phash[j, 0], table.phash[j, 1]
        fbm, tbm = table.mirror[j, 0], table.mirror[j, 1]
        whole = min(d(fa, fb), d(fa, fbm))
        if table.small[i] or table.small[j]:
            return whole if whole <= SMALL_THRESHOLD else None
        best = min(whole, d(fa, tb), d(fa, tbm), d(ta, fb), d(ta, fbm))
        return best if best <= 10 else None

    expect = {(i, j, brute(i, j)) for i in range(n) for j in range(i + 1, n) if brute(i, j) is not None}
    got = near_duplicate_pairs(table, np.arange(n), threshold=10, block=7)
    assert {tuple(r) for r in got.tolist()} == expect and len(expect) >= 10
    a, b = np.arange(0, n, 2), np.arange(1, n, 2)
    cross = {tuple(r) for r in near_duplicate_pairs(table, a, b, threshold=10, block=8).tolist()}
    assert cross == {(i, j, brute(min(i, j), max(i, j))) for i in a for j in b if brute(min(i, j), max(i, j)) is not None}


def test_popcount_table_fallback_matches_native():
    x = np.random.default_rng(1).integers(0, 2**63, size=(50, 7), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    expect = np.vectorize(lambda v: bin(int(v)).count("1"))(x)
    assert np.array_equal(popcount64_table(x), expect)
    assert np.array_equal(popcount64(x), expect)


def test_hash_files_lists_unreadable_files_and_hashes_the_rest(tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), photo("coffee"))
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    t = hash_files([good, tmp_path / "bad.jpg", tmp_path / "gone.png"], workers=2)
    assert t.sha256[0] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert [i for i, _ in sorted(t.unreadable)] == [1, 2]
    assert t.readable.tolist() == [True, False, False]
