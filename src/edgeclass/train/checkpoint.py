"""Checkpoints: one dict of tensors and plain values that loads with ``torch.load(weights_only=True)``.

Keys: ``format`` (CHECKPOINT_FORMAT), ``card`` (model card JSON), ``model`` (``net`` state dict,
torchvision names), and during training ``optimizer``, ``scheduler``, ``epoch``, ``best_metric``,
``rng`` and ``config``. Written atomically: temp file, fsync, rename.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Tuple

import torch

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..spec import CHECKPOINT_FORMAT, ModelCard
from .models import EdgeClassifier, build_model
from .safeload import load_weights_only


def make_checkpoint(model: EdgeClassifier, card: ModelCard, **extra: Any) -> Dict[str, Any]:
    net = model.module.net if hasattr(model, "module") else model.net  # unwrap DDP
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"format": CHECKPOINT_FORMAT, "card": card.to_json(), "model": state, **extra}


def save_checkpoint(path: str | os.PathLike, ckpt: Dict[str, Any]) -> Path:
    """Atomic write: a reader (or a kill) never sees a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> Dict[str, Any]:
    """Load our checkpoint safely (weights_only). Anything else is a one-line EdgeclassError."""
    path = Path(path)
    if path.is_dir():
        raise EdgeclassError(f"{path} is a folder; give a checkpoint file such as {path}/weights/best.pt")
    if not path.is_file():
        raise EdgeclassError(f"checkpoint {path} does not exist")
    ckpt = load_weights_only(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "card" not in ckpt or "model" not in ckpt:
        raise EdgeclassError(f"{path} is not an edgeclass checkpoint")
    return ckpt


def card_of(ckpt: Dict[str, Any]) -> ModelCard:
    return ModelCard.from_json(ckpt["card"])


def load_weights_into(model: EdgeClassifier, ckpt: Dict[str, Any], source: str) -> None:
    net = model.module.net if hasattr(model, "module") else model.net
    try:
        net.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        first = [ln.strip() for ln in str(e).splitlines() if ln.strip()][1:2]
        what = ""
        if isinstance(ckpt.get("card"), str):
            from .weights import card_summary

            what = f" (it is {card_summary(card_of(ckpt))})"
        raise EdgeclassError(
            f"{source} does not fit this model (different arch or class count{what}): {first[0][:200] if first else e}"
        ) from None


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Tuple[EdgeClassifier, ModelCard]:
    """(model in eval mode on ``device``, its card) from a checkpoint file."""
    ckpt = load_checkpoint(path)
    card = card_of(ckpt)
    model = build_model(card)
    load_weights_into(model, ckpt, str(path))
    return model.to(device).eval(), card
