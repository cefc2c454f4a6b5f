"""DLA (the deep-learning accelerators of Jetson AGX Xavier / AGX Orin / Orin NX): which TensorRT
versions build for it, how INT8 reaches it, the static profile it needs, and where layers ended up.
Plain functions; ``build`` and the runtime backend feed them what TensorRT reports.

What NVIDIA says (docs/tensorrt-notes.md has the citations):
- DLA builds exist in TensorRT 8.5-10.7 and again from 11.4.1 on Jetson AGX Orin with JetPack 7.2.2+
  ("Working with DLA", 11.3 and 11.4.1 docs); 10.8-11.4.0 have none.
- DLA takes INT8 through implicit calibration, not explicit Q/DQ quantization (NVIDIA/TensorRT#2222:
  "DLA doesn't support QAT yet ... if you convert it to implicit quantization, it would work with
  DLA"); with GPU fallback every Q/DQ layer would silently run on the GPU. TensorRT 11 has no
  implicit calibrators, so INT8 on DLA is refused there (unverified on 11.4.1's strongly typed DLA).
- "DLA does not support dynamic dimensions, so the profile's min, max, and opt values must be equal"
  ("DLA Supported Layers and Restrictions", General Restrictions).
- ``IBuilderConfig.can_run_on_DLA(layer)`` (Python name, python/src/infer/pyCore.cpp) says, before the
  build, which network layers DLA takes; with ``BuilderFlag.GPU_FALLBACK`` the others run on the GPU.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..errors import EdgeclassError
from .shapes import ProfileShapes
from .version import TrtVersion

QDQ_REFUSED = (
    "DLA does not run explicitly quantized (Q/DQ) layers (NVIDIA/TensorRT#2222): with GPU fallback every "
    "layer of {onnx} would run on the GPU. Give the run folder or its fp32 model.onnx: int8 on DLA is built "
    "by implicit calibration of model.onnx"
)


def dla_supported(version: TrtVersion) -> bool:
    """DLA builds exist in TensorRT 8.5-10.7 and again on Jetson AGX Orin from 11.4.1 (JetPack 7.2.2+)."""
    return version <= TrtVersion(10, 7, 99) or version >= TrtVersion(11, 4, 1)


def check_dla(version: TrtVersion, precision: str, dla_core: int) -> None:
    """The one-line refusals of a ``--dla-core`` build."""
    if dla_core < 0:
        raise EdgeclassError(f"--dla-core {dla_core} must be 0 or more")
    if not dla_supported(version):
        raise EdgeclassError(
            f"TensorRT {version} does not support DLA on Jetson (8.5-10.7 do, and 11.4.1+ with JetPack 7.2.2+); "
            "use JetPack's TensorRT for --dla-core"
        )
    if precision == "fp32":
        raise EdgeclassError("DLA runs only fp16 or int8: use --precision fp16 or int8 with --dla-core")


def dla_uses_calibrator(version: TrtVersion, precision: str) -> bool:
    """INT8 on DLA goes through the implicit calibrator (fp32 model.onnx + calibration), never the
    Q/DQ file; TensorRT 11 has no calibrator, so DLA int8 is refused there."""
    if precision != "int8":
        return False
    if not version.has_calibrators:
        raise EdgeclassError(
            f"TensorRT {version} has no implicit INT8 calibration, and DLA does not run Q/DQ INT8 layers "
            "(unverified on 11.4.1's strongly typed DLA): use --precision fp16 with --dla-core"
        )
    return True


def dla_shapes(shapes: ProfileShapes, range_given: bool) -> ProfileShapes:
    """DLA needs min = opt = max: the default range (1..8, tuned for 1) becomes a static profile at
    its opt batch; a range the user asked for (--min/--opt/--max-batch) is an error."""
    if shapes.static:
        return shapes
    if range_given:
        raise EdgeclassError(f"DLA needs one fixed batch (min = opt = max), not the range {shapes.batches}: use --batch N")
    return ProfileShapes(shapes.opt, shapes.opt, shapes.opt)


def builder_placement(layers: Sequence[str], can_run_on_dla: Sequence[bool], dla_core: Optional[int]) -> Dict[str, Any]:
    """Where the network's layers run, from the builder's ``can_run_on_DLA`` answer for each layer of a
    DLA build (all on the GPU for a GPU build): what the sidecar and ``describe()`` report instead
    of assuming "DLA core N"."""
    if dla_core is None:
        return {"source": "builder", "dla_core": None, "dla_layers": 0, "gpu_layers": len(layers), "gpu_fallback": []}
    gpu = [name for name, ok in zip(layers, can_run_on_dla) if not ok]
    return {"source": "builder (IBuilderConfig.can_run_on_DLA)", "dla_core": dla_core,
            "dla_layers": len(layers) - len(gpu), "gpu_layers": len(gpu), "gpu_fallback": gpu}


def placement_phrase(placement: Optional[Dict[str, Any]], dla_core: Optional[int]) -> str:
    """'DLA core 0: 25 of 27 layers, 2 on the GPU (fc, logits)', or what is not known."""
    if dla_core is None:
        return ""
    if not placement or placement.get("dla_core") is None:
        return f"DLA core {dla_core} requested, placement unknown (rebuild with `edgeclass engine` to record it)"
    total = int(placement["dla_layers"]) + int(placement["gpu_layers"])
    fallback: List[str] = list(placement.get("gpu_fallback") or [])
    tail = f", {len(fallback)} on the GPU ({', '.join(fallback[:3])}{', ...' if len(fallback) > 3 else ''})" if fallback else ", none on the GPU"
    return f"DLA core {dla_core}: {placement['dla_layers']} of {total} layers{tail}"
