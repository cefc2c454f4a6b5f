"""What `edgeclass export` was pointed at: a run folder or a checkpoint file, and where outputs go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..runs import Run, checkpoint_file


@dataclass(frozen=True)
class ExportSource:
    checkpoint: Path  # the weights to export
    out_dir: Path  # where artifacts are written (next to the weights unless --out)
    run: Run  # the run the checkpoint belongs to (its config.json names the dataset, when there is one)


def resolve_checkpoint(path: str | os.PathLike, out: Optional[str | os.PathLike] = None) -> ExportSource:
    """A run folder means its ``weights/best.pt`` (else ``last.pt``); a file means that checkpoint."""
    ckpt = checkpoint_file(path)
    out_dir = Path(out) if out is not None else ckpt.parent
    return ExportSource(checkpoint=ckpt, out_dir=out_dir, run=Run.find(ckpt))
