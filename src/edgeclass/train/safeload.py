"""The one way edgeclass reads a PyTorch file a user gives it: ``torch.load(weights_only=True)``,
with failures turned into one line that says which kind of problem it is."""

from __future__ import annotations

import os
from typing import Any

import torch

from ..errors import EdgeclassError


def load_weights_only(path: str | os.PathLike) -> Any:
    """Tensors, dicts, lists and numbers from ``path``; never runs code from the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # refused pickle, truncated file, text file, zip that is not torch's
        if "Unsupported global" in str(e):  # a pickle that names code to run: refused by weights_only
            raise EdgeclassError(
                f"{path} would need unsafe unpickling to load; edgeclass only loads plain tensor checkpoints"
            ) from None
        raise EdgeclassError(f"{path} is not a PyTorch checkpoint file (torch.load failed: {type(e).__name__})") from None
