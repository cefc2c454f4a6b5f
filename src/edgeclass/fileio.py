"""Atomic file writes: every artifact, checkpoint, manifest and report is written to a temporary file
next to its destination, flushed to disk, then renamed over it. A reader (or a kill) never sees a
half-written file, and a failed write leaves the old file in place."""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List

# the temporary name ``atomic_path`` gives: .<stem>.tmp<pid><suffix>
_TEMP_NAME = re.compile(r"^\..+\.tmp(?P<pid>\d+)(\.[^.]+)?$")


def temp_name(path: Path) -> str:
    return f".{path.stem}.tmp{os.getpid()}{path.suffix}"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def stale_temp_files(folder: str | os.PathLike) -> List[Path]:
    """Temporary files of atomic writes in ``folder`` whose writer is gone (killed mid-write): safe
    to delete. A temporary file of a process still running is never listed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if (m := _TEMP_NAME.match(p.name)) and p.is_file() and not _process_alive(int(m.group("pid")))
    )


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    The temporary name keeps ``path``'s suffix, for writers that pick the format from it (cv2.imwrite).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name(path))
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
