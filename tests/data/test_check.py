"""`data check`: catches planted leaks (and names the files), counts unreadable files, flags gaps."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.data.check import check_dataset, format_report
from edgeclass.data.manifest import read_manifest, write_manifest
from edgeclass.data.split import split_folder
from data_helpers import edited_copy, is_plain, write_photo_tree


@pytest.fixture(scope="module")
def split_photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    write_photo_tree(root, every=0)  # tiles only: no planted copies
    split_folder(root, seed=0)
    return root


def fresh(split_photos: Path, tmp_path: Path) -> Path:
    root = tmp_path / "d"
    shutil.copytree(split_photos, root)
    return root


def plant_in_train(root: Path, source, new_name: str, edit: bool) -> str:
    """Add an (edited) copy of ``source`` to the train split, as a careless merge of two folders would."""
    path = f"{source.label}/{new_name}"
    if edit:
        rgb = cv2.cvtColor(cv2.imread(str(root / source.path)), cv2.COLOR_BGR2RGB)
        cv2.imwrite(str(root / path), cv2.cvtColor(edited_copy(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    else:
        shutil.copy(root / source.path, root / path)
    samples, _ = read_manifest(root / "splits.csv")
    write_manifest(root / "splits.csv", samples + [replace(source, path=path, split="train", group="gplanted")])
    return path


def test_a_clean_split_passes(split_photos):
    r = check_dataset(split_photos)
    assert r.ok and not r.leaks and not r.unreadable and r.source == "manifest"
    assert sum(sum(v.values()) for v in r.counts.values()) == 54
    assert "ok: no leaks" in format_report(r)
    assert CliRunner().invoke(cli, ["data", "check", str(split_photos)]).exit_code == 0


def test_planted_leaks_fail_the_check_and_are_named(split_photos, tmp_path):
    root = fresh(split_photos, tmp_path)
    samples, _ = read_manifest(root / "splits.csv")
    test_imgs = [s for s in samples if s.split == "test" and not is_plain(root / s.path)]
    val_imgs = [s for s in samples if s.split == "val"]
    near = plant_in_train(root, test_imgs[0], "holiday_edit.jpg", edit=True)
    exact = plant_in_train(root, val_imgs[0], "same_bytes.png", edit=False)
    r = check_dataset(root)
    assert not r.ok
    found = {(d.a, d.b, d.kind) for d in r.leaks}
    assert (near, test_imgs[0].path, "near") in found
    assert (exact, val_imgs[0].path, "exact") in found
    result = CliRunner().invoke(cli, ["data", "check", str(root)])
    assert result.exit_code == 1
    assert near in result.output and test_imgs[0].path in result.output and "LEAK" in result.output


def test_leak_in_a_presplit_tree_without_manifest(split_photos, tmp_path):
    root = tmp_path / "pre"
    for s in read_manifest(split_photos / "splits.csv")[0]:
        dst = root / s.split / s.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(split_photos / s.path, dst)
    victim = next(iter(sorted((root / "test" / "b").iterdir())))
    shutil.copy(victim, root / "train" / "b" / "copied.png")
    r = check_dataset(root)
    assert r.source == "presplit" and not r.ok
    assert [(d.a, d.b) for d in r.leaks] == [("train/b/copied.png", f"test/b/{victim.name}")]


def test_unreadable_files_are_listed_and_skipped_and_missing_ones_fail(split_photos, tmp_path):
    root = fresh(split_photos, tmp_path)
    samples, _ = read_manifest(root / "splits.csv")
    train = [s for s in samples if s.split == "train"]
    (root / train[0].path).write_bytes(b"\x89PNG garbage")
    r = check_dataset(root)
    assert r.ok and [(u.path, u.status, u.reason) for u in r.unreadable] == [(train[0].path, "unreadable", "corrupt")]
    assert not check_dataset(root, strict=True).ok  # --strict: a bad file fails the check
    assert sum(r.counts["train"].values()) == len(train) - 1
    (root / train[1].path).unlink()
    r = check_dataset(root)
    assert not r.ok and r.missing_files == [train[1].path]


def test_a_split_that_lacks_a_class_fails(split_photos, tmp_path):
    root = fresh(split_photos, tmp_path)
    samples, _ = read_manifest(root / "splits.csv")
    write_manifest(root / "splits.csv", [s for s in samples if not (s.split == "val" and s.label == "a")])
    r = check_dataset(root)
    assert not r.ok and r.missing_classes == {"val": ["a"]}
    assert len(r.unlisted) == sum(1 for s in samples if s.split == "val" and s.label == "a")


def test_an_unsplit_tree_is_counted_and_told_to_split(tmp_path):
    root = tmp_path / "d"
    write_photo_tree(root, every=0)
    for i in range(30):
        shutil.copy(next((root / "a").iterdir()), root / "a" / f"dup{i}.png")
    r = check_dataset(root)
    assert r.ok and r.source == "folders" and r.counts[""]["a"] == 57
    assert r.exact_within_split == 30 and r.imbalance > 2
    text = format_report(r)
    assert "edgeclass data split" in text and "imbalance" in text
