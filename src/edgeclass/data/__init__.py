"""Datasets: discovery, manifests, grouped splits, checks, offline augmentation, the demo dataset,
and the preprocessed image sets (calibration, parity, accuracy) drawn from a split."""

from .load import load_dataset
from .manifest import Dataset, Sample, discover, read_manifest, write_manifest

__all__ = ["Dataset", "Sample", "discover", "load_dataset", "read_manifest", "write_manifest"]

# training-time augmentation kinds (``edgeclass.data.datasets.Augment``); plain here so that the CLI
# and the training config can list them without importing torch
AUGMENTATIONS = ("none", "flip", "standard", "face")
