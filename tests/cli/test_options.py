"""Every option and argument of every command, walked from the click tree (so an option is covered the
day it is added): each invalid value of its type is a one-line usage error, exit status 2, naming
the option, before any work starts, never a traceback. An option whose type has no invalid value
(free text) must be listed in FREE_TEXT with the reason and the place that checks it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import click
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.cli.options import CommaList, Device, Finite, Name, Ratios, Text, Threshold, Version

FREE_TEXT = {  # (command, option): why any text is accepted at the command line, and who checks it
    ("train", "--arch"): "the architecture list grows with train/models.py; TrainConfig.validate names the choices",
    ("train", "--weights"): "imagenet | none | a weights file, resolved by the model builder (tests/cli/test_train.py)",
    ("train", "--unfreeze-from"): "a parameter name of the chosen network, checked by train/freeze.py",
    ("train", "--unfreeze-schedule"): "EPOCH:MODULE pairs checked by train/freeze.py against the network",
    ("train", "ROOT"): "optional with --resume; load_dataset says what a dataset folder must hold",
    ("data demo", "DST"): "a folder to create",
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


def commands(group: click.Group = cli, path: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], click.Command]]:
    """Every command and group (a group's own options, e.g. `edgeclass --max-image-pixels`, count too)."""
    yield path, group
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from commands(cmd, path + (name,))
        else:
            yield path + (name,), cmd


def label(param: click.Parameter) -> str:
    return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name


def invalid_values(param: click.Parameter, tmp: Path) -> Optional[List[str]]:
    """Values the type must refuse; None for a type that accepts any text."""
    t = param.type
    if isinstance(t, click.Choice):
        return ["no-such-choice"]
    if isinstance(t, Finite):
        out = ["nan", "inf", "-inf", "abc"]
        if t.min is not None:
            out.append(str(t.min if t.min_open else t.min - 1))
        if t.max is not None:
            out.append(str(t.max if t.max_open else t.max + 1))
        return out
    if isinstance(t, click.FloatRange) or t is click.FLOAT:
        raise AssertionError(f"{label(param)}: a float option accepts nan; give it edgeclass.cli.options.Finite")
    if isinstance(t, click.IntRange):
        return ["abc", "1.5"] + ([str(t.min - 1)] if t.min is not None else []) + ([str(t.max + 1)] if t.max is not None else [])
    if t is click.INT:
        raise AssertionError(f"{label(param)}: an int option without a range; give it a click.IntRange from edgeclass.cli.options")
    if isinstance(t, click.Path):
        if t.exists:
            return [str(tmp / "missing")]
        if not t.file_okay:
            return [str(tmp / "a-file")]
        if not t.dir_okay:
            return [str(tmp)]
        return None
    if isinstance(t, CommaList):
        return ["a,,b", ","] + (["no-such"] if t.choices is not None else []) + (["0", "x"] if t.ints else []) + (["../x"] if t.names else [])
    kinds = {Ratios: ["nan,0.5,0.5", "0.5,0.5", "0.6,0.3,0.3", "-0.2,0.6,0.6", "inf,0,0"], Device: ["nosuch", "cuda:x", ""],
             Threshold: ["1.5", "nan", "-0.1", "abc"], Version: ["x.y", "8.6-beta"], Text: ["", "   "], Name: ["../x", "a/b", "", ".."]}
    for kind, values in kinds.items():
        if isinstance(t, kind):
            return values
    return None


def _params():
    for path, cmd in commands():
        for param in cmd.params:
            if isinstance(param, click.Option) and (param.is_flag or param.is_bool_flag or param.hidden):
                continue
            yield " ".join(path), param


def cases(tmp: Path) -> Iterator[Tuple[str, click.Parameter, str]]:
    for where, param in _params():
        values = invalid_values(param, tmp)
        for value in values or []:
            yield where, param, value


def test_every_option_has_invalid_values_or_a_reason():
    tmp = Path("/nonexistent-edgeclass")
    uncovered, typeless = [], []
    for where, param in _params():
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
    known = {(w, label(p)) for w, p in _params()}
    assert not set(FREE_TEXT) - known, f"FREE_TEXT names options that no longer exist: {set(FREE_TEXT) - known}"


def _all_cases() -> List[Tuple[str, str, str]]:
    out = []
    for where, param in _params():
        try:
            values = invalid_values(param, Path("{tmp}"))
        except AssertionError:
            continue  # reported by test_every_option_has_invalid_values_or_a_reason
        out += [(where, label(param), v) for v in values or []]
    return out


CASES = _all_cases()


def test_the_walk_covers_every_command_and_hundreds_of_values():
    assert {w for w, _, _ in CASES} >= {"data split", "data check", "data augment", "data demo", "train", "export", "calibrate",
                                         "engine", "jetson-check", "eval", "bench"}
    assert len(CASES) > 200


@pytest.mark.parametrize("where, name, value", CASES, ids=[f"{w}:{n}={v!r}" for w, n, v in CASES])
def test_an_invalid_value_is_a_one_line_usage_error(tmp_path, where, name, value):
    (tmp_path / "a-file").write_text("x")
    value = value.replace("{tmp}", str(tmp_path))
    args = where.split() + ([name, value] if name.startswith("-") else [value])
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{args}: {result.exception!r}"
    assert result.exit_code == 2, f"{args} was accepted:\n{result.output}"
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("error: Invalid value for") and f"'{name}'" in lines[0], lines[0]
