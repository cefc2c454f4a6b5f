"""TorchScript export: a traced module with the model card in ``_extra_files`` (the format itself:
``edgeclass.artifacts.torchscript``).

Tracing (not scripting) because the models are plain feed-forward networks and a traced graph loads in
libtorch and in a Python that has only torch: no edgeclass classes are referenced.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..artifacts import torchscript
from ..spec import ModelCard


def export_torchscript(model: torch.nn.Module, card: ModelCard, path: Path, example: torch.Tensor) -> Path:
    """Trace ``model`` (eval mode, no grad) on ``example`` and save it with the card."""
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace is deprecated in favour of torch.export
        traced = torch.jit.trace(model, example, check_trace=False)
    return torchscript.save(traced, path, card)
