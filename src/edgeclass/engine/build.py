"""Build a TensorRT engine from an edgeclass ONNX file (the thin part that calls TensorRT).

Every decision (source ONNX, network-creation flags, builder flags, profile shapes, file names,
sidecar contents) comes from ``plan``, ``shapes``, ``source`` and ``sidecar`` and is tested there.
This module only turns the plan into TensorRT calls: ``create_network`` ->
``OnnxParser.parse_from_file`` -> builder config (``set_memory_pool_limit``, one optimisation
profile, timing cache, DLA, optional entropy calibrator) -> ``build_serialized_network``. The engine
is written as a plain serialized plan (no header, so trtexec and DeepStream load it) with a
``.engine.json`` sidecar next to it.

Not run on real TensorRT yet: no machine this was written on has TensorRT or a GPU.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from ..artifacts.engine import sidecar_path, write_sidecar
from ..errors import EdgeclassError
from ..fileio import write_bytes_atomic
from ..spec import sha256_file
from . import cuda
from .calibrator import make_calibrator, run_calibration_images
from .plan import (
    TRTEXEC_JETSON, BuildPlan, EngineRequest, TrtVersion, calibration_cache_path, engine_path, import_tensorrt, plan_build,
    timing_cache_path, trtexec_command,
)
from .shapes import ProfileShapes, profile_shapes
from .sidecar import make_sidecar, read_l4t_release
from .source import OnnxInfo, check_input_shape, check_source_fits, read_onnx_info, resolve_source

GiB = 1 << 30


@dataclass
class EngineResult:
    engine: Path
    sidecar_path: Path
    sidecar: Dict[str, Any]
    trtexec: str
    seconds: float


@dataclass(frozen=True)
class Prepared:
    """A build plan resolved against real files: what would be built, from what, into where."""

    plan: BuildPlan
    onnx: Path
    info: OnnxInfo
    weights_dir: Path
    engine: Path
    shapes: ProfileShapes


def prepare(target: str | os.PathLike, request: EngineRequest, version: TrtVersion, engine: Optional[Path] = None) -> Prepared:
    """Plan + source ONNX + shapes for ``target`` (run folder, weights folder or ONNX file). Needs
    no TensorRT: `--print-trtexec` uses it with an assumed version."""
    plan = plan_build(version, request.precision, request.calibrator, request.dla_core, request.version_compatible)
    onnx_path, weights_dir = resolve_source(target, plan)
    info = read_onnx_info(onnx_path)
    check_source_fits(plan, info.kind, onnx_path)
    fixed = check_input_shape(info.input_shape, info.card, onnx_path)
    shapes = profile_shapes(
        info.card.preprocess.imgsz, request.batch, request.min_batch, request.opt_batch, request.max_batch, onnx_batch=fixed
    )
    return Prepared(plan, onnx_path, info, weights_dir, engine or engine_path(weights_dir, plan.precision), shapes)


def trtexec_for(prep: Prepared, request: EngineRequest, timing_cache: Optional[Path] = None) -> str:
    binary = TRTEXEC_JETSON if Path(TRTEXEC_JETSON).is_file() else "trtexec"
    calib = calibration_cache_path(prep.weights_dir) if prep.plan.calibrator else None
    return trtexec_command(
        prep.plan, prep.onnx, prep.engine, prep.shapes, prep.info.input_name, request.workspace_gib,
        timing_cache or request.timing_cache, calib, trtexec=binary,
    )


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


def build_engine(target: str | os.PathLike, request: EngineRequest, engine: Optional[Path] = None, log=print) -> EngineResult:
    """Build ``model.<precision>.engine`` (+ sidecar) for a run folder, weights folder or ONNX file."""
    trt, version = import_tensorrt()
    prep = prepare(target, request, version, engine)
    plan, shapes = prep.plan, prep.shapes
    gpu = cuda.gpu_of(request.device)
    timing = Path(request.timing_cache) if request.timing_cache else timing_cache_path(prep.weights_dir, version, gpu.compute_capability)
    command = trtexec_for(prep, request, timing)

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_flag_bits(trt.NetworkDefinitionCreationFlag, plan.network_flags))
    _parser = _parse_onnx(trt, network, logger, prep.onnx)  # keep the parser alive until the build ends
    config = builder.create_builder_config()
    if request.workspace_gib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(request.workspace_gib * GiB))
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    profile = builder.create_optimization_profile()
    profile.set_shape(prep.info.input_name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(profile)
    if plan.dla_core is not None:
        if builder.num_DLA_cores <= plan.dla_core:
            raise EdgeclassError(f"--dla-core {plan.dla_core}: this device has {builder.num_DLA_cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    _cache = _load_timing_cache(config, timing)  # referenced until the build ends
    if plan.calibrator:
        images = run_calibration_images(prep.weights_dir, prep.info.card, request.calib_images)
        # keep a Python reference: the bindings do not, and a collected calibrator crashes the build
        calibrator = make_calibrator(trt, images, calibration_cache_path(prep.weights_dir), version, shapes.opt[0], request.device)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)

    log(f"building {prep.engine.name} from {prep.onnx.name} with TensorRT {version} on {gpu.name} ({gpu.sm}); this can take minutes")
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - t0
    if serialized is None:
        raise EdgeclassError(f"TensorRT could not build {prep.engine.name} (see its messages above); the same build with trtexec: {command}")
    write_bytes_atomic(timing, bytes(config.get_timing_cache().serialize()))
    write_bytes_atomic(prep.engine, bytes(serialized))
    sidecar = make_sidecar(
        prep.info.card, plan, shapes, gpu, prep.onnx, sha256_file(prep.onnx), seconds,
        l4t=read_l4t_release(), workspace_gib=request.workspace_gib, timing_cache=str(timing),
        input_name=prep.info.input_name, output_name=prep.info.output_name,
    )
    side = write_sidecar(sidecar_path(prep.engine), sidecar)
    return EngineResult(prep.engine, side, sidecar, command, seconds)
