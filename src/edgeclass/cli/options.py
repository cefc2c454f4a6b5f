"""Validated option types shared by the command modules: every value is checked where it is parsed,
so a bad one is a usage error (exit 2, ``Error: Invalid value for '--lr': ...``) before any work
starts, never a library assertion later. ``tests/cli/test_options.py`` walks every command's options
from the click tree with invalid values of each type, so a new option is covered the day it is added.

- numbers: ``Int``, a ``click.IntRange`` (``POSITIVE``, ``NON_NEGATIVE``, ``SEED``, ...) and ``Finite`` (a
  ``FloatRange`` that also refuses nan and inf, which pass any range comparison);
- ``CommaList``: non-empty comma-separated names (``a,,b`` is refused), optionally from a fixed set;
- ``Ratios``: three positive fractions that sum to 1; ``Device``: cpu / cuda / cuda:N / N;
  ``Threshold``: a confidence in [0, 1] or ``none``; ``Version``: 8.6.1; ``Text``: not empty;
  ``Name``: a file or folder name (no path separators, no ``..``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import click

from ..errors import EdgeclassError


class Int(click.IntRange):
    """A whole number in a range (named "integer" in messages, as click's plain INT)."""

    name = "integer"


POSITIVE = Int(min=1)
NON_NEGATIVE = Int(min=0)
SEED = Int(0, 2**32 - 1)
PIXELS = Int(1, 1 << 16)  # a capture width/height
IMAGE_SIZE = Int(8, 4096)  # a model input side (spec.Preprocess refuses < 8)
HASH_BITS = Int(-1, 64)  # a near-duplicate threshold of the 64-bit hash; -1 = exact only


class Finite(click.FloatRange):
    """A finite float (no nan, no inf) in an optional range."""

    name = "number"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


POSITIVE_FLOAT = Finite(min=0, min_open=True)
NON_NEGATIVE_FLOAT = Finite(min=0)
FRACTION = Finite(0, 1, min_open=True)  # (0, 1]


class CommaList(click.ParamType):
    """``a,b,c``: non-empty items (``a,,b`` and ``,`` are refused), each one of ``choices`` when given
    (``extra`` names accepted beside them, e.g. ``all``), or each a whole number >= ``min_int`` with
    ``ints``. The value stays the canonical string (``a,b,c``), so callers split it as before."""

    name = "list"

    def __init__(self, choices: Optional[Iterable[str]] = None, extra: Sequence[str] = (), ints: bool = False,
                 min_int: int = 1, names: bool = False):
        self.choices = tuple(choices) if choices is not None else None
        self.extra, self.ints, self.min_int, self.names = tuple(extra), ints, min_int, names

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        items = [v.strip() for v in str(value).split(",")]
        if not any(items) or "" in items:
            self.fail(f"{value!r}: give names separated by commas, none empty (e.g. a,b)", param, ctx)
        for item in items:
            if self.choices is not None and item not in self.choices + self.extra:
                self.fail(f"{item!r} is not one of {', '.join(self.choices + self.extra)}", param, ctx)
            if self.ints and not (re.fullmatch(r"\d+", item) and int(item) >= self.min_int):
                self.fail(f"{item!r} is not a whole number >= {self.min_int}", param, ctx)
            if self.names:
                Name().convert(item, param, ctx)
        return ",".join(items)


class Ratios(click.ParamType):
    """``train,val,test``: three positive finite fractions that sum to 1 -> a tuple of floats."""

    name = "ratios"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            values = [float(x) for x in str(value).split(",")]
        except ValueError:
            values = []
        if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
            self.fail(f"{value!r}: give three positive numbers (train,val,test) that sum to 1, e.g. 0.7,0.15,0.15", param, ctx)
        return tuple(values)


class Device(click.ParamType):
    """``cpu``, ``cuda``, ``cuda:N``, a GPU index ``N`` (and ``auto`` with ``auto=True``)."""

    name = "device"

    def __init__(self, auto: bool = False, index: bool = True):
        self.auto, self.index = auto, index

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        text = str(value).strip()
        ok = re.fullmatch(r"cpu|cuda(:\d+)?", text) or (self.auto and text == "auto") or (self.index and text.isdigit())
        if not ok:
            kinds = ["auto"] * self.auto + ["cpu", "cuda", "cuda:N"] + ["N (a GPU index)"] * self.index
            self.fail(f"{value!r} is not a device ({', '.join(kinds)})", param, ctx)
        return text


class Threshold(click.ParamType):
    """A confidence in [0, 1], or ``none`` (never unknown); the value stays the text given."""

    name = "threshold"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        text = str(value).strip()
        if text.lower() == "none":
            return text
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not (0.0 <= number <= 1.0):
            self.fail(f"{value!r}: give a number in [0, 1] or 'none'", param, ctx)
        return text


class Version(click.ParamType):
    """A dotted version number such as 8.6.1 or 10.3."""

    name = "version"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        text = str(value).strip()
        if not re.fullmatch(r"\d+(\.\d+){0,3}", text):
            self.fail(f"{value!r} is not a version number like 8.6.1", param, ctx)
        return text


class Text(click.ParamType):
    """Free text that must not be empty or blank (a source, an output)."""

    name = "text"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if not str(value).strip():
            self.fail("must not be empty", param, ctx)
        return str(value)


class Name(click.ParamType):
    """A name that becomes one file or folder: not empty, no path separator, not ``.`` or ``..``."""

    name = "name"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        text = str(value)
        if not text.strip() or "/" in text or "\\" in text or text in (".", "..") or "\x00" in text:
            self.fail(f"{value!r} is not a plain name (no '/', not '.' or '..', not empty)", param, ctx)
        return text


def comma_list(value: str) -> Tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def int_list(value: str, option: str) -> List[int]:
    try:
        return [int(v) for v in comma_list(value)]
    except ValueError:
        raise EdgeclassError(f"{option} {value!r}: give whole numbers separated by commas, e.g. 1,8") from None
