"""Build a TensorRT engine from an edgeclass ONNX file (the thin part that calls TensorRT).

Every decision (source ONNX, network-creation flags, builder flags, profile shapes, file names,
sidecar contents) comes from ``edgeclass.trt`` and is tested there. This module only turns the plan
into TensorRT calls: ``create_network`` -> ``OnnxParser.parse_from_file`` -> builder config
(``set_memory_pool_limit``, one optimisation profile, timing cache, DLA, optional entropy calibrator)
-> ``build_serialized_network``. The engine is written as a plain serialized plan (no header, so
trtexec and DeepStream load it) with a ``.engine.json`` sidecar next to it.

Not run on real TensorRT yet: no machine this was written on has TensorRT or a GPU.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .. import trt as decide
from ..errors import EdgeclassError
from ..fileio import write_bytes_atomic
from ..spec import sha256_file
from ..trt import EngineRequest

GiB = 1 << 30


@dataclass
class EngineResult:
    engine: Path
    sidecar_path: Path
    sidecar: Dict[str, Any]
    trtexec: str
    seconds: float


def request_from_sidecar(sidecar: Optional[Dict[str, Any]], precision: str, device: int = 0) -> EngineRequest:
    """The options an existing engine was built with (defaults when its sidecar is missing)."""
    if not sidecar:
        return EngineRequest(precision=precision, device=device)
    shapes = decide.ProfileShapes.from_dict(sidecar["input"])
    lo, opt, hi = shapes.batches
    b = sidecar.get("build") or {}
    return EngineRequest(
        precision=str(sidecar["precision"]),
        min_batch=lo,
        opt_batch=opt,
        max_batch=hi,
        workspace_gib=b.get("workspace_gib"),
        timing_cache=b.get("timing_cache"),
        dla_core=b.get("dla_core"),
        version_compatible=bool(b.get("version_compatible")),
        calibrator=bool(b.get("calibrator")),
        device=device,
    )


@dataclass(frozen=True)
class Prepared:
    """A build plan resolved against real files: what would be built, from what, into where."""

    plan: decide.BuildPlan
    onnx: Path
    info: decide.OnnxInfo
    weights_dir: Path
    engine: Path
    shapes: decide.ProfileShapes


def prepare(target: str | os.PathLike, request: EngineRequest, version: decide.TrtVersion, engine: Optional[Path] = None) -> Prepared:
    """Plan + source ONNX + shapes for ``target`` (run folder, weights folder or ONNX file). Needs
    no TensorRT: `--print-trtexec` uses it with an assumed version."""
    plan = decide.plan_build(version, request.precision, request.calibrator, request.dla_core, request.version_compatible)
    onnx_path, weights_dir = decide.resolve_source(target, plan)
    info = decide.read_onnx_info(onnx_path)
    decide.check_source_fits(plan, info.kind, onnx_path)
    fixed = decide.check_input_shape(info.input_shape, info.card, onnx_path)
    shapes = decide.profile_shapes(
        info.card.preprocess.imgsz, request.batch, request.min_batch, request.opt_batch, request.max_batch, onnx_batch=fixed
    )
    return Prepared(plan, onnx_path, info, weights_dir, engine or decide.engine_path(weights_dir, plan.precision), shapes)


def trtexec_for(prep: Prepared, request: EngineRequest, timing_cache: Optional[Path] = None) -> str:
    binary = decide.TRTEXEC_JETSON if Path(decide.TRTEXEC_JETSON).is_file() else "trtexec"
    calib = decide.calibration_cache_path(prep.weights_dir) if prep.plan.calibrator else None
    return decide.trtexec_command(
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


def _make_calibrator(trt: Any, images: np.ndarray, cache_path: Path, version: decide.TrtVersion, batch: int, device: int) -> Any:
    """IInt8EntropyCalibrator2 over preprocessed train images (TensorRT < 11 only). A cache is
    reused only if its header names this exact TensorRT version."""
    from ..runtime.tensorrt_backend import open_cuda

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.cuda = open_cuda(device)
            self.images = np.ascontiguousarray(images, dtype=np.float32)
            self.batch = batch
            self.pos = 0
            self.ptr = self.cuda.alloc(batch * int(np.prod(self.images.shape[1:])) * 4)

        def get_batch_size(self) -> int:
            return self.batch

        def get_batch(self, names, *_args):
            if self.pos + self.batch > len(self.images):
                return None
            chunk = self.images[self.pos : self.pos + self.batch]
            self.pos += self.batch
            self.cuda.upload(self.ptr, chunk)
            self.cuda.synchronize()
            return [int(self.ptr)]

        def read_calibration_cache(self):
            data = cache_path.read_bytes() if cache_path.is_file() else None
            return data if decide.calibration_cache_matches(data, version) else None

        def write_calibration_cache(self, cache) -> None:
            write_bytes_atomic(cache_path, bytes(cache))

    return EntropyCalibrator()


def _calibration_images(weights_dir: Path, card: Any, num: int) -> np.ndarray:
    from ..calibration.dataset import calibration_images, run_data_source

    source = run_data_source(weights_dir.parent if weights_dir.name == "weights" else weights_dir)
    if source is None:
        raise EdgeclassError(f"--calibrator needs the run's dataset, but no config.json with 'data' was found next to {weights_dir}")
    return calibration_images(source.load(), card, num=num, seed=0)


def build_engine(target: str | os.PathLike, request: EngineRequest, engine: Optional[Path] = None, log=print) -> EngineResult:
    """Build ``model.<precision>.engine`` (+ sidecar) for a run folder, weights folder or ONNX file."""
    from ..runtime.tensorrt_backend import import_tensorrt, open_cuda

    trt, version = import_tensorrt()
    prep = prepare(target, request, version, engine)
    plan, shapes = prep.plan, prep.shapes
    cuda = open_cuda(request.device)
    try:
        gpu = cuda.gpu()
    finally:
        cuda.close()
    timing = Path(request.timing_cache) if request.timing_cache else decide.timing_cache_path(prep.weights_dir, version, gpu.compute_capability)
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
        images = _calibration_images(prep.weights_dir, prep.info.card, request.calib_images)
        # keep a Python reference: the bindings do not, and a collected calibrator crashes the build
        calibrator = _make_calibrator(
            trt, images, decide.calibration_cache_path(prep.weights_dir), version, shapes.opt[0], request.device
        )
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
    sidecar = decide.make_sidecar(
        prep.info.card, plan, shapes, gpu, prep.onnx, sha256_file(prep.onnx), seconds,
        l4t=decide.read_l4t_release(), workspace_gib=request.workspace_gib, timing_cache=str(timing),
        input_name=prep.info.input_name, output_name=prep.info.output_name,
    )
    side = decide.sidecar_path(prep.engine)
    write_bytes_atomic(side, (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode())
    return EngineResult(prep.engine, side, sidecar, command, seconds)
