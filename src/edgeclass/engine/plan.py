"""TensorRT decisions as plain functions: which versions, what to build per version (source ONNX,
network-creation flags, builder flags), the user's engine options, and the equivalent trtexec line.
Nothing here imports ``tensorrt`` except ``import_tensorrt``.

TensorRT versions handled (checked against NVIDIA's API docs and migration guides):
- 8.5 / 8.6: name-based I/O (``set_tensor_address``, ``execute_async_v3``), explicit batch must be
  requested with ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH``; reduced precision through the
  FP16 / INT8 builder flags; Q/DQ ONNX models build with INT8 (+FP16). 8.6 adds VERSION_COMPATIBLE.
- 10.x: EXPLICIT_BATCH is deprecated and ignored (always explicit); STRONGLY_TYPED networks take
  their types from the ONNX graph (used for Q/DQ INT8 and fp32); weak typing (FP16 flag) still works
  but is deprecated since 10.12; implicit INT8 calibrators are deprecated.
- 11.x: every network is strongly typed (the STRONGLY_TYPED flag is accepted and ignored);
  BuilderFlag.FP16 / INT8 and the INT8 calibrators are removed, so fp16 comes from an fp16 ONNX
  (``model.fp16.onnx``) and int8 from a Q/DQ ONNX (``model.int8.onnx``). On Jetson, 11.x arrives
  with JetPack 7 (DLA again from 11.4.1 on AGX Orin, JetPack 7.2.2+); JetPack 6 stays on 8.6 / 10.3.
- older than 8.5: refused (no name-based I/O API).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..artifacts import formats, trt_cache
from ..errors import EdgeclassError
from .shapes import ProfileShapes

PRECISIONS = ("fp32", "fp16", "int8")
BUILDERS = ("tensorrt", "torch-tensorrt")  # `edgeclass engine --backend`: TensorRT's builder, or Torch-TensorRT
MIN_VERSION = (8, 5)
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
# what `--print-trtexec` plans for when TensorRT is not installed here: JetPack 6.1 / 6.2
DEFAULT_PLAN_VERSION = "10.3.0"
TRTEXEC_JETSON = "/usr/src/tensorrt/bin/trtexec"

NO_TENSORRT_MESSAGE = (
    "TensorRT is not installed for this Python: on a Jetson it comes with JetPack "
    "(`sudo apt install nvidia-jetpack`, then a venv made with --system-site-packages, see `make setup-jetson`); "
    "on an x86 machine with an NVIDIA GPU run `pip install tensorrt`; "
    "`edgeclass engine RUN --print-trtexec` prints the trtexec command without it"
)


# --------------------------------------------------------------------------------------------
# versions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class TrtVersion:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> "TrtVersion":
        """'10.3.0.30' / '8.6.2' / '11.0' -> TrtVersion (build number dropped)."""
        m = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", str(text))
        if not m:
            raise EdgeclassError(f"cannot read TensorRT version {text!r} (expected e.g. 10.3.0)")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def code(self) -> int:
        """NV_TENSORRT_VERSION as TensorRT writes it in calibration cache headers (8.6.1 -> 8601)."""
        return trt_cache.version_code(self.major, self.minor, self.patch)

    @property
    def strongly_typed_only(self) -> bool:
        return self.major >= 11

    @property
    def has_calibrators(self) -> bool:
        return self.major < 11


def check_supported(version: TrtVersion) -> TrtVersion:
    """Refuse TensorRT older than 8.5: the name-based I/O API (set_tensor_address,
    execute_async_v3) this project uses starts there."""
    if (version.major, version.minor) < MIN_VERSION:
        raise EdgeclassError(
            f"TensorRT {version} is too old: edgeclass needs TensorRT 8.5 or newer "
            "(JetPack 5.1+ on a Jetson, or `pip install -U tensorrt` on x86)"
        )
    return version


def installed_version() -> Optional[str]:
    """The installed TensorRT's version string, None when it is not installed."""
    try:
        import tensorrt
    except ImportError:
        return None
    return str(tensorrt.__version__)


