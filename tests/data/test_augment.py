"""`data augment`: train only, deterministic, rows join the source's group, splits stay leak-free."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.data.augment import augment_image, augment_train
from edgeclass.data.check import check_dataset
from edgeclass.data.manifest import read_manifest
from edgeclass.data.split import split_folder
from edgeclass.errors import EdgeclassError
from data_helpers import write_photo_tree


@pytest.fixture(scope="module")
def split_photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    write_photo_tree(root, every=0)
    split_folder(root, seed=0)
    return root


def fresh(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_augment_fills_train_only_and_rows_join_the_source_group(split_photos, tmp_path):
    root = fresh(split_photos, tmp_path / "d")
    before, _ = read_manifest(root / "splits.csv")
    report = augment_train(root, per_class=30, seed=0)
    after, _ = read_manifest(root / "splits.csv")
    by_path = {s.path: s for s in after}
    new = [s for s in after if "__aug" in s.path]
    assert report.written == len(new) == 60 - sum(1 for s in before if s.split == "train")
    assert Counter(s.label for s in after if s.split == "train") == {"a": 30, "b": 30}
    assert Counter((s.split, s.label) for s in after if s.split != "train") == Counter(
        (s.split, s.label) for s in before if s.split != "train"
    )
    for s in new:
        stem, _, _ = Path(s.path).stem.partition("__aug")
        source = next(x for x in before if Path(x.path).stem == stem)
        assert s.split == "train" and source.split == "train" and s.group == source.group
        img = cv2.imread(str(root / s.path))
        assert img is not None and img.shape == cv2.imread(str(root / source.path)).shape
        assert by_path[s.path].sha256 and s.path.endswith(".jpg")
    # a second run has nothing to do; the train split is already at 30 per class
    assert augment_train(root, per_class=30, seed=0).written == 0


def test_augment_is_deterministic_for_a_seed(split_photos, tmp_path):
    a = fresh(split_photos, tmp_path / "a")
    b = fresh(split_photos, tmp_path / "b")
    augment_train(a, per_class=25, seed=7)
    augment_train(b, per_class=25, seed=7)
    assert (a / "splits.csv").read_bytes() == (b / "splits.csv").read_bytes()
    rgb = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    x = augment_image(rgb, np.random.default_rng(3))
    assert np.array_equal(x, augment_image(rgb, np.random.default_rng(3))) and x.shape == rgb.shape
    assert not np.array_equal(x, augment_image(rgb, np.random.default_rng(4)))


def test_resplitting_after_augment_keeps_copies_with_their_source_and_check_passes(split_photos, tmp_path):
    root = fresh(split_photos, tmp_path / "d")
    augment_train(root, per_class=40, seed=1)
    split_folder(root, seed=5)  # a different seed moves sources between splits; copies follow
    rows = read_manifest(root / "splits.csv")[0]
    by_key = {}
    for s in rows:
        key = Path(s.path).parent / Path(s.path).stem.partition("__aug")[0]
        assert by_key.setdefault(key, (s.split, s.group)) == (s.split, s.group)
    assert check_dataset(root).ok


def test_augment_refuses_to_run_without_a_manifest(tmp_path):
    root = tmp_path / "d"
    write_photo_tree(root, every=0)
    with pytest.raises(EdgeclassError, match="run `edgeclass data split"):
        augment_train(root, per_class=10)
    result = CliRunner().invoke(cli, ["data", "augment", str(root), "--per-class", "10"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "error: no manifest" in result.output
    assert not any("__aug" in p.name for p in root.rglob("*"))
