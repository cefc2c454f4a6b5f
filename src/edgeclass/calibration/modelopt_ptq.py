"""NVIDIA ModelOpt's ONNX post-training quantization: the INT8 file for strongly typed TensorRT 10/11.

A strongly typed TensorRT build runs every layer in the type the ONNX graph gives it, so an fp32
Q/DQ graph gives an engine whose unquantized layers run in FP32 (TensorRT 11 has no FP16 flag to
relax that). ModelOpt writes the Q/DQ graph with its non-quantized parts in fp16
(``high_precision_dtype="fp16"``, opset 19: the first opset whose Q/DQ take fp16 scales), with the
same placement rules as ``placement`` (its own implementation). It runs on the CPU with ONNX Runtime.

Optional: ``pip install 'edgeclass[modelopt]'`` (the base ``nvidia-modelopt`` plus the four pieces of
its ``[onnx]`` extra it imports; the extra itself would replace onnxruntime by onnxruntime-gpu and
pin onnx 1.21). Without it ``calibrate`` skips this file and says so.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from ..artifacts import formats
from ..errors import EdgeclassError

FILE_NAME = formats.get("onnx-int8-fp16").file_name  # model.int8-fp16.onnx
TESTED_VERSION = "0.47.0"
HIGH_PRECISION = ("fp16", "fp32")
ONNX_DEPS = ("modelopt", "onnx_graphsurgeon", "onnxslim", "lief", "onnxruntime")  # what modelopt.onnx.quantization imports
TIMEOUT_S = 3600
INSTALL_HINT = "pip install 'edgeclass[modelopt]' (nvidia-modelopt 0.47 without its [onnx] extra; see docs/tensorrt-notes.md)"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ModelOpt logs INFO lines and an NVML error (no GPU) through its own handlers and prints."""
    loggers = [logging.getLogger(n) for n in ("", "modelopt", "modelopt.onnx", "modelopt.onnx.autocast")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def modelopt_version() -> Optional[str]:
    """Version of the installed ``nvidia-modelopt`` when it and the pieces of its ONNX quantizer
    are there, else None. Nothing is imported: ModelOpt runs in a child process (``quantize_modelopt``)."""
    from importlib import metadata, util

    try:
        version = metadata.version("nvidia-modelopt")
    except metadata.PackageNotFoundError:
        return None
    if any(util.find_spec(m) is None for m in ONNX_DEPS):
        return None
    return version


def placement_id(version: str, opset: int = 19) -> str:
    """``modelopt-0.47-opset19``: what the card records as the file's placement."""
    return f"modelopt-{'.'.join(version.split('.')[:2])}-opset{opset}"


def quantize_modelopt(model_path: Path, out_path: Path, images: np.ndarray, batch: int,
                      high_precision: str = "fp16", exclude: Sequence[str] = ()) -> Path:
    """Write ModelOpt's INT8 Q/DQ model of ``model_path`` (max calibration on ``images``, the same
    TRAIN images as every other INT8 file) to ``out_path`` atomically. ``exclude``: layers kept float.

    ModelOpt runs in a child Python: its ``configure_ort`` monkey-patches onnxruntime.quantization
    for the whole process (``ort_patching.patch_ort_modules``: ``calibrate.create_calibrator``,
    ``MinMaxCalibrater.collect_data``, ...), which would break every later ONNX Runtime calibration here."""
    if modelopt_version() is None:
        raise EdgeclassError(f"ModelOpt is not installed: {INSTALL_HINT}")
    if high_precision not in HIGH_PRECISION:
        raise EdgeclassError(f"high precision {high_precision!r}: choose fp16 or fp32")
    import onnx

    from ..fileio import atomic_path
    from .placement import plan_placement
    from .quantize import model_input

    # ModelOpt's own GEMV test sees the calibration batch (16), not the live batch 1: leave the
    # matrix-vector GEMMs float as ``placement`` does. Its exclusions are regexes (re.match).
    float_layers = list(exclude) + [n for n in plan_placement(onnx.load(str(model_path))).float_layers if n not in exclude]
    name, fixed = model_input(model_path)
    batch = fixed or batch
    n = (len(images) // batch) * batch
    if n == 0:
        raise EdgeclassError(f"{len(images)} calibration images are fewer than one batch of {batch}")
    job = {
        "name": name, "shape": "x".join(str(d) for d in (batch,) + tuple(images.shape[1:])),
        "high_precision": high_precision, "exclude": [re.escape(x) + "$" for x in float_layers],
    }
    with tempfile.TemporaryDirectory(prefix="edgeclass-modelopt-") as tmp:
        work = Path(tmp)
        shutil.copyfile(model_path, work / "model.onnx")  # ModelOpt writes intermediate files next to its input
        np.save(work / "calib.npy", np.ascontiguousarray(images[:n]))
        (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
        try:
            proc = subprocess.run([sys.executable, "-m", __name__, str(work)], capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise EdgeclassError(f"ModelOpt did not finish quantizing {model_path.name} within {TIMEOUT_S} s") from None
        staged = work / "out.onnx"
        if proc.returncode != 0 or not staged.is_file():
            tail = (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
            raise EdgeclassError(f"ModelOpt could not quantize {model_path.name}: {tail}")
        with atomic_path(out_path) as tmp_out:
            shutil.copyfile(staged, tmp_out)
    return out_path


def _run_job(work: Path) -> None:
    """The child process: ModelOpt's ONNX PTQ on ``work``/model.onnx as ``job.json`` says."""
    job = json.loads((work / "job.json").read_text(encoding="utf-8"))
    with _quiet():
        from modelopt.onnx.quantization import quantize

        quantize(
            str(work / "model.onnx"), quantize_mode="int8", calibration_data={job["name"]: np.load(work / "calib.npy")},
            calibration_method="max", calibration_shapes=f"{job['name']}:{job['shape']}", calibration_eps=["cpu"],
            output_path=str(work / "out.onnx"), high_precision_dtype=job["high_precision"],
            nodes_to_exclude=job["exclude"] or None, log_level="CRITICAL",
        )


if __name__ == "__main__":
    _run_job(Path(sys.argv[1]))
