"""Opening the outputs a run was given (``OutputSpec`` -> ``Output``)."""

from __future__ import annotations

from typing import List, Sequence

from .base import Output, OutputSpec
from .jsonl import JsonLinesOutput
from .video import VideoOutput
from .window import WindowOutput


def open_output(spec: OutputSpec, fps: float = 30.0) -> Output:
    if spec.kind == "display":
        return WindowOutput(int(spec.target))
    if spec.kind == "video":
        return VideoOutput(spec.target, fps)
    return JsonLinesOutput(spec.target)


def open_outputs(specs: Sequence[OutputSpec], fps: float = 30.0) -> List[Output]:
    """Every output opened, or none: a failure closes the ones already open."""
    opened: List[Output] = []
    try:
        for spec in specs:
            opened.append(open_output(spec, fps))
    except BaseException:
        for o in opened:
            o.close()
        raise
    return opened
