"""Content hashes for grouping: sha256 of the file bytes (exact duplicates) and a 64-bit DCT
perceptual hash (near-duplicates: flips, crops of a few percent, brightness, JPEG re-encoding).

Why a DCT hash: the lowest spatial frequencies of a 32x32 grey thumbnail barely move under
re-encoding, brightness/contrast changes or a small crop, yet differ between unrelated images. A
horizontal mirror multiplies every odd horizontal frequency by -1; the bits are defined so that the
mirror's hash is exactly ``hash ^ MIRROR_MASK``, and a pair matches if either comparison is close.

Matching 60,000 images is 1.8 billion pairs: it is done on packed uint64 hashes with numpy XOR and
popcount, block by block, never with a Python loop over pairs.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UnreadableImage
from ..image import ImageProblem, ReadLimits, decode, read_bytes

HASH_SIZE = 8  # 8x8 low-frequency DCT coefficients -> 64 bits
THUMB_SIZE = 32
# Each image is hashed twice: whole, and with TRIM of its width/height cut from every side, so that
# a copy cropped by a few percent matches its source's trimmed hash (a plain DCT hash drifts by
# 10-25 bits under a 5% crop; see docs/data.md, Data section).
TRIM = 0.03
# Largest Hamming distance (of 64 bits) that still counts as a near-duplicate. Chosen from the
# measurements in benchmarks/bench_data.py (see docs/data.md, Data section).
DEFAULT_THRESHOLD = 8
# Images smaller than SMALL_SIDE px (shorter side) carry too little detail for the hash to tell
# similar-looking images apart (8x8 digit scans upscaled to 32 px chain into groups of 100+ at 8
# bits): they are
# matched whole-image only (no trimmed hash) and at SMALL_THRESHOLD bits.
SMALL_SIDE = 48
SMALL_THRESHOLD = 4
# Plain images (sky, a wall, a blank frame): when the median |AC coefficient| of the 8x8 block is
# below MIN_DETAIL the hash bits are JPEG noise, so two different plain images match as easily as
# a copy misses its source. They are grouped by exact bytes and names only (and counted).
MIN_DETAIL = 5.0

_ODD_COLUMNS = (np.arange(HASH_SIZE) % 2 == 1)[None, :]
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(HASH_SIZE * HASH_SIZE, dtype=np.uint64))
MIRROR_MASK = np.uint64(np.bitwise_or.reduce(_BIT_WEIGHTS[np.broadcast_to(_ODD_COLUMNS, (HASH_SIZE, HASH_SIZE)).ravel()]))


def _cv2():
    import cv2

    return cv2


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pack(bits: np.ndarray) -> np.uint64:
    """64 booleans (row-major 8x8) -> one uint64, bit i = element i."""
    return np.uint64(np.bitwise_or.reduce(_BIT_WEIGHTS[bits.ravel()], initial=np.uint64(0)))


def dct_block(grey: np.ndarray) -> np.ndarray:
    """The 8x8 lowest-frequency DCT coefficients of a 32x32 area-averaged thumbnail (float32)."""
    cv2 = _cv2()
    thumb = cv2.resize(grey, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.dct(thumb)[:HASH_SIZE, :HASH_SIZE]


def _bits(block: np.ndarray) -> np.ndarray:
    """Even horizontal frequencies (mirror-symmetric patterns): 1 when above the median of the
    even-column AC coefficients. Odd horizontal frequencies (antisymmetric: a mirror flips their
    sign): 1 when positive. So the mirror image's hash is exactly this hash XOR MIRROR_MASK, and
    distances are symmetric. The DC term (overall brightness) is not hashed: bit 0 is always 0."""
    even = block[:, ~_ODD_COLUMNS[0]].ravel()[1:]
    bits = np.where(_ODD_COLUMNS, block > 0, block > np.median(even))
    bits[0, 0] = False
    return bits


def phash_pair(grey: np.ndarray) -> Tuple[np.uint64, np.uint64]:
    """(hash, hash of the horizontal mirror) of a grey uint8 image."""
    h = _pack(_bits(dct_block(grey)))
    return h, h ^ MIRROR_MASK


def detail(grey: np.ndarray) -> float:
    """Median |AC coefficient| of the hash's 8x8 DCT block: ~1-4 for sky or a blank wall,
    20-150 for photos of people and things (see MIN_DETAIL)."""
    return float(np.median(np.abs(dct_block(grey).ravel()[1:])))


def trimmed(grey: np.ndarray, fraction: float = TRIM) -> np.ndarray:
    h, w = grey.shape[:2]
    dy, dx = int(round(h * fraction)), int(round(w * fraction))
    return grey[dy : h - dy, dx : w - dx]


@dataclass(frozen=True)
class ImageHash:
    """Everything grouping needs to know about one image."""

    sha256: str
    phash: Tuple[int, int]  # (whole image, trimmed by TRIM on every side)
    mirror: Tuple[int, int]  # the same for the horizontal mirror
    small: bool  # shorter side < SMALL_SIDE: matched whole-image only, at SMALL_THRESHOLD
    plain: bool = False  # detail < MIN_DETAIL: no near-duplicate matching


def hash_grey(grey: np.ndarray, sha256: str = "") -> ImageHash:
    h0, m0 = phash_pair(grey)
    h1, m1 = phash_pair(trimmed(grey))
    return ImageHash(
        sha256, (int(h0), int(h1)), (int(m0), int(m1)), min(grey.shape[:2]) < SMALL_SIDE, detail(grey) < MIN_DETAIL
    )


def hash_bytes(data: bytes, name: str = "<bytes>", limits: Optional[ReadLimits] = None) -> ImageHash:
    """Hashes of encoded image bytes, decoded grey by the one reader (``edgeclass.image``). Raises
    UnreadableImage for a file it refuses."""
    return hash_grey(decode(data, name, "grey", limits), sha256_hex(data))


def hash_rgb(rgb: np.ndarray) -> ImageHash:
    """Hashes of a decoded RGB uint8 image (no sha256: there are no file bytes)."""
    cv2 = _cv2()
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return hash_grey(grey)


def _hash_file(path: str, limits: ReadLimits) -> ImageHash:
    return hash_bytes(read_bytes(path, limits), str(path), limits)


_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount64_table(x: np.ndarray) -> np.ndarray:
    """Set bits of every uint64 via a byte table (for numpy < 2, e.g. JetPack's)."""
    b = np.ascontiguousarray(x, dtype=np.uint64).view(np.uint8).reshape(*np.shape(x), 8)
    return _BYTE_POPCOUNT[b].sum(axis=-1, dtype=np.uint8)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Number of set bits of every uint64 (numpy >= 2 has a native op; older numpy uses a table)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return popcount64_table(x)


@dataclass
class HashTable:
    """Hashes of a list of files, index-aligned with the paths that were hashed."""

    sha256: List[str]
    phash: np.ndarray  # uint64 (n, 2): whole image, trimmed
    mirror: np.ndarray  # uint64 (n, 2): the same for the mirror image
    small: np.ndarray  # bool (n,)
    plain: Optional[np.ndarray] = None  # bool (n,); None: no image is plain
    unreadable: List[Tuple[int, ImageProblem]] = field(default_factory=list)  # (index, what is wrong)

    @classmethod
    def of(cls, hashes: Sequence[Optional[ImageHash]]) -> "HashTable":
        n = len(hashes)
        t = cls([""] * n, np.zeros((n, 2), np.uint64), np.zeros((n, 2), np.uint64), np.zeros(n, bool), np.zeros(n, bool))
        for i, h in enumerate(hashes):
            if h is not None:
                t.sha256[i], t.phash[i], t.mirror[i], t.small[i], t.plain[i] = h.sha256, h.phash, h.mirror, h.small, h.plain
        return t

    def subset(self, keep: Sequence[int]) -> "HashTable":
        keep = list(keep)
        plain = None if self.plain is None else self.plain[keep]
        return HashTable([self.sha256[i] for i in keep], self.phash[keep], self.mirror[keep], self.small[keep], plain)

    @property
    def readable(self) -> np.ndarray:
        ok = np.ones(len(self.sha256), dtype=bool)
        for i, _ in self.unreadable:
            ok[i] = False
        return ok


def _progress(items: Iterator, total: int, enabled: bool, desc: str) -> Iterator:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, desc=desc, unit="img", leave=False)


