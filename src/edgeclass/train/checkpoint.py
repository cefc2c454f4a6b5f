"""Checkpoints of a model: made from a network, loaded back into one. The file format (a dict that
loads with ``torch.load(weights_only=True)``, the card inside it, the safe loader) is
``edgeclass.artifacts.checkpoint``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Tuple

import torch

from ..artifacts.checkpoint import FORMAT, card_of, load_checkpoint, save_checkpoint
from ..errors import EdgeclassError
from ..spec import ModelCard
from .models import EdgeClassifier, build_model

__all__ = ["card_of", "load_checkpoint", "load_model", "load_weights_into", "make_checkpoint", "save_checkpoint"]


def make_checkpoint(model: EdgeClassifier, card: ModelCard, **extra: Any) -> Dict[str, Any]:
    net = model.module.net if hasattr(model, "module") else model.net  # unwrap DDP
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"format": FORMAT, "card": card.to_json(), "model": state, **extra}


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
