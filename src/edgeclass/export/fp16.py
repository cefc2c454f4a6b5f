"""fp16 ONNX: fp16 weights and compute, float32 input and output.

TensorRT 11 builds only strongly typed networks, so the precision has to be in the graph; keeping the
I/O in float32 means every consumer still feeds the same ``images`` tensor. The conversion is ONNX
Runtime's ``convert_float_to_float16(keep_io_types=True)``; it appends its input Casts at the end of
the node list, so the graph is topologically re-sorted before the checker sees it.
"""

from __future__ import annotations

from pathlib import Path

from ..artifacts import onnx as onnx_artifact
from ..errors import EdgeclassError
from ..spec import ModelCard
from .onnx_export import save_checked


def toposort_graph(graph) -> None:
    """Reorder ``graph.node`` in place so that every node comes after the producers of its inputs."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise EdgeclassError("the fp16 graph has inputs no node produces; cannot sort it")
        for n in ready:
            known.update(n.output)
        ordered.extend(ready)
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
    del graph.node[:]
    graph.node.extend(ordered)


def convert_fp16(fp32_path: Path, card: ModelCard, path: Path) -> Path:
    """``fp32_path`` (our fp32 ONNX) -> ``path`` with fp16 weights/compute and float32 I/O."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx_artifact.load(fp32_path)
    half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    toposort_graph(half.graph)
    onnx_artifact.set_card(half, card)
    return save_checked(half, path)
