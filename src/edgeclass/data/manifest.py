"""Dataset discovery and the split manifest (``splits.csv``); ``load`` resolves a dataset with splits.

A dataset root is either class-per-folder (``ROOT/<class>/<images>``) or pre-split
(``ROOT/{train,val,test}/<class>/<images>``). The manifest lists every image once:
``path`` (relative to ROOT, POSIX), ``class``, ``split``, ``sha256``, ``group``. Nothing is copied.
Beside it, ``splits.report.json`` (``record_path``) keeps what ``data split`` left out and why (files
the image reader refused, files that are not images) and the manifest's row count and sha256, so a
manifest cut short is recognised.

Hidden entries are those whose name starts with a dot (``.DS_Store``, AppleDouble ``._IMG.jpg``) and
the folders ``__MACOSX`` and ``__pycache__`` (tool droppings, never a class). A photo whose own name
starts with ``__`` is an image like any other: it is used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import EdgeclassError
from ..fileio import write_bytes_atomic, write_json_atomic
from ..image import ImageProblem, is_image_file

MANIFEST_NAME = "splits.csv"
SPLITS = ("train", "val", "test")
MANIFEST_FIELDS = ("path", "class", "split", "sha256", "group")
RECORD_SUFFIX = ".report.json"
IGNORED_FOLDERS = frozenset({"__MACOSX", "__pycache__"})


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
    excluded: List[ImageProblem] = field(default_factory=list)  # image files the reader refused
    warnings: List[str] = field(default_factory=list)

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


def is_hidden(name: str, folder: bool = False) -> bool:
    """A dot entry, or a ``__MACOSX`` / ``__pycache__`` folder (see the module docstring)."""
    return name.startswith(".") or (folder and name in IGNORED_FOLDERS)


def _images_under(folder: Path) -> Tuple[List[Path], List[Path]]:
    """(images, other files) below ``folder``, recursive, sorted, hidden entries ignored."""
    images, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d, folder=True))
        for fn in sorted(filenames):
            if is_hidden(fn):
                continue
            p = Path(dirpath) / fn
            (images if is_image_file(p) else others).append(p)
    return images, others


def image_files_under(root: Path) -> List[str]:
    """Every image file below ``root`` (relative POSIX paths, sorted; hidden entries ignored)."""
    images, _ = _images_under(root)
    return [p.relative_to(root).as_posix() for p in images]


def _class_dirs(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p.name, folder=True))


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
    warnings = []
    if presplit:
        for split, names in per_split_classes.items():
            missing = sorted(set(classes) - set(names))
            if missing:
                raise EdgeclassError(f"split '{split}' in {root} lacks classes: {', '.join(missing)}")
        warnings = [f"{root} has no {sp}/ folder: 0 {sp} images (add {root}/{sp}/<class>/... or re-split with --resplit)"
                    for sp in SPLITS if sp not in per_split_classes]
    return Dataset(root=root, classes=classes, samples=samples, source="presplit" if presplit else "folders", skipped=skipped,
                   warnings=warnings)


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
            cut = " (the file ends there: cut short?)" if i == len(rows) and not data.endswith(b"\n") else ""
            raise EdgeclassError(f"{path}:{i}: malformed manifest row{cut}; re-run `edgeclass data split`")
        rel = Path(r[0])
        if rel.is_absolute() or ".." in rel.parts or not r[0]:
            raise EdgeclassError(f"{path}:{i}: {r[0]!r} is not a path inside the dataset folder")
        samples.append(Sample(r[0], r[1], r[2], r[3], r[4]))
    return samples, hashlib.sha256(data).hexdigest()


def cut_short(path: str | os.PathLike, samples: Sequence[Sample], sha256: str) -> str:
    """Why the manifest at ``path`` looks cut short ("" when it looks whole): it does not end with a
    newline (``write_manifest`` always ends with one), or it has fewer rows than its record says."""
    path = Path(path)
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 1))
        if f.read(1) not in (b"\n", b""):
            return f"{path} ends in the middle of a line"
    record = read_record(path)
    if record and record.get("sha256") != sha256 and int(record.get("rows", 0)) > len(samples):
        return f"{path} has {len(samples)} rows but `data split` wrote {record['rows']}"
    return ""


def record_path(manifest: str | os.PathLike) -> Path:
    """``splits.csv`` -> ``splits.report.json``: what ``data split`` left out, and the manifest's size."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.stem + RECORD_SUFFIX)


def write_record(manifest: str | os.PathLike, sha256: str, rows: int, excluded: Sequence[ImageProblem],
                 not_images: Sequence[str] = (), warnings: Sequence[str] = ()) -> Path:
    """Write the manifest's record (atomically, after the manifest itself)."""
    return write_json_atomic(record_path(manifest), {
        "manifest": Path(manifest).name, "sha256": sha256, "rows": rows,
        "excluded": [p.to_dict() for p in excluded], "not_images": list(not_images), "warnings": list(warnings),
    })


def read_record(manifest: str | os.PathLike) -> Optional[Dict]:
    """The record next to ``manifest``, or None when there is none (or it is not ours)."""
    path = record_path(manifest)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "rows" in record else None


def recorded_warnings(manifest: str | os.PathLike) -> List[str]:
    """What ``data split`` warned about when it wrote ``manifest`` (e.g. no test/ folder)."""
    return [str(w) for w in (read_record(manifest) or {}).get("warnings", [])]


def excluded_of(manifest: str | os.PathLike) -> List[ImageProblem]:
    record = read_record(manifest) or {}
    return [ImageProblem.from_dict(d) for d in record.get("excluded", []) if isinstance(d, dict) and "path" in d]
