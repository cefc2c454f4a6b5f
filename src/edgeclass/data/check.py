"""``edgeclass data check``: is this dataset safe to train and evaluate on?

Reports per-class counts per split, the image files the reader refuses (each named, with the
reason), duplicates across splits and class imbalance. It fails (``CheckReport.ok`` is False) when a
val/test image has an exact or near-duplicate in train — the leak that makes test accuracy
meaningless — or a split lacks a class, or manifest rows point at missing files; with ``strict``
also when any image file is unreadable or unusable, or the manifest misses images on disk. Works on a manifest (``ROOT/splits.csv``), a pre-split tree, or a plain
class-per-folder tree (no leak check possible there: nothing is split yet).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeclassError
from ..image import ImageProblem, ReadLimits, check_image
from .hashing import DEFAULT_THRESHOLD, hash_files, near_duplicate_pairs
from .manifest import MANIFEST_NAME, SPLITS, Dataset, cut_short, discover, image_files_under, read_manifest, recorded_warnings

IMBALANCE_WARN = 1.5  # largest / smallest class in train


@dataclass
class Duplicate:
    a: str  # the train image (or val, for a val/test pair)
    b: str  # the val/test image
    split_a: str
    split_b: str
    distance: int  # 0 with kind "exact"
    kind: str  # "exact" or "near"
    label_conflict: bool  # the two files carry different classes


@dataclass
class CheckReport:
    root: str
    source: str  # manifest, presplit or folders
    classes: List[str]
    counts: Dict[str, Dict[str, int]]  # split ("" when unsplit) -> class -> images
    unreadable: List[ImageProblem] = field(default_factory=list)  # image files the reader refuses
    skipped: List[str] = field(default_factory=list)  # files that are not images
    missing_files: List[str] = field(default_factory=list)  # in the manifest, not on disk
    unlisted: List[str] = field(default_factory=list)  # images on disk the manifest lacks
    missing_classes: Dict[str, List[str]] = field(default_factory=dict)  # split -> classes
    leaks: List[Duplicate] = field(default_factory=list)  # train <-> val/test
    eval_overlap: List[Duplicate] = field(default_factory=list)  # val <-> test
    exact_within_split: int = 0
    imbalance: float = 1.0  # largest / smallest class count in train (or overall when unsplit)
    threshold: int = DEFAULT_THRESHOLD
    strict: bool = False  # unreadable/unusable files and unlisted images fail the check too
    dataset_warnings: List[str] = field(default_factory=list)  # no test/ folder, a manifest cut short

    @property
    def ok(self) -> bool:
        return not self.problems()

    def to_dict(self) -> Dict[str, Any]:
        """The full report (``edgeclass data check --json``)."""
        return {**asdict(self), "ok": self.ok, "problems": self.problems(), "warnings": self.warnings()}

    def problems(self) -> List[str]:
        out = []
        if self.strict and self.unreadable:
            out.append(f"{len(self.unreadable)} image files are unreadable or unusable (--strict)")
        if self.strict and self.unlisted:
            out.append(f"{len(self.unlisted)} images on disk are not in the manifest (--strict)")
        if self.leaks:
            out.append(f"{len(self.leaks)} val/test images have a duplicate in train (leak)")
        for sp, cs in self.missing_classes.items():
            out.append(f"split '{sp}' has no images of: {', '.join(cs)}")
        if self.missing_files:
            out.append(f"{len(self.missing_files)} files in the manifest are missing")
        return out

    def notes(self) -> List[str]:
        """Warnings that come without a file listing (those are printed by ``format_report``)."""
        out = list(self.dataset_warnings)
        if self.source == "folders":
            out.append(f"no manifest: run `edgeclass data split {self.root}` to split (duplicates are kept together)")
        if self.unlisted:
            out.append(f"{len(self.unlisted)} images on disk are not in the manifest; re-run `edgeclass data split {self.root}`")
        if self.imbalance > IMBALANCE_WARN:
            out.append(f"class imbalance: the largest class has {self.imbalance:.1f}x the images of the smallest")
        return out

    def warnings(self) -> List[str]:
        out = self.notes()
        if self.unreadable and not self.strict:
            out.append(f"{len(self.unreadable)} image files are unreadable or unusable (excluded)")
        if self.skipped:
            out.append(f"{len(self.skipped)} files that are not images (skipped)")
        if self.eval_overlap:
            out.append(f"{len(self.eval_overlap)} duplicate pairs between val and test")
        return out


def _dataset_for_check(root: Path, manifest: Optional[Path]) -> Tuple[Dataset, List[str]]:
    """(dataset, manifest rows whose files are missing)."""
    mpath = manifest or root / MANIFEST_NAME
    if manifest is not None or mpath.is_file():
        if not root.is_dir():
            raise EdgeclassError(f"data folder {root} does not exist")
        samples, digest = read_manifest(mpath)
        missing = [s.path for s in samples if not os.path.lexists(root / s.path)]
        present = [s for s in samples if os.path.lexists(root / s.path)]  # a broken one is the reader's to name
        classes = sorted({s.label for s in samples})
        short = cut_short(mpath, samples, digest)
        warnings = ([f"{short}: cut short? re-run `edgeclass data split {root}`"] if short else []) + recorded_warnings(mpath)
        return Dataset(root, classes, present, "manifest", manifest_sha256=digest, warnings=warnings), missing
    return discover(root), []


def _unlisted_images(root: Path, listed: set) -> Tuple[List[str], List[ImageProblem]]:
    """(readable images on disk the manifest lacks, image files on disk the reader refuses): the
    second are what `data split` excluded (or new bad files), named with their reason."""
    unlisted, bad = [], []
    limits = ReadLimits.from_env()
    for rel in image_files_under(root):
        if rel not in listed:
            problem = check_image(root / rel, limits, name=rel)
            (bad.append(problem) if problem else unlisted.append(rel))
    return unlisted, bad


def _cross_split_pairs(ds: Dataset, table, keep: np.ndarray, a_split: str, b_splits: Tuple[str, ...], threshold: int) -> List[Duplicate]:
    a = np.array([i for i in keep if ds.samples[i].split == a_split], dtype=np.int64)
    b = np.array([i for i in keep if ds.samples[i].split in b_splits], dtype=np.int64)
    if not len(a) or not len(b):
        return []
    out: Dict[Tuple[int, int], Duplicate] = {}
    by_sha: Dict[str, List[int]] = {}
    for i in a:
        by_sha.setdefault(table.sha256[i], []).append(int(i))
    for j in b:
        for i in by_sha.get(table.sha256[j], []):
            out[(i, int(j))] = _dup(ds, i, int(j), 0, "exact")
    if threshold >= 0:
        for i, j, d in near_duplicate_pairs(table, a, b, threshold=threshold).tolist():
            out.setdefault((i, j), _dup(ds, i, j, d, "near"))
    return sorted(out.values(), key=lambda d: (d.b, d.a))


def _dup(ds: Dataset, i: int, j: int, d: int, kind: str) -> Duplicate:
    si, sj = ds.samples[i], ds.samples[j]
    return Duplicate(si.path, sj.path, si.split, sj.split, d, kind, si.label != sj.label)


def check_dataset(
    root: str | os.PathLike,
    manifest: Optional[str | os.PathLike] = None,
    threshold: int = DEFAULT_THRESHOLD,
    workers: Optional[int] = None,
    progress: bool = False,
    strict: bool = False,
) -> CheckReport:
    """Hash every image (the manifest's sha256 is not trusted: files may have changed) and report."""
    root = Path(root)
    ds, missing = _dataset_for_check(root, Path(manifest) if manifest else None)
    table = hash_files([ds.abspath(s) for s in ds.samples], workers=workers, progress=progress, names=[s.path for s in ds.samples])
    bad = {i for i, _ in table.unreadable}
    keep = np.array([i for i in range(len(ds.samples)) if i not in bad], dtype=np.int64)
    split_names = list(SPLITS) if ds.source != "folders" else [""]
    counts = {sp: {c: 0 for c in ds.classes} for sp in split_names}
    for i in keep:
        s = ds.samples[i]
        counts.setdefault(s.split, {c: 0 for c in ds.classes})[s.label] += 1
    report = CheckReport(
        root=str(root),
        source=ds.source,
        classes=ds.classes,
        counts=counts,
        unreadable=[p for _, p in table.unreadable],
        skipped=list(ds.skipped),
        missing_files=missing,
        threshold=threshold,
        strict=strict,
        dataset_warnings=list(ds.warnings),
    )
    if ds.source == "manifest":
        report.unlisted, bad = _unlisted_images(root, {s.path for s in ds.samples} | set(missing))
        report.unreadable += bad
    report.unreadable.sort(key=lambda p: p.path)
    if ds.source != "folders":
        for sp in SPLITS:
            lacking = [c for c in ds.classes if counts[sp].get(c, 0) == 0]
            if lacking:
                report.missing_classes[sp] = lacking
        report.leaks = _cross_split_pairs(ds, table, keep, "train", ("val", "test"), threshold)
        report.eval_overlap = _cross_split_pairs(ds, table, keep, "val", ("test",), threshold)
    seen: Dict[Tuple[str, str], int] = {}
    for i in keep:
        key = (ds.samples[i].split, table.sha256[i])
        seen[key] = seen.get(key, 0) + 1
    report.exact_within_split = sum(n - 1 for n in seen.values())
    base = counts["train"] if "train" in counts else counts[""]
    sizes = [n for n in base.values()]
    report.imbalance = (max(sizes) / max(1, min(sizes))) if sizes else 1.0
    return report


def format_report(r: CheckReport, show: int = 20) -> str:
    """The text ``edgeclass data check`` prints: a counts table, then problems and warnings, each
    with up to ``show`` file names."""
    lines = [f"dataset {r.root} ({r.source}, {len(r.classes)} classes)"]
    splits = list(r.counts)
    width = max([len(c) for c in r.classes] + [5])
    header = f"  {'class':<{width}}" + "".join(f"{(sp or 'images'):>8}" for sp in splits)
    lines.append(header)
    for c in r.classes:
        lines.append(f"  {c:<{width}}" + "".join(f"{r.counts[sp].get(c, 0):>8}" for sp in splits))
    lines.append(f"  {'total':<{width}}" + "".join(f"{sum(r.counts[sp].values()):>8}" for sp in splits))

    def listing(title: str, items: List[str]) -> None:
        lines.append(title)
        lines.extend(f"    {x}" for x in items[:show])
        if len(items) > show:
            lines.append(f"    ... and {len(items) - show} more")

    def dup_lines(dups: List[Duplicate]) -> List[str]:
        return [
            f"{d.split_b}/{d.b}  ~  {d.split_a}/{d.a}  ({d.kind}" + (f", {d.distance} bits" if d.kind == "near" else "")
            + (", different classes" if d.label_conflict else "") + ")"
            for d in dups
        ]

    if r.leaks:
        listing(f"LEAK: {len(r.leaks)} val/test images have an exact or near-duplicate in train (<= {r.threshold} bits):", dup_lines(r.leaks))
    if r.missing_files:
        listing(f"MISSING: {len(r.missing_files)} manifest rows point at files that do not exist:", r.missing_files)
    for sp, cs in r.missing_classes.items():
        lines.append(f"MISSING CLASS: split '{sp}' has no images of {', '.join(cs)}")
    if r.eval_overlap:
        listing(f"warning: {len(r.eval_overlap)} duplicate pairs between val and test:", dup_lines(r.eval_overlap))
    if r.unreadable:
        title = "UNREADABLE" if r.strict else "warning"
        listing(f"{title}: {len(r.unreadable)} image files cannot be used (excluded from training and evaluation):",
                [p.text() for p in r.unreadable])
    if r.skipped:
        listing(f"warning: {len(r.skipped)} files that are not images (skipped):", r.skipped)
    lines.extend(f"warning: {w}" for w in r.notes())
    if r.exact_within_split:
        lines.append(f"note: {r.exact_within_split} exact duplicate files within a split")
    lines.append("ok: no leaks" if r.ok else "FAILED: " + "; ".join(r.problems()))
    return "\n".join(lines)
