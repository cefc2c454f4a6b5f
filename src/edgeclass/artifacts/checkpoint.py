"""The model card inside a checkpoint: key ``card`` (JSON) of a dict that loads with
``torch.load(weights_only=True)``, and the one way edgeclass reads a PyTorch file a user gives it.

Keys: ``format`` (``FORMAT``), ``card``, ``model`` (``net`` state dict, torchvision names), and during
training ``optimizer``, ``scheduler``, ``epoch``, ``best_metric``, ``rng`` and ``config``. Written
atomically: temp file, fsync, rename. torch is imported inside the functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..spec import ModelCard

FORMAT = "edgeclass.checkpoint.v1"


def load_weights_only(path: str | os.PathLike) -> Any:
    """Tensors, dicts, lists and numbers from ``path``; never runs code from the file. Failures are
    one line that says which kind of problem it is."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # refused pickle, truncated file, text file, zip that is not torch's
        if "Unsupported global" in str(e):  # a pickle that names code to run: refused by weights_only
            raise EdgeclassError(
                f"{path} would need unsafe unpickling to load; edgeclass only loads plain tensor checkpoints"
            ) from None
        raise EdgeclassError(f"{path} is not a PyTorch checkpoint file (torch.load failed: {type(e).__name__})") from None


def load_checkpoint(path: str | os.PathLike) -> Dict[str, Any]:
    """Load our checkpoint safely (weights_only). Anything else is a one-line EdgeclassError."""
    path = Path(path)
    if path.is_dir():
        raise EdgeclassError(f"{path} is a folder; give a checkpoint file such as {path}/weights/best.pt")
    if not path.is_file():
        raise EdgeclassError(f"checkpoint {path} does not exist")
    ckpt = load_weights_only(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "card" not in ckpt or "model" not in ckpt:
        raise EdgeclassError(f"{path} is not an edgeclass checkpoint")
    return ckpt


def save_checkpoint(path: str | os.PathLike, ckpt: Dict[str, Any]) -> Path:
    """Atomic write: a reader (or a kill) never sees a half-written checkpoint."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def card_of(ckpt: Dict[str, Any]) -> ModelCard:
    return ModelCard.from_json(ckpt["card"])


def read_card(path: str | os.PathLike) -> ModelCard:
    return card_of(load_checkpoint(path))


def write_card(path: str | os.PathLike, card: ModelCard) -> None:
    ckpt = load_checkpoint(path)
    ckpt["card"] = card.to_json()
    save_checkpoint(path, ckpt)
