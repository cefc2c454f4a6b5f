"""Measurements behind the near-duplicate threshold and the split speed (docs/data.md, Measured).

    .venv/bin/python benchmarks/bench_data.py            # everything, ~1 minute on 2 CPU cores

1. Detection: distance between a real photo and its edited copy, per edit, at several thresholds
   (19 scikit-image photos + 100 LFW face crops from scikit-image, 25 px, which use the small-image rule).
   The LFW subset holds 100 faces and 100 non-face crops.
2. False merges: pairs of unrelated images within the threshold (19 photos, their 171 3x3 tiles,
   200 LFW crops) and, on the digits demo, groups formed by `split`.
3. Speed: hashing real files, and matching 20,000 / 60,000 synthetic hashes.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

from edgeclass.data.hashing import (
    DEFAULT_THRESHOLD,
    SMALL_THRESHOLD,
    HashTable,
    ImageHash,
    distance,
    hash_files,
    hash_rgb,
    near_duplicate_pairs,
)

warnings.filterwarnings("ignore")
PHOTOS = ["astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
          "immunohistochemistry", "moon", "page", "rocket", "text", "retina", "cell", "colorwheel", "microaneurysms"]


def photos():
    import skimage.data as d

    out = {}
    for n in PHOTOS:
        a = getattr(d, n)()
        out[n] = np.ascontiguousarray(a[..., :3] if a.ndim == 3 else np.stack([a] * 3, -1))
    return out


def faces():
    import skimage.data as d

    return [np.stack([(x * 255).round().astype(np.uint8)] * 3, -1) for x in d.lfw_subset()]


def jpeg(a, q):
    ok, b = cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(b, cv2.IMREAD_UNCHANGED)


def crop(a, f, corner=False):
    h, w = a.shape[:2]
    dy, dx = int(round(h * f)), int(round(w * f))
    return a[2 * dy:, 2 * dx:] if corner else a[dy:h - dy, dx:w - dx]


def bright(a, gain, offset=0.0):
    return np.clip(a.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def rotate(a, deg):
    h, w = a.shape[:2]
    return cv2.warpAffine(a, cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0), (w, h), borderMode=cv2.BORDER_REFLECT)


EDITS = {
    "flip": lambda a: a[:, ::-1],
    "brightness x1.3": lambda a: bright(a, 1.3),
    "brightness x0.7": lambda a: bright(a, 0.7),
    "JPEG q50": lambda a: jpeg(a, 50),
    "crop 2%/side": lambda a: crop(a, 0.02),
    "crop 3%/side": lambda a: crop(a, 0.03),
    "crop 5%/side": lambda a: crop(a, 0.05),
    "crop 10% one corner": lambda a: crop(a, 0.05, corner=True),
    "rotate 5 deg": lambda a: rotate(a, 5),
    "blur 5x5": lambda a: cv2.GaussianBlur(a, (5, 5), 1.5),
    "flip+x1.2+crop3%+q75": lambda a: jpeg(bright(crop(a[:, ::-1], 0.03), 1.2), 75),
}
THRESHOLDS = (4, 6, 8, 10, 12)


def pair_rate(hashes, threshold):
    t = HashTable.of(hashes)
    pairs = near_duplicate_pairs(t, np.arange(len(hashes)), threshold=threshold)
    n = len(hashes)
    return len(pairs), n * (n - 1) // 2


def matched(a: ImageHash, b: ImageHash, t: int) -> bool:
    """What split does with a pair: plain images never match, small ones at SMALL_THRESHOLD."""
    if a.plain or b.plain:
        return False
    return distance(a, b) <= (min(t, SMALL_THRESHOLD) if (a.small or b.small) else t)


def detection_table():
    ph, fc = photos(), faces()[:100]
    print("\n## Detection rate of edited copies (% of sources grouped with their copy)\n")
    print("| edit | photos: median distance " + " ".join(f"| T={t} " for t in THRESHOLDS) + "| LFW faces 25 px, T=8 |")
    print("|---|---" + "|---" * len(THRESHOLDS) + "|---|")
    for name, f in EDITS.items():
        h_ph = [(hash_rgb(a), hash_rgb(f(a))) for a in ph.values()]
        h_fc = [(hash_rgb(a), hash_rgb(f(a))) for a in fc]
        med = np.median([distance(a, b) for a, b in h_ph])
        cells = " ".join(f"| {np.mean([matched(a, b, t) for a, b in h_ph]) * 100:.0f}% " for t in THRESHOLDS)
        print(f"| {name} | {med:.0f} bits {cells}| {np.mean([matched(a, b, 8) for a, b in h_fc]) * 100:.0f}% |")
    plain = [n for n, a in ph.items() if hash_rgb(a).plain]
    print(f"\nplain photos (no near-duplicate matching): {plain or 'none'}")


def tiles(imgs, k=3):
    out = []
    for a in imgs.values():
        h, w = a.shape[:2]
        out += [a[i * h // k:(i + 1) * h // k, j * w // k:(j + 1) * w // k] for i in range(k) for j in range(k)]
    return out


def false_merge_table():
    ph = photos()
    lfw = faces()
    sets = {
        "19 photos": list(ph.values()),
        "171 photo tiles (3x3)": tiles(ph),
        "200 LFW crops (25 px, small-image rule)": lfw,
        "200 LFW crops upscaled to 96 px": [cv2.resize(a, (96, 96), interpolation=cv2.INTER_LINEAR) for a in lfw],
    }
    print("\n## False merges: unrelated pairs within the threshold\n")
    print("| set | pairs " + " ".join(f"| T={t} " for t in THRESHOLDS) + "|")
    print("|---|---" + "|---" * len(THRESHOLDS) + "|")
    for name, imgs in sets.items():
        hs = [hash_rgb(a) for a in imgs]
        cells = []
        for t in THRESHOLDS:
            k, n = pair_rate(hs, t)
            cells.append(f"| {k} ({k / n * 100:.3f}%) ")
        print(f"| {name} | {n} " + " ".join(cells) + "|")


def digits_split():
    from edgeclass.data.demo import write_digits
    from edgeclass.data.split import split_folder

    print("\n## Digits demo (1,797 scans, 8x8 upscaled to 32 px: small-image rule, 4 bits)\n")
    with tempfile.TemporaryDirectory() as tmp:
        write_digits(tmp)
        for t in (-1, DEFAULT_THRESHOLD):
            t0 = time.perf_counter()
            r = split_folder(tmp, out=Path(tmp) / "m.csv", threshold=t)
            dt = time.perf_counter() - t0
            c = {sp: sum(v.values()) for sp, v in r.counts.items()}
            print(f"- threshold {t}: {r.groups} groups, {r.merged_groups} merged ({r.merged_images} images, "
                  f"largest {r.largest_group}), split {c['train']}/{c['val']}/{c['test']}, {dt:.2f} s")


def speed():
    print("\n## Speed (2-core x86 CPU)\n")
    ph = list(photos().values())
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(600):
            a = cv2.resize(ph[i % len(ph)], (224, 224))
            a = bright(a, 0.5 + i / 1200)
            p = Path(tmp) / f"{i}.jpg"
            cv2.imwrite(str(p), a)
            paths.append(p)
        t0 = time.perf_counter()
        hash_files(paths)
        dt = time.perf_counter() - t0
        print(f"- hashing 224 px JPEG files: {len(paths) / dt:.0f} images/s (thread pool)")
    rng = np.random.default_rng(0)
    for n, classes in ((20000, 1), (20000, 20), (60000, 20)):
        h = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64)
        t = HashTable([""] * n, h, h ^ np.uint64(0x5555), np.zeros(n, bool), np.zeros(n, bool))
        t0 = time.perf_counter()
        pairs = 0
        for idx in np.array_split(np.arange(n), classes):
            pairs += len(near_duplicate_pairs(t, idx))
        dt = time.perf_counter() - t0
        print(f"- matching {n} hashes in {classes} class(es): {dt:.1f} s ({pairs} pairs)")


if __name__ == "__main__":
    detection_table()
    false_merge_table()
    digits_split()
    speed()
