"""Small shared pieces of ONNX Runtime's quantizer that every INT8 placement uses: the quantized op
types, the calibration-method enum and quieting its logs. (Shared by quantize.py and placement.py.)"""

from __future__ import annotations

import contextlib
import io
import logging
from contextlib import contextmanager
from typing import Iterator

QUANTIZED_OP_TYPES = ("Conv", "Gemm", "MatMul")  # layers whose weights are quantized (sensitivity candidates)


@contextmanager
def quiet_ort_logs() -> Iterator[None]:
    """onnxruntime.quantization logs advice (pre-processing) at WARNING and prints histogram progress
    on stdout; neither belongs in our report."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def _method_enum(method: str):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}[method]