def hash_files(paths: Sequence[str | os.PathLike], workers: Optional[int] = None, progress: bool = False,
                names: Optional[Sequence[str]] = None) -> HashTable:
    """Hash every file with a thread pool (OpenCV decoding releases the GIL). Files the reader refuses
    never raise: they keep an empty sha256 and zero hashes and are listed in ``unreadable`` (under
    ``names[i]`` when given, e.g. paths relative to a dataset root)."""
    n = len(paths)
    results: List[Optional[ImageHash]] = [None] * n
    errors: List[Tuple[int, ImageProblem]] = []
    workers = workers or min(16, (os.cpu_count() or 2) + 2)
    limits = ReadLimits.from_env()

    def one(i: int):
        try:
            return i, _hash_file(str(paths[i]), limits), None
        except UnreadableImage as e:
            return i, None, ImageProblem.of(e, names[i] if names is not None else None)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, result, err in _progress(pool.map(one, range(n)), n, progress, "hashing"):
            results[i] = result
            if err is not None:
                errors.append((i, err))
    table = HashTable.of(results)
    table.unreadable = errors
    return table


def _block_distance(ph_a, mi_a, ph_b, mi_b, small_a, small_b) -> np.ndarray:
    """Distances of a block of pairs: the smallest Hamming distance over whole-vs-whole,
    whole-vs-trimmed and trimmed-vs-whole, each direct or mirrored. A pair with a small image is
    compared whole-vs-whole only (and ``near_duplicate_pairs`` holds it to SMALL_THRESHOLD).
    Returns (distances, which pairs involve a small image)."""
    fa, ta = ph_a[:, 0, None], ph_a[:, 1, None]
    fb, tb, fbm, tbm = ph_b[None, :, 0], ph_b[None, :, 1], mi_b[None, :, 0], mi_b[None, :, 1]
    whole = np.minimum(popcount64(fa ^ fb), popcount64(fa ^ fbm))
    d = np.minimum(whole, popcount64(fa ^ tb))
    for x, y in ((fa, tbm), (ta, fb), (ta, fbm)):
        np.minimum(d, popcount64(x ^ y), out=d)
    either_small = small_a[:, None] | small_b[None, :]
    return np.where(either_small, whole, d), either_small


