import json

import pytest

from edgeclass.data.load import load_dataset
from edgeclass.data.manifest import MANIFEST_NAME
from edgeclass.errors import EdgeclassError
from edgeclass.runs import Run


def _run(tmp_path, cfg):
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def test_a_run_uses_its_own_manifest_copy_before_the_datasets_current_one(tmp_path, digits_root):
    run = _run(tmp_path, {"data": str(digits_root), "manifest": str(digits_root / MANIFEST_NAME)})
    assert Run.find(run).dataset() == (digits_root, digits_root / MANIFEST_NAME)
    (run / MANIFEST_NAME).write_bytes((digits_root / MANIFEST_NAME).read_bytes())
    root, manifest = Run.find(run).dataset()
    assert (root, manifest) == (digits_root, run / MANIFEST_NAME)
    assert len(load_dataset(root, manifest).split("test")) == len(load_dataset(digits_root).split("test"))


def test_runs_without_a_recorded_dataset_or_with_a_moved_manifest(tmp_path, digits_root):
    assert Run.find(tmp_path).dataset() is None  # no config.json
    assert Run.find(_run(tmp_path, {"arch": "simplecnn"})).dataset() is None
    moved = _run(tmp_path / "b", {"data": str(digits_root), "manifest": str(tmp_path / "gone.csv")})
    assert Run.find(moved).dataset() == (digits_root, None)


def test_a_corrupt_run_config_is_a_one_line_error(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    with pytest.raises(EdgeclassError) as e:
        Run.find(run).dataset()
    assert "config.json" in str(e.value) and "\n" not in str(e.value)
