"""INT8 quantization with ONNX Runtime: one calibration, two Q/DQ models.

- ``model.int8.onnx`` (TensorRT): signed INT8 activations and weights, every zero point 0, per-channel
  weight scales, biases float (TensorRT fuses them in higher precision), and Q/DQ placed by
  TensorRT's rules (``placement``: conv/GEMM inputs and weights, the residual input of an Add, no
  Q/DQ on outputs). Opset 17: what TensorRT 8.5 / 8.6 parse; 10.x and 11.x build it too (for their
  strongly typed builds ``modelopt_ptq`` adds an fp16 opset-19 variant).
- ``model.int8-cpu.onnx`` (ONNX Runtime on x86/ARM CPUs): unsigned activations, signed per-channel
  weights (U8S8), float biases (ONNX Runtime folds them when it fuses Q/DQ + Conv into QLinearConv;
  int32 biases from the quantizer prevent most of those fusions). ONNX Runtime's CPU kernels are
  built for U8S8.

The activation ranges are computed once (``calibrate``) and handed to both quantizations (and to the
sensitivity fallback) through ONNX Runtime's calibration cache file, so the models share them.

Entropy: ``quantize_static`` builds entropy histograms with 128 bins and 128 quantized bins, which
leaves no room for a threshold search (it returns the min/max). Here the histogram has 2048 bins and
the KL search uses 255 quantized bins, as TensorRT's entropy calibrator does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..artifacts import formats
from ..artifacts import onnx as onnx_artifact
from ..errors import EdgeclassError
from ..fileio import atomic_path
from .ort_quant import QUANTIZED_OP_TYPES, _method_enum, quiet_ort_logs  # noqa: F401 (re-exported)

METHODS = ("minmax", "percentile", "entropy")
ENTROPY_BINS = 2048
ENTROPY_QUANTIZED_BINS = 255
DEFAULT_PERCENTILE = 99.999


@dataclass(frozen=True)
class Target:
    """One INT8 flavour: its file name and ONNX Runtime quantization settings."""

    name: str
    file_name: str
    signed_activations: bool
    placement: str = "onnxruntime"  # "onnxruntime": quantize_static's default placement; "tensorrt": placement.py

    def quantize_kwargs(self):
        from onnxruntime.quantization import QuantFormat, QuantType

        # QuantizeBias=False for both: TensorRT wants float biases, and for ONNX Runtime's CPU the int32
        # bias path rescales weights so that most Conv nodes no longer fuse into QLinearConv (measured:
        # ResNet-18 U8S8 0.93x fp32 with int32 biases, 3.96x without).
        extra = {"WeightSymmetric": True, "ActivationSymmetric": self.signed_activations, "QuantizeBias": False}
        return dict(
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=False,
            activation_type=QuantType.QInt8 if self.signed_activations else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            extra_options=extra,
        )


TENSORRT = Target("int8", formats.get("onnx-int8").file_name, signed_activations=True, placement="tensorrt")
CPU = Target("int8-cpu", formats.get("onnx-int8-cpu").file_name, signed_activations=False)
TARGETS = (TENSORRT, CPU)


class ArrayReader:
    """ONNX Runtime CalibrationDataReader over an in-memory NCHW array, ``batch`` images at a time."""

    def __init__(self, images: np.ndarray, input_name: str, batch: int):
        self.images, self.input_name, self.batch = images, input_name, batch
        self._i = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self._i + self.batch > len(self.images):  # whole batches only: a static-batch model needs them
            return None
        chunk = self.images[self._i : self._i + self.batch]
        self._i += self.batch
        return {self.input_name: np.ascontiguousarray(chunk)}

    def __len__(self) -> int:
        return len(self.images) // self.batch

    def rewind(self) -> None:
        self._i = 0


def calibrator_options(method: str, percentile: float, bins: int = ENTROPY_BINS) -> Dict[str, object]:
    if method == "entropy":
        return {"num_bins": bins, "num_quantized_bins": min(ENTROPY_QUANTIZED_BINS, bins // 2 - 1), "symmetric": False}
    if method == "percentile":
        return {"num_bins": bins, "percentile": percentile, "symmetric": False}
    return {"symmetric": False}


def model_input(model_path: Path):
    """(input name, fixed batch size or None) of an ONNX model."""
    model = onnx_artifact.load(model_path, weights=False)
    inp = model.graph.input[0]
    dim = inp.type.tensor_type.shape.dim[0]
    return inp.name, (dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None)


def calibrate(model_path: Path, images: np.ndarray, batch: int, method: str, cache_path: Path,
              percentile: float = DEFAULT_PERCENTILE, bins: int = ENTROPY_BINS) -> Path:
    """Run ``images`` through ``model_path`` and write the activation ranges to ``cache_path``
    (ONNX Runtime's calibration cache JSON). Returns ``cache_path``. ``bins``: histogram size for
    entropy/percentile (ONNX Runtime's KL search is pure Python: its time grows with ``bins``)."""
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    if method not in METHODS:
        raise EdgeclassError(f"unknown calibration method {method!r} (choose from {', '.join(METHODS)})")
    name, fixed = model_input(model_path)
    batch = fixed or batch
    if len(images) < batch:
        raise EdgeclassError(f"{len(images)} calibration images are fewer than one batch of {batch}; use more images (--num) or a smaller --batch")
    with tempfile.TemporaryDirectory(prefix="edgeclass-calib-") as tmp, quiet_ort_logs():
        calibrator = create_calibrator(
            Path(model_path),
            [],
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=_method_enum(method),
            providers=["CPUExecutionProvider"],
            extra_options=calibrator_options(method, percentile, bins),
        )
        calibrator.collect_data(ArrayReader(images, name, batch))
        ranges = calibrator.compute_data()
        del calibrator
    save_tensors_data(ranges, cache_path)
    return cache_path


def range_amax(cache_path: Path) -> Dict[str, float]:
    """Largest absolute value of each tensor's range in ONNX Runtime's calibration cache."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    amax = {}
    for name, td in load_tensors_data(cache_path).data.items():
        lo, hi = td.range_value
        amax[name] = float(np.max(np.abs(np.concatenate([np.ravel(lo), np.ravel(hi)]))))
    return amax


def quantize(model_path: Path, out_path: Path, target: Target, cache_path: Path, method: str,
             exclude: Sequence[str] = (), only: Sequence[str] = ()) -> Path:
    """Write ``target``'s INT8 model from the ranges in ``cache_path``. ``exclude`` lists nodes kept in
    float; ``only`` restricts quantization to those nodes (used to measure one layer's sensitivity)."""
    from onnxruntime.quantization import quantize_static

    if target.placement == "tensorrt":
        from .placement import quantize_tensorrt

        with atomic_path(out_path) as tmp:
            quantize_tensorrt(model_path, tmp, cache_path, method, exclude=exclude, only=only)
        return out_path
    with atomic_path(out_path) as tmp, quiet_ort_logs():
        quantize_static(
            str(model_path),
            str(tmp),
            calibration_data_reader=None,
            calibrate_method=_method_enum(method),
            calibration_cache_path=str(cache_path),
            nodes_to_exclude=list(exclude),
            nodes_to_quantize=list(only),
            **target.quantize_kwargs(),
        )
    return out_path


def quantizable_nodes(model_path: Path) -> List[str]:
    """Names of the layers with weights that INT8 quantizes (the sensitivity candidates), in graph order."""
    model = onnx_artifact.load(model_path, weights=False)
    inits = {t.name for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type in QUANTIZED_OP_TYPES and len(n.input) > 1 and n.input[1] in inits]


def ensure_node_names(model) -> bool:
    """Give every unnamed node a unique name (exclusion lists refer to nodes by name). True if changed."""
    seen, changed = set(), False
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
            changed = True
        seen.add(node.name)
    return changed
