"""The model card of a TensorRT engine: the engine file stays a plain serialized plan (trtexec and
DeepStream load it), so the card lives in the sidecar ``model.<precision>.engine.json`` (key ``card``)
next to it, with what the engine was built from and for (see ``edgeclass.engine.sidecar``).

Plain JSON: no TensorRT here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

from ..errors import EdgeclassError
from ..fileio import write_text_atomic
from ..spec import ModelCard


def sidecar_path(engine: str | os.PathLike) -> Path:
    """``model.fp16.engine`` -> ``model.fp16.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def write_sidecar(path: str | os.PathLike, doc: Any) -> Path:
    """Sidecar JSON (sorted keys, indented), atomically."""
    return write_text_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def read_card(path: str | os.PathLike) -> ModelCard:
    """The card in an engine's sidecar (key ``card``, or the sidecar is the card itself)."""
    sidecar = sidecar_path(path)
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EdgeclassError(f"cannot read the engine sidecar {sidecar}: {e}") from None
    card = doc.get("card", doc) if isinstance(doc, dict) else doc
    if not isinstance(card, dict):
        raise EdgeclassError(f"{sidecar} holds no model card; rebuild the engine with `edgeclass engine`")
    return ModelCard.from_dict(card)


def write_card(path: str | os.PathLike, card: ModelCard) -> None:
    """The engine itself is opaque; its card lives in the sidecar, whose other keys are kept."""
    sidecar = sidecar_path(path)
    try:
        doc: Dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        doc = {"card": {}}
    except (OSError, ValueError) as e:
        raise EdgeclassError(f"cannot read the engine sidecar {sidecar}: {e}") from None
    if isinstance(doc, dict) and isinstance(doc.get("card"), (dict, str)):
        doc["card"] = card.to_dict()
    else:  # the sidecar is the card itself
        doc = card.to_dict()
    write_sidecar(sidecar, doc)


def follow_source_digest(onnx_path: Path, old_sha: str, new_sha: str) -> List[Path]:
    """Engines record the sha256 of the ONNX they were built from and call themselves stale when it
    changes. A new card changes the file's digest but not a single weight, so every sidecar next to
    it that matched the old digest is moved to the new one (a sidecar that did not match was already
    stale and stays so). Returns the sidecars updated."""
    updated = []
    for sidecar in sorted(onnx_path.parent.glob("*.engine.json")):
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        src = doc.get("source_onnx") if isinstance(doc, dict) else None
        if not isinstance(src, dict) or src.get("file") != onnx_path.name or src.get("sha256") != old_sha:
            continue
        src["sha256"] = new_sha
        write_sidecar(sidecar, doc)
        updated.append(sidecar)
    return updated
