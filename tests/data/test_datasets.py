"""Training datasets: the eval path is the runtime's preprocessing; unreadable images are skipped and counted."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import torch

from edgeclass.data.datasets import UNREADABLE, Augment, ImageDataset, TrainTransform, eval_dataset
from edgeclass.data.load import load_dataset
from edgeclass.data.manifest import Sample, discover, write_manifest
from edgeclass.preprocess import preprocess_file, preprocess_files
from edgeclass.spec import Preprocess
from edgeclass.train.config import resolve_config
from edgeclass.train.run_dir import read_results
from edgeclass.train.trainer import train
from train_helpers import subset_manifest


def _photo_dataset(tmp_path):
    """Two classes of non-square colour JPEG/PNG 'photos' (so resize + centre crop really happen)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    samples = []
    for c, (h, w) in (("alice", (120, 90)), ("bob", (75, 140))):
        (root / c).mkdir(parents=True)
        for i in range(3):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            name = f"{c}/{i}.{'jpg' if i % 2 else 'png'}"
            cv2.imwrite(str(root / name), img)
            samples.append(Sample(name, c, ("train", "val", "test")[i]))
    write_manifest(root / "splits.csv", samples)
    return load_dataset(root)


def test_eval_dataset_gives_exactly_the_runtime_preprocessing(tmp_path):
    data = _photo_dataset(tmp_path)
    pp = Preprocess.for_size(48)
    for split in ("train", "val", "test"):
        ds = eval_dataset(data, split, pp)
        batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))
        expected, kept, _ = preprocess_files([data.abspath(s) for s in ds.samples], pp)
        assert kept == list(range(len(ds)))
        np.testing.assert_array_equal(batch[0].numpy(), expected)  # bit-identical, not just close
        assert batch[1].tolist() == [data.classes.index(s.label) for s in ds.samples]


def test_train_transform_none_is_the_eval_transform_and_standard_keeps_shape_and_range(tmp_path):
    data = _photo_dataset(tmp_path)
    pp = Preprocess.for_size(40)
    path = data.abspath(data.split("train")[0])
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    plain = TrainTransform(Augment(kind="none"), pp)(rgb)
    np.testing.assert_array_equal(plain.numpy(), preprocess_file(path, pp))
    torch.manual_seed(0)
    aug = TrainTransform(Augment(kind="standard"), pp)
    outs = [aug(rgb) for _ in range(4)]
    assert all(o.shape == (3, 40, 40) and o.dtype == torch.float32 and 0 <= o.min() and o.max() <= 1 for o in outs)
    assert not torch.equal(outs[0], outs[1])  # random crops differ


def test_corrupt_images_are_skipped_counted_and_listed_not_a_crash(digits_root, tmp_path):
    manifest = subset_manifest(digits_root, tmp_path / "m.csv", per_class=(6, 2, 2))
    root = tmp_path / "digits"
    shutil.copytree(digits_root, root)
    ds = load_dataset(root, manifest=manifest)
    bad = [ds.split("train")[0], ds.split("train")[7], ds.split("val")[0], ds.split("test")[3]]
    (root / bad[0].path).write_bytes(b"")  # empty file
    for s in bad[1:]:
        (root / s.path).write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)  # truncated / corrupt
    items = ImageDataset(ds, ds.split("train"), Preprocess.for_size(32))
    assert items[0][1] == UNREADABLE

    cfg = resolve_config("demo", data=str(root), manifest=str(manifest), epochs=2, project=str(tmp_path / "runs"), name="c", device="cpu")
    result = train(cfg, log=lambda m: None)
    rows = read_results(result.run_dir / "results.csv")
    assert [r["skipped"] for r in rows] == [3, 3]  # 2 train + 1 val, every epoch
    assert result.test.num_samples == len(ds.split("test")) - 1
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert sorted(metrics["skipped_images"]) == sorted(str(root / s.path) for s in bad)
    assert metrics["skipped_count"] == 4
    reasons = {u["path"]: u["reason"] for u in metrics["unreadable_images"]}
    assert reasons[str(root / bad[0].path)] == "empty" and reasons[str(root / bad[1].path)] == "corrupt"
