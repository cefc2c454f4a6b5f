"""Small option parsers shared by the command modules."""

from __future__ import annotations

from typing import List, Tuple

from ..errors import EdgeclassError


def comma_list(value: str) -> Tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def int_list(value: str, option: str) -> List[int]:
    try:
        return [int(v) for v in comma_list(value)]
    except ValueError:
        raise EdgeclassError(f"{option} {value!r}: give whole numbers separated by commas, e.g. 1,8") from None
