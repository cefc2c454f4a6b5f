"""Every option and argument of every command, walked from the click tree (so an option is covered the
day it is added): each invalid value of its type is a one-line usage error, exit status 2, naming
the option, before any work starts, never a traceback. An option whose type has no invalid value
(free text) must be listed in FREE_TEXT with the reason and the place that checks it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from option_walk import all_cases, argv, invalid_values, label, params

FREE_TEXT = {  # (command, option): why any text is accepted at the command line, and who checks it
    ("train", "--arch"): "the architecture list grows with train/models.py; TrainConfig.validate names the choices",
    ("train", "--weights"): "imagenet | none | a weights file, resolved by the model builder (tests/cli/test_train.py)",
    ("train", "--unfreeze-from"): "a parameter name of the chosen network, checked by train/freeze.py",
    ("train", "--unfreeze-schedule"): "EPOCH:MODULE pairs checked by train/freeze.py against the network",
    ("models list", "NAMES"): "architecture names; train.archs.arch_info names the known ones (tests/train/test_archs.py)",
    ("train", "ROOT"): "optional with --resume; load_dataset says what a dataset folder must hold",
    ("data demo", "DST"): "a folder to create",
    ("run", "MODEL"): "checked after --output, which is refused before the model opens (tests/runtime/outputs/test_base.py)",
    ("run", "--save"): "a video file to create (.mp4/.avi), checked by runtime.outputs",
    ("run", "--out"): "a folder to create for --demo-video",
    ("collect", "--out"): "a dataset folder to create",
    ("data split", "--out"): "a manifest file to create",
    ("data check", "--json"): "a report file to create",
    ("jetson-check", "--out"): "a report file to create",
    ("export", "--out"): "a folder to create",
    ("calibrate", "--out"): "a folder to create",
    ("eval", "--out"): "a folder to create",
    ("bench", "--out"): "a folder to create",
    ("train", "--project"): "a folder to create",
    ("engine", "--timing-cache"): "a cache file to create or reuse",
}


def test_every_option_has_invalid_values_or_a_reason():
    tmp = Path("/nonexistent-edgeclass")
    uncovered, typeless = [], []
    for where, param in params():
        try:
            values = invalid_values(param, tmp)
        except AssertionError as e:
            typeless.append(f"{where} {e}")
            continue
        if values is None and (where, label(param)) not in FREE_TEXT:
            uncovered.append(f"{where} {label(param)}")
    assert not typeless, "options without a validated type:\n" + "\n".join(typeless)
    assert not uncovered, ("options that accept any text; give them a type from edgeclass.cli.options or list them in FREE_TEXT "
                           "with a reason:\n" + "\n".join(uncovered))
    known = {(w, label(p)) for w, p in params()}
    assert not set(FREE_TEXT) - known, f"FREE_TEXT names options that no longer exist: {set(FREE_TEXT) - known}"


CASES = all_cases(Path("{tmp}"))


def test_the_walk_covers_every_command_and_hundreds_of_values():
    assert {w for w, _, _ in CASES} >= {"data split", "data check", "data augment", "data demo", "train", "export", "calibrate",
                                         "engine", "jetson-check", "eval", "bench"}
    assert len(CASES) > 200


@pytest.mark.parametrize("where, name, value", CASES, ids=[f"{w}:{n}={v!r}" for w, n, v in CASES])
def test_an_invalid_value_is_a_one_line_usage_error(tmp_path, where, name, value):
    (tmp_path / "a-file").write_text("x")
    value = value.replace("{tmp}", str(tmp_path))
    args = argv(where, name, value)
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{args}: {result.exception!r}"
    assert result.exit_code == 2, f"{args} was accepted:\n{result.output}"
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("error: Invalid value for") and f"'{name}'" in lines[0], lines[0]
