"""``--snapshots DIR``: a JPEG of the face (or the frame) of each event, with bounded disk use.

Files are named ``<UTC time>_<event id>_s<source>_<track>_<event>_<name>.jpg``, so name order is time
order; each is written atomically (``fileio``). Past ``max_files`` or ``max_bytes`` the oldest
snapshots are removed (only files named like ours: the folder may hold other things).
"""

from __future__ import annotations

import collections
import re
import threading
import time
from pathlib import Path
from typing import Any, Deque, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...errors import EdgeclassError
from ...fileio import write_bytes_atomic
from .records import clipped_box, encode_jpeg

OURS = re.compile(r"^\d{8}T\d{6}\.\d{3}Z_\d+_s\d+_.*\.jpg$")


def safe_name(text: str, limit: int = 40) -> str:
    """A person's name as a file-name part: letters, digits, ``-`` and ``_`` only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:limit] or "x"


class SnapshotStore:
    def __init__(self, folder: str, max_bytes: int = 200 * 2**20, max_files: int = 2000, quality: int = 90,
                 pad: float = 0.25):
        if max_bytes <= 0 or max_files <= 0:
            raise EdgeclassError("snapshot budget: max_bytes and max_files must be > 0")
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeclassError(f"--snapshots {folder}: cannot create the folder ({e.strerror})") from None
        self.max_bytes, self.max_files = int(max_bytes), int(max_files)
        self.quality, self.pad = int(quality), float(pad)
        self._lock = threading.Lock()
        self._files: Deque[Tuple[str, int]] = collections.deque(self._existing())
        self.bytes = sum(size for _, size in self._files)
        self.written = self.removed = self.failed = 0

    def _existing(self):
        found = sorted(p for p in self.folder.iterdir() if OURS.match(p.name) and p.is_file())
        return [(p.name, p.stat().st_size) for p in found]

    def path_for(self, event: Mapping[str, Any]) -> Path:
        t = float(event.get("time") or time.time())
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
        track = "frame" if event.get("track") is None else f"t{event['track']}"
        name = f"{stamp}_{int(event.get('id', 0))}_s{int(event['source'])}_{track}_{event['event']}_{safe_name(str(event['name']))}.jpg"
        return self.folder / name

    def crop(self, image: np.ndarray, box: Optional[Sequence[int]]) -> Optional[np.ndarray]:
        """A copy of the region ``box`` (padded by ``pad``) of ``image``; the whole frame for None."""
        h, w = image.shape[:2]
        b = clipped_box(box, w, h, self.pad if box is not None else 0.0)
        return None if b is None else np.ascontiguousarray(image[b[1]:b[3], b[0]:b[2]]).copy()

    def write(self, path: Path, crop: np.ndarray) -> bool:
        """Encode and write atomically, then keep within budget. False (counted) when the disk refused."""
        try:
            data = encode_jpeg(crop, self.quality)
            write_bytes_atomic(path, data)
        except (OSError, EdgeclassError):
            self.failed += 1
            return False
        with self._lock:
            self._files.append((path.name, len(data)))
            self.bytes += len(data)
            self.written += 1
            self._prune()
        return True

    def _prune(self) -> None:
        while len(self._files) > 1 and (len(self._files) > self.max_files or self.bytes > self.max_bytes):
            name, size = self._files.popleft()
            try:
                (self.folder / name).unlink()
            except FileNotFoundError:
                pass
            except OSError:
                self._files.appendleft((name, size))
                return
            self.bytes -= size
            self.removed += 1

    def usage(self) -> Tuple[int, int]:
        """(files, bytes) of the snapshots kept now."""
        with self._lock:
            return len(self._files), self.bytes
