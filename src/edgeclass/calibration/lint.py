"""``check_trt_friendly``: does a Q/DQ ONNX file follow TensorRT's placement rules?

The rules are data (``RULES``): an id, whether a hit is an error or a warning, what it detects, and
NVIDIA's reason with the document or source it comes from. Each rule has one checker function that
returns findings; ``check_trt_friendly`` runs them all. ``edgeclass calibrate`` lints every
TensorRT file it writes (a finding of severity "error" fails that file), and tests plant each
anti-pattern to prove the rule fires.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from .qdq_graph import CONV_OPS, MATMUL_OPS, QDQ_OPS, GraphIndex, is_matrix_vector, residual_input, tensor_shapes

TRT_GUIDE = "https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html"
MODELOPT = "NVIDIA/TensorRT-Model-Optimizer, nvidia-modelopt 0.47.0"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # "error": TensorRT builds a slower or less accurate engine, or none; "warning": slower
    detects: str
    reason: str
    source: str


RULES = (
    Rule("conv-output-qdq-before-relu", "error",
         "Q/DQ between a Conv and the ReLU it feeds",
         "TensorRT fuses Conv (+BN) + ReLU into one kernel and quantizes the fused output itself when "
         "the next layer's input is quantized; a Q/DQ on the conv output splits that fusion and adds an "
         "extra requantization. Quantize weighted-op inputs, not their outputs.",
         f"{TRT_GUIDE} (Q/DQ Layer-Placement Recommendations); {MODELOPT}: "
         "modelopt/onnx/quantization/ort_utils.py configure_ort (Relu removed from the QDQ registry, "
         "OpTypesToExcludeOutputQuantization = every op type)"),
    Rule("add-both-inputs-quantized", "error",
         "a residual Add whose two inputs both come from DequantizeLinear",
         "TensorRT fuses the Add into the conv that produces its non-residual input (conv + "
         "elementwise add + ReLU); a DQ on that input blocks the fusion. Only the residual input "
         "should be quantized.",
         f"{TRT_GUIDE} (quantize the residual input of an element-wise addition); {MODELOPT}: "
         "modelopt/onnx/quantization/graph_utils.py build_non_residual_input_map, remove_partial_input_qdq"),
    Rule("graph-output-quantized", "error",
         "a graph output produced by QuantizeLinear/DequantizeLinear",
         "The logits get clamped to the calibration range and rounded to at most 255 levels; no later "
         "layer consumes them in INT8, so it only costs accuracy.",
         f"{MODELOPT}: configure_ort excludes output quantization for every op type"),
    Rule("opset-above-parser", "error",
         "the model's ONNX opset is higher than the target TensorRT parser reads",
         "TensorRT's ONNX parser rejects opsets above the one it was built for (8.5 and 8.6: 17).",
         "onnx/onnx-tensorrt README per release branch (8.5-GA, 8.6-GA); see docs/tensorrt-notes.md"),
    Rule("asymmetric-or-unsigned-qdq", "error",
         "a Q/DQ with a nonzero or uint8 zero point, or none (ONNX's default is uint8)",
         "TensorRT's quantization is symmetric signed INT8 (zero point 0); UINT8 and asymmetric Q/DQ "
         "are only parsed for DLA with OnnxParserFlag kENABLE_UINT8_AND_ASYMMETRIC_QUANTIZATION_DLA.",
         f"{TRT_GUIDE} (symmetric quantization scheme); TensorRT 11.x 'ONNX Parser Flags for DLA'"),
    Rule("fp16-scale-before-opset19", "error",
         "a Q/DQ with a float16 scale in a model below opset 19",
         "QuantizeLinear/DequantizeLinear accept float16 scales only from opset 19; below it the model "
         "is invalid ONNX. An fp16 Q/DQ model (for strongly typed TensorRT 10/11) must be opset >= 19.",
         "onnx/onnx docs/Changelog.md QuantizeLinear-19 / DequantizeLinear-19"),
    Rule("matrix-vector-gemm-quantized", "warning",
         "Q/DQ on a Gemm/MatMul that is a matrix-vector product (2-D activation, or K or N < 16)",
         "Such GEMMs cannot use INT8 Tensor Cores; Q/DQ around them makes TensorRT slower, not faster.",
         f"{MODELOPT}: modelopt/onnx/quantization/graph_utils.py find_nodes_from_matmul_to_exclude"),
)
RULES_BY_ID = {r.id: r for r in RULES}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    node: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.severity} {self.rule}: {self.node}: {self.message}"


def _finding(rule_id: str, node: str, message: str) -> Finding:
    return Finding(rule_id, RULES_BY_ID[rule_id].severity, node, message)


def model_opset(model: Any) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _conv_output_before_relu(model: Any, index: GraphIndex, _opset: Optional[int]) -> Iterator[Finding]:
    for node in index.nodes:
        if node.op_type not in CONV_OPS:
            continue
        for copy in index.quantized_copies(node.output[0]):
            if any(c.op_type == "Relu" for c in index.consumers.get(copy, [])):
                yield _finding("conv-output-qdq-before-relu", node.name, f"output {node.output[0]} is quantized before its ReLU")


def _add_both_inputs(model: Any, index: GraphIndex, _opset: Optional[int]) -> Iterator[Finding]:
    for node in index.nodes:
        if node.op_type != "Add" or len(node.input) != 2 or len(index.activation_inputs(node)) != 2:
            continue
        if all(index.is_dequantized(i) for i in node.input):
            yield _finding("add-both-inputs-quantized", node.name,
                           f"both inputs are dequantized; quantize only the residual one ({residual_input(index, node) or 'none found'})")


def _graph_output(model: Any, index: GraphIndex, _opset: Optional[int]) -> Iterator[Finding]:
    for name in sorted(index.outputs):
        if index.op_of(name) in QDQ_OPS:
            yield _finding("graph-output-quantized", name, f"graph output {name} comes from {index.op_of(name)}")


def _opset_above(model: Any, index: GraphIndex, target: Optional[int]) -> Iterator[Finding]:
    opset = model_opset(model)
    if target is not None and opset > target:
        yield _finding("opset-above-parser", "model", f"opset {opset} > {target}, the highest the target TensorRT parser reads")


def _zero_points(model: Any, index: GraphIndex, _opset: Optional[int]) -> Iterator[Finding]:
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    for node in index.nodes:
        if node.op_type in QDQ_OPS and (len(node.input) < 3 or not node.input[2]):
            yield _finding("asymmetric-or-unsigned-qdq", node.name, "no zero point: ONNX then defaults to uint8")
            continue
        if node.op_type not in QDQ_OPS or node.input[2] not in inits:
            continue
        zp = inits[node.input[2]]
        if zp.data_type == TensorProto.UINT8 or numpy_helper.to_array(zp).any():
            yield _finding("asymmetric-or-unsigned-qdq", node.name, f"zero point {node.input[2]} is not a signed zero")


def _fp16_scales(model: Any, index: GraphIndex, _opset: Optional[int]) -> Iterator[Finding]:
    from onnx import TensorProto

    if model_opset(model) >= 19:
        return
    inits = {t.name: t for t in model.graph.initializer}
    for node in index.nodes:
        if node.op_type in QDQ_OPS and node.input[1] in inits and inits[node.input[1]].data_type == TensorProto.FLOAT16:
            yield _finding("fp16-scale-before-opset19", node.name, f"float16 scale at opset {model_opset(model)}")


def _matrix_vector(model: Any, index: GraphIndex, _opset: Optional[int]) -> Iterator[Finding]:
    shapes = None
    for node in index.nodes:
        if node.op_type not in MATMUL_OPS or not any(index.is_dequantized(i) for i in node.input):
            continue
        shapes = shapes if shapes is not None else tensor_shapes(model)
        if is_matrix_vector(index, node, shapes):
            yield _finding("matrix-vector-gemm-quantized", node.name, "matrix-vector GEMM with Q/DQ inputs")


CHECKS: Dict[str, Callable[[Any, GraphIndex, Optional[int]], Iterator[Finding]]] = {
    "conv-output-qdq-before-relu": _conv_output_before_relu,
    "add-both-inputs-quantized": _add_both_inputs,
    "graph-output-quantized": _graph_output,
    "opset-above-parser": _opset_above,
    "asymmetric-or-unsigned-qdq": _zero_points,
    "fp16-scale-before-opset19": _fp16_scales,
    "matrix-vector-gemm-quantized": _matrix_vector,
}


def check_trt_friendly(model_or_path: Union[Any, str, os.PathLike], target_parser_opset: Optional[int] = None) -> List[Finding]:
    """Every placement finding of a Q/DQ ONNX model (a ``ModelProto`` or a path) against TensorRT's
    rules, in rule order. ``target_parser_opset``: the highest opset the TensorRT that will build it
    parses (17 for 8.5 / 8.6; None: not checked). An empty list means TensorRT-friendly."""
    if isinstance(model_or_path, (str, os.PathLike)):
        from ..artifacts import onnx as onnx_artifact

        model = onnx_artifact.load(model_or_path)
    else:
        model = model_or_path
    index = GraphIndex.of(model)
    return [f for rule in RULES for f in CHECKS[rule.id](model, index, target_parser_opset)]


def errors(findings: List[Finding]) -> List[Finding]:
    return [f for f in findings if f.severity == "error"]


def rules_table() -> str:
    """The rules as a Markdown table (docs/tensorrt-notes.md prints the same)."""
    lines = ["| rule | severity | detects | NVIDIA's reason | source |", "|---|---|---|---|---|"]
    lines += [f"| `{r.id}` | {r.severity} | {r.detects} | {r.reason} | {r.source} |" for r in RULES]
    return "\n".join(lines)
