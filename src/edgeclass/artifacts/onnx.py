"""The model card inside an ONNX file: ``metadata_props`` key ``edgeclass.model_card`` (JSON).

ONNX Runtime shows the same entry as ``custom_metadata_map`` and TensorRT's ONNX parser ignores it, so
the card rides along without touching the graph. ``onnx`` is imported only by the functions that read
or write files; the card functions work on any ``onnx.ModelProto``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..spec import ModelCard, sha256_file

METADATA_KEY = "edgeclass.model_card"


def card_from_metadata(meta: Dict[str, str], source: str) -> ModelCard:
    """The card stored under ``METADATA_KEY`` (from ``metadata`` or onnxruntime's
    ``custom_metadata_map``); an ONNX file without one is not ours: a one-line error."""
    text = meta.get(METADATA_KEY)
    if text is None:
        raise EdgeclassError(f"{source} has no edgeclass model card (ONNX metadata {METADATA_KEY}); export it with `edgeclass export`")
    return ModelCard.from_json(text)


def metadata(model: Any) -> Dict[str, str]:
    """``metadata_props`` of an ``onnx.ModelProto`` as a dict."""
    return {p.key: p.value for p in model.metadata_props}


def card_of(model: Any, source: str = "model") -> ModelCard:
    """The model card of an ONNX model; a model without one is not ours (one-line error)."""
    return card_from_metadata(metadata(model), source)


def set_card(model: Any, card: ModelCard) -> None:
    """Store (or replace) the card in ``model.metadata_props``."""
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = card.to_json()


def load(path: str | os.PathLike, weights: bool = True) -> Any:
    """``onnx.ModelProto`` of an ONNX file (``weights=False``: without external weight data); a missing
    or unreadable file, or a missing ``onnx`` package, is a one-line error."""
    try:
        import onnx
    except ImportError:
        raise EdgeclassError("reading an ONNX file needs the onnx package: pip install onnx") from None
    path = Path(path)
    if not path.is_file():
        raise EdgeclassError(f"ONNX file {path} does not exist")
    try:
        return onnx.load(str(path), load_external_data=weights)
    except Exception as e:  # protobuf DecodeError, external data missing, ...
        raise EdgeclassError(f"{path} is not a readable ONNX model ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__})") from None


def save(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` as one self-contained file, atomically."""
    import onnx

    with atomic_path(path) as tmp:
        onnx.save_model(model, str(tmp), save_as_external_data=False)
    return Path(path)


def read_card(path: str | os.PathLike) -> ModelCard:
    return card_of(load(path, weights=False), str(path))


def write_card(path: str | os.PathLike, card: ModelCard) -> None:
    """Replace the card in the file. Engines built from it keep their sidecars in step (see
    ``engine.follow_source_digest``): a new card changes the file's digest but not one weight."""
    from .engine import follow_source_digest

    before = sha256_file(path)
    model = load(path)
    set_card(model, card)
    save(model, path)
    follow_source_digest(Path(path), before, sha256_file(path))
