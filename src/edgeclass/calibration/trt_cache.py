"""TensorRT calibration cache (implicit INT8 calibration, TensorRT < 11) from the same ranges.

Format: a header line ``TRT-<version>-EntropyCalibration2`` and one ``<tensor>: <hex>`` line per
tensor, the hex being the big-endian IEEE float32 bits of the scale ``amax / 127``. TensorRT ignores a
cache whose header names another version (it recalibrates), so the version must be the target's.
Tensor names are the ONNX tensor names, which is what TensorRT's ONNX parser keeps.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import EdgeclassError
from ..fileio import write_text_atomic


def version_number(version: str) -> int:
    """"8.6.1" -> 8601, "10.3.0" -> 100300 (TensorRT's NV_TENSORRT_VERSION encoding)."""
    try:
        parts = [int(p) for p in version.split(".")[:3]]
    except ValueError:
        raise EdgeclassError(f"--trt-cache {version!r}: give a TensorRT version such as 8.6.1 or 10.3.0") from None
    major, minor, patch = (parts + [0, 0])[:3]
    if major >= 11:
        raise EdgeclassError("TensorRT 11 has no implicit INT8 calibration; use model.int8.onnx instead of a cache")
    if major < 8:
        raise EdgeclassError(f"TensorRT {version} is older than edgeclass supports (8.5+)")
    return major * 10000 + minor * 100 + patch if major >= 10 else major * 1000 + minor * 100 + patch


def scale_hex(amax: float) -> str:
    return struct.pack(">f", max(float(amax), 1e-12) / 127.0).hex()


def write_trt_cache(ranges_path: Path, path: Path, version: str) -> Path:
    from onnxruntime.quantization.calibrate import load_tensors_data

    header = f"TRT-{version_number(version)}-EntropyCalibration2"
    data = load_tensors_data(ranges_path)
    lines = [header]
    for name, td in sorted(data.data.items()):
        lo, hi = td.range_value
        amax = float(np.max(np.abs(np.concatenate([np.ravel(lo), np.ravel(hi)]))))
        lines.append(f"{name}: {scale_hex(amax)}")
    return write_text_atomic(path, "\n".join(lines) + "\n", encoding="ascii")
