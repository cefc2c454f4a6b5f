"""Write an updated model card back into an artifact, in the place where that format keeps it.

``edgeclass eval --split val`` chooses the "unknown" threshold and stores it in the card of the very
artifact it evaluated, so that the runtime picks it up without a separate file. Where the card lives:

- checkpoint ``.pt``: dict key ``card`` (JSON string);
- TorchScript ``.ts``: ``_extra_files["edgeclass.json"]``;
- ONNX ``.onnx``: ``metadata_props`` key ``edgeclass.model_card``;
- TensorRT ``.engine``: the sidecar ``<engine>.json`` (key ``card``, or the card itself).

Every write is atomic (temp file, fsync, rename), so a kill never leaves a half-written model.
torch and onnx are imported only for the format that needs them.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..spec import TORCHSCRIPT_EXTRA_FILE, ModelCard, sha256_file

CARD_SUFFIXES = (".pt", ".ts", ".onnx", ".engine")


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` and move ``tmp`` over ``path`` only once it is complete on disk."""
    with atomic_path(path) as tmp:
        write(tmp)


def engine_sidecar(path: Path) -> Path:
    """``model.fp16.engine`` -> ``model.fp16.engine.json``."""
    return path.with_name(path.name + ".json")


def _write_checkpoint_card(path: Path, card: ModelCard) -> None:
    from ..train.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(path)
    ckpt["card"] = card.to_json()
    save_checkpoint(path, ckpt)


def _write_torchscript_card(path: Path, card: ModelCard) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notices
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # a truncated or foreign file
            raise EdgeclassError(f"{path} is not a readable TorchScript file ({str(e).splitlines()[0][:160]})") from None
        extra = {TORCHSCRIPT_EXTRA_FILE: card.to_json()}
        _atomic_write(path, lambda tmp: torch.jit.save(module, str(tmp), _extra_files=extra))


def _write_onnx_card(path: Path, card: ModelCard) -> None:
    import onnx

    from ..calibration.onnx_card import load_onnx, set_onnx_card

    before = sha256_file(path)
    model = load_onnx(path)
    set_onnx_card(model, card)
    _atomic_write(path, lambda tmp: onnx.save(model, str(tmp)))
    follow_engine_sidecars(path, before, sha256_file(path))


def follow_engine_sidecars(onnx_path: Path, old_sha: str, new_sha: str) -> List[Path]:
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
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        _atomic_write(sidecar, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        updated.append(sidecar)
    return updated


def _write_engine_card(path: Path, card: ModelCard) -> None:
    """The engine itself is opaque; its card lives in the sidecar, whose other keys are kept."""
    sidecar = engine_sidecar(path)
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
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    _atomic_write(sidecar, lambda tmp: tmp.write_text(text, encoding="utf-8"))


_WRITERS = {
    ".pt": _write_checkpoint_card,
    ".ts": _write_torchscript_card,
    ".onnx": _write_onnx_card,
    ".engine": _write_engine_card,
}


def write_card(path: str | os.PathLike, card: ModelCard) -> Path:
    """Replace the model card stored in the artifact at ``path`` (weights are left untouched)."""
    path = Path(path)
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise EdgeclassError(f"cannot store a model card in {path.name} (supported: {', '.join(CARD_SUFFIXES)})")
    if not path.is_file():
        raise EdgeclassError(f"model {path} does not exist")
    writer(path, card.validate())
    return path
