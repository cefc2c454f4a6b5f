"""The source ONNX of a build: which file (run folder, weights folder or ONNX file), which INT8 files
are there to choose from, what is in it (card, input, every output's name, precision kind), and
whether it fits the plan. Output names come from the file (``logits``, and ``embedding`` where the
model has one), never from a constant. ``onnx`` is imported lazily."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from ..artifacts import formats
from ..artifacts import onnx as onnx_artifact
from ..errors import EdgeclassError
from ..runs import Run
from ..spec import ModelCard
from .dla import QDQ_REFUSED
from .plan import INT8_FP16, INT8_QDQ, OUTPUT_NAME, BuildPlan, onnx_file

KIND_OF_INT8_FILE = {INT8_QDQ: "int8", INT8_FP16: "int8-fp16"}


def weights_folder(run_or_onnx: str | os.PathLike) -> Path:
    """Where the engine goes: the folder of an ONNX file, or the run's weights folder."""
    p = Path(run_or_onnx)
    if p.suffix.lower() == ".onnx":
        return p.parent
    return Run.find(p).weights if p.is_dir() else p


def available_int8(run_or_onnx: str | os.PathLike) -> List[str]:
    """The INT8 files ``plan.int8_source`` chooses from: those in the run's weights folder, or, for an
    ONNX file given by path, the canonical name of what that file is (a renamed file counts by content;
    a file that is no TensorRT INT8 file leaves the choice open, and ``check_source_fits`` names what it is)."""
    p = Path(run_or_onnx)
    if p.suffix.lower() == ".onnx":
        if not p.is_file():
            return list(KIND_OF_INT8_FILE)
        kind = read_onnx_info(p).kind
        return [name for name, k in KIND_OF_INT8_FILE.items() if k == kind] or list(KIND_OF_INT8_FILE)
    weights = weights_folder(p)
    return [name for name in KIND_OF_INT8_FILE if (weights / name).is_file()]


def resolve_source(run_or_onnx: str | os.PathLike, plan: BuildPlan) -> Tuple[Path, Path]:
    """(source ONNX, weights folder where the engine goes) for a run folder or an ONNX file."""
    p = Path(run_or_onnx)
    if p.suffix.lower() == ".onnx":
        if not p.is_file():
            raise EdgeclassError(f"{p} does not exist")
        return p, p.parent
    if not p.exists():
        raise EdgeclassError(f"{p} does not exist; give a run folder (runs/NAME) or an ONNX file")
    if not p.is_dir():
        raise EdgeclassError(f"{p} is not a run folder or an ONNX file")
    weights = Run.find(p).weights
    src = weights / plan.source_onnx
    if not src.is_file():
        maker = formats.by_file_name(plan.source_onnx).maker
        raise EdgeclassError(
            f"{src} is missing: a {plan.precision} engine on TensorRT {plan.version} is built from it; "
            f"run `{maker} {p}` first"
        )
    return src, weights


@dataclass(frozen=True)
class OnnxInfo:
    card: ModelCard
    input_name: str
    input_shape: Tuple[Any, ...]  # ints, or strings / -1 for dynamic dimensions
    output_names: Tuple[str, ...]  # every graph output, in graph order
    kind: str  # fp32, fp16, int8, int8-fp16 or int8-cpu

    @property
    def output_name(self) -> str:
        """The classifier output: ``logits`` when the model has it, else its first output."""
        return logits_output(self.output_names)


def logits_output(names: Sequence[str]) -> str:
    return OUTPUT_NAME if OUTPUT_NAME in names else names[0]


def onnx_kind(node_ops: Sequence[str], initializer_types: Sequence[int]) -> str:
    """int8 if the graph has Q/DQ nodes (int8-fp16 when it also holds fp16 tensors: ModelOpt's file for
    strongly typed TensorRT; int8-cpu when they use uint8 zero points, the asymmetric U8S8 model for
    ONNX Runtime on a CPU that TensorRT cannot build), fp16 if it holds fp16 weights, else fp32.
    ``initializer_types`` are ONNX TensorProto data types (1 FLOAT, 2 UINT8, 10 FLOAT16)."""
    if any(op in ("QuantizeLinear", "DequantizeLinear") for op in node_ops):
        if any(t == 2 for t in initializer_types):
            return "int8-cpu"
        return "int8-fp16" if any(t == 10 for t in initializer_types) else "int8"
    if any(t == 10 for t in initializer_types):
        return "fp16"
    return "fp32"


def read_onnx_info(path: str | os.PathLike) -> OnnxInfo:
    """Card, I/O names and precision kind of an edgeclass ONNX file (weights not loaded)."""
    model = onnx_artifact.load(path, weights=False)
    card = onnx_artifact.card_of(model, str(path))
    init_names = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init_names]
    if len(inputs) != 1 or not model.graph.output:
        raise EdgeclassError(f"{path}: expected one input and at least one output, found {len(inputs)} and {len(model.graph.output)}")
    dims: List[Any] = []
    for d in inputs[0].type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or -1))
    kind = onnx_kind([n.op_type for n in model.graph.node], [i.data_type for i in model.graph.initializer])
    return OnnxInfo(card, inputs[0].name, tuple(dims), tuple(o.name for o in model.graph.output), kind)


def check_source_fits(plan: BuildPlan, onnx_kind: str, onnx_path: str | os.PathLike) -> None:
    """A strongly typed build takes its precision from the ONNX graph, so building an "fp16" engine
    from an fp32 ONNX on TensorRT 11 would silently give fp32. Refuse mismatches."""
    if onnx_kind == plan.expected_onnx_kind:
        return
    if plan.dla_core is not None and onnx_kind.startswith("int8"):
        raise EdgeclassError(QDQ_REFUSED.format(onnx=onnx_path))
    if onnx_kind == "int8-cpu":
        raise EdgeclassError(
            f"{onnx_path} is the uint8 (U8S8) model for ONNX Runtime on a CPU; TensorRT needs the symmetric "
            f"int8 Q/DQ {onnx_file('int8')} from `{formats.by_file_name(onnx_file('int8')).maker}`"
        )
    wanted = {"fp32": ("an fp32 ONNX", onnx_file("fp32")), "fp16": ("an fp16 ONNX", onnx_file("fp16")),
              "int8": ("a Q/DQ int8 ONNX", INT8_QDQ), "int8-fp16": ("an fp16 Q/DQ int8 ONNX", INT8_FP16)}[plan.expected_onnx_kind]
    raise EdgeclassError(
        f"{onnx_path} is an {onnx_kind} model, but a {plan.precision} engine on TensorRT {plan.version} is built from "
        f"{wanted[0]} ({wanted[1]}); give that file or the run folder"
    )


def check_input_shape(onnx_shape: Sequence[Any], card: ModelCard, onnx_path: str | os.PathLike) -> Optional[int]:
    """The ONNX input must be N x 3 x S x S with S from the card. Returns the fixed batch (or None
    when the batch dimension is dynamic)."""
    if len(onnx_shape) != 4:
        raise EdgeclassError(f"{onnx_path}: input has {len(onnx_shape)} dimensions, expected N x 3 x H x W")
    c, h, w = onnx_shape[1:]
    s = card.preprocess.imgsz
    for name, got, want in (("channels", c, 3), ("height", h, s), ("width", w, s)):
        if isinstance(got, int) and got > 0 and got != want:
            raise EdgeclassError(f"{onnx_path}: input {name} is {got} but the model card says {want}")
    n = onnx_shape[0]
    return n if isinstance(n, int) and n > 0 else None
