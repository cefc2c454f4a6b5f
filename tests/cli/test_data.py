"""`edgeclass data ...` from the command line: the demo, split output, one-line errors."""

from __future__ import annotations

from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.data.load import load_dataset


def test_demo_then_split_gives_a_loadable_70_15_15_dataset(tmp_path):
    runner = CliRunner()
    dst = tmp_path / "digits"
    result = runner.invoke(cli, ["data", "demo", str(dst)])
    assert result.exit_code == 0 and "wrote 1797 images" in result.output
    assert len(list(dst.rglob("*.png"))) == 1797 and len([p for p in dst.iterdir() if p.is_dir()]) == 10
    result = runner.invoke(cli, ["data", "split", str(dst), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "1797 images, 10 classes" in result.output and "merged" in result.output
    ds = load_dataset(dst)
    assert ds.source == "manifest" and len(ds.classes) == 10
    assert abs(len(ds.split("train")) / 1797 - 0.7) < 0.01


def test_errors_are_one_line_with_exit_status_2(tmp_path):
    runner = CliRunner()
    for args in (["data", "split", str(tmp_path / "missing")], ["data", "check", str(tmp_path / "missing")],
                 ["data", "split", str(tmp_path), "--ratios", "1,2"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, args
        assert result.output.startswith("error: ") and result.output.count("\n") == 1
