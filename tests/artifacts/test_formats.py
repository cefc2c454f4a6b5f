"""The format table and the card inside each format (edgeclass.artifacts)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from edgeclass.artifacts import formats, read_card, write_card
from edgeclass.cli import cli
from edgeclass.errors import EdgeclassError


def test_the_table_names_real_commands_and_one_container_per_suffix():
    commands = set(cli.commands)
    for fmt in formats.FORMATS:
        assert fmt.made_by.split()[0] in commands, fmt.key
        assert formats.by_suffix(fmt.file_name).card is fmt.card and formats.by_suffix(fmt.file_name).backend == fmt.backend
    assert formats.keys(formats.made_by("export")) == ("torchscript", "onnx", "onnx-fp16")
    assert formats.of_precision(".onnx", "fp16").file_name == "model.fp16.onnx"
    assert formats.SUFFIXES == (".pt", ".ts", ".onnx", ".engine")
    with pytest.raises(EdgeclassError, match=r"unknown model type '\.h5'; give a \.pt, \.ts, \.onnx or \.engine file"):
        formats.by_suffix("model.h5")


def test_every_container_keeps_a_rewritten_card(exported_run, tmp_path):
    weights = tmp_path / "weights"
    shutil.copytree(exported_run / "weights", weights)
    card = read_card(weights / "model.onnx")
    sidecar = {"format": "edgeclass.engine.v1", "card": card.to_dict()}
    (weights / "model.fp16.engine").write_bytes(b"plan")
    (weights / "model.fp16.engine.json").write_text(json.dumps(sidecar))
    for name in ("best.pt", "model.ts", "model.onnx", "model.fp16.engine"):
        write_card(weights / name, read_card(weights / name).replace(threshold=0.42))
        assert read_card(weights / name).threshold == 0.42, name
        assert read_card(weights / name).classes == card.classes
    assert json.loads((weights / "model.fp16.engine.json").read_text())["format"] == "edgeclass.engine.v1"  # other keys kept


def test_a_card_written_by_eval_is_what_the_engine_command_reads(exported_run, tmp_path):
    """`edgeclass engine --print-trtexec` reads the card back from the rewritten ONNX."""
    weights = tmp_path / "weights"
    shutil.copytree(exported_run / "weights", weights)
    write_card(weights / "model.onnx", read_card(weights / "model.onnx").replace(threshold=0.3))
    r = CliRunner().invoke(cli, ["engine", str(tmp_path), "--print-trtexec", "--trt-version", "10.3"])
    assert r.exit_code == 0, r.output
    assert f"--onnx={weights / 'model.onnx'}" in r.output and "--minShapes=images:1x3x32x32" in r.output
