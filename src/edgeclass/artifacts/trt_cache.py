"""TensorRT's INT8 calibration cache (``weights/calibration.cache``), for implicit calibration on
TensorRT < 11. `edgeclass calibrate --trt-cache VERSION` writes it from ONNX Runtime's ranges and
`edgeclass engine --calibrator` reuses it, so the header and the version code live here, once.

Format: a header line ``TRT-<version code>-EntropyCalibration2`` and one ``<tensor>: <hex>`` line per
tensor, the hex being the big-endian IEEE float32 bits of the scale ``amax / 127``. TensorRT ignores a
cache whose header names another version (it recalibrates), so the version must be the target's.
Tensor names are the ONNX tensor names, which is what TensorRT's ONNX parser keeps.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Mapping, Optional

from ..errors import EdgeclassError
from ..fileio import write_text_atomic

FILE_NAME = "calibration.cache"


def version_code(major: int, minor: int, patch: int) -> int:
    """NV_TENSORRT_VERSION as TensorRT writes it in cache headers: MAJOR*1000+MINOR*100+PATCH before
    10 (8.6.1 -> 8601), MAJOR*10000+MINOR*100+PATCH from 10 on (10.3.0 -> 100300)."""
    if major < 10:
        return major * 1000 + minor * 100 + patch
    return major * 10000 + minor * 100 + patch


def version_number(version: str) -> int:
    """``--trt-cache VERSION`` -> its version code, for a TensorRT that has implicit calibration."""
    try:
        parts = [int(p) for p in version.split(".")[:3]]
    except ValueError:
        raise EdgeclassError(f"--trt-cache {version!r}: give a TensorRT version such as 8.6.1 or 10.3.0") from None
    major, minor, patch = (parts + [0, 0])[:3]
    if major >= 11:
        raise EdgeclassError("TensorRT 11 has no implicit INT8 calibration; use model.int8.onnx instead of a cache")
    if major < 8:
        raise EdgeclassError(f"TensorRT {version} is older than edgeclass supports (8.5+)")
    return version_code(major, minor, patch)


def header(code: int) -> str:
    """First line TensorRT writes into an entropy-calibration cache, e.g. TRT-100300-EntropyCalibration2."""
    return f"TRT-{code}-EntropyCalibration2"


def matches(data: Optional[bytes], code: int) -> bool:
    """Reuse a cache only if TensorRT of this exact version wrote it: scales from another version may
    name tensors differently, and TensorRT rejects a mismatched header by trying to recalibrate with
    no data."""
    if not data:
        return False
    first = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    return first == header(code)


def scale_hex(amax: float) -> str:
    return struct.pack(">f", max(float(amax), 1e-12) / 127.0).hex()


def write(path: str | os.PathLike, amax: Mapping[str, float], code: int) -> Path:
    """The cache for ``amax`` (tensor name -> largest absolute value), names sorted."""
    lines = [header(code)] + [f"{name}: {scale_hex(a)}" for name, a in sorted(amax.items())]
    return write_text_atomic(path, "\n".join(lines) + "\n", encoding="ascii")
