"""Build a TensorRT engine from an edgeclass ONNX file (the thin part that calls TensorRT).

Every decision (source ONNX, network-creation flags, builder flags to set and clear, profile shapes,
DLA, the calibrator and its cache, the timing cache, file names, sidecar contents) comes from
``plan``, ``shapes``, ``dla``, ``source``, ``calibrator`` and ``sidecar`` and is tested there. This
module only turns the plan into TensorRT calls: make the CUDA device current -> ``create_network`` ->
``OnnxParser.parse_from_file`` -> builder config (``set_memory_pool_limit``, flags, ``clear_flag(TF32)``,
``profiling_verbosity = DETAILED``, one optimisation profile, timing cache, DLA with
``can_run_on_DLA`` per layer, optional implicit calibrator) -> ``build_serialized_network`` -> the
engine inspector's layer table. The engine is written as a plain serialized plan (no header, so
trtexec and DeepStream load it) with a ``.engine.json`` sidecar next to it.

Not run on real TensorRT yet: no machine this was written on has TensorRT or a GPU.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..artifacts import trt_cache
from ..artifacts.engine import sidecar_path, write_sidecar
from ..errors import EdgeclassError
from ..fileio import write_bytes_atomic
from ..spec import sha256_file
from . import cuda
from .calibrator import cache_decision, make_calibrator, run_image_source
from .dla import builder_placement, dla_shapes
from .identity import host_identity
from .layers import LayerInfo, inspect_engine, network_layer_names, network_tensor_names, summary
from .plan import (
    TRTEXEC_JETSON, BuildPlan, EngineRequest, TrtVersion, build_timing_cache, calibration_cache_path, engine_path,
    import_tensorrt, plan_build,
)
from .shapes import ProfileShapes, profile_shapes
from .sidecar import make_sidecar
from .source import OnnxInfo, available_int8, check_input_shape, check_source_fits, read_onnx_info, resolve_source
from .trtexec import trtexec_command

GiB = 1 << 30


@dataclass
class EngineResult:
    engine: Path
    sidecar_path: Path
    sidecar: Dict[str, Any]
    trtexec: str
    seconds: float
    notes: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Prepared:
    """A build plan resolved against real files: what would be built, from what, into where."""

    plan: BuildPlan
    onnx: Path
    info: OnnxInfo
    weights_dir: Path
    engine: Path
    shapes: ProfileShapes
    onnx_batch: Optional[int] = None  # the ONNX input's fixed batch (None: dynamic)


def prepare(target: str | os.PathLike, request: EngineRequest, version: TrtVersion, engine: Optional[Path] = None) -> Prepared:
    """Plan + source ONNX + shapes for ``target`` (run folder, weights folder or ONNX file). Needs
    no TensorRT: `--print-trtexec` uses it with an assumed version."""
    available = available_int8(target) if request.precision == "int8" else None
    plan = plan_build(version, request.precision, request.calibrator, request.dla_core, request.version_compatible,
                      available=available, device=request.device)
    onnx_path, weights_dir = resolve_source(target, plan)
    info = read_onnx_info(onnx_path)
    check_source_fits(plan, info.kind, onnx_path)
    fixed = check_input_shape(info.input_shape, info.card, onnx_path)
    shapes = profile_shapes(
        info.card.preprocess.imgsz, request.batch, request.min_batch, request.opt_batch, request.max_batch, onnx_batch=fixed
    )
    if plan.dla_core is not None:
        shapes = dla_shapes(shapes, request.range_given)
    return Prepared(plan, onnx_path, info, weights_dir, engine or engine_path(weights_dir, plan.precision, plan.dla_core), shapes, fixed)


def trtexec_for(prep: Prepared, request: EngineRequest, timing_cache: Optional[Path] = None) -> str:
    binary = TRTEXEC_JETSON if Path(TRTEXEC_JETSON).is_file() else "trtexec"
    calib = calibration_cache_path(prep.weights_dir) if prep.plan.calibrator else None
    header = trt_cache.parse_header(calib.read_bytes()) if calib is not None and calib.is_file() else None
    return trtexec_command(
        prep.plan, prep.onnx, prep.engine, prep.shapes, prep.info.input_name, request.workspace_gib,
        timing_cache or request.timing_cache, calib, trtexec=binary, onnx_batch=prep.onnx_batch,
        cache_algorithm=header[1] if header else None,
    )


def trtexec_notes(prep: Prepared) -> List[str]:
    """What the printed trtexec line needs that is not there yet."""
    if prep.plan.calibrator and not calibration_cache_path(prep.weights_dir).is_file():
        return [f"{calibration_cache_path(prep.weights_dir)} does not exist yet and trtexec cannot calibrate by itself: write it with "
                f"`edgeclass calibrate RUN --method entropy --trt-cache {prep.plan.version}` (trtexec reads it with its entropy calibrator)"]
    return []


# --------------------------------------------------------------------------------------------
# TensorRT calls
# --------------------------------------------------------------------------------------------


def _flag_bits(enum: Any, names) -> int:
    bits = 0
    for name in names:
        member = getattr(enum, name, None)
        if member is None:
            raise EdgeclassError(f"this TensorRT has no {enum.__name__}.{name}; please report it with `edgeclass engine --print-trtexec`")
        bits |= 1 << int(member)
    return bits


def _parser_error(err: Any) -> str:
    return str(err.desc()) if hasattr(err, "desc") else str(err)


def _parse_onnx(trt: Any, network: Any, logger: Any, onnx_path: Path) -> Any:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        first = errors[0].splitlines()[0] if errors else "unknown error"
        raise EdgeclassError(f"TensorRT could not parse {onnx_path} ({len(errors)} errors; first: {first[:200]})")
    return parser


def _load_timing_cache(config: Any, path: Path) -> Any:
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        # a cache from another device/version: start a fresh one rather than fail the build
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def _configure(trt: Any, builder: Any, network: Any, plan: BuildPlan, request: EngineRequest) -> Any:
    config = builder.create_builder_config()
    if request.workspace_gib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(request.workspace_gib * GiB))
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in plan.clear_flags:
        config.clear_flag(getattr(trt.BuilderFlag, name))
    if hasattr(trt, "ProfilingVerbosity"):
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then shows each layer's types
    if plan.dla_core is not None:
        if builder.num_DLA_cores <= plan.dla_core:
            raise EdgeclassError(f"--dla-core {plan.dla_core}: this device has {builder.num_DLA_cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    return config


def _placement(network: Any, config: Any, plan: BuildPlan) -> Dict[str, Any]:
    names = network_layer_names(network)
    if plan.dla_core is None:
        return builder_placement(names, [], None)
    return builder_placement(names, [bool(config.can_run_on_DLA(network.get_layer(i))) for i in range(len(names))], plan.dla_core)


def _inspect(trt: Any, logger: Any, serialized: Any, plan: BuildPlan, notes: List[str]) -> Optional[List[Dict[str, str]]]:
    """The engine inspector's layer rows of the plan just built (None, with a note, where it fails)."""
    try:
        runtime = trt.Runtime(logger)
        if plan.dla_core is not None:
            runtime.DLA_core = plan.dla_core
        engine = runtime.deserialize_cuda_engine(bytes(serialized))
        layers = inspect_engine(trt, engine, plan.dla_core is not None) if engine is not None else None
    except Exception as e:  # the build itself succeeded; the layer table is extra information
        notes.append(f"engine inspector unavailable: {type(e).__name__}: {e}")
        return None
    return [layer.to_dict() for layer in layers] if layers is not None else None


