"""Q/DQ placed the way TensorRT wants it, at opset 17 (TensorRT 8.5 / 8.6 parse it; 10.x and 11.x too).

NVIDIA's placement rules (TensorRT developer guide, "Q/DQ Layer-Placement Recommendations"; NVIDIA
ModelOpt's ONNX PTQ applies the same ones), implemented with ONNX Runtime's quantizer plus one pass:

1. Q/DQ on the *inputs* of Conv / ConvTranspose / Gemm / MatMul and on their weights (per output
   channel for convs), symmetric INT8 with zero point 0, biases float.
2. No Q/DQ on any op's output (``OpTypesToExcludeOutputQuantization`` = every op type): a conv's
   output goes float into its ReLU, which TensorRT fuses into the conv, and Add, ReLU, MaxPool,
   GlobalAveragePool are not in the quantized op set.
3. The residual input of a residual Add gets Q/DQ (``qdq_graph.residual_input``), the other input
   (the conv branch) does not, so TensorRT fuses conv + add (+ ReLU) into one INT8 kernel.
4. Matrix-vector GEMMs (the classifier's fc: batch x K at batch 1, or fewer than 16 classes) stay
   float, and so the graph output is never quantized.

Activation ranges come from the same calibration cache as every other INT8 file (``quantize.calibrate``).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..errors import EdgeclassError
from .qdq_graph import MATMUL_OPS, WEIGHTED_OPS, GraphIndex, is_matrix_vector, residual_input, tensor_shapes

PLACEMENT_ID = "tensorrt-qdq-opset17"
MAX_OPSET = 17  # the highest opset TensorRT 8.5's ONNX parser reads


@dataclass
class PlacementPlan:
    """Which weighted layers get Q/DQ on their inputs, and why the others stay float."""

    quantize: List[str]
    float_layers: Dict[str, str] = field(default_factory=dict)  # node name -> reason

    def to_dict(self) -> dict:
        return {"quantized_layers": len(self.quantize), "float_layers": dict(self.float_layers)}


def weighted_layers(index: GraphIndex) -> List[Any]:
    """Conv / Gemm / MatMul nodes whose weight is a constant, in graph order."""
    return [n for n in index.nodes if n.op_type in WEIGHTED_OPS and len(n.input) > 1 and index.is_constant(n.input[1])]


def plan_placement(model: Any, exclude: Sequence[str] = (), only: Sequence[str] = ()) -> PlacementPlan:
    """The weighted layers to quantize: all but matrix-vector GEMMs and ``exclude``; ``only`` (the
    sensitivity probe) restricts the plan to those layers."""
    index = GraphIndex.of(model)
    shapes = tensor_shapes(model)
    plan = PlacementPlan(quantize=[])
    for node in weighted_layers(index):
        if only and node.name not in only:
            continue
        if node.name in exclude:
            plan.float_layers[node.name] = "kept float by the accuracy fallback"
        elif node.op_type in MATMUL_OPS and is_matrix_vector(index, node, shapes):
            plan.float_layers[node.name] = "matrix-vector GEMM: no faster in INT8 on TensorRT"
        else:
            plan.quantize.append(node.name)
    return plan


def ort_options(model: Any) -> Dict[str, Any]:
    """``quantize_static`` extra options for rules 1-2."""
    ops = sorted({n.op_type for n in model.graph.node})
    return {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
        "QuantizeBias": False,
        "DedicatedQDQPair": False,  # one Q/DQ per tensor, shared by its consumers (conv and residual add)
        "QDQOpTypePerChannelSupportToAxis": {"Conv": 0, "ConvTranspose": 1},
        "OpTypesToExcludeOutputQuantization": ops,
    }


def tensor_amax(cache_path: Path) -> Dict[str, float]:
    """max(|min|, |max|) of every calibrated tensor in ONNX Runtime's calibration cache."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    out = {}
    for name, td in load_tensors_data(cache_path).data.items():
        lo, hi = td.range_value
        out[name] = float(np.max(np.abs(np.concatenate([np.ravel(lo), np.ravel(hi)]))))
    return out


