"""The run folder (edgeclass.runs.Run): one rule finds the run of any path a command is given."""

from __future__ import annotations

import json

import pytest

from edgeclass.artifacts import formats
from edgeclass.errors import EdgeclassError
from edgeclass.runs import Run, checkpoint_file


@pytest.fixture()
def run(tmp_path):
    root = tmp_path / "runs" / "x"
    (root / "weights").mkdir(parents=True)
    (root / "weights" / "best.pt").write_bytes(b"w")
    (root / "weights" / "model.onnx").write_bytes(b"o")
    (root / "bench.csv").write_text("a\n")
    (root / "config.json").write_text(json.dumps({"data": str(tmp_path / "digits")}))
    return root


def test_a_run_its_weights_folder_and_every_file_in_either_find_the_same_run(run):
    expected = Run(run, run / "weights")
    for path in (run, run / "weights", run / "weights" / "best.pt", run / "weights" / "model.onnx", run / "bench.csv"):
        assert Run.find(path) == expected, path
    found = Run.find(run / "weights" / "model.onnx")
    assert found.has_config and found.config == run / "config.json" and found.eval_dir == run / "eval"
    assert found.checkpoint() == run / "weights" / "best.pt" and found.checkpoint("last") == run / "weights" / "last.pt"
    assert found.artifact(formats.get("onnx-int8")) == run / "weights" / "model.int8.onnx"


def test_a_flat_folder_of_artifacts_is_its_own_weights_folder(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"o")
    flat = Run.find(tmp_path / "model.onnx")
    assert flat == Run(tmp_path, tmp_path) == Run.find(tmp_path)
    assert not flat.has_config and flat.dataset() is None


def test_the_checkpoint_of_a_run_is_best_then_last(run):
    assert checkpoint_file(run) == run / "weights" / "best.pt"
    (run / "weights" / "best.pt").unlink()
    (run / "weights" / "last.pt").write_bytes(b"w")
    assert checkpoint_file(run / "weights") == run / "weights" / "last.pt"
    (run / "weights" / "last.pt").unlink()
    with pytest.raises(EdgeclassError, match="no weights/best.pt or weights/last.pt"):
        checkpoint_file(run)
    with pytest.raises(EdgeclassError, match="does not exist"):
        checkpoint_file(run / "nothing")
    with pytest.raises(EdgeclassError, match="unknown checkpoint 'worst'"):
        Run.find(run).checkpoint("worst")


def test_a_dataset_recorded_relative_to_the_run_folder_is_found_there(run):
    (run / "data").mkdir()
    (run / "config.json").write_text(json.dumps({"data": "data"}))
    assert Run.find(run).dataset() == (run / "data", None)