def build_engine(target: str | os.PathLike, request: EngineRequest, engine: Optional[Path] = None,
                 log: Callable[[str], None] = print) -> EngineResult:
    """Build ``model.<precision>[.dla<N>].engine`` (+ sidecar) for a run folder, weights folder or ONNX file."""
    trt, version = import_tensorrt()
    request.validate()
    prep = prepare(target, request, version, engine)
    plan, shapes = prep.plan, prep.shapes
    device = cuda.open_cuda(plan.device)  # makes the device current: TensorRT builds for the current device
    notes: List[str] = []
    calibrator = None
    try:
        gpu = device.gpu()
        timing = build_timing_cache(request.timing_cache, prep.weights_dir, version, gpu.compute_capability)
        try:
            command = trtexec_for(prep, request, timing)
        except EdgeclassError as e:
            command = f"(no trtexec equivalent: {e})"
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(_flag_bits(trt.NetworkDefinitionCreationFlag, plan.network_flags))
        _parser = _parse_onnx(trt, network, logger, prep.onnx)  # keep the parser alive until the build ends
        config = _configure(trt, builder, network, plan, request)
        profile = builder.create_optimization_profile()
        profile.set_shape(prep.info.input_name, shapes.min, shapes.opt, shapes.max)
        config.add_optimization_profile(profile)
        placement = _placement(network, config, plan)
        _cache = _load_timing_cache(config, timing)  # referenced until the build ends
        calibration = None
        if plan.calibrator:
            cache_file = calibration_cache_path(prep.weights_dir)
            load = run_image_source(prep.weights_dir, prep.info.card, request.calib_images)
            decision = cache_decision(cache_file.read_bytes() if cache_file.is_file() else None, version,
                                      network_tensor_names(network), load is not None)
            notes += [decision.note] if decision.note else []
            # keep a Python reference: the bindings do not, and a collected calibrator crashes the build
            calibrator = make_calibrator(trt, load, cache_file, version, shapes.opt[0], plan.device, decision)
            config.int8_calibrator = calibrator
            config.set_calibration_profile(profile)
            calibration = decision.to_dict()

        log(f"building {prep.engine.name} from {prep.onnx.name} with TensorRT {version} on {gpu.name} ({gpu.sm}); this can take minutes")
        t0 = time.perf_counter()
        serialized = builder.build_serialized_network(network, config)
        seconds = time.perf_counter() - t0
        if serialized is None:
            raise EdgeclassError(f"TensorRT could not build {prep.engine.name} (see its messages above); the same build with trtexec: {command}")
        layers = _inspect(trt, logger, serialized, plan, notes)
        write_bytes_atomic(timing, bytes(config.get_timing_cache().serialize()))
    finally:
        if calibrator is not None:
            calibrator.close()
        device.close()
    write_bytes_atomic(prep.engine, bytes(serialized))
    if layers is not None:
        placement["inspector"] = summary([LayerInfo(**r) for r in layers])
    sidecar = make_sidecar(
        prep.info.card, plan, shapes, gpu, prep.onnx, sha256_file(prep.onnx), seconds,
        workspace_gib=request.workspace_gib, timing_cache=str(timing), input_name=prep.info.input_name,
        output_name=prep.info.output_name, host=host_identity(), output_names=prep.info.output_names,
        timing_cache_chosen=request.timing_cache is not None, placement=placement, layers=layers, calibration=calibration,
    )
    side = write_sidecar(sidecar_path(prep.engine), sidecar)
    for note in notes:
        log(f"note: {note}")
    return EngineResult(prep.engine, side, sidecar, command, seconds, notes)

