"""ONNX export: input ``images`` (float32 NCHW RGB in [0, 1]), output ``logits``, card in metadata.

Which exporter: opset 17 is the default because it is the highest opset TensorRT 8.5 (JetPack 5)
parses, and TensorRT 10/11 and ONNX Runtime read it too. torch's torch.export-based ("dynamo")
exporter writes opset 18+ only; its down-conversion to 17 fails for ResNet (ReduceMean's axes moved
from attribute to input in opset 18). So ``opset <= 17`` uses torch's TorchScript-based exporter
(deprecated but present, and it emits GlobalAveragePool, which every TensorRT parses), and
``opset >= 18`` uses the dynamo exporter. Either way the result is one self-contained file that
passes ``onnx.checker`` full check.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch

from ..artifacts import onnx as onnx_artifact
from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..spec import ModelCard
from .opsets import DEFAULT_OPSET, LEGACY_MAX_OPSET, MAX_OPSET, MIN_OPSET

INPUT_NAME = "images"
OUTPUT_NAME = "logits"


def exporter_for(opset: int) -> str:
    """``"torchscript"`` (legacy exporter) for opset <= 17, ``"dynamo"`` above."""
    if opset < MIN_OPSET:
        raise EdgeclassError(f"--opset {opset} is too old; use {MIN_OPSET} or newer (17 for TensorRT 8.5 / JetPack 5)")
    if opset > MAX_OPSET:
        raise EdgeclassError(f"--opset {opset} is newer than torch's exporter writes; use {MIN_OPSET} to {MAX_OPSET}")
    return "torchscript" if opset <= LEGACY_MAX_OPSET else "dynamo"


def _export_raw(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int, dynamic: bool) -> None:
    if exporter_for(opset) == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None,
                do_constant_folding=True,
            )
        return
    kwargs = {}
    if dynamic:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    program = torch.onnx.export(
        model, (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME], verbose=False, **kwargs,
    )
    program.save(str(path), external_data=False)


def _tidy(model_proto, card: ModelCard) -> None:
    """Fixed names, the card, no per-node stack traces (they hold local paths)."""
    graph = model_proto.graph
    renames = {graph.input[0].name: INPUT_NAME, graph.output[0].name: OUTPUT_NAME}
    for old, new in renames.items():
        if old == new:
            continue
        for node in graph.node:
            node.input[:] = [new if n == old else n for n in node.input]
            node.output[:] = [new if n == old else n for n in node.output]
    graph.input[0].name = INPUT_NAME
    graph.output[0].name = OUTPUT_NAME
    for node in graph.node:
        del node.metadata_props[:]
    model_proto.producer_name = "edgeclass"
    onnx_artifact.set_card(model_proto, card)


def save_checked(model_proto, path: Path) -> Path:
    """Write ``model_proto`` as one self-contained file (atomic) and run the full ONNX checker on it."""
    import onnx

    with atomic_path(path) as tmp:
        onnx.save_model(model_proto, str(tmp), save_as_external_data=False)
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except onnx.checker.ValidationError as e:
            raise EdgeclassError(f"the exported {path.name} fails the ONNX checker: {str(e).splitlines()[0][:200]}") from None
    return path


def export_onnx(
    model: torch.nn.Module,
    card: ModelCard,
    path: Path,
    example: torch.Tensor,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = True,
) -> Path:
    """Export ``model`` (already wrapped with its normalisation) to ``path``; returns ``path``."""
    import onnx

    model = model.eval()
    with tempfile.TemporaryDirectory(prefix="edgeclass-onnx-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad():
            _export_raw(model, example, raw, opset, dynamic)
        proto = onnx.load(str(raw))  # pulls in any external data: the result is one file
    _tidy(proto, card)
    return save_checked(proto, path)

