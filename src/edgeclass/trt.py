"""TensorRT decisions as plain functions: what to build, from which ONNX, with which flags, and
whether an existing engine is still good. Nothing here imports ``tensorrt``.

The code that calls TensorRT (``edgeclass.export.tensorrt``, ``edgeclass.runtime.tensorrt_backend``)
is thin and only runs where TensorRT and a CUDA GPU exist; everything it decides comes from here,
so the decisions are tested on every machine.

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

import datetime as _dt
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import __version__
from .errors import EdgeclassError
from .spec import ModelCard, card_from_onnx_metadata, onnx_metadata

PRECISIONS = ("fp32", "fp16", "int8")
MIN_VERSION = (8, 5)
SIDECAR_FORMAT = "edgeclass.engine.v1"
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
DEFAULT_MAX_BATCH = 8
# what `--print-trtexec` plans for when TensorRT is not installed here: JetPack 6.1 / 6.2
DEFAULT_PLAN_VERSION = "10.3.0"
TRTEXEC_JETSON = "/usr/src/tensorrt/bin/trtexec"
L4T_RELEASE_FILE = "/etc/nv_tegra_release"

NO_TENSORRT_MESSAGE = (
    "TensorRT is not installed for this Python: on a Jetson it comes with JetPack "
    "(`sudo apt install nvidia-jetpack`, then a venv made with --system-site-packages, see `make setup-jetson`); "
    "on an x86 machine with an NVIDIA GPU run `pip install tensorrt`; "
    "`edgeclass engine RUN --print-trtexec` prints the trtexec command without it"
)

# which artifact each precision is built from, and which command writes it
ONNX_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}
ONNX_MAKER = {"model.onnx": "edgeclass export", "model.fp16.onnx": "edgeclass export", "model.int8.onnx": "edgeclass calibrate"}


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
        """NV_TENSORRT_VERSION as TensorRT writes it in calibration cache headers:
        MAJOR*1000+MINOR*100+PATCH before 10 (8.6.1 -> 8601), MAJOR*10000+MINOR*100+PATCH from 10
        on (10.3.0 -> 100300)."""
        if self.major < 10:
            return self.major * 1000 + self.minor * 100 + self.patch
        return self.major * 10000 + self.minor * 100 + self.patch

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


def dla_supported(version: TrtVersion) -> bool:
    """DLA builds exist in TensorRT 8.5-10.7 and again on Jetson AGX Orin from 11.4.1 (JetPack 7.2.2+);
    10.8-11.4.0 dropped them (NVIDIA's "Working with DLA", 11.3 / 11.4.1)."""
    return version <= TrtVersion(10, 7, 99) or version >= TrtVersion(11, 4, 1)


def _explicit_batch(version: TrtVersion) -> Tuple[str, ...]:
    # required before 10; deprecated and ignored in 10; gone from 11
    return ("EXPLICIT_BATCH",) if version.major < 10 else ()


def plan_build(
    version: TrtVersion,
    precision: str,
    calibrator: bool = False,
    dla_core: Optional[int] = None,
    version_compatible: bool = False,
) -> BuildPlan:
    """The one place that decides, per TensorRT version, how an engine of ``precision`` is built."""
    check_supported(version)
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

    net: Tuple[str, ...]
    flags: List[str] = []
    kind = precision
    if version.strongly_typed_only:
        # 11.x: strongly typed always; precision lives in the ONNX graph
        net = ()
        source = ONNX_FILES[precision]
    elif precision == "fp32":
        net = ("STRONGLY_TYPED",) if version.major >= 10 else _explicit_batch(version)
        source = ONNX_FILES["fp32"]
    elif precision == "fp16":
        # weak typing: the fp32 graph with FP16 kernels allowed (deprecated in 10.12, still present)
        net = _explicit_batch(version)
        flags.append("FP16")
        source, kind = ONNX_FILES["fp32"], "fp32"
    elif calibrator:
        # implicit quantization: fp32 graph + calibration scales; needs a weakly typed network
        net = _explicit_batch(version)
        flags += ["INT8", "FP16"]
        source, kind = ONNX_FILES["fp32"], "fp32"
    elif version.major >= 10:
        net = ("STRONGLY_TYPED",)
        source = ONNX_FILES["int8"]
    else:
        # 8.5 / 8.6 explicit quantization: Q/DQ graph, INT8 (+FP16 for the layers left unquantized)
        net = _explicit_batch(version)
        flags += ["INT8", "FP16"]
        source = ONNX_FILES["int8"]
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


def check_source_fits(plan: BuildPlan, onnx_kind: str, onnx_path: str | os.PathLike) -> None:
    """A strongly typed build takes its precision from the ONNX graph, so building an "fp16" engine
    from an fp32 ONNX on TensorRT 11 would silently give fp32. Refuse mismatches."""
    if onnx_kind == plan.expected_onnx_kind:
        return
    if onnx_kind == "int8-cpu":
        raise EdgeclassError(
            f"{onnx_path} is the uint8 (U8S8) model for ONNX Runtime on a CPU; TensorRT needs the symmetric "
            "int8 Q/DQ model.int8.onnx from `edgeclass calibrate`"
        )
    wanted = {"fp32": "an fp32 ONNX (model.onnx)", "fp16": "an fp16 ONNX (model.fp16.onnx)", "int8": "a Q/DQ int8 ONNX (model.int8.onnx)"}
    raise EdgeclassError(
        f"{onnx_path} is an {onnx_kind} model, but a {plan.precision} engine on TensorRT {plan.version} is built from "
        f"{wanted[plan.expected_onnx_kind]}; give that file or the run folder"
    )


# --------------------------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileShapes:
    """One optimisation profile for the input ``images``: NCHW min / opt / max."""

    min: Tuple[int, int, int, int]
    opt: Tuple[int, int, int, int]
    max: Tuple[int, int, int, int]

    @property
    def batches(self) -> Tuple[int, int, int]:
        return (self.min[0], self.opt[0], self.max[0])

    @property
    def static(self) -> bool:
        return self.min == self.opt == self.max

    def to_dict(self) -> Dict[str, List[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d: Dict[str, Sequence[int]]) -> "ProfileShapes":
        return cls(tuple(d["min"]), tuple(d["opt"]), tuple(d["max"]))  # type: ignore[arg-type]


def profile_shapes(
    imgsz: int,
    batch: Optional[int] = None,
    min_batch: Optional[int] = None,
    opt_batch: Optional[int] = None,
    max_batch: Optional[int] = None,
    onnx_batch: Optional[int] = None,
) -> ProfileShapes:
    """Batch range of the engine. ``--batch N`` fixes it at N; otherwise min 1, opt 1 (one camera
    frame at a time is the real-time case) and max 8 unless given. ``onnx_batch`` is the ONNX input's
    batch dimension when it is fixed (not dynamic): the profile must then be exactly that."""
    ranged = (min_batch, opt_batch, max_batch)
    if batch is not None and any(v is not None for v in ranged):
        raise EdgeclassError("give either --batch or --min-batch/--opt-batch/--max-batch, not both")
    if batch is not None:
        lo = opt = hi = batch
    else:
        hi = max_batch if max_batch is not None else max(DEFAULT_MAX_BATCH, min_batch or 1, opt_batch or 1)
        lo = min_batch if min_batch is not None else 1
        opt = opt_batch if opt_batch is not None else lo
    if lo < 1:
        raise EdgeclassError(f"batch sizes must be 1 or more (got {lo})")
    if not lo <= opt <= hi:
        raise EdgeclassError(f"batch sizes need min <= opt <= max (got {lo}, {opt}, {hi})")
    if onnx_batch is not None and onnx_batch > 0 and (lo, opt, hi) != (onnx_batch,) * 3:
        if batch is None and all(v is None for v in ranged):
            lo = opt = hi = onnx_batch  # the ONNX fixes the batch and the user asked for nothing else
        else:
            raise EdgeclassError(
                f"the ONNX input has a fixed batch of {onnx_batch}; re-export with a dynamic batch "
                f"(`edgeclass export RUN`) or use --batch {onnx_batch}"
            )
    chw = (3, imgsz, imgsz)
    return ProfileShapes((lo,) + chw, (opt,) + chw, (hi,) + chw)  # type: ignore[arg-type]


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


# --------------------------------------------------------------------------------------------
# file names
# --------------------------------------------------------------------------------------------


def engine_path(weights_dir: str | os.PathLike, precision: str) -> Path:
    return Path(weights_dir) / f"model.{precision}.engine"


def sidecar_path(engine: str | os.PathLike) -> Path:
    """``model.fp16.engine`` -> ``model.fp16.engine.json`` (the engine file itself stays a plain
    serialized plan that trtexec and DeepStream load)."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")



def timing_cache_path(weights_dir: str | os.PathLike, version: TrtVersion, compute_capability: str) -> Path:
    """Timing caches are only valid for one TensorRT version on one GPU architecture, so the default
    name carries both; different machines can share a weights folder without clobbering caches."""
    cc = compute_capability.replace(".", "")
    return Path(weights_dir) / f"timing.trt{version}.sm{cc}.cache"


def calibration_cache_path(weights_dir: str | os.PathLike) -> Path:
    """The same file `edgeclass calibrate --trt-cache VERSION` writes from ONNX Runtime's ranges, so an
    implicit-calibration build on the device can start from it (when its header names this TensorRT)."""
    return Path(weights_dir) / "calibration.cache"


def calibration_cache_header(version: TrtVersion) -> str:
    """First line TensorRT writes into an entropy-calibration cache, e.g. TRT-100300-EntropyCalibration2."""
    return f"TRT-{version.code}-EntropyCalibration2"


def calibration_cache_matches(data: Optional[bytes], version: TrtVersion) -> bool:
    """Reuse a calibration cache only if TensorRT of this exact version wrote it: scales from
    another version may name tensors differently, and TensorRT rejects a mismatched header by
    trying to recalibrate with no data."""
    if not data:
        return False
    first = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    return first == calibration_cache_header(version)


def resolve_weights_dir(run_or_dir: str | os.PathLike) -> Path:
    """A run folder (``runs/x`` with ``weights/``) or the weights folder itself."""
    p = Path(run_or_dir)
    if (p / "weights").is_dir():
        return p / "weights"
    return p


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
    weights = resolve_weights_dir(p)
    src = weights / plan.source_onnx
    if not src.is_file():
        maker = ONNX_MAKER[plan.source_onnx]
        raise EdgeclassError(
            f"{src} is missing: a {plan.precision} engine on TensorRT {plan.version} is built from it; "
            f"run `{maker} {p}` first"
        )
    return src, weights


# --------------------------------------------------------------------------------------------
# ONNX inspection (the onnx package, imported lazily)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnnxInfo:
    card: ModelCard
    input_name: str
    input_shape: Tuple[Any, ...]  # ints, or strings / -1 for dynamic dimensions
    output_name: str
    kind: str  # fp32, fp16 or int8


def onnx_kind(node_ops: Sequence[str], initializer_types: Sequence[int]) -> str:
    """int8 if the graph has Q/DQ nodes (int8-cpu when they use uint8 zero points, the asymmetric
    U8S8 model for ONNX Runtime on a CPU that TensorRT cannot build), fp16 if it holds fp16 weights,
    else fp32. ``initializer_types`` are ONNX TensorProto data types (1 FLOAT, 2 UINT8, 10 FLOAT16)."""
    if any(op in ("QuantizeLinear", "DequantizeLinear") for op in node_ops):
        return "int8-cpu" if any(t == 2 for t in initializer_types) else "int8"
    if any(t == 10 for t in initializer_types):
        return "fp16"
    return "fp32"


def read_onnx_info(path: str | os.PathLike) -> OnnxInfo:
    """Card, I/O names and precision kind of an edgeclass ONNX file (weights not loaded)."""
    try:
        import onnx
    except ImportError:
        raise EdgeclassError("reading an ONNX file needs the onnx package: pip install onnx") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf decode errors have many types
        raise EdgeclassError(f"{path} is not a readable ONNX file ({type(e).__name__})") from None
    card = card_from_onnx_metadata(onnx_metadata(model), str(path))
    init_names = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init_names]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise EdgeclassError(f"{path}: expected one input and one output, found {len(inputs)} and {len(model.graph.output)}")
    dims: List[Any] = []
    for d in inputs[0].type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or -1))
    kind = onnx_kind([n.op_type for n in model.graph.node], [i.data_type for i in model.graph.initializer])
    return OnnxInfo(card, inputs[0].name, tuple(dims), model.graph.output[0].name, kind)


# --------------------------------------------------------------------------------------------
# hardware description, sidecar, staleness
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "8.7"

    @property
    def sm(self) -> str:
        return "sm_" + self.compute_capability.replace(".", "")


def parse_l4t_release(text: Optional[str]) -> Optional[str]:
    """'# R36 (release), REVISION: 4.0, GCID: ...' -> 'R36.4.0' (None when not a Jetson)."""
    if not text:
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not m:
        return None
    return f"R{m.group(1)}.{m.group(2).rstrip('.')}"


def read_l4t_release(path: str = L4T_RELEASE_FILE) -> Optional[str]:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return parse_l4t_release(f.read())
    except OSError:
        return None


def make_sidecar(
    card: ModelCard,
    plan: BuildPlan,
    shapes: ProfileShapes,
    gpu: GpuInfo,
    onnx_path: str | os.PathLike,
    onnx_sha256: str,
    build_seconds: float,
    l4t: Optional[str] = None,
    workspace_gib: Optional[float] = None,
    timing_cache: Optional[str] = None,
    input_name: str = INPUT_NAME,
    output_name: str = OUTPUT_NAME,
    built_at: Optional[str] = None,
) -> Dict[str, Any]:
    """Everything needed to use the engine and to tell later whether it is stale."""
    engine_card = card.replace(
        precision=plan.precision,
        provenance={"parent_sha256": onnx_sha256, "parent": Path(onnx_path).name, "tensorrt": str(plan.version)},
    )
    return {
        "format": SIDECAR_FORMAT,
        "card": engine_card.to_dict(),
        "precision": plan.precision,
        "tensorrt": str(plan.version),
        "gpu": {"name": gpu.name, "compute_capability": gpu.compute_capability},
        "l4t": l4t,
        "source_onnx": {"file": Path(onnx_path).name, "sha256": onnx_sha256},
        "input": {"name": input_name, "dtype": "float32", "layout": "NCHW", **shapes.to_dict()},
        "output": {"name": output_name, "dtype": "float32", "classes": card.num_classes},
        "build": {**plan.to_dict(), "workspace_gib": workspace_gib, "timing_cache": timing_cache},
        "build_seconds": round(float(build_seconds), 2),
        "built_at": built_at or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "edgeclass": __version__,
    }


def check_sidecar(d: Any, path: str | os.PathLike) -> Dict[str, Any]:
    """Validate a parsed sidecar; one-line error naming what is wrong."""
    if not isinstance(d, dict) or d.get("format") != SIDECAR_FORMAT:
        raise EdgeclassError(f"{path} is not an edgeclass engine sidecar")
    for key in ("card", "tensorrt", "gpu", "precision", "input"):
        if key not in d:
            raise EdgeclassError(f"{path} lacks {key!r}; rebuild the engine with `edgeclass engine`")
    ModelCard.from_dict(d["card"])
    return d


@dataclass(frozen=True)
class Verdict:
    """Whether an engine can be used here; ``reasons`` are short phrases, joined into one line."""

    reasons: Tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    def message(self, engine: str | os.PathLike, command: str) -> str:
        return f"{engine} is stale ({'; '.join(self.reasons)}): rebuild it with `{command}` (or run with --rebuild-stale)"


def _version_usable(built: TrtVersion, running: TrtVersion, version_compatible: bool) -> bool:
    if built == running:
        return True
    if not version_compatible:
        return False
    # version-compatible plans run on the same or a later runtime: 8.6 -> 8.x/9/10, 10 -> 10.x/11, 11.0 -> 11.x
    return running >= built and running.major - built.major <= (2 if built.major == 8 else 1)


def staleness(
    sidecar: Optional[Dict[str, Any]],
    running_version: TrtVersion,
    gpu: GpuInfo,
    onnx_sha256: Optional[str] = None,
) -> Verdict:
    """Is an engine with this sidecar usable with this TensorRT on this GPU, built from this ONNX?
    ``onnx_sha256`` is the current source ONNX's digest when that file is present (None: not checked,
    e.g. an engine deployed without its ONNX)."""
    if sidecar is None:
        return Verdict(("its sidecar .engine.json is missing, so its TensorRT version, GPU and source are unknown",))
    reasons: List[str] = []
    built = TrtVersion.parse(sidecar["tensorrt"])
    vc = bool((sidecar.get("build") or {}).get("version_compatible"))
    if not _version_usable(built, running_version, vc):
        reasons.append(f"built with TensorRT {built}, this is TensorRT {running_version}")
    bgpu = sidecar.get("gpu") or {}
    if str(bgpu.get("compute_capability")) != gpu.compute_capability:
        reasons.append(
            f"built for {bgpu.get('name')} (sm_{str(bgpu.get('compute_capability')).replace('.', '')}), this GPU is {gpu.name} ({gpu.sm})"
        )
    elif bgpu.get("name") != gpu.name:
        reasons.append(f"built on a {bgpu.get('name')}, this GPU is a {gpu.name}")
    src = sidecar.get("source_onnx") or {}
    if onnx_sha256 is not None and src.get("sha256") and src["sha256"] != onnx_sha256:
        reasons.append(f"{src.get('file', 'the source ONNX')} changed since the build")
    return Verdict(tuple(reasons))


def deserialize_failure_verdict(detail: str = "") -> Verdict:
    tail = f": {detail}" if detail else ""
    return Verdict((f"TensorRT could not deserialise it{tail}",))


# --------------------------------------------------------------------------------------------
# commands: the edgeclass rebuild command and the equivalent trtexec command
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


def rebuild_command(target: str | os.PathLike, sidecar: Optional[Dict[str, Any]], precision: Optional[str] = None) -> str:
    """`edgeclass engine ...` that rebuilds an engine the way its sidecar records (or, without a
    sidecar, with default options for ``precision``)."""
    args = ["edgeclass", "engine", str(target)]
    if sidecar is None:
        args += ["--precision", precision or "fp16"]
        return shlex.join(args)
    args += ["--precision", str(sidecar["precision"])]
    shapes = ProfileShapes.from_dict(sidecar["input"])
    lo, opt, hi = shapes.batches
    if lo == opt == hi:
        args += ["--batch", str(lo)]
    else:
        args += ["--min-batch", str(lo), "--opt-batch", str(opt), "--max-batch", str(hi)]
    b = sidecar.get("build") or {}
    if b.get("workspace_gib") is not None:
        args += ["--workspace", f"{float(b['workspace_gib']):g}"]
    if b.get("dla_core") is not None:
        args += ["--dla-core", str(b["dla_core"])]
    if b.get("version_compatible"):
        args.append("--version-compatible")
    if b.get("calibrator"):
        args.append("--calibrator")
    return shlex.join(args)


def _dims(shape: Sequence[int]) -> str:
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
