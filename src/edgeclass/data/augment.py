"""``edgeclass data augment``: offline augmentation of the TRAIN split only.

The original project had 3,000 images per class, made by augmenting first and splitting second, so
near-copies of test images were trained on. Here augmentation runs after the split, reads only
train images, and writes ``<stem>__augNNNN.jpg`` next to each source; the rows join the manifest
with split=train and the source's group, and a later ``data split`` regroups them by name.

Augment rewrites the manifest, so it first makes sure the manifest is whole: one cut short (no final
newline, fewer rows than its record, images on disk it does not list) is refused, never rewritten
with half the dataset. Sources are decoded by the one reader (pixel limit from the header) under a
pixel budget: the threads never hold more than one limit's worth of large images at once.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeclassError, UnreadableImage
from ..fileio import write_bytes_atomic
from ..image import ImageProblem, PixelBudget, ReadLimits, decode, header_of, read_bytes
from .hashing import sha256_hex
from .manifest import (MANIFEST_NAME, Sample, cut_short, excluded_of, image_files_under, read_manifest, read_record,
                       write_manifest, write_record)
from .split import is_augmented


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms (each drawn uniformly per image)."""

    flip_p: float = 0.5
    max_rotate_deg: float = 10.0
    scale: Tuple[float, float] = (0.95, 1.08)
    max_crop: float = 0.06  # fraction cut from each side at most
    brightness: float = 0.25  # multiply by 1 +- this
    contrast: float = 0.2
    blur_p: float = 0.2
    jpeg_quality: int = 92


@dataclass
class AugmentReport:
    written: int = 0
    per_class: Dict[str, int] = field(default_factory=dict)  # class -> new images
    train_counts: Dict[str, int] = field(default_factory=dict)  # class -> train images after
    unreadable: List[ImageProblem] = field(default_factory=list)  # train sources the reader refused
    manifest: str = ""


