"""The plain data the loop hands to its outputs: regions as JSON-ready dicts, frames as JPEG bytes."""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ...errors import EdgeclassError

UNKNOWN = "unknown"


def stderr_line(line: str) -> None:
    """Where the outputs' warnings go by default (each takes a ``log`` callable instead)."""
    print(line, file=sys.stderr, flush=True)


def plain_region(region: Mapping[str, Any]) -> Dict[str, Any]:
    """One region of the loop's contract as JSON-ready data: ``track`` int|None, ``name`` str,
    ``score`` float, ``box`` [x1, y1, x2, y2] ints or None, ``confirmed`` bool (numpy scalars allowed)."""
    track = region.get("track")
    box = region.get("box")
    return {
        "track": None if track is None else int(track),
        "name": str(region.get("name", UNKNOWN)),
        "score": round(float(region.get("score", 0.0)), 4),
        "box": None if box is None else [int(round(float(v))) for v in box],
        "confirmed": bool(region.get("confirmed", True)),
    }


def plain_regions(regions: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    return [plain_region(r) for r in regions]


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    """BGR uint8 image -> JPEG bytes."""
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise EdgeclassError(f"could not encode a {image.shape} {image.dtype} image as JPEG")
    return buf.tobytes()


def clipped_box(box: Optional[Sequence[int]], width: int, height: int, pad: float = 0.0) -> Optional[List[int]]:
    """``box`` grown by ``pad`` of its size on each side and clipped to the image; None when empty."""
    if box is None:
        return [0, 0, width, height]
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * pad, (y2 - y1) * pad
    x1, y1 = max(0, int(x1 - dx)), max(0, int(y1 - dy))
    x2, y2 = min(width, int(x2 + dx)), min(height, int(y2 + dy))
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None
