"""Training configuration: one dataclass, filled from a named recipe and command-line overrides.

A recipe is a small preset of the fields that decide how a model learns (optimizer, schedule,
augmentation, freezing, epochs, batch). Every field can be overridden (``--lr 3e-4``); the resolved
configuration is what ``config.json`` and every checkpoint store.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from ..data import AUGMENTATIONS
from ..errors import EdgeclassError
from .archs import ARCH_NAMES, arch_info

ARCHS = ARCH_NAMES  # what ``models.build_network`` can build (the table in archs.py)
OPTIMIZERS = ("adam", "adamw", "sgd")
HEADS = ("linear",)  # the people issue (12) adds cosine and arcface heads (logits + embedding)
SCHEDULERS = ("step", "cosine", "constant")


@dataclass
class TrainConfig:
    # what to train on / what to train
    data: str = ""
    arch: str = "resnet18"
    recipe: str = "default"
    weights: str = "auto"  # auto = imagenet where torchvision has it (all but simplecnn); or none / imagenet / PATH
    manifest: Optional[str] = None  # explicit manifest (default: ROOT/splits.csv when present)
    # recipe fields
    epochs: int = 30
    batch: int = 64
    val_batch: int = 100
    imgsz: int = 224
    crop_ratio: Optional[float] = None  # eval crop / resize; None: the weights' own (ImageNet: 224/256)
    head: str = "linear"  # the classification head; linear until issue 12 adds arcface
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.05
    scheduler: str = "cosine"
    warmup_epochs: float = 1.0  # cosine: linear warm-up from lr/100
    step_size: int = 5  # step: multiply lr by gamma every step_size epochs
    gamma: float = 0.1
    label_smoothing: float = 0.1
    augment: str = "standard"  # none | flip | standard (see edgeclass.data.datasets.Augment)
    unfreeze_from: Optional[str] = None  # e.g. layer4.0.conv1: every parameter before it is frozen
    unfreeze_schedule: Optional[str] = None  # e.g. 0:fc,3:layer4,6:layer3
    unfreeze_lr_decay: float = 0.3  # each stage listed later in the schedule: lr x this factor
    patience: int = 0  # stop after this many epochs without a better val top-1 (0 = never)
    # where / how
    project: str = "runs"
    name: str = ""
    exist_ok: bool = False
    device: str = "auto"
    workers: int = -1  # DataLoader worker processes; -1 = auto
    seed: int = 0
    stop_after: int = 0  # stop this invocation after N epochs (as if killed; resume with --resume)
    amp: bool = True  # automatic mixed precision on CUDA
    ratios: Tuple[float, float, float] = (0.7, 0.15, 0.15)  # only for splitting on the fly

    def validate(self) -> "TrainConfig":
        arch = arch_info(self.arch)
        if self.optimizer not in OPTIMIZERS:
            raise EdgeclassError(f"unknown optimizer {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        if self.scheduler not in SCHEDULERS:
            raise EdgeclassError(f"unknown scheduler {self.scheduler!r} (choose from {', '.join(SCHEDULERS)})")
        if self.augment not in AUGMENTATIONS:
            raise EdgeclassError(f"unknown augmentation {self.augment!r} (choose from {', '.join(AUGMENTATIONS)})")
        for name in ("epochs", "batch", "val_batch"):
            if getattr(self, name) < 1:
                raise EdgeclassError(f"--{name.replace('_', '-')} must be at least 1")
        for name, ok, what in (
            ("lr", lambda v: v > 0, "positive"), ("weight_decay", lambda v: v >= 0, "0 or more"),
            ("warmup_epochs", lambda v: v >= 0, "0 or more"), ("gamma", lambda v: 0 < v <= 1, "in (0, 1]"),
            ("label_smoothing", lambda v: 0 <= v < 1, "in [0, 1)"), ("unfreeze_lr_decay", lambda v: 0 < v <= 1, "in (0, 1]"),
            ("momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
        ):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and ok(value)):
                raise EdgeclassError(f"--{name.replace('_', '-')} must be a finite number {what} (got {value})")
        for name, low in (("step_size", 1), ("patience", 0), ("stop_after", 0), ("seed", 0)):
            if getattr(self, name) < low:
                raise EdgeclassError(f"--{name.replace('_', '-')} must be at least {low}")
        if self.crop_ratio is not None and not 0.2 <= self.crop_ratio <= 1.0:
            raise EdgeclassError(f"--crop-ratio {self.crop_ratio:g}: give crop / resize in [0.2, 1] (1 = no crop)")
        if self.head not in HEADS:
            raise EdgeclassError(f"unknown head {self.head!r} (choose from {', '.join(HEADS)})")
        if self.arch == "simplecnn" and self.imgsz % 4:
            raise EdgeclassError(f"simplecnn needs an image size divisible by 4 (got {self.imgsz})")
        if self.imgsz < arch.min_imgsz:
            raise EdgeclassError(f"{self.arch} needs an input of at least {arch.min_imgsz} px (got --imgsz {self.imgsz})")
        if self.unfreeze_from and self.unfreeze_schedule:
            raise EdgeclassError("use either --unfreeze-from or --unfreeze-schedule, not both")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise EdgeclassError(f"unknown device {self.device!r} (choose auto, cpu or cuda)")
        return self

    def resolved_weights(self) -> str:
        if self.weights == "auto":
            return "imagenet" if arch_info(self.arch).has_imagenet else "none"
        return self.weights

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ratios"] = list(self.ratios)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "ratios" in d:
            d["ratios"] = tuple(d["ratios"])
        return cls(**d)


# the face recipe's freezing: the last stage and the head train, everything before stays as pretrained; the
# best of six schedules in benchmarks/face_recipe.py (docs/training.md#face)
FACE_UNFREEZE_FROM = "-1"


@dataclass(frozen=True)
class Recipe:
    """A named preset: the fields of TrainConfig it sets."""

    name: str
    description: str
    fields: Dict[str, Any] = field(default_factory=dict)


RECIPES: Dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "default",
            "modern fine-tuning: AdamW, cosine with warm-up, label smoothing, RandomResizedCrop + flip + colour jitter",
            dict(optimizer="adamw", lr=1e-3, weight_decay=0.05, scheduler="cosine", warmup_epochs=1.0, label_smoothing=0.1,
                 augment="standard", epochs=30, batch=64, val_batch=100, patience=10),
        ),
        Recipe(
            "seed-resnet101",
            "the original ResNet-101 recipe: Adam lr 1e-4, StepLR(5, 0.1), batch 180, 100 epochs, layers before layer4.0.conv1 frozen",
            dict(optimizer="adam", lr=1e-4, weight_decay=0.0, scheduler="step", step_size=5, gamma=0.1, warmup_epochs=0.0,
                 label_smoothing=0.0, augment="flip", epochs=100, batch=180, val_batch=100, unfreeze_from="layer4.0.conv1"),
        ),
        Recipe(
            "seed-resnet152",
            "the original ResNet-152 recipe: as seed-resnet101 with 10 epochs and every layer trainable",
            dict(optimizer="adam", lr=1e-4, weight_decay=0.0, scheduler="step", step_size=5, gamma=0.1, warmup_epochs=0.0,
                 label_smoothing=0.0, augment="flip", epochs=10, batch=180, val_batch=100, unfreeze_from=None),
        ),
        Recipe(
            "face",
            "person recognition on aligned face crops: 112 px, the whole crop (no centre cut), mild near-square crops + "
            "flip + colour jitter 0.3, the last stage + head trained (head: linear until issue 12 adds arcface)",
            dict(optimizer="adamw", lr=1e-3, weight_decay=0.05, scheduler="cosine", warmup_epochs=1.0, label_smoothing=0.1,
                 augment="face", epochs=30, batch=64, val_batch=100, imgsz=112, crop_ratio=1.0, patience=10,
                 unfreeze_from=FACE_UNFREEZE_FROM, head="linear"),
        ),
        Recipe(
            "demo",
            "make demo: small CNN at 32 px, 12 epochs, AdamW + cosine, no flips (digits are not symmetric)",
            dict(optimizer="adamw", lr=3e-3, weight_decay=1e-4, scheduler="cosine", warmup_epochs=0.5, label_smoothing=0.0,
                 augment="none", epochs=12, batch=32, val_batch=256, imgsz=32, workers=0, arch="simplecnn"),
        ),
    )
}


def resolve_config(recipe: str = "default", **overrides: Any) -> TrainConfig:
    """The recipe's fields, then every override that is not None, validated."""
    if recipe not in RECIPES:
        raise EdgeclassError(f"unknown recipe {recipe!r} (choose from {', '.join(RECIPES)})")
    values: Dict[str, Any] = dict(RECIPES[recipe].fields)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for k, v in overrides.items():
        if k not in known:
            raise TypeError(f"unknown training option {k}")
        if v is not None:
            values[k] = v
    if overrides.get("unfreeze_schedule") and overrides.get("unfreeze_from") is None:
        values["unfreeze_from"] = None  # a schedule given on the command line replaces the recipe's freezing
    if overrides.get("unfreeze_from") is not None and not overrides.get("unfreeze_schedule"):
        values["unfreeze_schedule"] = None  # ...and so does --unfreeze-from (the face recipe has a schedule)
    return TrainConfig(recipe=recipe, **values).validate()
