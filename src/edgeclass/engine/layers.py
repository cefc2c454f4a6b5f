"""Per-layer precision and device of a built engine, from TensorRT's engine inspector.

``engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)`` returns
``{"Layers": [...], "Bindings": [...]}``. With ``ProfilingVerbosity.DETAILED`` (set by ``build``) each
layer is an object with "Name", "LayerType", and "Inputs"/"Outputs" whose "Format/Datatype" reads like
"Row major linear FP32" or "Thirty-two wide channel vectorized row major Int8 format" (NVIDIA's
trt-engine-explorer examples and its ``activations.py`` parser); with the default verbosity it is
just the layer names. A layer's precision is its tensors' data type, as trt-engine-explorer reads it.

Where a layer runs: a DLA build hands DLA one ``{ForeignNode[first...last]}`` layer per DLA subgraph,
with "<tensor> to nvm" / "<tensor> from nvm" / "... copy finish" transfer layers around it
(trtexec's per-layer profile of a DLA engine in NVIDIA/TensorRT#3143); every other layer runs on the
GPU. That reading of names is unverified on hardware; the builder's own answer per network layer
(``dla.builder_placement``) is recorded next to it in the sidecar.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

# data-type words in "Format/Datatype" -> the precision shown (trt-engine-explorer's table)
PRECISION_WORDS = {
    "FP8": "FP8", "FP16": "FP16", "Half": "FP16", "FP32": "FP32", "Float": "FP32", "BFloat16": "BF16",
    "Int8": "INT8", "INT8": "INT8", "Int32": "INT32", "INT32": "INT32", "Int64": "INT64", "UInt8": "UINT8",
    "Bool": "BOOL", "Int4": "INT4", "FP4": "FP4",
}
DLA_SUBGRAPH = "{ForeignNode["
DLA_TRANSFER = re.compile(r"( to nvm| from nvm| copy finish)$")


@dataclass(frozen=True)
class LayerInfo:
    name: str
    type: str  # "CaskConvolution", "Reformat", ... ("-" without detailed profiling)
    precision: str  # "FP16", "FP32->INT8" (input -> output), "-" when not recorded
    device: str  # "GPU", "DLA", "DLA transfer"

    def to_dict(self) -> Dict[str, str]:
        return asdict(self)


def tensor_precision(format_datatype: str) -> str:
    """'Row major linear FP32' -> 'FP32'; '-' when no data type word is in it."""
    for word in re.findall(r"[A-Za-z0-9]+", format_datatype or ""):
        if word in PRECISION_WORDS:
            return PRECISION_WORDS[word]
    return "-"


def layer_precision(layer: Dict[str, Any]) -> str:
    """The data type of the layer's first input and first output ('FP16', or 'FP32->INT8')."""
    def first(key: str) -> str:
        tensors = layer.get(key) or []
        return tensor_precision(tensors[0].get("Format/Datatype", "")) if tensors and isinstance(tensors[0], dict) else "-"

    src, dst = first("Inputs"), first("Outputs")
    if src == "-":
        return dst
    return src if dst in ("-", src) else f"{src}->{dst}"


def layer_device(name: str, dla_build: bool) -> str:
    if not dla_build:
        return "GPU"
    if name.startswith(DLA_SUBGRAPH):
        return "DLA"
    if DLA_TRANSFER.search(name):
        return "DLA transfer"
    return "GPU"


def parse_engine_information(text: str, dla_build: bool) -> List[LayerInfo]:
    """The inspector's JSON (detailed or names only) -> one LayerInfo per engine layer."""
    doc = json.loads(text)
    out = []
    for entry in doc.get("Layers", []) if isinstance(doc, dict) else []:
        if isinstance(entry, str):
            out.append(LayerInfo(entry, "-", "-", layer_device(entry, dla_build)))
        elif isinstance(entry, dict):
            name = str(entry.get("Name", "?"))
            out.append(LayerInfo(name, str(entry.get("LayerType", "-")), layer_precision(entry), layer_device(name, dla_build)))
    return out


def summary(layers: Sequence[LayerInfo]) -> Dict[str, Dict[str, int]]:
    """Counts of layers per device and per precision."""
    by_device: Dict[str, int] = {}
    by_precision: Dict[str, int] = {}
    for layer in layers:
        by_device[layer.device] = by_device.get(layer.device, 0) + 1
        by_precision[layer.precision] = by_precision.get(layer.precision, 0) + 1
    return {"device": by_device, "precision": by_precision}


def summary_phrase(layers: Sequence[LayerInfo]) -> str:
    """'27 layers: GPU 25, DLA 1, DLA transfer 1; FP16 20, INT8 5, FP32 2'."""
    if not layers:
        return "no layer information"
    s = summary(layers)
    dev = ", ".join(f"{k} {v}" for k, v in sorted(s["device"].items(), key=lambda kv: -kv[1]))
    prec = ", ".join(f"{k} {v}" for k, v in sorted(s["precision"].items(), key=lambda kv: -kv[1]))
    return f"{len(layers)} layers: {dev}; {prec}"


# --------------------------------------------------------------------------------------------
# TensorRT calls (thin; the stand-in of tests/helpers/trt_standin.py implements them)
# --------------------------------------------------------------------------------------------


def inspect_engine(trt: Any, engine: Any, dla_build: bool, context: Any = None) -> Optional[List[LayerInfo]]:
    """The engine's layers from ``IEngineInspector`` (8.2+), None where this TensorRT has none."""
    create = getattr(engine, "create_engine_inspector", None)
    fmt = getattr(getattr(trt, "LayerInformationFormat", None), "JSON", None)
    if create is None or fmt is None:
        return None
    inspector = create()
    if context is not None:
        inspector.execution_context = context  # concrete shapes and formats for dynamic dimensions
    return parse_engine_information(inspector.get_engine_information(fmt), dla_build)


def network_layer_names(network: Any) -> List[str]:
    """Names of the parsed network's layers (``INetworkDefinition.num_layers`` / ``get_layer(i).name``)."""
    return [network.get_layer(i).name for i in range(network.num_layers)]


def network_tensor_names(network: Any) -> List[str]:
    """Every tensor the parsed network's layers produce (what a calibration cache should cover)."""
    names = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        names += [layer.get_output(j).name for j in range(layer.num_outputs)]
    return names
