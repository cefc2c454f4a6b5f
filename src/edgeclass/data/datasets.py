"""Torch datasets over a resolved ``Dataset`` split, and the training augmentations.

The eval dataset applies ``edgeclass.preprocess.EvalTransform`` and nothing else, so the tensor a
model sees during validation is the tensor the runtime, calibration and evaluation feed it.

An image that cannot be decoded is not an exception here: the item comes back with label -1 (and a
zero image) so that the training loop can drop it from the batch and count it. This works the same
with DataLoader worker processes, where an exception would kill the whole epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import EdgeclassError, UnreadableImage
from ..preprocess import EvalTransform, read_image
from ..spec import Preprocess
from . import AUGMENTATIONS
from .manifest import Dataset, Sample

UNREADABLE = -1  # label of an item whose image could not be decoded



@dataclass(frozen=True)
class Augment:
    """Training-time augmentation.

    ``none``: the eval transform (resize + centre crop). ``flip``: the eval transform plus a random
    horizontal flip (the seed recipes). ``standard``: RandomResizedCrop(scale) + flip + colour jitter
    (the ``default`` recipe). ``face``: for aligned face crops (the ``face`` recipe): a mild, nearly
    square random crop (80-100% of the area, aspect 0.9-1.1: the face stays whole and the alignment
    roughly in place), flip (faces are near-symmetric) and stronger colour jitter (0.3: lighting
    differs most between cameras and rooms).
    """

    kind: str = "standard"
    scale: Tuple[float, float] = (0.35, 1.0)
    hflip: bool = True
    jitter: float = 0.2  # brightness, contrast and saturation strength
    ratio: Tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratios of the random crop

    @classmethod
    def preset(cls, kind: str) -> "Augment":
        """The augmentation a recipe names (``--augment``)."""
        if kind == "face":
            return cls(kind="face", scale=(0.8, 1.0), ratio=(0.9, 1.1), jitter=0.3)
        return cls(kind=kind)


def _uniform(lo: float, hi: float) -> float:
    """A draw from torch's RNG (seeded per DataLoader worker, saved in checkpoints), not numpy's."""
    return lo + (hi - lo) * float(torch.rand(()))


def random_resized_crop_box(h: int, w: int, scale: Tuple[float, float], ratio=(3 / 4, 4 / 3)) -> Tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop covering ``scale`` of the area with an aspect ratio
    in ``ratio`` (the Inception / torchvision RandomResizedCrop rule; centre crop after 10 misses)."""
    area = h * w
    log_lo, log_hi = np.log(ratio[0]), np.log(ratio[1])
    for _ in range(10):
        target = area * _uniform(*scale)
        aspect = float(np.exp(_uniform(log_lo, log_hi)))
        cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, ()))
            left = int(torch.randint(0, w - cw + 1, ()))
            return top, left, ch, cw
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side, side


def color_jitter_(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Random brightness, contrast and saturation (each a factor in [1 - s, 1 + s]) on float CHW in
    [0, 1], in place, clamped to [0, 1]."""
    lo, hi = max(0.0, 1.0 - strength), 1.0 + strength
    x.mul_(_uniform(lo, hi))
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
    c = _uniform(lo, hi)
    x.sub_(grey.mean()).mul_(c).add_(grey.mean())
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
    x.sub_(grey).mul_(_uniform(lo, hi)).add_(grey)
    return x.clamp_(0.0, 1.0)


class TrainTransform:
    """The training preset: RGB uint8 HxWx3 -> float32 CHW in [0, 1] of size ``pp.imgsz``, randomly
    augmented (its twin for evaluation is ``edgeclass.preprocess.EvalTransform``).

    ``none``/``flip`` give the eval tensor itself (bit for bit), maybe flipped. ``standard`` does its
    geometric work with OpenCV on uint8 pixels (crop first, then one resize), several times cheaper
    than resizing tensors: on a 2-core machine the data pipeline shares the cores with the model, so
    its cost shows up directly in images/s."""

    def __init__(self, aug: Augment, pp: Preprocess):
        if aug.kind not in AUGMENTATIONS:
            raise EdgeclassError(f"unknown augmentation {aug.kind!r} (choose from {', '.join(AUGMENTATIONS)})")
        self.aug, self.pp = aug, pp
        self.flip = aug.kind in ("flip", "standard", "face") and aug.hflip
        self.eval = EvalTransform(pp)

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        if self.aug.kind not in ("standard", "face"):
            x = torch.from_numpy(self.eval(rgb))
            return torch.flip(x, dims=[2]) if self.flip and _uniform(0, 1) < 0.5 else x
        import cv2

        s = self.pp.imgsz
        top, left, ch, cw = random_resized_crop_box(rgb.shape[0], rgb.shape[1], self.aug.scale, self.aug.ratio)
        crop = rgb[top : top + ch, left : left + cw]
        crop = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA if ch * cw > s * s else cv2.INTER_LINEAR)
        if self.flip and _uniform(0, 1) < 0.5:
            crop = crop[:, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float().div_(255.0)
        return color_jitter_(x, self.aug.jitter) if self.aug.jitter > 0 else x


class ImageDataset(torch.utils.data.Dataset):
    """Items ``(image CHW float32, label, index)``; label is UNREADABLE for a file that cannot be read.
    ``transform`` is one of the two presets (default: the eval preset of ``pp``)."""

    def __init__(
        self,
        data: Dataset,
        samples: Sequence[Sample],
        pp: Preprocess,
        transform: Optional[Callable[[np.ndarray], Any]] = None,
    ):
        self.root = data.root
        self.samples = list(samples)
        self.class_to_idx = {c: i for i, c in enumerate(data.classes)}
        self.pp = pp
        self.transform = transform or EvalTransform(pp)
        self.labels = [self.class_to_idx[s.label] for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def path(self, index: int) -> str:
        return str(self.root / self.samples[index].path)

    def __getitem__(self, index: int):
        try:
            rgb = read_image(self.path(index))
        except UnreadableImage:
            return torch.zeros(3, self.pp.imgsz, self.pp.imgsz), UNREADABLE, index
        x = self.transform(rgb)
        return (torch.from_numpy(x) if isinstance(x, np.ndarray) else x), self.labels[index], index


def eval_dataset(data: Dataset, split: str, pp: Preprocess) -> ImageDataset:
    """Validation/test items, preprocessed exactly as ``edgeclass.preprocess`` does."""
    return ImageDataset(data, data.split(split), pp)


def train_dataset(data: Dataset, pp: Preprocess, aug: Augment) -> ImageDataset:
    return ImageDataset(data, data.split("train"), pp, TrainTransform(aug, pp))
