"""The model card inside a TorchScript file: ``_extra_files["edgeclass.json"]`` (JSON), and the one
TorchScript loader (runtime backend, export parity and card rewriting all load through it).

torch is imported inside the functions, so this module is importable without it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Tuple

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..spec import ModelCard

EXTRA_FILE = "edgeclass.json"


def save(module: Any, path: str | os.PathLike, card: ModelCard) -> Path:
    """Save a scripted or traced module with ``card``, atomically."""
    import torch

    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(module, str(tmp), _extra_files={EXTRA_FILE: card.to_json()})
    return Path(path)


def _load(path: str | os.PathLike, device: Any) -> Tuple[Any, str]:
    """(module, card JSON or "" when the file has none)."""
    import torch

    extra = {EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as e:  # a truncated or foreign file
        raise EdgeclassError(f"{path} is not a loadable TorchScript model: {str(e).splitlines()[0][:200]}") from None
    return module, extra[EXTRA_FILE]


def load(path: str | os.PathLike, device: Any = "cpu") -> Tuple[Any, ModelCard]:
    """(module in eval mode on ``device``, its card); a TorchScript file without our card is not ours."""
    module, text = _load(path, device)
    if not text:
        raise EdgeclassError(
            f"{path} has no edgeclass model card (TorchScript extra file {EXTRA_FILE!r} is missing); export it with `edgeclass export`"
        )
    return module.eval(), ModelCard.from_json(text)


def read_card(path: str | os.PathLike) -> ModelCard:
    return load(path)[1]


def write_card(path: str | os.PathLike, card: ModelCard) -> None:
    module, _old = _load(path, "cpu")
    save(module, path, card)
