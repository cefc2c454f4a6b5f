"""``load_dataset``: a dataset with its train/val/test split, from a manifest, pre-split folders, or
a grouped split made now. Above both ``manifest`` and ``split``, so neither imports the other back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

from ..errors import EdgeclassError
from .manifest import MANIFEST_NAME, SPLITS, Dataset, cut_short, discover, excluded_of, read_manifest, recorded_warnings
from .split import split_dataset


def load_dataset(
    root: str | os.PathLike,
    manifest: Optional[str | os.PathLike] = None,
    ratios: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> Dataset:
    """Resolve a dataset with splits: an explicit manifest, ``ROOT/splits.csv``, pre-split folders,
    or else a grouped split made now (``source == "split-on-the-fly"``; the caller saves the manifest).
    Every split must hold every class. ``excluded`` lists the image files left out and why (from the
    manifest's record, or from the split made now); ``warnings`` what the caller should print.
    """
    root = Path(root)
    mpath = Path(manifest) if manifest else root / MANIFEST_NAME
    if manifest or mpath.is_file():
        if not root.is_dir():
            raise EdgeclassError(f"data folder {root} does not exist")
        samples, digest = read_manifest(mpath)
        missing = [s.path for s in samples if not os.path.lexists(root / s.path)]
        if missing:
            raise EdgeclassError(
                f"{len(missing)} files in {mpath} are missing under {root} (first: {missing[0]}); re-run `edgeclass data split {root}`"
            )
        classes = sorted({s.label for s in samples})
        short = cut_short(mpath, samples, digest)
        ds = Dataset(root=root, classes=classes, samples=samples, source="manifest", manifest_sha256=digest,
                     excluded=excluded_of(mpath), warnings=recorded_warnings(mpath))
        if short:
            ds.warnings.insert(0, f"{short}: cut short? re-run `edgeclass data split {root}`")
    else:  # class folders: a grouped, stratified split (near-duplicates kept together)
        ds = discover(root)
        if ds.source == "folders":
            ds = split_dataset(ds, ratios=ratios, seed=seed)
            ds.source = "split-on-the-fly"
    if len(ds.classes) < 2:
        raise EdgeclassError(f"{root} has fewer than two classes")
    for sp in SPLITS:
        if not ds.split(sp):
            hint = f"; {ds.warnings[0]}" if ds.warnings else " (add images or change --ratios)"
            raise EdgeclassError(f"split '{sp}' of {root} has no images{hint}")
        have = {s.label for s in ds.split(sp)}
        missing_cls = sorted(set(ds.classes) - have)
        if missing_cls:
            raise EdgeclassError(
                f"split '{sp}' has no images of: {', '.join(missing_cls)} (add images or change --ratios)"
            )
    return ds
