"""Outputs as URIs, in the jetson-inference style: where the results of the live loop go.

``--output display://0`` (a window), ``--output out.mp4`` (annotated video: .mp4 .avi .mkv .mov),
``--output frames.jsonl`` (one JSON line per frame; ``-`` = stdout); repeatable. The old flags
stay: ``--show`` = ``display://0``, ``--save FILE`` = a video, ``--json FILE`` = JSON lines whatever
the suffix. Every output is an ``Output``: ``write`` per source frame, ``end_step`` per step,
``close`` at the end. The loop draws the overlay once per frame when any output wants the drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence

from ...errors import EdgeclassError

if TYPE_CHECKING:  # only for type hints: outputs never import the loop
    from ..pipeline import SourceResult

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
KINDS = ("display", "video", "jsonl")


class Output:
    """Where results go. ``drawn``: the output wants frames with the overlay drawn on them."""

    drawn = False

    def write(self, result: "SourceResult", many_sources: bool) -> None:
        raise NotImplementedError

    def end_step(self) -> None:
        """Called once per step, after every source's ``write`` (flush, window events)."""

    def wants_quit(self) -> bool:
        return False

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class OutputSpec:
    kind: str  # display | video | jsonl
    target: str  # window index, file path, or "-" (stdout)

    def __str__(self) -> str:
        return f"display://{self.target}" if self.kind == "display" else self.target


def parse_output(uri: str, kind: Optional[str] = None) -> OutputSpec:
    """``display://N`` | a video file | a JSON lines file or ``-``; ``kind`` forces the kind (the old
    ``--save``/``--json`` flags). Anything else: a one-line error naming the accepted forms."""
    uri = str(uri).strip()
    if not uri:
        raise EdgeclassError("--output needs a value: display://0, out.mp4 or frames.jsonl")
    if kind is None:
        if uri.startswith("display://"):
            kind = "display"
        elif uri.startswith("file://"):
            return parse_output(uri[len("file://"):])
        elif uri == "-" or Path(uri).suffix.lower() in JSON_SUFFIXES:
            kind = "jsonl"
        elif Path(uri).suffix.lower() in VIDEO_SUFFIXES:
            kind = "video"
        else:
            raise EdgeclassError(
                f"--output {uri}: give display://0, a video file ({', '.join(VIDEO_SUFFIXES)}) or a JSON lines file "
                f"({', '.join(JSON_SUFFIXES)}, - for stdout)"
            )
    if kind == "display":
        index = uri[len("display://"):] if uri.startswith("display://") else uri
        if not index.isdigit():
            raise EdgeclassError(f"--output {uri}: a display is display://N (N = 0, 1, ...)")
        return OutputSpec("display", index)
    if kind == "video" and Path(uri).suffix.lower() not in VIDEO_SUFFIXES:
        raise EdgeclassError(f"--save {uri}: use a {', '.join(VIDEO_SUFFIXES)} file name")
    if kind not in KINDS:
        raise EdgeclassError(f"unknown output kind {kind!r} (choose from {', '.join(KINDS)})")
    return OutputSpec(kind, uri)


def output_specs(outputs: Sequence[str] = (), show: bool = False, save: Optional[str] = None, json: Optional[str] = None) -> List[OutputSpec]:
    """The ``--output`` URIs plus the old ``--show``/``--save``/``--json`` flags, in that order."""
    specs = [parse_output(u) for u in outputs]
    if show:
        specs.append(OutputSpec("display", "0"))
    if save:
        specs.append(parse_output(save, "video"))
    if json:
        specs.append(parse_output(json, "jsonl"))
    return specs