def near_duplicate_pairs(
    table: HashTable,
    a: np.ndarray,
    b: Optional[np.ndarray] = None,
    threshold: int = DEFAULT_THRESHOLD,
    block: int = 1024,
) -> np.ndarray:
    """Near-duplicate pairs (i, j) with i in ``a`` and j in ``b`` (indices into ``table``), or all
    pairs i < j within ``a`` when ``b`` is None. Plain images take no part. Returns int64 (k, 3):
    i, j, distance.

    Numpy XOR + popcount over blocks of 1024 x 1024 packed hashes (a few MB at a time), never a
    Python loop over pairs: 20,000 images in one class take a few seconds.
    """
    a = np.asarray(a, dtype=np.int64)
    same = b is None
    b = a if same else np.asarray(b, dtype=np.int64)
    if table.plain is not None:
        a, b = a[~table.plain[a]], b[~table.plain[b]]
    small_t = min(threshold, SMALL_THRESHOLD)
    found: List[np.ndarray] = []
    for r0 in range(0, len(a), block):
        ra = a[r0 : r0 + block]
        for c0 in range(r0 if same else 0, len(b), block):
            cb = b[c0 : c0 + block]
            d, small = _block_distance(table.phash[ra], table.mirror[ra], table.phash[cb], table.mirror[cb], table.small[ra], table.small[cb])
            hit = d <= np.where(small, small_t, threshold)
            if same:
                hit &= (r0 + np.arange(len(ra)))[:, None] < (c0 + np.arange(len(cb)))[None, :]
            ii, jj = np.nonzero(hit)
            if len(ii):
                found.append(np.stack([ra[ii], cb[jj], d[ii, jj].astype(np.int64)], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 3), dtype=np.int64)


def distance(x: ImageHash, y: ImageHash) -> int:
    """The distance ``near_duplicate_pairs`` uses, for two single images."""
    t = HashTable.of([x, y])
    d, _ = _block_distance(t.phash[:1], t.mirror[:1], t.phash[1:], t.mirror[1:], t.small[:1], t.small[1:])
    return int(d[0, 0])
