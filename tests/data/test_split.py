"""Grouped split: duplicates and edited copies never straddle splits; bad input gives one-line errors."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeclass.data.load import load_dataset
from edgeclass.data.manifest import read_manifest
from edgeclass.data.split import split_folder
from edgeclass.errors import EdgeclassError

from data_helpers import is_plain, write_photo_tree


@pytest.fixture(scope="module")
def photo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    return root, write_photo_tree(root)


def manifest_rows(path: Path) -> dict:
    return {s.path: s for s in read_manifest(path)[0]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edited_copy_lands_in_the_same_split_and_group_as_its_source(photo_root, tmp_path, seed):
    root, pairs = photo_root
    report = split_folder(root, out=tmp_path / "m.csv", seed=seed)
    rows = manifest_rows(tmp_path / "m.csv")
    # sky and blank-wall tiles are too plain to hash (grouped by exact bytes only, and counted)
    hashable = {c: s for c, s in pairs.items() if not (is_plain(root / c) or is_plain(root / s))}
    assert len(hashable) >= 20 and report.plain_images >= 2 * (len(pairs) - len(hashable))
    for copy, src in hashable.items():
        assert rows[copy].group == rows[src].group, (copy, src)
        assert rows[copy].split == rows[src].split
    # the 54 unrelated tiles stay apart: only the planted copies were merged with their sources
    assert report.groups == 54 + len(pairs) - len(hashable)
    assert report.merged_groups == len(hashable)
    assert {s.split for s in rows.values()} == {"train", "val", "test"}


def test_split_of_the_digits_is_stratified_70_15_15_and_deterministic(digits_root, tmp_path):
    r1 = split_folder(digits_root, out=tmp_path / "a.csv", seed=3)
    r2 = split_folder(digits_root, out=tmp_path / "b.csv", seed=3)
    r3 = split_folder(digits_root, out=tmp_path / "c.csv", seed=4)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    assert r1.images == 1797 and r1.largest_group <= 10  # tiny scans: few, small merges
    for c in r1.counts["train"]:
        n = sum(r1.counts[sp][c] for sp in ("train", "val", "test"))
        assert abs(r1.counts["train"][c] / n - 0.70) < 0.03
        assert abs(r1.counts["val"][c] / n - 0.15) < 0.03
        assert abs(r1.counts["test"][c] / n - 0.15) < 0.03
    rows = read_manifest(tmp_path / "a.csv")[0]
    assert all(len(s.sha256) == 64 and s.group for s in rows)
    split_of_group = {}
    for s in rows:
        assert split_of_group.setdefault(s.group, s.split) == s.split
    assert r3.counts["train"] != {} and not r1.warnings


def test_exact_duplicates_and_aug_named_files_are_grouped_with_their_source(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("x", "y"):
        (tmp_path / c).mkdir()
        for i in range(12):
            cv2.imwrite(str(tmp_path / c / f"img{i}.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    shutil.copy(tmp_path / "x" / "img0.png", tmp_path / "x" / "renamed.png")  # same bytes
    # different content, but named as an augmented copy of img1
    cv2.imwrite(str(tmp_path / "x" / "img1__aug0007.jpg"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    report = split_folder(tmp_path)
    rows = manifest_rows(tmp_path / "splits.csv")
    assert rows["x/renamed.png"].group == rows["x/img0.png"].group
    assert rows["x/img1__aug0007.jpg"].group == rows["x/img1.png"].group
    assert report.exact_duplicates == 1 and report.groups == 24


def test_corrupt_and_non_image_files_are_skipped_and_counted(photo_root, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(photo_root[0], root)
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    (root / "b" / "empty.png").write_bytes(b"")
    (root / "b" / "notes.txt").write_text("hello")
    report = split_folder(root)
    rows = manifest_rows(root / "splits.csv")
    assert [(u.path, u.reason) for u in report.unreadable] == [("a/broken.jpg", "corrupt"), ("b/empty.png", "empty")]
    assert "a/broken.jpg: corrupt (a damaged JPEG signature)" in report.text() and "b/empty.png: empty" in report.text()
    record = json.loads((root / "splits.report.json").read_text())
    assert [e["path"] for e in record["excluded"]] == ["a/broken.jpg", "b/empty.png"] and record["rows"] == len(rows)
    assert report.skipped == ["b/notes.txt"]
    assert "a/broken.jpg" not in rows and report.images == len(rows) == 54 + len(photo_root[1])


def test_presplit_tree_keeps_its_splits_and_warns_about_a_straddling_duplicate(photo_root, tmp_path):
    src, _ = photo_root
    root = tmp_path / "pre"
    for c in ("a", "b"):
        files = sorted((src / c).glob("*.png"))
        for sp, chunk in (("train", files[:19]), ("val", files[19:23]), ("test", files[23:])):
            (root / sp / c).mkdir(parents=True, exist_ok=True)
            for f in chunk:
                shutil.copy(f, root / sp / c / f.name)
    shutil.copy(root / "test" / "a" / sorted(p.name for p in (root / "test" / "a").iterdir())[0], root / "train" / "a" / "leaked.png")
    report = split_folder(root)
    rows = manifest_rows(root / "splits.csv")
    assert all(s.split == s.path.split("/")[0] for s in rows.values())
    assert any("straddle" in w for w in report.warnings)
    split_folder(root, resplit=True)
    rows = manifest_rows(root / "splits.csv")
    leaked = rows["train/a/leaked.png"]
    assert all(s.split == leaked.split for s in rows.values() if s.group == leaked.group)


def test_load_dataset_splits_an_unsplit_tree_on_the_fly(photo_root):
    root, _ = photo_root
    ds = load_dataset(root)  # no splits.csv in this tree: load_dataset calls split_dataset
    assert ds.source == "split-on-the-fly"
    assert all({s.label for s in ds.split(sp)} == {"a", "b"} for sp in ("train", "val", "test"))
    by_group = {}
    for s in ds.samples:
        assert by_group.setdefault(s.group, s.split) == s.split


def _tree(root: Path, counts: dict) -> Path:
    rng = np.random.default_rng(1)
    for c, n in counts.items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cv2.imwrite(str(root / c / f"{i}.png"), rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
    return root


@pytest.mark.parametrize(
    "counts, ratios, message",
    [
        ({"a": 5, "b": 2}, "0.7,0.15,0.15", "class 'b' has 2 images in 2 distinct group"),
        ({"a": 5, "b": 0}, "0.7,0.15,0.15", "has no images"),
        ({"a": 5}, "0.7,0.15,0.15", "at least two class"),
        ({}, "0.7,0.15,0.15", "no images found"),
        ({"a": 5, "b": 5}, "0.7,0.3", "--ratios must be three positive numbers"),
        ({"a": 5, "b": 5}, "0.5,0.5,0.5", "--ratios must be three positive numbers"),
    ],
)
def test_bad_input_gives_a_one_line_error_and_writes_nothing(tmp_path, counts, ratios, message):
    root = _tree(tmp_path / "d", counts)
    root.mkdir(exist_ok=True)
    with pytest.raises(EdgeclassError, match=message) as e:
        split_folder(root, ratios=ratios)
    assert "\n" not in str(e.value)
    assert not (root / "splits.csv").exists()


def test_missing_folder_and_all_unreadable_class_are_errors(tmp_path):
    with pytest.raises(EdgeclassError, match="does not exist"):
        split_folder(tmp_path / "nope")
    root = _tree(tmp_path / "d", {"a": 5, "b": 0})
    (root / "b" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(EdgeclassError, match="unreadable"):
        split_folder(root)


def test_a_failed_split_keeps_the_previous_manifest(tmp_path):
    root = _tree(tmp_path / "d", {"a": 6, "b": 6})
    split_folder(root)
    before = (root / "splits.csv").read_bytes()
    for p in list((root / "b").iterdir())[2:]:
        p.unlink()
    with pytest.raises(EdgeclassError):
        split_folder(root)
    assert (root / "splits.csv").read_bytes() == before
    assert Counter(s.label for s in read_manifest(root / "splits.csv")[0]) == {"a": 6, "b": 6}


def test_a_class_with_three_images_gets_one_in_each_split(tmp_path):
    root = _tree(tmp_path / "d", {"big": 40, "tiny": 3})
    report = split_folder(root)
    assert {sp: report.counts[sp]["tiny"] for sp in ("train", "val", "test")} == {"train": 1, "val": 1, "test": 1}
    assert abs(report.counts["train"]["big"] / 40 - 0.7) <= 0.05


def test_a_huge_duplicate_group_is_kept_whole_and_reported(tmp_path):
    root = _tree(tmp_path / "d", {"a": 10, "b": 10})
    for i in range(40):  # 40 copies of one frame: they must all land in one split
        shutil.copy(root / "a" / "0.png", root / "a" / f"frame{i}.png")
    report = split_folder(root)
    rows = read_manifest(root / "splits.csv")[0]
    frames = {s.split for s in rows if s.path.startswith("a/frame") or s.path == "a/0.png"}
    assert len(frames) == 1 and report.largest_group == 41 and report.exact_duplicates == 40
    assert all(report.counts[sp]["a"] >= 1 for sp in ("train", "val", "test"))
    assert any("class 'a'" in w and "41 of 50" in w for w in report.warnings)
