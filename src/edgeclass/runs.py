"""The run folder: where everything of one training run lives, worked out in one place.

::

    runs/<name>/
      config.json         the resolved training config; ``data`` / ``manifest`` name its dataset
      splits.csv          the copy of the manifest the run trained with (its exact split)
      model_card.json     the card of every artifact below (class names, input size, preprocessing)
      results.csv         one row per epoch; metrics.json: test metrics of best.pt
      eval/               `edgeclass eval` reports; bench.md/.csv/.png: `edgeclass bench`
      weights/
        best.pt last.pt   checkpoints (last.pt has the optimizer state for --resume)
        model.*           every exported artifact (file names: ``edgeclass.artifacts.formats``)

``Run.find(path)`` accepts a run folder, its ``weights/`` folder, or any file inside either, with
one rule: a file stands for the folder it is in; a folder named ``weights`` belongs to its parent; a
folder with a ``weights/`` sub-folder is a run; any other folder is its own weights folder (artifacts
copied somewhere flat). Nothing here imports numpy or torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, Tuple

from .errors import EdgeclassError

WEIGHTS_DIR = "weights"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "splits.csv"  # the run's copy of its dataset's manifest (same name as the dataset's own)
CARD_FILE = "model_card.json"
RESULTS_FILE = "results.csv"
METRICS_FILE = "metrics.json"
EVAL_DIR = "eval"
CHECKPOINTS = ("best", "last")


class Named(Protocol):
    """A row of the format table (``edgeclass.artifacts.formats``): anything with a file name."""

    file_name: str


@dataclass(frozen=True)
class Run:
    root: Path  # runs/<name>
    weights: Path  # runs/<name>/weights (the root itself for a flat folder of artifacts)

    @classmethod
    def at(cls, root: str | os.PathLike) -> "Run":
        """The run folder ``root`` with the standard layout (whether or not it exists yet)."""
        root = Path(root)
        return cls(root, root / WEIGHTS_DIR)

    @classmethod
    def find(cls, path: str | os.PathLike) -> "Run":
        """The run that ``path`` (run folder, weights folder, or a file in either) belongs to."""
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        if folder.name == WEIGHTS_DIR:
            return cls(folder.parent, folder)
        if (folder / WEIGHTS_DIR).is_dir():
            return cls.at(folder)
        return cls(folder, folder)

    # -- files of the run (see the layout above) --------------------------------------------------

    config = property(lambda self: self.root / CONFIG_FILE)
    manifest = property(lambda self: self.root / MANIFEST_FILE)
    card = property(lambda self: self.root / CARD_FILE)
    results = property(lambda self: self.root / RESULTS_FILE)
    metrics = property(lambda self: self.root / METRICS_FILE)
    eval_dir = property(lambda self: self.root / EVAL_DIR)

    @property
    def has_config(self) -> bool:
        """True for a training run (its config.json is there), False for a loose folder of files."""
        return self.config.is_file()

    def checkpoint(self, which: str = "best") -> Path:
        """``weights/best.pt`` or ``weights/last.pt``."""
        if which not in CHECKPOINTS:
            raise EdgeclassError(f"unknown checkpoint {which!r} (choose from {', '.join(CHECKPOINTS)})")
        return self.weights / f"{which}.pt"

    def artifact(self, fmt: Named) -> Path:
        """Where an artifact of this format lives: ``run.artifact(formats.get("onnx"))``."""
        return self.weights / fmt.file_name

    # -- the dataset it was trained on ------------------------------------------------------------

    def dataset(self) -> Optional[Tuple[Path, Optional[Path]]]:
        """(dataset root, manifest) the run used, or None when it records no dataset.

        The manifest is the run's own copy (``runs/<name>/splits.csv``) first: it is exactly the split
        the model was trained with, so a later re-split of the dataset cannot move training images
        into this run's val/test split. Else the manifest named in config.json when it still exists,
        else None (the dataset's own ``ROOT/splits.csv``)."""
        if not self.has_config:
            return None
        try:
            cfg = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise EdgeclassError(f"cannot read {self.config} ({e}); pass --data ROOT") from None
        if not isinstance(cfg, dict) or not cfg.get("data"):
            return None
        root = self._recorded_path(str(cfg["data"]))
        if self.manifest.is_file():
            return root, self.manifest
        recorded = self._recorded_path(str(cfg["manifest"])) if cfg.get("manifest") else None
        return root, (recorded if recorded is not None and recorded.is_file() else None)

    def _recorded_path(self, value: str) -> Path:
        """A path in config.json: as written (absolute, or relative to the working directory), else
        relative to the run folder when it exists there."""
        p = Path(value)
        if p.is_absolute() or p.exists() or not (self.root / p).exists():
            return p
        return self.root / p


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The checkpoint ``path`` stands for: a run folder's ``weights/best.pt`` (else ``last.pt``), or
    the file itself."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise EdgeclassError(f"{path} does not exist (give a run folder such as runs/demo or a .pt checkpoint)")
    run = Run.find(path)
    found = next((run.checkpoint(w) for w in CHECKPOINTS if run.checkpoint(w).is_file()), None)
    if found is None:
        raise EdgeclassError(f"run folder {path} has no weights/best.pt or weights/last.pt; train a model first (`edgeclass train`)")
    return found
