"""Which INT8 files ``calibrate`` writes, what each card records about its placement, and the lint
each TensorRT file must pass.

| file | placement | for |
|---|---|---|
| ``model.int8.onnx`` | ``tensorrt-qdq-opset17`` (``placement``) | TensorRT 8.5 / 8.6 (INT8 + FP16 flags); 10.x / 11.x parse it too |
| ``model.int8-fp16.onnx`` | ``modelopt-0.47-opset19`` (``modelopt_ptq``), fp16 elsewhere | strongly typed TensorRT 10.x / 11.x |
| ``model.int8-cpu.onnx`` | ONNX Runtime's default, U8S8 | ONNX Runtime on a CPU |
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import EdgeclassError

from .lint import Finding, check_trt_friendly
from .modelopt_ptq import FILE_NAME as MODELOPT_FILE
from .modelopt_ptq import INSTALL_HINT, modelopt_version, placement_id
from .placement import PLACEMENT_ID
from .quantize import TARGETS, Target

MODELOPT = Target("int8-fp16", MODELOPT_FILE, signed_activations=True, placement="modelopt")

# highest ONNX opset each TensorRT parser reads (onnx/onnx-tensorrt docs/operators.md: 8.5-GA and
# 8.6-GA "up to Opset 17", 10.0-GA "opset 9 to opset 20")
PARSER_MAX_OPSET = {"tensorrt": 17, "modelopt": 20}


TARGET_NAMES = tuple(t.name for t in TARGETS) + (MODELOPT.name,)  # what `calibrate --targets` accepts


def calibration_targets(only: Optional[Sequence[str]] = None) -> Tuple[Tuple[Target, ...], List[str]]:
    """(targets to write, notes for the report): ModelOpt's file only where ModelOpt is installed;
    ``only``: just these target names (``calibrate --targets int8,int8-cpu``)."""
    wanted = set(only) if only else set(TARGET_NAMES)
    unknown = sorted(wanted - set(TARGET_NAMES))
    if unknown:
        raise EdgeclassError(f"unknown INT8 target {', '.join(unknown)} (choose from {', '.join(TARGET_NAMES)})")
    targets = tuple(t for t in TARGETS if t.name in wanted)
    if MODELOPT.name not in wanted:
        return targets, []
    if modelopt_version() is None:
        return targets, [f"{MODELOPT_FILE} (INT8 + fp16 for strongly typed TensorRT 10/11) skipped: ModelOpt is not installed; {INSTALL_HINT}"]
    return targets + (MODELOPT,), []


def placement_record(target: Target) -> Dict[str, object]:
    """What the card's ``provenance.quantization`` says about how the file was placed and for whom."""
    if target.placement == "tensorrt":
        return {"placement": PLACEMENT_ID, "opset": 17, "high_precision": "fp32",
                "tensorrt": "8.5+ (8.5/8.6: INT8+FP16 flags)", "tool": "edgeclass + onnxruntime.quantization"}
    if target.placement == "modelopt":
        version = modelopt_version() or "unknown"
        return {"placement": placement_id(version), "opset": 19, "high_precision": "fp16",
                "tensorrt": "10.0+ strongly typed", "tool": f"nvidia-modelopt {version}"}
    return {"placement": "onnxruntime-default-u8s8", "tool": "onnxruntime.quantization", "tensorrt": None}


def lint_target(target: Target, path: Path) -> Optional[List[Finding]]:
    """Lint findings of a TensorRT file against its target parser (None: not a TensorRT file)."""
    if target.placement not in PARSER_MAX_OPSET:
        return None
    return check_trt_friendly(path, target_parser_opset=PARSER_MAX_OPSET[target.placement])
