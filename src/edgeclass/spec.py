"""The model card: the single description of a model that rides inside every artifact.

The same JSON is stored inside every artifact (where, per format: ``edgeclass.artifacts``). With it,
any artifact is usable without a separate labels file: class names, input size and preprocessing
come from here.

Conventions every artifact follows:
- input: float32, NCHW, RGB, values in [0, 1] (the mean/std normalisation is inside the model);
- output: logits, float32, (batch, num_classes).

This module is plain Python (no numpy, no torch) so that every package may import it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import EdgeclassError

CARD_VERSION = 1

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RESIZE_MODES = ("shorter-crop", "stretch")
INTERPOLATIONS = ("linear", "area", "nearest", "cubic")
CROPS = ("full", "face-square", "face-aligned")  # what of a frame the model sees (edgeclass.facecrop)


@dataclass(frozen=True)
class Preprocess:
    """How a decoded RGB uint8 image becomes the model input (see ``edgeclass.preprocess``).

    ``shorter-crop``: resize the shorter side to ``resize`` (keeping aspect), centre-crop ``imgsz``.
    ``stretch``: resize straight to ``imgsz`` x ``imgsz``.
    Then scale to float32 [0, 1], HWC -> CHW. ``mean``/``std`` are applied inside the model.
    ``crop``: the region given to that transform, ``full`` frame or a face crop (``edgeclass.facecrop``).
    """

    imgsz: int = 224
    resize: int = 256
    mode: str = "shorter-crop"
    interpolation: str = "linear"
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"
    value_range: Tuple[float, float] = (0.0, 1.0)
    layout: str = "NCHW"
    crop: str = "full"

    @classmethod
    def for_size(cls, imgsz: int, crop_ratio: float = 0.875, **kwargs: Any) -> "Preprocess":
        """The standard ImageNet-style eval transform at ``imgsz`` (resize to imgsz/0.875, crop)."""
        base = cls(**kwargs)
        return base.at_size(imgsz, resize=int(round(imgsz / crop_ratio)))

    def at_size(self, imgsz: int, resize: Optional[int] = None) -> "Preprocess":
        """This transform at another input size: the one rule for changing it (training, export
        ``--imgsz``). ``resize`` scales with the crop, keeping their ratio, unless given."""
        if int(imgsz) < 8:
            raise EdgeclassError(f"image size {imgsz} is too small (use at least 8)")
        imgsz = int(imgsz)
        if resize is None:
            resize = self.resize if imgsz == self.imgsz else max(imgsz, int(round(imgsz * self.resize / self.imgsz)))
        return dataclasses.replace(self, imgsz=imgsz, resize=int(resize)).validate()

    def validate(self) -> "Preprocess":
        if self.mode not in RESIZE_MODES:
            raise EdgeclassError(f"unknown resize mode {self.mode!r} (choose from {', '.join(RESIZE_MODES)})")
        if self.crop not in CROPS:
            raise EdgeclassError(f"unknown crop {self.crop!r} (choose from {', '.join(CROPS)})")
        if self.interpolation not in INTERPOLATIONS:
            raise EdgeclassError(f"unknown interpolation {self.interpolation!r}")
        if self.mode == "shorter-crop" and self.resize < self.imgsz:
            raise EdgeclassError(f"resize {self.resize} is smaller than the crop {self.imgsz}")
        if self.channel_order != "RGB" or self.layout != "NCHW":
            raise EdgeclassError("only RGB NCHW inputs are supported")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise EdgeclassError("mean and std need three values each, std > 0")
        return self


@dataclass
class ModelCard:
    """Everything needed to use a model correctly, stored inside every artifact."""

    classes: List[str]
    arch: str
    preprocess: Preprocess = field(default_factory=Preprocess)
    precision: str = "fp32"
    # confidence below which the runtime says "unknown" (chosen on the val split by `edgeclass eval`)
    threshold: Optional[float] = None
    # dataset manifest sha256, parent artifact sha256, created time, tool versions, ...
    provenance: Dict[str, Any] = field(default_factory=dict)
    version: int = CARD_VERSION

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        s = self.preprocess.imgsz
        return (3, s, s)

    def validate(self) -> "ModelCard":
        if not isinstance(self.classes, list) or len(self.classes) < 2:
            raise EdgeclassError("a model card needs at least two class names")
        if len(set(self.classes)) != len(self.classes):
            raise EdgeclassError("duplicate class names in the model card")
        if self.threshold is not None and not 0.0 <= float(self.threshold) <= 1.0:
            raise EdgeclassError(f"threshold {self.threshold} is not in [0, 1]")
        self.preprocess.validate()
        return self

    def replace(self, **changes: Any) -> "ModelCard":
        """A copy with some fields changed (provenance is merged, not replaced)."""
        prov = dict(self.provenance)
        prov.update(changes.pop("provenance", {}) or {})
        return dataclasses.replace(self, provenance=prov, **changes)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["preprocess"]["mean"] = list(self.preprocess.mean)
        d["preprocess"]["std"] = list(self.preprocess.std)
        d["preprocess"]["value_range"] = list(self.preprocess.value_range)
        return d

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ModelCard":
        try:
            pp = dict(d.get("preprocess") or {})
            for key in ("mean", "std", "value_range"):
                if key in pp:
                    pp[key] = tuple(float(v) for v in pp[key])
            known_pp = {f.name for f in dataclasses.fields(Preprocess)}
            card = cls(
                classes=[str(c) for c in d["classes"]],
                arch=str(d["arch"]),
                preprocess=Preprocess(**{k: v for k, v in pp.items() if k in known_pp}),
                precision=str(d.get("precision", "fp32")),
                threshold=None if d.get("threshold") is None else float(d["threshold"]),
                provenance=dict(d.get("provenance") or {}),
                version=int(d.get("version", CARD_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise EdgeclassError(f"invalid model card: {e}") from None
        if card.version > CARD_VERSION:
            raise EdgeclassError(
                f"model card version {card.version} is newer than this edgeclass understands ({CARD_VERSION}); upgrade edgeclass"
            )
        return card.validate()

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelCard":
        try:
            d = json.loads(text)
        except (ValueError, TypeError) as e:
            raise EdgeclassError(f"invalid model card JSON: {e}") from None
        if not isinstance(d, dict):
            raise EdgeclassError("invalid model card JSON: not an object")
        return cls.from_dict(d)

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelCard":
        try:
            with open(path, "r", encoding="utf-8") as f:
                return cls.from_json(f.read())
        except OSError as e:
            raise EdgeclassError(f"cannot read model card {path}: {e.strerror}") from None

    def write_labels(self, path: str | os.PathLike) -> None:
        """labels.txt for other tools (edgeclass itself never needs it)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.classes) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check_class_count(card: ModelCard, num_outputs: int, source: str) -> None:
    """A model whose output width disagrees with its card cannot be labelled correctly."""
    if num_outputs != card.num_classes:
        raise EdgeclassError(
            f"{source}: the model has {num_outputs} outputs but its model card lists {card.num_classes} classes"
        )


def class_index(card: ModelCard, names: Sequence[str]) -> List[int]:
    """Indices of ``names`` in the card; an unknown class is an error naming it."""
    lookup = {c: i for i, c in enumerate(card.classes)}
    missing = sorted({n for n in names if n not in lookup})
    if missing:
        raise EdgeclassError(f"classes not known to the model: {', '.join(missing)} (model knows {', '.join(card.classes)})")
    return [lookup[n] for n in names]
