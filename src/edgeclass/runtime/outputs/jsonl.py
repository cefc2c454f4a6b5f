"""One JSON line per source frame (``--output frames.jsonl`` / ``--json``; ``-`` = stdout).

The record is ``SourceResult.to_json()`` (schema ``edgeclass.frame.v2``, documented in
docs/runtime.md); lines are flushed once per step so a reader never waits for a buffer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any, Dict

from .base import Output


class JsonLinesOutput(Output):
    def __init__(self, target: str):
        self._own = target != "-"
        if self._own:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(target, "w", encoding="utf-8") if self._own else sys.stdout

    def write(self, result, many_sources: bool) -> None:
        self.write_record(result.to_json())

    def write_record(self, record: Dict[str, Any]) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def end_step(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()
