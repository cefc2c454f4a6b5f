"""Dataset discovery and the split manifest (``splits.csv``); ``load`` resolves a dataset with splits.

A dataset root is either class-per-folder (``ROOT/<class>/<images>``) or pre-split
(``ROOT/{train,val,test}/<class>/<images>``). The manifest lists every image once:
``path`` (relative to ROOT, POSIX), ``class``, ``split``, ``sha256``, ``group``. Nothing is copied.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ..errors import EdgeclassError
from ..fileio import write_bytes_atomic
from ..preprocess import is_image_file

MANIFEST_NAME = "splits.csv"
SPLITS = ("train", "val", "test")
MANIFEST_FIELDS = ("path", "class", "split", "sha256", "group")


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the dataset root, POSIX separators
    label: str
    split: str = ""  # train / val / test ("" before splitting)
    sha256: str = ""
    group: str = ""

    def with_split(self, split: str) -> "Sample":
        return replace(self, split=split)


@dataclass
class Dataset:
    """A resolved dataset: where it lives, its classes (sorted) and every sample with its split."""

    root: Path
    classes: List[str]
    samples: List[Sample]
    source: str  # "manifest", "presplit" or "split-on-the-fly"
    manifest_sha256: str = ""
    skipped: List[str] = field(default_factory=list)  # non-image files seen during discovery

    def split(self, name: str) -> List[Sample]:
        return [s for s in self.samples if s.split == name]

    def abspath(self, s: Sample) -> Path:
        return self.root / s.path

    def counts(self) -> Dict[str, Dict[str, int]]:
        """counts[split][class] -> number of images."""
        out: Dict[str, Dict[str, int]] = {sp: {c: 0 for c in self.classes} for sp in SPLITS}
        for s in self.samples:
            if s.split in out:
                out[s.split][s.label] = out[s.split].get(s.label, 0) + 1
        return out


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__")


def _images_under(folder: Path) -> Tuple[List[Path], List[Path]]:
    """(images, other files) below ``folder``, recursive, sorted, hidden entries ignored."""
    images, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for fn in sorted(filenames):
            if _is_hidden(fn):
                continue
            p = Path(dirpath) / fn
            (images if is_image_file(p) else others).append(p)
    return images, others


def _class_dirs(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not _is_hidden(p.name))


def is_presplit(root: Path) -> bool:
    return (root / "train").is_dir() and any((root / s).is_dir() for s in ("val", "test"))


def discover(root: str | os.PathLike) -> Dataset:
    """Find every image under a class-per-folder or pre-split tree.

    Raises EdgeclassError for a missing/empty root, fewer than two classes, or a class without images.
    Files with other extensions are listed in ``Dataset.skipped``.
    """
    root = Path(root)
    if not root.is_dir():
        raise EdgeclassError(f"data folder {root} does not exist (give a folder with one sub-folder of images per class)")
    samples: List[Sample] = []
    skipped: List[str] = []
    presplit = is_presplit(root)
    split_dirs = [(s, root / s) for s in SPLITS if (root / s).is_dir()] if presplit else [("", root)]
    per_split_classes: Dict[str, List[str]] = {}
    for split, folder in split_dirs:
        classes = []
        for cdir in _class_dirs(folder):
            images, others = _images_under(cdir)
            skipped.extend(p.relative_to(root).as_posix() for p in others)
            if not images:
                where = f"{split}/{cdir.name}" if split else cdir.name
                raise EdgeclassError(f"class folder {root / where} has no images (jpg, jpeg, png, bmp, webp); add images or remove it")
            classes.append(cdir.name)
            samples.extend(Sample(p.relative_to(root).as_posix(), cdir.name, split) for p in images)
        per_split_classes[split] = classes
    classes = sorted({s.label for s in samples})
    if not samples:
        raise EdgeclassError(f"no images found in {root} (expected {root}/<class>/<images> or {root}/train/<class>/<images>)")
    if len(classes) < 2:
        raise EdgeclassError(f"{root} has {len(classes)} class; a classifier needs at least two class folders")
    if presplit:
        for split, names in per_split_classes.items():
            missing = sorted(set(classes) - set(names))
            if missing:
                raise EdgeclassError(f"split '{split}' in {root} lacks classes: {', '.join(missing)}")
    return Dataset(root=root, classes=classes, samples=samples, source="presplit" if presplit else "folders", skipped=skipped)


def write_manifest(path: str | os.PathLike, samples: Sequence[Sample]) -> str:
    """Write the manifest atomically; returns its sha256."""
    path = Path(path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_FIELDS)
    for s in sorted(samples, key=lambda s: (s.split, s.label, s.path)):
        w.writerow((s.path, s.label, s.split, s.sha256, s.group))
    data = buf.getvalue().encode("utf-8")
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: str | os.PathLike) -> Tuple[List[Sample], str]:
    """(samples, sha256 of the file). Raises EdgeclassError for a file that is not our manifest."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EdgeclassError(f"cannot read manifest {path}: {e.strerror}") from None
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))
    if not rows or tuple(rows[0][: len(MANIFEST_FIELDS)]) != MANIFEST_FIELDS:
        raise EdgeclassError(f"{path} is not an edgeclass manifest (expected header {','.join(MANIFEST_FIELDS)})")
    samples = []
    for i, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        if len(r) < len(MANIFEST_FIELDS) or r[2] not in SPLITS:
            raise EdgeclassError(f"{path}:{i}: malformed manifest row")
        samples.append(Sample(r[0], r[1], r[2], r[3], r[4]))
    return samples, hashlib.sha256(data).hexdigest()
