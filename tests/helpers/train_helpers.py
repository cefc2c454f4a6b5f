"""Small training setups shared by the tests/test_train_*.py files (not a test module)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Tuple

from edgeclass.data.manifest import read_manifest, write_manifest


def subset_manifest(digits_root: Path, dst: Path, per_class: Tuple[int, int, int] = (12, 4, 4), classes: int = 10) -> Path:
    """A manifest over the first ``classes`` digit classes of ``digits_root`` with ``per_class``
    (train, val, test) images each: a dataset small enough for a ResNet on two CPU cores."""
    samples, _ = read_manifest(digits_root / "splits.csv")
    keep = sorted({s.label for s in samples})[:classes]
    chosen, counts = [], {}
    for s in samples:
        if s.label not in keep:
            continue
        k = (s.label, s.split)
        limit = dict(zip(("train", "val", "test"), per_class))[s.split]
        if counts.get(k, 0) < limit:
            counts[k] = counts.get(k, 0) + 1
            chosen.append(s)
    write_manifest(dst, chosen)
    return dst


def folder_digest(folder: Path) -> Dict[str, str]:
    """sha256 of every file under ``folder`` (to show that a failing command changed nothing)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
