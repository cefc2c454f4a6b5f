import json

import pytest

from edgeclass.data.manifest import MANIFEST_NAME, load_dataset, run_data_paths
from edgeclass.errors import EdgeclassError


def _run(tmp_path, cfg):
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def test_a_run_uses_its_own_manifest_copy_before_the_datasets_current_one(tmp_path, digits_root):
    run = _run(tmp_path, {"data": str(digits_root), "manifest": str(digits_root / MANIFEST_NAME)})
    assert run_data_paths(run) == (digits_root, digits_root / MANIFEST_NAME)
    (run / MANIFEST_NAME).write_bytes((digits_root / MANIFEST_NAME).read_bytes())
    root, manifest = run_data_paths(run)
    assert (root, manifest) == (digits_root, run / MANIFEST_NAME)
    assert len(load_dataset(root, manifest).split("test")) == len(load_dataset(digits_root).split("test"))


def test_runs_without_a_recorded_dataset_or_with_a_moved_manifest(tmp_path, digits_root):
    assert run_data_paths(tmp_path) is None  # no config.json
    assert run_data_paths(_run(tmp_path, {"arch": "simplecnn"})) is None
    moved = _run(tmp_path / "b", {"data": str(digits_root), "manifest": str(tmp_path / "gone.csv")})
    assert run_data_paths(moved) == (digits_root, None)


def test_a_corrupt_run_config_is_a_one_line_error(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    with pytest.raises(EdgeclassError) as e:
        run_data_paths(run)
    assert "config.json" in str(e.value) and "\n" not in str(e.value)
