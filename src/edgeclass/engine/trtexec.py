"""The trtexec command line that builds the same engine as `edgeclass engine` (printed by
``--print-trtexec`` and with every build). Options as trtexec's ``samples/common/sampleOptions.cpp``
spells them on 8.5, 10.3 and 11.1 (``--noTF32``, ``--device=N``, ``--useDLACore``,
``--allowGPUFallback``, ``--stronglyTyped`` from 10, ``--calib``, ``--profilingVerbosity=detailed``,
``--memPoolSize=workspace:<MiB>``, ``--timingCacheFile``, ``--versionCompatible``)."""

from __future__ import annotations

import os
import shlex
from typing import List, Optional

from ..artifacts import trt_cache
from ..errors import EdgeclassError
from .plan import INPUT_NAME, BuildPlan
from .shapes import ProfileShapes, trtexec_shape_args


def calib_args(calibration_cache: Optional[str | os.PathLike], cache_algorithm: Optional[str]) -> List[str]:
    """``--calib=FILE`` for an implicit-INT8 plan. trtexec cannot calibrate by itself: it reads the cache
    through its own IInt8EntropyCalibrator2 (``RndInt8Calibrator``), so only an EntropyCalibration2 cache
    fits (one with another algorithm in its header is not reused; reported by users, not verified here)."""
    if calibration_cache is None:
        raise EdgeclassError("trtexec cannot calibrate by itself; it needs an existing calibration cache (--calib)")
    if cache_algorithm not in (None, trt_cache.ENTROPY):
        raise EdgeclassError(
            f"{calibration_cache} holds {cache_algorithm} scales, but trtexec's --calib reads them with its entropy "
            "calibrator (EntropyCalibration2): write one with `edgeclass calibrate RUN --method entropy --trt-cache VERSION`"
        )
    return [f"--calib={calibration_cache}"]


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
    onnx_batch: Optional[int] = None,
    cache_algorithm: Optional[str] = None,
) -> str:
    """The trtexec command line that builds the same engine (a shell-quoted string). No shape flags
    for an ONNX with a fixed batch (``onnx_batch``), equal ones for a static profile (DLA);
    --memPoolSize takes MiB; --stronglyTyped exists from 10 and is implied in 11; 11 has no --fp16/--int8."""
    args = [trtexec, f"--onnx={onnx}", f"--saveEngine={engine}"] + trtexec_shape_args(shapes, input_name, onnx_batch)
    if "STRONGLY_TYPED" in plan.network_flags:
        args.append("--stronglyTyped")
    if "FP16" in plan.builder_flags:
        args.append("--fp16")
    if "INT8" in plan.builder_flags:
        args.append("--int8")
    if "TF32" in plan.clear_flags:
        args.append("--noTF32")
    if plan.calibrator:
        args += calib_args(calibration_cache, cache_algorithm)
    if workspace_gib is not None:
        args.append(f"--memPoolSize=workspace:{int(round(workspace_gib * 1024))}")
    if timing_cache is not None:
        args.append(f"--timingCacheFile={timing_cache}")
    if plan.dla_core is not None:
        args += [f"--useDLACore={plan.dla_core}", "--allowGPUFallback"]
    if plan.version_compatible:
        args.append("--versionCompatible")
    if plan.device:
        args.append(f"--device={plan.device}")
    args.append("--profilingVerbosity=detailed")  # as edgeclass builds: the engine inspector then shows precisions
    return shlex.join(args)
