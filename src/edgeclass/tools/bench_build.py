"""`edgeclass bench`, part one: make the missing artifacts of a run before anything is measured.

Each missing file is made by the command the format table names for it (``Format.made_by``), through
the same library function that command calls: export, calibrate, engine (with its defaults). Each
maker runs at most once, in table order (export before calibrate before engines, which need their
ONNX). A file that is still missing afterwards says why: missing, skipped (no TensorRT here) or
build failed (with the maker's first line).
"""

from __future__ import annotations

import importlib.util
from typing import Callable, Dict, List, Sequence, Tuple

from ..artifacts import formats
from ..artifacts.formats import Format
from ..errors import EdgeclassError
from ..runs import Run

OK, BUILD_FAILED, EVAL_FAILED, MISSING, SKIPPED = "ok", "build failed", "eval failed", "missing", "skipped"


def first_line(e: BaseException) -> str:
    """An error as one short line (the exception type named unless it is an EdgeclassError)."""
    text = str(e).strip().splitlines()
    msg = text[0] if text else ""
    if not isinstance(e, EdgeclassError):
        msg = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
    return msg[:300]


def _build_export(run: Run) -> None:
    """model.ts, model.onnx, model.fp16.onnx through the exporter (its parity report lands in weights/)."""
    from ..export import ExportConfig, export

    export(ExportConfig(source=run.root))


def _build_calibration(run: Run) -> None:
    """model.int8.onnx, model.int8-fp16.onnx (with ModelOpt) and model.int8-cpu.onnx through the
    calibrator (needs model.onnx)."""
    from ..calibration.pipeline import CalibrationConfig, run_calibration

    if not run.artifact(formats.get("onnx")).is_file():
        raise EdgeclassError("model.onnx is missing, so there is nothing to calibrate (the export failed?)")
    run_calibration(CalibrationConfig(source=run.root))


def _build_engine(run: Run, precision: str) -> None:
    """A TensorRT engine with the engine builder's defaults (the same as `edgeclass engine RUN`)."""
    from ..engine.build import build_engine
    from ..engine.plan import EngineRequest

    build_engine(run.root, EngineRequest(precision=precision), log=lambda m: None)


def builder_of(fmt: Format) -> str:
    """The name of the step that makes ``fmt``: export, calibrate, engine-fp16, ... (train for best.pt)."""
    return fmt.key if fmt.made_by == "engine" else fmt.made_by


BUILDERS: Dict[str, Callable[[Run], None]] = {
    "export": _build_export,
    "calibrate": _build_calibration,
    **{f.key: (lambda run, p=f.precision: _build_engine(run, p)) for f in formats.made_by("engine")},
}


def skip_reason(builder: str) -> str:
    """Why a builder cannot run on this machine at all ("" when it can): engines need TensorRT."""
    if builder.startswith("engine-") and importlib.util.find_spec("tensorrt") is None:
        return "TensorRT not installed (build engines on the GPU machine: edgeclass engine RUN)"
    return ""


def format_skip_reason(fmt: Format) -> str:
    """Why one file cannot be made here although its builder runs ("" when it can): ModelOpt's
    model.int8-fp16.onnx needs ModelOpt, and calibrate skips it without."""
    if fmt.key == "onnx-int8-fp16":
        from ..calibration.modelopt_ptq import INSTALL_HINT, modelopt_version

        if modelopt_version() is None:
            return f"ModelOpt is not installed, so calibrate does not write it: {INSTALL_HINT}"
    return ""


def build_missing(run: Run, fmts: Sequence[Format], log: Callable[[str], None]) -> Dict[str, str]:
    """Run each builder that owes a missing file once, in table order. Returns builder -> error
    message for those that failed."""
    errors: Dict[str, str] = {}
    done = set()
    for fmt in fmts:
        builder = builder_of(fmt)
        if run.artifact(fmt).is_file() or builder in done or builder not in BUILDERS or skip_reason(builder):
            continue
        done.add(builder)
        log(f"bench: making the missing {builder} artifacts of {run.root}")
        try:
            BUILDERS[builder](run)
        except Exception as e:  # a failed build must not stop the other rows
            errors[builder] = first_line(e)
    return errors


def ensure_artifacts(run: Run, fmts: Sequence[Format], build: bool, log: Callable[[str], None]) -> List[Tuple[str, str]]:
    """(status, reason) of each format's file, after making the missing ones when ``build``."""
    errors = build_missing(run, fmts, log) if build else {}
    out: List[Tuple[str, str]] = []
    for fmt in fmts:
        path, builder = run.artifact(fmt), builder_of(fmt)
        if path.is_file():
            out.append((OK, ""))
        elif builder not in BUILDERS:  # the checkpoint: only training makes it
            out.append((MISSING, f"{path.name} not found; train the run first ({fmt.maker})"))
        elif skip_reason(builder) or format_skip_reason(fmt):
            out.append((SKIPPED, skip_reason(builder) or format_skip_reason(fmt)))
        elif not build:
            out.append((MISSING, f"{path.name} not found (run without --no-build to make it)"))
        else:
            out.append((BUILD_FAILED, errors.get(builder) or f"{builder} did not write {path.name}"))
    return out
