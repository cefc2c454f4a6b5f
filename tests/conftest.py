"""Shared fixtures. Everything here is small: 32 px digits, a tiny CNN, a few seconds of CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> Path:
    """The demo dataset (scikit-learn digits, 1,797 real scans, 10 classes) as 32 px PNGs with a
    stratified split manifest ``splits.csv``. Session-scoped: treat it as read-only."""
    from edgeclass.data.demo import write_digits
    from edgeclass.data.manifest import MANIFEST_NAME, discover, write_manifest

    root = tmp_path_factory.mktemp("digits")
    write_digits(root)
    ds = discover(root)
    by_class = {}
    for s in ds.samples:
        by_class.setdefault(s.label, []).append(s)
    samples = []
    for label, items in by_class.items():
        for i, s in enumerate(items):
            k = i % 20
            split = "train" if k < 14 else ("val" if k < 17 else "test")
            samples.append(s.with_split(split))
    write_manifest(root / MANIFEST_NAME, samples)
    return root


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, digits_root) -> Path:
    """A run folder with ``weights/best.pt`` (simplecnn, 32 px, trained a few epochs on the digits,
    >= 90% test top-1) and ``config.json`` naming its dataset. Session-scoped: read-only."""
    import numpy as np
    import torch

    from edgeclass.data.manifest import load_dataset
    from edgeclass.preprocess import preprocess_file
    from edgeclass.spec import ModelCard, Preprocess
    from edgeclass.train.checkpoint import make_checkpoint, save_checkpoint
    from edgeclass.train.models import build_model

    torch.manual_seed(0)
    ds = load_dataset(digits_root)
    card = ModelCard(classes=ds.classes, arch="simplecnn", preprocess=Preprocess.for_size(32))
    model = build_model(card)

    def tensors(split):
        items = ds.split(split)
        x = np.stack([preprocess_file(ds.abspath(s), card.preprocess) for s in items])
        y = np.array([ds.classes.index(s.label) for s in items])
        return torch.from_numpy(x), torch.from_numpy(y)

    xtr, ytr = tensors("train")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _epoch in range(6):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            idx = perm[i : i + 64]
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    xte, yte = tensors("test")
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    assert acc >= 0.9, f"fixture model too weak: {acc:.3f}"
    run = tmp_path_factory.mktemp("run")
    save_checkpoint(run / "weights" / "best.pt", make_checkpoint(model, card, epoch=6, best_metric=acc))
    (run / "config.json").write_text(json.dumps({"data": str(digits_root), "arch": "simplecnn", "imgsz": 32}))
    card.save(run / "model_card.json")
    return run
