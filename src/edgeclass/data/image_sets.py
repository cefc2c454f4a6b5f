"""Preprocessed image sets drawn from one split, read through the shared preprocessing.

``calibration_images`` is the one source of calibration tensors for every INT8 calibrator (ONNX
Runtime in `edgeclass calibrate`, TensorRT's implicit calibrator in `edgeclass engine --calibrator`):
TRAIN images only (never val/test, which judge the result), stratified by class so that a small set
still covers every class. Val images feed export parity checks, test images the INT8 accuracy report
and jetson-check.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import EdgeclassError
from ..preprocess import preprocess_files
from ..runs import Run
from ..spec import ModelCard, class_index
from .load import load_dataset
from .manifest import Dataset, Sample

DatasetLike = Union[Dataset, str, os.PathLike]


@dataclass(frozen=True)
class DataSource:
    """Where a run's dataset lives: the root folder and, when the run recorded one, its manifest."""

    root: Path
    manifest: Optional[Path] = None

    def load(self) -> Dataset:
        return load_dataset(self.root, self.manifest)

    @classmethod
    def of_run(cls, run: Run) -> Optional["DataSource"]:
        """The dataset a training run used (``Run.dataset``), or None when the run records none."""
        paths = run.dataset()
        return cls(*paths) if paths else None


def as_dataset(dataset: DatasetLike) -> Dataset:
    return dataset if isinstance(dataset, Dataset) else load_dataset(dataset)


def stratified_sample(samples: Sequence[Sample], num: int, seed: int) -> List[Sample]:
    """Up to ``num`` samples, classes taking turns (each class shuffled with ``seed``), so that every
    class is represented as evenly as the data allows. Deterministic for a given seed."""
    rng = random.Random(seed)
    by_class: Dict[str, List[Sample]] = {}
    for s in sorted(samples, key=lambda s: s.path):
        by_class.setdefault(s.label, []).append(s)
    queues = []
    for label in sorted(by_class):
        items = by_class[label]
        rng.shuffle(items)
        queues.append(items)
    picked: List[Sample] = []
    depth = 0
    while len(picked) < num and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and len(picked) < num:
                picked.append(q[depth])
        depth += 1
    return picked


def split_images(
    dataset: DatasetLike, card: ModelCard, split: str, num: Optional[int] = None, seed: int = 0,
    skipped: Optional[List[str]] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """(images NCHW float32, labels as indices into ``card.classes``) of one split, preprocessed as
    the card says. ``num`` limits the count (stratified). Files the reader refuses are left out (and
    their "path: reason" messages appended to ``skipped`` when given); a class the model does not
    know is an error naming it."""
    ds = as_dataset(dataset)
    samples = ds.split(split)
    if num is not None and num < len(samples):
        samples = stratified_sample(samples, num, seed)
    if not samples:
        raise EdgeclassError(f"the {split} split of {ds.root} has no images")
    labels = class_index(card, [s.label for s in samples])
    images, kept, bad = preprocess_files([ds.abspath(s) for s in samples], card.preprocess)
    if skipped is not None:
        skipped.extend(bad)
    if not kept:
        raise EdgeclassError(f"none of the {len(samples)} {split} images under {ds.root} could be read")
    return images, np.asarray([labels[i] for i in kept], dtype=np.int64)


def calibration_images(dataset: DatasetLike, card: ModelCard, num: int = 500, seed: int = 0) -> np.ndarray:
    """Up to ``num`` preprocessed TRAIN images, stratified by class: float32 (N, 3, H, W) in [0, 1].

    This is what every INT8 calibrator sees (ONNX Runtime here, TensorRT's implicit calibrator on a
    Jetson), so all of them are calibrated on the same tensors."""
    if num < 1:
        raise EdgeclassError(f"--num {num}: need at least one calibration image")
    images, _labels = split_images(dataset, card, "train", num=num, seed=seed)
    return images
