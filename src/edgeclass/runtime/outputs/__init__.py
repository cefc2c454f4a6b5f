"""Where the live loop's results go: a window, an annotated video, JSON lines (and, built on the
same ``Output`` protocol, the web view and events). Outputs are URIs (``--output``)."""

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
