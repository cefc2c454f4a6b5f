"""TEMPORARY (issue 14, phase 1): the planned fixes for defects 3-10 as plain decision functions,
tested here, to move into the ``engine/`` package in phase 2 (when ``trt.py``, ``export/tensorrt.py``
and ``runtime/tensorrt_backend.py`` have moved) and be called from there. Nothing here imports
tensorrt, CUDA or torch. Each function cites what it follows; docs/tensorrt-notes.md has the detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import EdgeclassError
from .plan import TrtVersion, timing_cache_path
from .shapes import ProfileShapes

# --------------------------------------------------------------------------------------------
# defect 4: trtexec shape flags (samples/common/sampleEngines.cpp, "Static model does not take
# explicit shapes since the shape of inference tensors will be determined by the model itself")
# --------------------------------------------------------------------------------------------


def trtexec_shape_args(shapes: ProfileShapes, input_name: str, onnx_batch: Optional[int]) -> List[str]:
    """``--minShapes/--optShapes/--maxShapes`` for a dynamic-batch ONNX; nothing for a static one
    (trtexec refuses shape flags when no network input is dynamic)."""
    if onnx_batch is not None:
        if shapes.batches != (onnx_batch,) * 3:
            raise EdgeclassError(f"the ONNX input has a fixed batch of {onnx_batch}; the profile {shapes.batches} cannot differ")
        return []
    dims = {k: "x".join(str(int(v)) for v in getattr(shapes, k)) for k in ("min", "opt", "max")}
    return [f"--minShapes={input_name}:{dims['min']}", f"--optShapes={input_name}:{dims['opt']}", f"--maxShapes={input_name}:{dims['max']}"]


# --------------------------------------------------------------------------------------------
# defect 3: DLA (NVIDIA/TensorRT#2222: DLA takes implicit INT8 calibration, not Q/DQ; DLA needs
# a static profile)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DlaPlan:
    shapes: ProfileShapes  # min == opt == max
    calibrator: bool  # int8 through the implicit calibrator (fp32 model.onnx + calibration cache)


def plan_dla(version: TrtVersion, precision: str, shapes: ProfileShapes, calibrator: bool, range_given: bool) -> DlaPlan:
    """What a ``--dla-core`` build must be: a static profile (the opt batch of the default range; a
    range the user asked for with --min/--max-batch is an error), and for int8 the implicit calibrator, because DLA on TensorRT
    8.5-10.7 does not run explicitly quantized (Q/DQ) layers: they would all fall back to the GPU."""
    if not shapes.static:
        if range_given:
            raise EdgeclassError(f"DLA needs one fixed batch (min = opt = max), not the range {shapes.batches}: use --batch N")
        shapes = ProfileShapes(shapes.opt, shapes.opt, shapes.opt)
    if precision == "int8" and not calibrator:
        if version.major >= 11:
            raise EdgeclassError(
                f"TensorRT {version} has no implicit INT8 calibration and DLA int8 from a Q/DQ model is not verified here; "
                "use --precision fp16 with --dla-core")
        calibrator = True
    return DlaPlan(shapes, calibrator)


def dla_placement(layers: Sequence[str], can_run_on_dla: Sequence[bool]) -> Dict[str, Any]:
    """What the sidecar and ``describe()`` report for a DLA build, from the builder's
    ``IBuilderConfig.can_run_on_dla(layer)`` for every network layer (NvInfer.h): how many layers
    DLA takes and which fall back to the GPU, instead of assuming "DLA core N"."""
    gpu = [name for name, ok in zip(layers, can_run_on_dla) if not ok]
    return {"dla_layers": len(layers) - len(gpu), "gpu_layers": len(gpu), "gpu_fallback": gpu}


# --------------------------------------------------------------------------------------------
# defect 5: the timing cache of a rebuild
# --------------------------------------------------------------------------------------------


def rebuild_timing_cache(recorded: Optional[str], user_chosen: bool, weights_dir: Path, version: TrtVersion, cc: str) -> Path:
    """The timing cache a rebuild uses: the one the user chose (made absolute when the sidecar
    recorded a relative path — relative to the weights folder, not to today's working directory),
    otherwise the default for the *running* TensorRT and GPU, never the old version's file."""
    if user_chosen and recorded:
        p = Path(recorded)
        return p if p.is_absolute() else (Path(weights_dir) / p)
    return timing_cache_path(weights_dir, version, cc).resolve()


# --------------------------------------------------------------------------------------------
# defect 6: CUDA device and cuda-python vs the driver
# --------------------------------------------------------------------------------------------


def device_index(device: Any) -> int:
    """``0``, ``"1"``, ``"cuda"``, ``"cuda:1"`` -> the CUDA device index that must be made current
    (``cudaSetDevice`` / ``torch.cuda.set_device``) before building, deserialising or enqueueing:
    TensorRT binds an engine to the device current at deserialisation (TensorRT FAQ)."""
    if isinstance(device, int):
        idx = device
    else:
        m = re.fullmatch(r"\s*(?:cuda(?::(\d+))?|(\d+))\s*", str(device))
        if not m:
            raise EdgeclassError(f"--device {device!r}: give a CUDA device index such as 0, 1 or cuda:1")
        idx = int(m.group(1) or m.group(2) or 0)
    if idx < 0:
        raise EdgeclassError(f"--device {device}: the index must be 0 or more")
    return idx


def driver_cuda_major(driver_version: int) -> int:
    """cudaDriverGetVersion's integer (12060 for CUDA 12.6) -> 12."""
    return int(driver_version) // 1000


def choose_cuda_backend(cuda_python_major: Optional[int], driver_version: Optional[int], torch_cuda: bool) -> str:
    """"cuda-python" when its CUDA major is at most the driver's, else "torch" when PyTorch has
    CUDA, else an error saying which cuda-python to install. (cuda-python 13 cannot run on a CUDA 12
    driver, e.g. JetPack 6; cuda-python 12 cannot on JetPack 5's CUDA 11.4.)"""
    drv = driver_cuda_major(driver_version) if driver_version else None
    if cuda_python_major is not None and (drv is None or cuda_python_major <= drv):
        return "cuda-python"
    if torch_cuda:
        return "torch"
    want = f"'cuda-python>={drv},<{drv + 1}'" if drv else "cuda-python matching your CUDA"
    have = f"cuda-python {cuda_python_major}.x is newer than the driver's CUDA {drv}; " if cuda_python_major is not None else ""
    raise EdgeclassError(f"{have}install {want} (or NVIDIA's PyTorch for your JetPack)")


def cuda_python_requirement(cuda_version: str) -> str:
    """The pip requirement for cuda-python matching a CUDA toolkit version ("11.4" -> 'cuda-python>=11.4,<12')."""
    m = re.match(r"^\s*(\d+)\.(\d+)", cuda_version)
    if not m:
        raise EdgeclassError(f"cannot read CUDA version {cuda_version!r}")
    major, minor = int(m.group(1)), int(m.group(2))
    return f"cuda-python>={major}.{minor},<{major + 1}"


# --------------------------------------------------------------------------------------------
# defect 7: engine identity on Jetson (every Orin module is sm_87 and calls its GPU "Orin")
# --------------------------------------------------------------------------------------------

DEVICE_TREE_MODEL = "/proc/device-tree/model"


def read_jetson_module(path: str = DEVICE_TREE_MODEL) -> Optional[str]:
    """The board name from the device tree ("NVIDIA Jetson AGX Orin Developer Kit"), None elsewhere."""
    try:
        with open(path, "rb") as f:
            return f.read().rstrip(b"\0\n ").decode("utf-8", "replace") or None
    except OSError:
        return None


def identity_stale_reasons(built: Dict[str, Any], running: Dict[str, Any]) -> List[str]:
    """Reasons an engine built on ``built`` ({"module", "l4t", "dla_cores"}) must not be used on
    ``running``: another Jetson module (e.g. an AGX-built DLA engine on an Orin Nano, both sm_87),
    another L4T release, or a DLA core the device does not have."""
    reasons = []
    if built.get("module") and running.get("module") and built["module"] != running["module"]:
        reasons.append(f"built on a {built['module']}, this is a {running['module']}")
    if built.get("l4t") and running.get("l4t") and built["l4t"] != running["l4t"]:
        reasons.append(f"built on L4T {built['l4t']}, this is L4T {running['l4t']}")
    core = built.get("dla_core")
    if core is not None and running.get("dla_cores") is not None and int(core) >= int(running["dla_cores"]):
        reasons.append(f"built for DLA core {core}, this device has {running['dla_cores']} DLA core(s)")
    return reasons


# --------------------------------------------------------------------------------------------
# defects 2 and 10: which INT8 file and which flags per version; TF32 off for fp32
# --------------------------------------------------------------------------------------------


def int8_source(version: TrtVersion, available: Sequence[str]) -> Tuple[str, Tuple[str, ...]]:
    """(ONNX file, builder flags) for an explicit-INT8 engine. 8.5/8.6: model.int8.onnx with
    INT8 + FP16 (weak typing: unquantized layers may run in FP16). 10.x/11.x: the fp16 Q/DQ file
    model.int8-fp16.onnx strongly typed (no precision flags: trtexec drops --fp16/--int8 under
    --stronglyTyped); 10.x without it: model.int8.onnx weakly typed with INT8 + FP16 (deprecated
    from 10.12, still present); 11.x without it: refused (every layer would run FP32)."""
    if version.major < 10:
        return "model.int8.onnx", ("INT8", "FP16")
    if "model.int8-fp16.onnx" in available:
        return "model.int8-fp16.onnx", ()
    if version.major == 10 and "model.int8.onnx" in available:
        return "model.int8.onnx", ("INT8", "FP16")
    raise EdgeclassError(
        f"TensorRT {version} builds INT8 strongly typed from an fp16 Q/DQ model: run `edgeclass calibrate RUN` "
        "with ModelOpt installed (pip install 'edgeclass[modelopt]') to write model.int8-fp16.onnx")


def tf32_allowed(precision: str) -> bool:
    """TensorRT enables BuilderFlag.TF32 by default (NvInfer.h); an "fp32" engine must clear it
    (``config.clear_flag(TF32)``, trtexec ``--noTF32``) or its convolutions and GEMMs run in TF32."""
    return precision != "fp32"


# --------------------------------------------------------------------------------------------
# defect 9: the calibration cache header names the calibrator algorithm
# --------------------------------------------------------------------------------------------

CACHE_ALGORITHM = {"minmax": "MinMaxCalibration", "entropy": "EntropyCalibration2"}


def calibration_cache_header(version: TrtVersion, method: str) -> str:
    """``TRT-<NV_TENSORRT_VERSION>-<algorithm>``: the algorithm must be the calibrator the engine
    build uses (IInt8MinMaxCalibrator for ONNX Runtime's min/max ranges, IInt8EntropyCalibrator2
    for entropy); percentile ranges have no TensorRT calibrator and get no cache."""
    if method not in CACHE_ALGORITHM:
        raise EdgeclassError(f"a TensorRT calibration cache cannot carry {method} ranges (TensorRT has no such calibrator); use minmax or entropy")
    return f"TRT-{version.code}-{CACHE_ALGORITHM[method]}"
