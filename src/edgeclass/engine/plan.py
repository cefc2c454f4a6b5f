"""TensorRT decisions as plain functions: what to build per version (source ONNX, network-creation
flags, builder flags to set and to clear), the user's engine options, and the file names in the
weights folder. Nothing here imports ``tensorrt`` (``version.import_tensorrt`` does).

TensorRT versions handled (checked against NVIDIA's API docs and migration guides; docs/tensorrt-notes.md):
- 8.5 / 8.6: name-based I/O (``set_tensor_address``, ``execute_async_v3``), explicit batch must be
  requested with ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH``; reduced precision through the
  FP16 / INT8 builder flags; Q/DQ ONNX models build with INT8 (+FP16). 8.6 adds VERSION_COMPATIBLE.
- 10.x: EXPLICIT_BATCH is deprecated and ignored (always explicit); STRONGLY_TYPED networks take
  their types from the ONNX graph, so INT8 comes from the fp16 Q/DQ ``model.int8-fp16.onnx`` (an fp32
  Q/DQ graph would run every unquantized layer in FP32); weak typing (FP16 / INT8 flags) still works
  but is deprecated since 10.12; implicit INT8 calibrators are deprecated since 10.1.
- 11.x: every network is strongly typed (the STRONGLY_TYPED flag is accepted and ignored);
  BuilderFlag.FP16 / INT8 and the INT8 calibrators are removed, so fp16 comes from an fp16 ONNX
  (``model.fp16.onnx``) and int8 from ``model.int8-fp16.onnx``. On Jetson, 11.x arrives with JetPack 7
  (DLA again from 11.4.1 on AGX Orin, JetPack 7.2.2+); JetPack 6 stays on 8.6 / 10.3.
- every version: BuilderFlag.TF32 is on by default ("Enabled by default", NvInfer.h), so an "fp32"
  engine clears it.
- older than 8.5: refused (no name-based I/O API).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from ..artifacts import formats, trt_cache
from ..errors import EdgeclassError
from .dla import check_dla, dla_uses_calibrator
from .version import (  # noqa: F401  (re-exported: the names callers know from here)
    DEFAULT_PLAN_VERSION, MIN_VERSION, NO_TENSORRT_MESSAGE, TrtVersion, check_supported, import_tensorrt,
    installed_version, planning_version,
)

PRECISIONS = ("fp32", "fp16", "int8")
BUILDERS = ("tensorrt", "torch-tensorrt")  # `edgeclass engine --backend`: TensorRT's builder, or Torch-TensorRT
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
TRTEXEC_JETSON = "/usr/src/tensorrt/bin/trtexec"
INT8_QDQ = formats.get("onnx-int8").file_name  # model.int8.onnx: opset 17, fp32 elsewhere
INT8_FP16 = formats.get("onnx-int8-fp16").file_name  # model.int8-fp16.onnx: opset 19, fp16 elsewhere


# --------------------------------------------------------------------------------------------
# build plan: source ONNX, network-creation flags, builder flags
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildPlan:
    """What to hand TensorRT. Flags are member *names* of ``trt.NetworkDefinitionCreationFlag`` and
    ``trt.BuilderFlag`` so the builder can look them up with getattr on whatever version runs."""

    version: TrtVersion
    precision: str
    source_onnx: str  # file name inside the weights folder
    network_flags: Tuple[str, ...]
    builder_flags: Tuple[str, ...]
    calibrator: bool = False
    dla_core: Optional[int] = None
    version_compatible: bool = False
    expected_onnx_kind: str = "fp32"  # what the source ONNX must contain: fp32, fp16, int8 or int8-fp16 (Q/DQ)
    clear_flags: Tuple[str, ...] = ()  # builder flags on by default that this plan turns off (TF32 for fp32)
    device: int = 0  # the CUDA device made current before building (cudaSetDevice / torch.cuda.set_device)

    @property
    def strongly_typed(self) -> bool:
        return self.version.strongly_typed_only or "STRONGLY_TYPED" in self.network_flags

    def to_dict(self) -> Dict[str, Any]:
        return {
            "network_flags": list(self.network_flags),
            "builder_flags": list(self.builder_flags),
            "cleared_flags": list(self.clear_flags),
            "strongly_typed": self.strongly_typed,
            "calibrator": self.calibrator,
            "dla_core": self.dla_core,
            "version_compatible": self.version_compatible,
        }


def onnx_file(precision: str) -> str:
    """The ONNX of a precision in the weights folder: model.onnx, model.fp16.onnx, model.int8.onnx."""
    return formats.of_precision(".onnx", precision).file_name


def tf32_allowed(precision: str) -> bool:
    """TensorRT enables BuilderFlag.TF32 by default ("Enabled by default", NvInfer.h 8.6 / 10.3; kept
    in 11.x); an "fp32" engine clears it (trtexec ``--noTF32``), else its convolutions and GEMMs run
    in TF32 on Ampere and later GPUs (every Orin)."""
    return precision != "fp32"


def int8_source(version: TrtVersion, available: Optional[Sequence[str]] = None) -> Tuple[str, Tuple[str, ...], Tuple[str, ...], str]:
    """(ONNX file, network flags, builder flags, expected ONNX kind) of an explicit-INT8 engine.
    ``available``: the INT8 files in the weights folder (None: both). 8.5/8.6: ``model.int8.onnx``
    (opset 17, the highest their parser reads) with INT8 + FP16, so unquantized layers may run in
    FP16. 10.x / 11.x: ``model.int8-fp16.onnx`` strongly typed, no precision flags (trtexec drops
    --fp16/--int8 under --stronglyTyped). 10.x without it: ``model.int8.onnx`` weakly typed with INT8 +
    FP16 (deprecated from 10.12, still present). 11.x without it: refused (every layer left unquantized
    would run in FP32)."""
    have = set(available) if available is not None else {INT8_QDQ, INT8_FP16}
    if version.major < 10:
        if INT8_QDQ not in have:
            raise EdgeclassError(f"TensorRT {version} builds INT8 from the opset-17 {INT8_QDQ}, which is missing: run "
                                 f"`{formats.by_file_name(INT8_QDQ).maker} RUN` first")
        return INT8_QDQ, _explicit_batch(version), ("INT8", "FP16"), "int8"
    if INT8_FP16 in have:
        return INT8_FP16, (() if version.strongly_typed_only else ("STRONGLY_TYPED",)), (), "int8-fp16"
    if version.major == 10 and INT8_QDQ in have:
        return INT8_QDQ, (), ("INT8", "FP16"), "int8"
    if version.major == 10:
        raise EdgeclassError(
            f"TensorRT {version} builds INT8 from {INT8_FP16} (strongly typed) or {INT8_QDQ} (weakly typed), and neither "
            "is there: run `edgeclass calibrate RUN` (with ModelOpt installed for the first: pip install 'edgeclass[modelopt]')"
        )
    raise EdgeclassError(
        f"TensorRT {version} builds INT8 strongly typed from {INT8_FP16}, which is missing: run `edgeclass calibrate RUN` "
        "with ModelOpt installed (pip install 'edgeclass[modelopt]')"
    )


def _explicit_batch(version: TrtVersion) -> Tuple[str, ...]:
    # required before 10; deprecated and ignored in 10; gone from 11
    return ("EXPLICIT_BATCH",) if version.major < 10 else ()


def _check_options(version: TrtVersion, precision: str, calibrator: bool, dla_core: Optional[int], version_compatible: bool) -> None:
    if precision not in PRECISIONS:
        raise EdgeclassError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if calibrator and precision != "int8":
        raise EdgeclassError("--calibrator only applies to --precision int8")
    if calibrator and not version.has_calibrators:
        raise EdgeclassError(
            f"TensorRT {version} has no implicit INT8 calibrators (removed in 11); "
            "build int8 from the Q/DQ model instead: `edgeclass calibrate RUN` then `edgeclass engine RUN --precision int8`"
        )
    if dla_core is not None:
        check_dla(version, precision, dla_core)
    if version_compatible and (version.major, version.minor) < (8, 6):
        raise EdgeclassError(f"--version-compatible needs TensorRT 8.6 or newer (this is {version})")


def plan_build(
    version: TrtVersion,
    precision: str,
    calibrator: bool = False,
    dla_core: Optional[int] = None,
    version_compatible: bool = False,
    available: Optional[Sequence[str]] = None,
    device: int = 0,
) -> BuildPlan:
    """The one place that decides, per TensorRT version, how an engine of ``precision`` is built.
    ``available``: the INT8 ONNX files present (None: both); DLA int8 always takes the calibrator."""
    check_supported(version)
    _check_options(version, precision, calibrator, dla_core, version_compatible)
    if dla_core is not None:
        calibrator = calibrator or dla_uses_calibrator(version, precision)

    net: Tuple[str, ...]
    flags: Tuple[str, ...] = ()
    kind = precision
    if version.strongly_typed_only and precision != "int8":
        # 11.x: strongly typed always; precision lives in the ONNX graph
        net, source = (), onnx_file(precision)
    elif precision == "fp32":
        net = ("STRONGLY_TYPED",) if version.major >= 10 else _explicit_batch(version)
        source = onnx_file("fp32")
    elif precision == "fp16":
        # weak typing: the fp32 graph with FP16 kernels allowed (deprecated in 10.12, still present)
        net, flags, source, kind = _explicit_batch(version), ("FP16",), onnx_file("fp32"), "fp32"
    elif calibrator:
        # implicit quantization: fp32 graph + calibration scales; needs a weakly typed network
        net, flags, source, kind = _explicit_batch(version), ("INT8", "FP16"), onnx_file("fp32"), "fp32"
    else:
        source, net, flags, kind = int8_source(version, available)
    if dla_core is not None:
        flags += ("GPU_FALLBACK",)
    if version_compatible:
        flags += ("VERSION_COMPATIBLE",)
    return BuildPlan(
        version=version,
        precision=precision,
        source_onnx=source,
        network_flags=net,
        builder_flags=flags,
        calibrator=calibrator,
        dla_core=dla_core,
        version_compatible=version_compatible,
        expected_onnx_kind=kind,
        clear_flags=() if tf32_allowed(precision) else ("TF32",),
        device=device,
    )


# --------------------------------------------------------------------------------------------
# file names in the weights folder
# --------------------------------------------------------------------------------------------


def engine_path(weights_dir: str | os.PathLike, precision: str, dla_core: Optional[int] = None) -> Path:
    """``model.<precision>.engine``; a DLA build ``model.<precision>.dla<N>.engine``, so it never
    replaces the GPU engine of the same precision."""
    name = formats.of_precision(".engine", precision).file_name
    if dla_core is not None:
        name = name.replace(".engine", f".dla{int(dla_core)}.engine")
    return Path(weights_dir) / name


def timing_cache_path(weights_dir: str | os.PathLike, version: TrtVersion, compute_capability: str) -> Path:
    """Timing caches are only valid for one TensorRT version on one GPU architecture, so the default
    name carries both; different machines can share a weights folder without clobbering caches."""
    cc = compute_capability.replace(".", "")
    return Path(weights_dir) / f"timing.trt{version}.sm{cc}.cache"


def build_timing_cache(chosen: Optional[str], weights_dir: str | os.PathLike, version: TrtVersion, compute_capability: str) -> Path:
    """The timing cache a build (or a stale-engine rebuild) reads and writes, always absolute: the one
    the user chose (a relative path is under the weights folder, not today's working directory), else
    the default for the *running* TensorRT and GPU, never an old version's file."""
    if chosen:
        p = Path(chosen).expanduser()
        return (p if p.is_absolute() else Path(weights_dir) / p).resolve()
    return timing_cache_path(weights_dir, version, compute_capability).resolve()


def calibration_cache_path(weights_dir: str | os.PathLike) -> Path:
    """The same file `edgeclass calibrate --trt-cache VERSION` writes from ONNX Runtime's ranges, so an
    implicit-calibration build on the device can start from it (when its header names this TensorRT)."""
    return Path(weights_dir) / trt_cache.FILE_NAME


# --------------------------------------------------------------------------------------------
# the user's options and the edgeclass command that repeats them
# --------------------------------------------------------------------------------------------


@dataclass
class EngineRequest:
    """The user's engine options, as given on the command line (recorded to rebuild the same way)."""

    precision: str = "fp16"
    batch: Optional[int] = None
    min_batch: Optional[int] = None
    opt_batch: Optional[int] = None
    max_batch: Optional[int] = None
    workspace_gib: Optional[float] = None
    timing_cache: Optional[str] = None  # None: the default for the running TensorRT and GPU
    dla_core: Optional[int] = None
    version_compatible: bool = False
    calibrator: bool = False
    calib_images: int = 512
    device: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "EngineRequest":
        from .cuda_choice import device_index

        if self.workspace_gib is not None and self.workspace_gib <= 0:
            raise EdgeclassError(f"--workspace {self.workspace_gib:g}: give a positive size in GiB")
        self.device = device_index(self.device)
        return self

    @property
    def range_given(self) -> bool:
        """The user asked for a batch range (--min/--opt/--max-batch), not just the default."""
        return any(b is not None for b in (self.min_batch, self.opt_batch, self.max_batch))

    def command(self, target: str | os.PathLike) -> str:
        """`edgeclass engine TARGET ...` with these options (shell-quoted)."""
        args = ["edgeclass", "engine", str(target), "--precision", self.precision]
        batches = (self.min_batch, self.opt_batch, self.max_batch)
        if self.batch is not None:
            args += ["--batch", str(self.batch)]
        elif batches[0] is not None and batches[0] == batches[1] == batches[2]:
            args += ["--batch", str(batches[0])]
        elif any(b is not None for b in batches):
            for flag, value in zip(("--min-batch", "--opt-batch", "--max-batch"), batches):
                if value is not None:
                    args += [flag, str(value)]
        if self.workspace_gib is not None:
            args += ["--workspace", f"{float(self.workspace_gib):g}"]
        if self.timing_cache is not None:
            args += ["--timing-cache", str(self.timing_cache)]
        if self.dla_core is not None:
            args += ["--dla-core", str(self.dla_core)]
        if self.version_compatible:
            args.append("--version-compatible")
        if self.calibrator:
            args.append("--calibrator")
        if self.device:
            args += ["--device", str(self.device)]
        return shlex.join(args)