def augment_image(rgb: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One random variant of an RGB uint8 image, same size: flip, rotate/scale, crop, brightness,
    contrast, blur. Deterministic for the generator's state."""
    import cv2

    h, w = rgb.shape[:2]
    out = rgb[:, ::-1] if rng.random() < cfg.flip_p else rgb
    angle = rng.uniform(-cfg.max_rotate_deg, cfg.max_rotate_deg)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, rng.uniform(*cfg.scale))
    out = cv2.warpAffine(np.ascontiguousarray(out), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    t, b, l, r = (int(rng.uniform(0, cfg.max_crop) * n) for n in (h, h, w, w))
    if h - t - b >= 2 and w - l - r >= 2:
        out = cv2.resize(out[t : h - b, l : w - r], (w, h), interpolation=cv2.INTER_LINEAR)
    gain = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    contrast = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    mean = float(np.mean(cv2.mean(out)[:3]))
    # (x - mean) * contrast + mean * gain, saturated to uint8 in one pass (no float copy of the image)
    out = cv2.addWeighted(out, contrast, out, 0.0, mean * (gain - contrast))
    if rng.random() < cfg.blur_p:
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return out


def _encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise EdgeclassError("OpenCV could not encode a JPEG")
    return buf.tobytes()


def _next_index(root: Path, source: str, taken: set) -> int:
    """The next free NNNN for ``<stem>__augNNNN`` among the manifest and the files on disk."""
    p = Path(source)
    pattern = re.compile(re.escape(p.stem) + r"__aug(\d+)$")
    used = [int(m.group(1)) for x in taken if (m := pattern.match(Path(x).stem)) and Path(x).parent == p.parent]
    folder = root / p.parent
    if folder.is_dir():
        used += [int(m.group(1)) for f in folder.iterdir() if (m := pattern.match(f.stem))]
    return max(used, default=-1) + 1


def check_manifest_whole(root: Path, mpath: Path, samples: List[Sample], digest: str) -> None:
    """Refuse a manifest that looks cut short: augment would rewrite it with only the rows it has."""
    short = cut_short(mpath, samples, digest)
    listed = {s.path for s in samples} | {p.path for p in excluded_of(mpath)}
    unlisted = [p for p in image_files_under(root) if p not in listed and not is_augmented(p)]
    if unlisted and not short:
        short = f"{len(unlisted)} images under {root} are not in {mpath} (first: {unlisted[0]})"
    if short:
        raise EdgeclassError(f"{short}: the manifest is cut short or older than the files; re-run `edgeclass data split {root}` first")


def augment_train(
    root: str | os.PathLike,
    per_class: int,
    seed: int = 0,
    manifest: Optional[str | os.PathLike] = None,
    cfg: AugmentConfig = AugmentConfig(),
    workers: Optional[int] = None,
) -> AugmentReport:
    """Bring every class's train split up to ``per_class`` images by writing augmented copies of
    its (non-augmented) train images, round-robin in a seeded order. Classes already at or above
    ``per_class`` are left alone, so re-running is a no-op. Each file and, once every file is
    written, the manifest (and its record) are written atomically."""
    root = Path(root)
    if per_class < 1:
        raise EdgeclassError("--per-class must be a positive number of train images per class")
    mpath = Path(manifest) if manifest else root / MANIFEST_NAME
    if not mpath.is_file():
        raise EdgeclassError(f"no manifest at {mpath}: run `edgeclass data split {root}` first (augment only touches the train split)")
    samples, digest = read_manifest(mpath)
    check_manifest_whole(root, mpath, samples, digest)
    report = AugmentReport(manifest=str(mpath))
    jobs = _plan(root, samples, per_class, seed, report)
    limits = ReadLimits.from_env()
    budget = PixelBudget(limits.max_pixels)

    def make(job) -> Tuple[Optional[Sample], Optional[ImageProblem]]:
        src, name, rng = job
        try:
            data = read_bytes(root / src.path, limits)
            with budget.hold(header_of(data, src.path).pixels):
                rgb = decode(data, src.path, "rgb", limits)
                out = _encode_jpeg(augment_image(rgb, rng, cfg), cfg.jpeg_quality)
        except UnreadableImage as e:
            return None, ImageProblem.of(e, src.path)
        write_bytes_atomic(root / name, out)
        return Sample(name, src.label, "train", sha256_hex(out), src.group), None

    new: List[Sample] = []
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) + 2)) as pool:
        for sample, err in pool.map(make, jobs):
            if sample is not None:
                new.append(sample)
            elif err not in report.unreadable:
                report.unreadable.append(err)
    report.per_class = {c: sum(1 for s in new if s.label == c) for c in report.per_class}
    report.written = len(new)
    all_samples = samples + new
    report.train_counts = {c: sum(1 for s in all_samples if s.split == "train" and s.label == c) for c in report.per_class}
    sha = write_manifest(mpath, all_samples)
    record = read_record(mpath) or {}
    write_record(mpath, sha, len(all_samples), excluded_of(mpath), record.get("not_images", []), record.get("warnings", []))
    return report


def _plan(root: Path, samples: List[Sample], per_class: int, seed: int, report: AugmentReport) -> List[Tuple[Sample, str, np.random.Generator]]:
    """(source, new file name, generator) of every image to write, class by class."""
    taken = {s.path for s in samples}
    jobs: List[Tuple[Sample, str, np.random.Generator]] = []
    for ci, c in enumerate(sorted({s.label for s in samples})):
        train = [s for s in samples if s.split == "train" and s.label == c]
        sources = sorted((s for s in train if not is_augmented(s.path)), key=lambda s: s.path)
        need = per_class - len(train)
        if need <= 0 or not sources:
            report.per_class[c] = 0
            continue
        rng = np.random.default_rng([seed, ci])
        order = [sources[i] for i in rng.permutation(len(sources))]
        next_idx: Dict[str, int] = {}
        for k in range(need):
            src = order[k % len(order)]
            if src.path not in next_idx:
                next_idx[src.path] = _next_index(root, src.path, taken)
            p = Path(src.path)
            name = (p.parent / f"{p.stem}__aug{next_idx[src.path]:04d}.jpg").as_posix()
            next_idx[src.path] += 1
            taken.add(name)
            jobs.append((src, name, np.random.default_rng([seed, ci, k])))
        report.per_class[c] = need
    return jobs
