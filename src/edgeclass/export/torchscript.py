"""TorchScript export: a traced module with the model card in ``_extra_files``.

Tracing (not scripting) because the models are plain feed-forward networks and a traced graph loads in
libtorch and in a Python that has only torch: no edgeclass classes are referenced.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Tuple

import torch

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..spec import TORCHSCRIPT_EXTRA_FILE, ModelCard


def export_torchscript(model: torch.nn.Module, card: ModelCard, path: Path, example: torch.Tensor) -> Path:
    """Trace ``model`` (eval mode, no grad) on ``example`` and save it with the card."""
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace is deprecated in favour of torch.export
        traced = torch.jit.trace(model, example, check_trace=False)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(traced, str(tmp), _extra_files={TORCHSCRIPT_EXTRA_FILE: card.to_json()})
    return path


def load_torchscript(path: str | os.PathLike) -> Tuple[torch.jit.ScriptModule, ModelCard]:
    """(module in eval mode, its card); a TorchScript file without our card is not ours."""
    extra = {TORCHSCRIPT_EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise EdgeclassError(f"{path} is not a readable TorchScript file ({str(e).splitlines()[0][:160]})") from None
    if not extra[TORCHSCRIPT_EXTRA_FILE]:
        raise EdgeclassError(f"{path} has no edgeclass model card ({TORCHSCRIPT_EXTRA_FILE}); export it with `edgeclass export`")
    return module.eval(), ModelCard.from_json(extra[TORCHSCRIPT_EXTRA_FILE])
