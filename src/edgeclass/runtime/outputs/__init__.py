"""Where the live loop's results go: a window, an annotated video, JSON lines (outputs as URIs,
``--output``); and beside them the web view (``web``), identity events (``events``) and where they
go (``sinks``: JSON lines, ``webhook``, ``mqtt``), face ``snapshots``.

The web view and the event sinks are not imported here: aiohttp and paho-mqtt (the ``serve``
extra) are needed only by the output that uses them."""

from .base import Output, OutputSpec, output_specs, parse_output
from .jsonl import JsonLinesOutput
from .opening import open_output, open_outputs
from .overlay import Overlay
from .video import VideoOutput
from .window import Window, WindowOutput

__all__ = [
    "JsonLinesOutput",
    "Output",
    "OutputSpec",
    "Overlay",
    "VideoOutput",
    "Window",
    "WindowOutput",
    "open_output",
    "open_outputs",
    "output_specs",
    "parse_output",
]
