"""Read-only questions about an ONNX graph with Q/DQ nodes, shared by the TensorRT placement
(``placement``) and its lint (``lint``): who produces and who consumes a tensor, whether a tensor
reaches a node through a DequantizeLinear, which input of a residual Add is the residual.

Works on an ``onnx.ModelProto`` (or its graph); never imports ``onnx`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
CONV_OPS = ("Conv", "ConvTranspose")
MATMUL_OPS = ("Gemm", "MatMul")
WEIGHTED_OPS = CONV_OPS + MATMUL_OPS
# ops that only move or copy data: walked through when looking for a conv behind an Add input
COPY_OPS = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")


@dataclass
class GraphIndex:
    """Producers and consumers of every tensor of one graph (names, not copies)."""

    nodes: List[Any]
    producer: Dict[str, Any]
    consumers: Dict[str, List[Any]]
    constants: Set[str]  # initializers and Constant-node outputs
    inputs: Set[str]
    outputs: Set[str]

    @classmethod
    def of(cls, model_or_graph: Any) -> "GraphIndex":
        graph = getattr(model_or_graph, "graph", model_or_graph)
        producer: Dict[str, Any] = {}
        consumers: Dict[str, List[Any]] = {}
        constants = {t.name for t in graph.initializer}
        for node in graph.node:
            for o in node.output:
                producer[o] = node
            if node.op_type == "Constant":
                constants.update(node.output)
            for i in node.input:
                if i:
                    consumers.setdefault(i, []).append(node)
        return cls(
            nodes=list(graph.node), producer=producer, consumers=consumers, constants=constants,
            inputs={i.name for i in graph.input} - constants, outputs={o.name for o in graph.output},
        )

    def op_of(self, tensor: str) -> Optional[str]:
        node = self.producer.get(tensor)
        return node.op_type if node is not None else None

    def is_dequantized(self, tensor: str) -> bool:
        """The tensor is the output of a DequantizeLinear (what TensorRT sees as an INT8 input)."""
        return self.op_of(tensor) == "DequantizeLinear"

    def is_constant(self, tensor: str) -> bool:
        """An initializer, or a DequantizeLinear of one (a quantized weight)."""
        if tensor in self.constants:
            return True
        node = self.producer.get(tensor)
        return node is not None and node.op_type in QDQ_OPS and self.is_constant(node.input[0])

    def quantized_copies(self, tensor: str) -> List[str]:
        """Outputs of the Q -> DQ pairs that already quantize ``tensor`` (empty if none)."""
        out = []
        for q in self.consumers.get(tensor, []):
            if q.op_type != "QuantizeLinear":
                continue
            out += [dq.output[0] for dq in self.consumers.get(q.output[0], []) if dq.op_type == "DequantizeLinear"]
        return out

    def float_source(self, tensor: str) -> str:
        """The float tensor behind a DQ(Q(x)) pair, or ``tensor`` itself."""
        node = self.producer.get(tensor)
        if node is not None and node.op_type == "DequantizeLinear":
            q = self.producer.get(node.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                return q.input[0]
        return tensor

    def activation_inputs(self, node: Any) -> List[str]:
        """Inputs of ``node`` that are neither empty nor constants (weights, biases, shapes)."""
        return [i for i in node.input if i and not self.is_constant(i)]

    def conv_behind(self, tensor: str, depth: int = 6) -> Optional[Any]:
        """The Conv that produces ``tensor``, walking back through copy ops and Q/DQ (None if another
        op produces it): TensorRT can fuse an Add into that conv."""
        node = self.producer.get(self.float_source(tensor))
        while node is not None and depth > 0:
            if node.op_type in CONV_OPS:
                return node
            if node.op_type not in COPY_OPS + ("BatchNormalization",):
                return None
            node = self.producer.get(self.float_source(node.input[0]))
            depth -= 1
        return None

    def depth_to(self, tensor: str, ancestor: str, limit: int = 64) -> Optional[int]:
        """Fewest nodes between ``ancestor`` and ``tensor`` going backwards (None if not reached)."""
        frontier, seen = [(tensor, 0)], set()
        while frontier:
            name, d = frontier.pop(0)
            if name == ancestor:
                return d
            if name in seen or d > limit:
                continue
            seen.add(name)
            node = self.producer.get(name)
            if node is not None:
                frontier += [(i, d + 1) for i in node.input if i and i not in self.constants]
        return None


def residual_input(index: GraphIndex, add: Any) -> Optional[str]:
    """The *residual* input of a two-input Add, or None when the Add is not a residual add.

    The other input (the non-residual one) is the output of a conv that TensorRT fuses the Add into
    (conv + elementwise add, optionally + ReLU), so only the residual input should carry Q/DQ.
    The rule follows NVIDIA ModelOpt's ``build_non_residual_input_map``: if exactly one input comes
    from a conv, the other input is the residual; if both do (a ResNet downsample block), the input
    on the longer path from their common ancestor is the non-residual one.
    """
    acts = index.activation_inputs(add)
    if add.op_type != "Add" or len(acts) != 2 or len(add.input) != 2:
        return None
    a, b = (index.float_source(t) for t in add.input)
    conv_a, conv_b = index.conv_behind(a), index.conv_behind(b)
    if conv_a is None and conv_b is None:
        return None
    if conv_a is not None and conv_b is not None:
        if conv_a is conv_b:
            return None
        da, db = _common_ancestor_depths(index, a, b)
        return add.input[1] if da > db else add.input[0]
    conv, other = (conv_a, b) if conv_a is not None else (conv_b, a)
    if index.depth_to(other, conv.output[0]) is not None:
        return None  # the other input grows out of the same conv (ConvNeXt-like): not a residual add
    return add.input[1] if conv_a is not None else add.input[0]


def _common_ancestor_depths(index: GraphIndex, a: str, b: str) -> tuple:
    """(depth of ``a``, depth of ``b``) below their nearest common ancestor tensor."""
    best = None
    for name in _ancestors(index, a):
        da, db = index.depth_to(a, name), index.depth_to(b, name)
        if da is not None and db is not None and (best is None or da + db < best[0] + best[1]):
            best = (da, db)
    return best or (0, 0)


def _ancestors(index: GraphIndex, tensor: str, limit: int = 64) -> List[str]:
    out, frontier, seen = [], [tensor], set()
    while frontier and len(out) < limit:
        name = frontier.pop(0)
        if name in seen:
            continue
        seen.add(name)
        out.append(name)
        node = index.producer.get(name)
        if node is not None:
            frontier += [i for i in node.input if i and i not in index.constants]
    return out


def is_matrix_vector(index: GraphIndex, node: Any, shapes: Dict[str, Sequence[Any]], min_dim: int = 16) -> bool:
    """A Gemm/MatMul that is a matrix-vector product per image (2-D activation: batch x K, so one
    camera frame is M = 1) or has K or N below ``min_dim``: TensorRT runs it no faster in INT8, and
    ModelOpt leaves such GEMMs float (``find_nodes_from_matmul_to_exclude``)."""
    if node.op_type not in MATMUL_OPS:
        return False
    acts = index.activation_inputs(node)
    if not acts:
        return False
    shape = shapes.get(index.float_source(acts[0]))
    if shape is not None and len(shape) == 2:
        return True
    weight = next((i for i in node.input[1:2] if index.is_constant(i)), None)
    wshape = shapes.get(index.float_source(weight)) if weight else None
    return bool(wshape) and any(isinstance(d, int) and 0 < d < min_dim for d in wshape)


def tensor_shapes(model: Any) -> Dict[str, Sequence[Any]]:
    """Shapes (ints, or strings for symbolic dims) of every tensor ONNX shape inference can type."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    out: Dict[str, Sequence[Any]] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]
    for t in g.initializer:
        out[t.name] = list(t.dims)
    return out
