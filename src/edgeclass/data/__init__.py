"""Datasets: discovery, manifests, grouped splits, checks, offline augmentation, the demo dataset."""

from .manifest import Dataset, Sample, discover, load_dataset, read_manifest, write_manifest

__all__ = ["Dataset", "Sample", "discover", "load_dataset", "read_manifest", "write_manifest"]
