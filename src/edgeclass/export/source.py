"""What `edgeclass export` was pointed at: a run folder or a checkpoint file, and where outputs go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import EdgeclassError

CHECKPOINT_NAMES = ("best.pt", "last.pt")


@dataclass(frozen=True)
class ExportSource:
    checkpoint: Path  # the weights to export
    out_dir: Path  # where artifacts are written (next to the weights unless --out)
    run_dir: Optional[Path]  # the run folder (config.json, splits.csv) when there is one


def run_dir_of(weights_file: Path) -> Optional[Path]:
    """``runs/x`` for ``runs/x/weights/best.pt``; a folder with a config.json next to the file otherwise."""
    parent = weights_file.parent
    if parent.name == "weights":
        return parent.parent
    return parent if (parent / "config.json").is_file() else None


def resolve_checkpoint(path: str | os.PathLike, out: Optional[str | os.PathLike] = None) -> ExportSource:
    """A run folder means its ``weights/best.pt`` (else ``last.pt``); a file means that checkpoint."""
    path = Path(path)
    if path.is_dir():
        weights = path / "weights"
        found = next((weights / n for n in CHECKPOINT_NAMES if (weights / n).is_file()), None)
        if found is None:
            raise EdgeclassError(f"run folder {path} has no weights/best.pt or weights/last.pt; train a model first (`edgeclass train`)")
        ckpt = found
    elif path.is_file():
        ckpt = path
    else:
        raise EdgeclassError(f"{path} does not exist (give a run folder such as runs/demo or a .pt checkpoint)")
    out_dir = Path(out) if out is not None else ckpt.parent
    return ExportSource(checkpoint=ckpt, out_dir=out_dir, run_dir=run_dir_of(ckpt))
