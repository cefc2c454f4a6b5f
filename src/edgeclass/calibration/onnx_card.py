"""The model card inside an ONNX file (``metadata_props`` key ``edgeclass.model_card``).

Lives in ``calibration`` because both ``calibration`` and ``export`` read and write ONNX files and
``calibration`` may not import ``export``. Works on an ``onnx.ModelProto``; ``onnx`` itself is only
imported by ``load_onnx``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import EdgeclassError
from ..spec import ONNX_METADATA_KEY, ModelCard, card_from_onnx_metadata, onnx_metadata


def load_onnx(path: str | os.PathLike) -> Any:
    """``onnx.ModelProto`` of a self-contained ONNX file; a missing or unreadable file is a one-line error."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EdgeclassError(f"ONNX file {path} does not exist")
    try:
        return onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError, external data missing, ...
        raise EdgeclassError(f"{path} is not a readable ONNX model ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__})") from None


def onnx_card(model: Any, source: str = "model") -> ModelCard:
    """The model card of an ONNX model; a model without one is not ours (one-line error)."""
    return card_from_onnx_metadata(onnx_metadata(model), source)


def set_onnx_card(model: Any, card: ModelCard) -> None:
    """Store (or replace) the card in ``model.metadata_props``."""
    for prop in list(model.metadata_props):
        if prop.key == ONNX_METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key = ONNX_METADATA_KEY
    entry.value = card.to_json()