def planning_version(asked: Optional[str] = None) -> TrtVersion:
    """The version `--print-trtexec` plans for: ``asked``, else the installed one, else the default."""
    return TrtVersion.parse(asked or installed_version() or DEFAULT_PLAN_VERSION)


def import_tensorrt() -> Tuple[Any, TrtVersion]:
    """``tensorrt`` module and its version (refusing < 8.5), or the one-line "how to get it" error."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgeclassError(NO_TENSORRT_MESSAGE) from None
    return trt, check_supported(TrtVersion.parse(trt.__version__))


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
    expected_onnx_kind: str = "fp32"  # what the source ONNX must contain: fp32, fp16 or int8 (Q/DQ)

    @property
    def strongly_typed(self) -> bool:
        return self.version.strongly_typed_only or "STRONGLY_TYPED" in self.network_flags

    def to_dict(self) -> Dict[str, Any]:
        return {
            "network_flags": list(self.network_flags),
            "builder_flags": list(self.builder_flags),
            "strongly_typed": self.strongly_typed,
            "calibrator": self.calibrator,
            "dla_core": self.dla_core,
            "version_compatible": self.version_compatible,
        }


def onnx_file(precision: str) -> str:
    """The ONNX of a precision in the weights folder: model.onnx, model.fp16.onnx, model.int8.onnx."""
    return formats.of_precision(".onnx", precision).file_name


def dla_supported(version: TrtVersion) -> bool:
    """DLA builds exist in TensorRT 8.5-10.7 and again on Jetson AGX Orin from 11.4.1 (JetPack 7.2.2+);
    10.8-11.4.0 dropped them (NVIDIA's "Working with DLA", 11.3 / 11.4.1)."""
    return version <= TrtVersion(10, 7, 99) or version >= TrtVersion(11, 4, 1)


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
        if dla_core < 0:
            raise EdgeclassError(f"--dla-core {dla_core} must be 0 or more")
        if not dla_supported(version):
            raise EdgeclassError(
                f"TensorRT {version} does not support DLA on Jetson (8.5-10.7 do, and 11.4.1+ with JetPack 7.2.2+); "
                "use JetPack's TensorRT for --dla-core"
            )
        if precision == "fp32":
            raise EdgeclassError("DLA runs only fp16 or int8: use --precision fp16 or int8 with --dla-core")
    if version_compatible and (version.major, version.minor) < (8, 6):
        raise EdgeclassError(f"--version-compatible needs TensorRT 8.6 or newer (this is {version})")


def plan_build(
    version: TrtVersion,
    precision: str,
    calibrator: bool = False,
    dla_core: Optional[int] = None,
    version_compatible: bool = False,
) -> BuildPlan:
    """The one place that decides, per TensorRT version, how an engine of ``precision`` is built."""
    check_supported(version)
    _check_options(version, precision, calibrator, dla_core, version_compatible)

    net: Tuple[str, ...]
    flags: List[str] = []
    kind = precision
    if version.strongly_typed_only:
        # 11.x: strongly typed always; precision lives in the ONNX graph
        net = ()
        source = onnx_file(precision)
    elif precision == "fp32":
        net = ("STRONGLY_TYPED",) if version.major >= 10 else _explicit_batch(version)
        source = onnx_file("fp32")
    elif precision == "fp16":
        # weak typing: the fp32 graph with FP16 kernels allowed (deprecated in 10.12, still present)
        net = _explicit_batch(version)
        flags.append("FP16")
        source, kind = onnx_file("fp32"), "fp32"
    elif calibrator:
        # implicit quantization: fp32 graph + calibration scales; needs a weakly typed network
        net = _explicit_batch(version)
        flags += ["INT8", "FP16"]
        source, kind = onnx_file("fp32"), "fp32"
    elif version.major >= 10:
        net = ("STRONGLY_TYPED",)
        source = onnx_file("int8")
    else:
        # 8.5 / 8.6 explicit quantization: Q/DQ graph, INT8 (+FP16 for the layers left unquantized)
        net = _explicit_batch(version)
        flags += ["INT8", "FP16"]
        source = onnx_file("int8")
    if dla_core is not None:
        flags.append("GPU_FALLBACK")
    if version_compatible:
        flags.append("VERSION_COMPATIBLE")
    return BuildPlan(
        version=version,
        precision=precision,
        source_onnx=source,
        network_flags=net,
        builder_flags=tuple(flags),
        calibrator=calibrator,
        dla_core=dla_core,
        version_compatible=version_compatible,
        expected_onnx_kind=kind,
    )


# --------------------------------------------------------------------------------------------
# file names in the weights folder
# --------------------------------------------------------------------------------------------


def engine_path(weights_dir: str | os.PathLike, precision: str) -> Path:
    return Path(weights_dir) / formats.of_precision(".engine", precision).file_name


def timing_cache_path(weights_dir: str | os.PathLike, version: TrtVersion, compute_capability: str) -> Path:
    """Timing caches are only valid for one TensorRT version on one GPU architecture, so the default
    name carries both; different machines can share a weights folder without clobbering caches."""
    cc = compute_capability.replace(".", "")
    return Path(weights_dir) / f"timing.trt{version}.sm{cc}.cache"


def calibration_cache_path(weights_dir: str | os.PathLike) -> Path:
    """The same file `edgeclass calibrate --trt-cache VERSION` writes from ONNX Runtime's ranges, so an
    implicit-calibration build on the device can start from it (when its header names this TensorRT)."""
    return Path(weights_dir) / trt_cache.FILE_NAME


# --------------------------------------------------------------------------------------------
# the user's options, the edgeclass command that repeats them, the equivalent trtexec command
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
    timing_cache: Optional[str] = None
    dla_core: Optional[int] = None
    version_compatible: bool = False
    calibrator: bool = False
    calib_images: int = 512
    device: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "EngineRequest":
        if self.workspace_gib is not None and self.workspace_gib <= 0:
            raise EdgeclassError(f"--workspace {self.workspace_gib:g}: give a positive size in GiB")
        return self

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
        if self.dla_core is not None:
            args += ["--dla-core", str(self.dla_core)]
        if self.version_compatible:
            args.append("--version-compatible")
        if self.calibrator:
            args.append("--calibrator")
        return shlex.join(args)


def _dims(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def trtexec_command(
    plan: BuildPlan,
    onnx: str | os.PathLike,
    engine: str | os.PathLike,
    shapes: ProfileShapes,
    input_name: str = INPUT_NAME,
    workspace_gib: Optional[float] = None,
    timing_cache: Optional[str | os.PathLike] = None,
    calibration_cache: Optional[str | os.PathLike] = None,
    trtexec: str = "trtexec",
) -> str:
    """The trtexec command line that builds the same engine (a shell-quoted string).
    --memPoolSize takes MiB without a suffix on 8.x and 10.x; --stronglyTyped exists from 10 and is
    always on (flag removed from the docs' examples) in 11; 11 has no --fp16/--int8."""
    args = [
        trtexec,
        f"--onnx={onnx}",
        f"--saveEngine={engine}",
        f"--minShapes={input_name}:{_dims(shapes.min)}",
        f"--optShapes={input_name}:{_dims(shapes.opt)}",
        f"--maxShapes={input_name}:{_dims(shapes.max)}",
    ]
    if "STRONGLY_TYPED" in plan.network_flags:
        args.append("--stronglyTyped")
    if "FP16" in plan.builder_flags:
        args.append("--fp16")
    if "INT8" in plan.builder_flags:
        args.append("--int8")
    if plan.calibrator:
        if calibration_cache is None:
            raise EdgeclassError("trtexec cannot calibrate by itself; it needs an existing calibration cache (--calib)")
        args.append(f"--calib={calibration_cache}")
    if workspace_gib is not None:
        args.append(f"--memPoolSize=workspace:{int(round(workspace_gib * 1024))}")
    if timing_cache is not None:
        args.append(f"--timingCacheFile={timing_cache}")
    if plan.dla_core is not None:
        args += [f"--useDLACore={plan.dla_core}", "--allowGPUFallback"]
    if plan.version_compatible:
        args.append("--versionCompatible")
    return shlex.join(args)
