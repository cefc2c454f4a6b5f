"""Walking every command's options from the click tree, with the invalid values of each option's type
(shared by tests/cli/test_options.py and benchmarks/red_team.py; not a test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import click

from edgeclass.cli import cli
from edgeclass.cli.options import CommaList, Device, Finite, Name, Ratios, Text, Threshold, Version


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


def params() -> Iterator[Tuple[str, click.Parameter]]:
    """(command path, parameter) for every parameter that takes a value."""
    for path, cmd in commands():
        for param in cmd.params:
            if isinstance(param, click.Option) and (param.is_flag or param.is_bool_flag or param.hidden):
                continue
            yield " ".join(path), param


def all_cases(tmp: Path) -> List[Tuple[str, str, str]]:
    """(command, option or argument, invalid value) for every parameter whose type has invalid values."""
    out = []
    for where, param in params():
        try:
            values = invalid_values(param, tmp)
        except AssertionError:
            continue  # an untyped option: tests/cli/test_options.py reports it
        out += [(where, label(param), v) for v in values or []]
    return out


def argv(where: str, name: str, value: str) -> List[str]:
    return where.split() + ([name, value] if name.startswith("-") else [value])