def _add_qdq(model: Any, tensor: str, amax: float) -> str:
    """Append Q -> DQ of ``tensor`` (symmetric int8, zero point 0); returns the DQ output name."""
    from onnx import TensorProto, helper

    scale, zp = f"{tensor}_residual_scale", f"{tensor}_residual_zero_point"
    model.graph.initializer.extend([
        helper.make_tensor(scale, TensorProto.FLOAT, [], [max(amax, 1e-12) / 127.0]),
        helper.make_tensor(zp, TensorProto.INT8, [], [0]),
    ])
    q_out, dq_out = f"{tensor}_residual_quantized", f"{tensor}_residual_dequantized"
    model.graph.node.extend([
        helper.make_node("QuantizeLinear", [tensor, scale, zp], [q_out], name=f"{tensor}_residual_QuantizeLinear"),
        helper.make_node("DequantizeLinear", [q_out, scale, zp], [dq_out], name=f"{tensor}_residual_DequantizeLinear"),
    ])
    return dq_out


def quantize_residual_inputs(model: Any, amax: Dict[str, float]) -> List[Tuple[str, str]]:
    """Rule 3: give every residual Add input a Q/DQ (reusing an existing Q/DQ of that tensor when
    there is one). Returns (Add node, quantized input) pairs. Nodes are re-sorted afterwards."""
    index = GraphIndex.of(model)
    done = []
    for add in [n for n in index.nodes if n.op_type == "Add"]:
        tensor = residual_input(index, add)
        if tensor is None or index.is_dequantized(tensor):
            continue
        copies = index.quantized_copies(tensor)
        if copies:
            dq = copies[0]
        elif tensor in amax:
            dq = _add_qdq(model, tensor, amax[tensor])
        else:
            raise EdgeclassError(f"no calibrated range for {tensor!r} (residual input of {add.name}); recalibrate")
        add.input[list(add.input).index(tensor)] = dq
        done.append((add.name, tensor))
    if done:
        _toposort(model)
    return done


def _toposort(model: Any) -> None:
    graph = model.graph
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progressed = False
        for node in list(pending):
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
                pending.remove(node)
                progressed = True
        if not progressed:
            raise EdgeclassError("the quantized graph has a cycle or a dangling input; please report it")
    del graph.node[:]
    graph.node.extend(ordered)


def quantize_tensorrt(model_path: Path, out_path: Path, cache_path: Path, method: str,
                      exclude: Sequence[str] = (), only: Sequence[str] = ()) -> PlacementPlan:
    """Write the TensorRT-placed INT8 model of ``model_path`` to ``out_path`` (not atomically:
    the caller's ``atomic_path`` holds it). ``only``: quantize just those layers (no residual pass)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from .ort_quant import QUANTIZED_OP_TYPES, _method_enum, quiet_ort_logs

    model = onnx.load(str(model_path))
    if model.opset_import and max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) > MAX_OPSET:
        raise EdgeclassError(f"{model_path} is above opset {MAX_OPSET}; re-export it with `edgeclass export RUN --opset 17`")
    plan = plan_placement(model, exclude, only)
    if not plan.quantize:
        shutil.copyfile(model_path, out_path)
        return plan
    with tempfile.TemporaryDirectory(prefix="edgeclass-trt-qdq-") as tmp, quiet_ort_logs():
        staged = Path(tmp) / "qdq.onnx"
        quantize_static(
            str(model_path), str(staged), calibration_data_reader=None, calibrate_method=_method_enum(method),
            calibration_cache_path=str(cache_path), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANTIZED_OP_TYPES) + ["ConvTranspose"], nodes_to_quantize=plan.quantize,
            extra_options=ort_options(model),
        )
        qmodel = onnx.load(str(staged))
    if not only:
        quantize_residual_inputs(qmodel, tensor_amax(cache_path))
    onnx.save_model(qmodel, str(out_path), save_as_external_data=False)
    return plan
