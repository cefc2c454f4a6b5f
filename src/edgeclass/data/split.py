"""Grouped, stratified train/val/test split.

Images that are the same picture — identical bytes, a near-duplicate by perceptual hash (flip,
small crop, brightness, JPEG re-encoding), or an offline-augmented copy named ``<stem>__augNNNN`` —
form one group, and a group never straddles splits. That makes the classic leak (augment first,
split second, near-copies of test images in training) impossible. Groups are then dealt to the
splits class by class, so every split gets every class in the requested proportions.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgeclassError
from ..image import ImageProblem
from .hashing import DEFAULT_THRESHOLD, HashTable, hash_files, near_duplicate_pairs
from .manifest import MANIFEST_NAME, SPLITS, Dataset, Sample, discover, record_path, write_manifest, write_record

AUG_SUFFIX = re.compile(r"^(?P<stem>.+)__aug\d+$")


@dataclass
class SplitReport:
    """What ``split_folder`` did, for the CLI to print."""

    images: int = 0
    groups: int = 0
    merged_groups: int = 0  # groups holding more than one image
    merged_images: int = 0  # images in those groups
    largest_group: int = 0
    exact_duplicates: int = 0  # images whose bytes equal an earlier image's
    near_pairs: int = 0  # near-duplicate pairs found
    plain_images: int = 0  # too little detail for near-duplicate matching (exact bytes/names only)
    unreadable: List[ImageProblem] = field(default_factory=list)  # image files the reader refused, excluded
    skipped: List[str] = field(default_factory=list)  # files that are not images, skipped
    label_conflicts: List[Tuple[str, str]] = field(default_factory=list)  # same bytes, two classes
    warnings: List[str] = field(default_factory=list)
    counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    manifest: str = ""
    manifest_sha256: str = ""
    show: int = 20  # excluded files listed by name in ``text``

    def text(self) -> str:
        """What `edgeclass data split` prints."""
        lines = [
            f"{self.images} images, {len(self.counts['train'])} classes -> {self.groups} groups",
            f"merged {self.merged_groups} groups ({self.merged_images} images; {self.exact_duplicates} exact duplicates, "
            f"{self.near_pairs} near-duplicate pairs; largest group {self.largest_group})",
        ]
        if self.plain_images:
            lines.append(f"{self.plain_images} plain images (sky, blank frames) are grouped by exact bytes only")
        lines += [f"  {sp:<5} {sum(per.values()):>7} images" for sp, per in self.counts.items()]
        if self.unreadable:
            where = f" (all listed in {record_path(self.manifest)})" if self.manifest else ""
            lines.append(f"excluded {len(self.unreadable)} image files that cannot be used{where}:")
            lines += [f"  {p.text()}" for p in self.unreadable[: self.show]]
            if len(self.unreadable) > self.show:
                lines.append(f"  ... and {len(self.unreadable) - self.show} more")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} files that are not images (first: {self.skipped[0]})")
        lines += [f"warning: identical files in two classes: {a} and {b}" for a, b in self.label_conflicts[:10]]
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append(f"wrote {self.manifest}")
        return "\n".join(lines)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def parse_ratios(ratios: Sequence[float] | str) -> Tuple[float, float, float]:
    """``"0.7,0.15,0.15"`` or a sequence -> three positive fractions that sum to 1."""
    try:
        vals = [float(x) for x in (ratios.split(",") if isinstance(ratios, str) else ratios)]
    except ValueError:
        vals = []
    if len(vals) != 3 or not all(math.isfinite(v) and v > 0 for v in vals) or abs(sum(vals) - 1.0) > 1e-6:
        raise EdgeclassError(f"--ratios must be three positive numbers (train,val,test) that sum to 1, e.g. 0.7,0.15,0.15; got {ratios}")
    return vals[0], vals[1], vals[2]


def source_key(path: str) -> str:
    """The path an augmented file was made from, minus the extension: ``a/b__aug0003.jpg`` and
    ``a/b.png`` both give ``a/b``, so ``split`` regroups augmented copies with their source even
    when their hashes drift."""
    p = Path(path)
    m = AUG_SUFFIX.match(p.stem)
    return (p.parent / (m.group("stem") if m else p.stem)).as_posix()


def is_augmented(path: str) -> bool:
    return AUG_SUFFIX.match(Path(path).stem) is not None


def group_ids(samples: Sequence[Sample], table: HashTable, threshold: int, report: SplitReport) -> List[str]:
    """Group id of every sample: union-find over identical sha256, augmented-copy names and
    near-duplicate hashes within a class. ``threshold < 0`` turns near-duplicate matching off."""
    n = len(samples)
    uf = _UnionFind(n)
    first_by_sha: Dict[str, int] = {}
    first_by_key: Dict[str, int] = {}
    for i, s in enumerate(samples):
        j = first_by_sha.setdefault(table.sha256[i], i)
        if j != i:
            report.exact_duplicates += 1
            uf.union(i, j)
            if samples[j].label != s.label:
                report.label_conflicts.append((samples[j].path, s.path))
        uf.union(i, first_by_key.setdefault(source_key(s.path), i))
    if threshold >= 0:
        by_class: Dict[str, List[int]] = defaultdict(list)
        for i, s in enumerate(samples):
            by_class[s.label].append(i)
        for idx in by_class.values():
            pairs = near_duplicate_pairs(table, np.array(idx), threshold=threshold)
            report.near_pairs += len(pairs)
            for a, b, _ in pairs.tolist():
                uf.union(a, b)
    roots = [uf.find(i) for i in range(n)]
    # A stable, readable id: a hash of the group's first path (sorted order), so re-running split
    # on the same files gives the same ids.
    first_path: Dict[int, str] = {}
    for i, r in enumerate(roots):
        if r not in first_path or samples[i].path < first_path[r]:
            first_path[r] = samples[i].path
    return ["g" + hashlib.sha256(first_path[r].encode()).hexdigest()[:12] for r in roots]


def _deal_groups(sizes: List[int], ratios: Tuple[float, float, float], rng: np.random.Generator) -> List[int]:
    """Split index (0 train, 1 val, 2 test) for each group of one class.

    Groups are shuffled, then dealt largest first to the split furthest below its target image
    count; finally an empty split takes the smallest group of the split that has the most groups,
    so every split gets the class whenever there are at least three groups.
    """
    total = sum(sizes)
    targets = np.array(ratios) * total
    have = np.zeros(3)
    order = rng.permutation(len(sizes))
    order = sorted(order, key=lambda g: -sizes[g])  # stable: ties keep the shuffled order
    where = [0] * len(sizes)
    for g in order:
        k = int(np.argmax(targets - have))
        where[g] = k
        have[k] += sizes[g]
    for k in range(3):
        if k in where:
            continue
        donor = max(range(3), key=where.count)
        candidates = [g for g in order if where[g] == donor]
        if len(candidates) > 1:
            where[min(reversed(candidates), key=lambda g: sizes[g])] = k
    return where


def assign_splits(samples: Sequence[Sample], groups: Sequence[str], ratios, seed: int, report: SplitReport) -> List[Sample]:
    """Deal each class's groups to train/val/test (a group goes where its majority class puts it)."""
    ratios = parse_ratios(ratios)
    members: Dict[str, List[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    # a group with two classes (a label conflict) is dealt with the class most of its images carry
    group_class = {g: min(Counter(samples[i].label for i in idx).items(), key=lambda t: (-t[1], t[0]))[0] for g, idx in members.items()}
    by_class: Dict[str, List[str]] = defaultdict(list)
    for g in sorted(members):
        by_class[group_class[g]].append(g)
    classes = sorted({s.label for s in samples})
    split_of_group: Dict[str, str] = {}
    for ci, c in enumerate(classes):
        gs = by_class.get(c, [])
        if len(gs) < 3:
            n_img = sum(len(members[g]) for g in gs)
            raise EdgeclassError(
                f"class '{c}' has {n_img} images in {len(gs)} distinct group(s) after merging duplicates; "
                f"train, val and test each need one: add more different images of '{c}' (or lower --threshold)"
            )
        rng = np.random.default_rng([seed, ci])
        sizes = [len(members[g]) for g in gs]
        for g, k in zip(gs, _deal_groups(sizes, ratios, rng)):
            split_of_group[g] = SPLITS[k]
        _warn_if_off_target(c, gs, sizes, split_of_group, ratios, report)
    return [replace(s, split=split_of_group[g], group=g) for s, g in zip(samples, groups)]


def _warn_if_off_target(c, gs, sizes, split_of_group, ratios, report: SplitReport) -> None:
    total = sum(sizes)
    got = [sum(n for g, n in zip(gs, sizes) if split_of_group[g] == sp) / total for sp in SPLITS]
    if max(abs(a - b) for a, b in zip(got, ratios)) > 0.1:
        report.warnings.append(
            f"class '{c}': split is {'/'.join(f'{x:.0%}' for x in got)} (train/val/test) because its largest "
            f"group holds {max(sizes)} of {total} images; lower --threshold if they are not duplicates"
        )


def _hash_and_group(ds: Dataset, threshold: int, workers: Optional[int], progress: bool, report: SplitReport):
    table = hash_files([ds.abspath(s) for s in ds.samples], workers=workers, progress=progress, names=[s.path for s in ds.samples])
    bad = {i for i, _ in table.unreadable}
    report.unreadable = sorted((p for _, p in table.unreadable), key=lambda p: p.path)
    keep = [i for i in range(len(ds.samples)) if i not in bad]
    samples = [replace(ds.samples[i], sha256=table.sha256[i]) for i in keep]
    sub = table.subset(keep)
    groups = group_ids(samples, sub, threshold, report)
    report.plain_images = int(sub.plain.sum())
    sizes = Counter(groups)
    report.images = len(samples)
    report.groups = len(sizes)
    report.merged_groups = sum(1 for n in sizes.values() if n > 1)
    report.merged_images = sum(n for n in sizes.values() if n > 1)
    report.largest_group = max(sizes.values(), default=0)
    report.skipped = list(ds.skipped)
    return samples, groups


def _check_classes_survive(ds: Dataset, samples: Sequence[Sample]) -> None:
    """A class folder whose every image the reader refused is as bad as an empty one."""
    have = {(s.split, s.label) for s in samples}
    for sp, c in sorted({(s.split, s.label) for s in ds.samples} - have):
        where = f"{sp}/{c}" if sp else c
        raise EdgeclassError(f"every image in {ds.root / where} is unreadable or unusable; replace them or remove the folder")


def split_with_report(
    ds: Dataset,
    ratios: Sequence[float] | str = (0.7, 0.15, 0.15),
    seed: int = 0,
    threshold: int = DEFAULT_THRESHOLD,
    workers: Optional[int] = None,
    progress: bool = False,
    keep_presplit: bool = True,
) -> Tuple[Dataset, SplitReport]:
    """``split_dataset`` plus the numbers the CLI prints. A pre-split dataset keeps its folders'
    splits (``keep_presplit``) and gets a warning for every group that straddles them."""
    parse_ratios(ratios)
    report = SplitReport()
    samples, groups = _hash_and_group(ds, threshold, workers, progress, report)
    _check_classes_survive(ds, samples)
    if ds.source == "presplit" and keep_presplit:
        samples = [replace(s, group=g) for s, g in zip(samples, groups)]
        splits_of: Dict[str, set] = defaultdict(set)
        for s in samples:
            splits_of[s.group].add(s.split)
        straddle = sum(1 for v in splits_of.values() if len(v) > 1)
        if straddle:
            report.warnings.append(
                f"{straddle} duplicate groups straddle the folders' splits (leak); see `edgeclass data check {ds.root}` "
                "or re-split with --resplit"
            )
    else:
        samples = assign_splits([replace(s, split="") for s in samples], groups, ratios, seed, report)
    report.warnings = list(ds.warnings) + report.warnings
    out = Dataset(root=ds.root, classes=ds.classes, samples=samples, source=ds.source, skipped=list(ds.skipped),
                  excluded=list(report.unreadable), warnings=list(report.warnings))
    report.counts = out.counts()
    return out, report


def split_dataset(ds: Dataset, ratios: Sequence[float] | str = (0.7, 0.15, 0.15), seed: int = 0, **options: Any) -> Dataset:
    """Fill split, sha256 and group for every readable sample (files the reader refuses are dropped
    and listed in ``excluded`` with the reason). Deterministic for a seed. Raises EdgeclassError when a class has fewer
    than three groups (one per split is the minimum). ``options``: ``threshold``, ``workers``,
    ``progress`` of ``split_with_report``."""
    return split_with_report(ds, ratios, seed, keep_presplit=False, **options)[0]


def split_folder(
    root: str | os.PathLike,
    out: Optional[str | os.PathLike] = None,
    ratios: Sequence[float] | str = (0.7, 0.15, 0.15),
    seed: int = 0,
    threshold: int = DEFAULT_THRESHOLD,
    workers: Optional[int] = None,
    progress: bool = False,
    resplit: bool = False,
) -> SplitReport:
    """What ``edgeclass data split`` does: discover ROOT, group, split, write the manifest
    atomically (``ROOT/splits.csv`` unless ``out``), then its record (``splits.report.json``: the
    excluded files with their reasons). Copies nothing."""
    ds = discover(root)
    ds, report = split_with_report(ds, ratios, seed, threshold, workers, progress, keep_presplit=not resplit)
    out_path = Path(out) if out else Path(root) / MANIFEST_NAME
    report.manifest = str(out_path)
    report.manifest_sha256 = write_manifest(out_path, ds.samples)
    write_record(out_path, report.manifest_sha256, len(ds.samples), report.unreadable, report.skipped, report.warnings)
    return report
