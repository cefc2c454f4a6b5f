"""TensorRT's INT8 calibration cache (``weights/calibration.cache``), for implicit calibration on
TensorRT < 11. `edgeclass calibrate --trt-cache VERSION` writes it from ONNX Runtime's ranges and
`edgeclass engine --calibrator` reuses it, so the header and the version code live here, once.

Format: a header line ``TRT-<version code>-<algorithm>`` and one ``<tensor>: <hex>`` line per tensor,
the hex being the big-endian IEEE float32 bits of the scale ``amax / 127``. The algorithm names the
calibrator that produced the ranges and that must read them: ``MinMaxCalibration``
(``IInt8MinMaxCalibrator``; ONNX Runtime's min/max ranges) or ``EntropyCalibration2``
(``IInt8EntropyCalibrator2``; entropy ranges; trtexec's ``--calib`` calibrator is this one,
``RndInt8Calibrator`` in samples/common/sampleEngines.cpp). TensorRT ignores a cache whose header names
another version and recalibrates, so the version must be the target's. Tensor names are the ONNX tensor
names the parser keeps; tensors the parser creates itself have no line (``missing_scales``).
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Iterable, List, Mapping, Optional, Tuple

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


MINMAX, ENTROPY = "MinMaxCalibration", "EntropyCalibration2"
ALGORITHM_OF_METHOD = {"minmax": MINMAX, "entropy": ENTROPY}  # calibrate --method -> cache header


def algorithm_of(method: str) -> str:
    """The calibrator algorithm a cache of ``method`` ranges must name; percentile ranges have no
    TensorRT calibrator, so they get no cache."""
    try:
        return ALGORITHM_OF_METHOD[method]
    except KeyError:
        raise EdgeclassError(
            f"--trt-cache cannot carry {method} ranges: TensorRT has no such calibrator (use --method minmax or entropy)"
        ) from None


def header(code: int, algorithm: str = ENTROPY) -> str:
    """First line of a calibration cache, e.g. TRT-8601-MinMaxCalibration, TRT-100300-EntropyCalibration2."""
    return f"TRT-{code}-{algorithm}"


def parse_header(data: Optional[bytes]) -> Optional[Tuple[int, str]]:
    """(version code, algorithm) of a cache's first line, None when it is not a TensorRT cache."""
    if not data:
        return None
    m = re.fullmatch(r"TRT-(\d+)-(\w+)", data.split(b"\n", 1)[0].strip().decode("ascii", "replace"))
    return (int(m.group(1)), m.group(2)) if m else None


def matches(data: Optional[bytes], code: int, algorithm: Optional[str] = None) -> bool:
    """Reuse a cache only if it was written for this exact TensorRT version (scales from another
    version may name tensors differently) and, when given, for this calibrator algorithm."""
    found = parse_header(data)
    return found is not None and found[0] == code and (algorithm is None or found[1] == algorithm)


def tensor_names(data: Optional[bytes]) -> List[str]:
    """The tensors a cache has a scale for."""
    lines = (data or b"").decode("ascii", "replace").splitlines()[1:]
    return [line.rsplit(":", 1)[0] for line in lines if ":" in line]


def missing_scales(cache_names: Iterable[str], network_tensors: Iterable[str]) -> List[str]:
    """Network tensors (every layer output TensorRT's parser made) the cache has no scale for."""
    have = set(cache_names)
    return [t for t in network_tensors if t not in have]


def scale_hex(amax: float) -> str:
    return struct.pack(">f", max(float(amax), 1e-12) / 127.0).hex()


def write(path: str | os.PathLike, amax: Mapping[str, float], code: int, algorithm: str = MINMAX) -> Path:
    """The cache for ``amax`` (tensor name -> largest absolute value), names sorted."""
    lines = [header(code, algorithm)] + [f"{name}: {scale_hex(a)}" for name, a in sorted(amax.items())]
    return write_text_atomic(path, "\n".join(lines) + "\n", encoding="ascii")
