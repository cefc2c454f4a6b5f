"""`edgeclass jetson-check RUN` (`make jetson-check`): the on-hardware check, as one report to paste.

Builds (or reuses, when fresh) the run's fp16 and int8 TensorRT engines, and fp16 / int8 DLA
engines where the device has DLA; reads each engine's layers (precision, device) from TensorRT's
engine inspector; compares every output with ONNX Runtime on the run's test split (top-1 agreement,
cosine); times latency and throughput per batch; and prints one Markdown report
(``jetson_report.format_report``). A part that cannot run (no TensorRT, no GPU, no DLA, no int8 ONNX,
no ONNX Runtime) is listed under "Skipped" with the reason, never hidden.

The measurements and the report are plain numpy (``jetson_report``) and tested on every machine; the
engine part runs against a stand-in TensorRT in the tests and has not yet run on real hardware.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import __version__
from ..artifacts import formats
from ..data.image_sets import DataSource, split_images
from ..engine import cuda
from ..engine.cuda_choice import device_index
from ..engine.dla import dla_supported
from ..engine.identity import host_identity, jetpack_version
from ..engine.plan import NO_TENSORRT_MESSAGE, PRECISIONS, EngineRequest, engine_path, import_tensorrt
from ..engine.sidecar import engine_verdict
from ..engine.source import read_onnx_info
from ..errors import EdgeclassError
from ..runs import Run
from .jetson_report import EngineRow, accuracy, benchmark, compare_outputs, format_report
from .machine import library_version

DEFAULT_PRECISIONS = ("fp16", "int8")


@dataclass
class CheckConfig:
    precisions: Tuple[str, ...] = DEFAULT_PRECISIONS
    batches: Tuple[int, ...] = (1, 8)
    iters: int = 200
    limit: Optional[int] = None  # at most this many test images
    device: Any = 0  # 0, 1, "cuda:1"
    rebuild: bool = False
    dla_core: Optional[int] = None  # None: core 0 where the device has DLA
    dla: bool = True

    def validate(self) -> "CheckConfig":
        bad = [p for p in self.precisions if p not in PRECISIONS]
        if bad:
            raise EdgeclassError(f"unknown precision(s) {', '.join(bad)}; choose from {', '.join(PRECISIONS)}")
        if not self.batches or min(self.batches) < 1 or self.iters < 1:
            raise EdgeclassError("--batches must be positive and --iters at least 1")
        self.device = device_index(self.device)
        return self


@dataclass(frozen=True)
class EngineSpec:
    precision: str
    dla_core: Optional[int] = None

    @property
    def label(self) -> str:
        return self.precision if self.dla_core is None else f"{self.precision} DLA{self.dla_core}"


# --------------------------------------------------------------------------------------------
# the device
# --------------------------------------------------------------------------------------------


def _gpu_line(device: int) -> str:
    try:
        handle = cuda.open_cuda(device)
    except EdgeclassError as e:
        return f"unavailable: {e}"
    try:
        g = handle.gpu()
        return f"{g.name} ({g.sm}), device {device}; {handle.versions()}"
    finally:
        handle.close()


def _dla_cores(trt: Any) -> Optional[int]:
    try:
        return int(trt.Builder(trt.Logger(trt.Logger.WARNING)).num_DLA_cores)
    except Exception:  # no GPU for the builder
        return None


def environment(device: int) -> Tuple[Dict[str, str], Dict[str, Any]]:
    """(the Device table, facts the check needs: tensorrt module and version, DLA core count)."""
    host = host_identity()
    facts: Dict[str, Any] = {"trt": None, "version": None, "dla_cores": None}
    try:
        facts["trt"], facts["version"] = import_tensorrt()
        facts["dla_cores"] = _dla_cores(facts["trt"])
    except EdgeclassError:
        pass
    env = {
        "device": host["module"] or f"{platform.system()} {platform.machine()} (not a Jetson: no /proc/device-tree/model)",
        "module (device tree)": host["module_id"] or "-",
        "JetPack": jetpack_version(host["l4t"]) or "-",
        "L4T": host["l4t"] or "not a Jetson (no /etc/nv_tegra_release)",
        "GPU / CUDA": _gpu_line(device),
        "TensorRT": str(facts["version"]) if facts["version"] else library_version("tensorrt"),
        "DLA cores": "unknown (needs TensorRT and a GPU)" if facts["dla_cores"] is None else str(facts["dla_cores"]),
        "edgeclass": __version__,
        "python": platform.python_version(),
    }
    for mod in ("onnxruntime", "numpy", "cv2", "torch"):
        env[mod] = library_version(mod)
    return env, facts


def engine_specs(cfg: CheckConfig, facts: Dict[str, Any]) -> Tuple[List[EngineSpec], List[Tuple[str, str]]]:
    """The engines to check (GPU ones, and DLA ones where possible) and the DLA ones skipped, with why."""
    specs = [EngineSpec(p) for p in cfg.precisions]
    skipped: List[Tuple[str, str]] = []
    version, cores = facts["version"], facts["dla_cores"]
    if not cfg.dla:
        return specs, [("DLA engines", "--no-dla")]
    if version is None:
        return specs, [("DLA engines", "need TensorRT")]
    if not dla_supported(version):
        return specs, [("DLA engines", f"TensorRT {version} has no DLA (8.5-10.7 and 11.4.1+ on AGX Orin do)")]
    if not cores:
        return specs, [("DLA engines", "this device has no DLA cores" if cores == 0 else "the DLA core count is unknown")]
    core = cfg.dla_core if cfg.dla_core is not None else 0
    for p in cfg.precisions:
        if p == "fp32":
            skipped.append((f"{p} DLA{core}", "DLA runs fp16 and int8 only"))
        elif p == "int8" and not version.has_calibrators:
            skipped.append((f"{p} DLA{core}", f"TensorRT {version} has no implicit INT8 calibration, and DLA runs no Q/DQ INT8"))
        else:
            specs.append(EngineSpec(p, core))
    return specs, skipped


# --------------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------------


def held_out_images(run: Path, card: Any, limit: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    source = DataSource.of_run(Run.find(run))
    if source is None:
        raise EdgeclassError(f"{run}/config.json does not name the dataset ('data'); jetson-check needs its test split")
    return split_images(source.load(), card, "test", num=limit, seed=0)


def onnx_outputs(path: Path, images: np.ndarray, batch: int = 32) -> Dict[str, np.ndarray]:
    """Every output of an ONNX file under ONNX Runtime's CPU provider (its fixed batch, if any, respected)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    step = inp.shape[0] if isinstance(inp.shape[0], int) else batch
    names = [o.name for o in sess.get_outputs()]
    parts: Dict[str, List[np.ndarray]] = {n: [] for n in names}
    for i in range(0, len(images), step):
        chunk = images[i : i + step]
        n = len(chunk)
        if n < step and isinstance(inp.shape[0], int):
            chunk = np.concatenate([chunk, np.zeros((step - n,) + chunk.shape[1:], chunk.dtype)])
        for name, y in zip(names, sess.run(None, {inp.name: np.ascontiguousarray(chunk)})):
            parts[name].append(np.asarray(y, dtype=np.float32)[:n])
    return {n: np.concatenate(p) for n, p in parts.items()}


def ensure_engine(run: Path, spec: EngineSpec, max_batch: int, cfg: CheckConfig, version: Any) -> Tuple[Path, str]:
    """The engine of ``spec``: reused when present and fresh, else built (DLA: static batch 1)."""
    from ..engine.build import build_engine

    path = engine_path(Run.find(run).weights, spec.precision, spec.dla_core)
    if path.is_file() and not cfg.rebuild and not engine_verdict(path, version, cuda.gpu_of(cfg.device))[1].stale:
        return path, "reused"
    batches = dict(batch=1) if spec.dla_core is not None else dict(min_batch=1, opt_batch=1, max_batch=max_batch)
    request = EngineRequest(precision=spec.precision, dla_core=spec.dla_core, device=cfg.device, **batches)
    result = build_engine(run, request, log=lambda m: print(m, file=sys.stderr))
    return result.engine, f"built in {result.seconds:.0f} s"


def check_engine(run: Path, spec: EngineSpec, images: np.ndarray, labels: np.ndarray, cfg: CheckConfig, version: Any) -> EngineRow:
    from ..runtime.backends.tensorrt import TensorRTBackend

    row = EngineRow(spec.label, "ok")
    try:
        path, row.built = ensure_engine(run, spec, max(cfg.batches), cfg, version)
    except EdgeclassError as e:
        row.status = f"not built: {e}"
        return row
    row.engine = str(path)
    backend = TensorRTBackend(path, device=cfg.device, rebuild_stale=True)
    try:
        row.describe, row.logits, row.max_batch = backend.describe(), backend.output_name, backend.max_batch
        row.layers = backend.layers()
        got = backend.predict_outputs(images)
        row.accuracy = accuracy(got[row.logits], labels)
        src = Run.find(run).weights / backend.sidecar["source_onnx"]["file"]
        row.source = src.name
        try:
            ref = onnx_outputs(src, images)
            row.reference_accuracy = accuracy(ref[row.logits], labels)
            row.outputs = compare_outputs(ref, got, row.logits)
        except ImportError:
            row.status = "ok (no onnxruntime: comparison skipped; pip install onnxruntime)"
        for b in cfg.batches:
            row.bench.append(benchmark(backend.predict, images, b, cfg.iters))
    finally:
        backend.close()
    return row


def jetson_check(run: str | Path, cfg: Optional[CheckConfig] = None) -> str:
    """The report (Markdown) of the on-hardware check of ``run`` (see the module docstring)."""
    run = Path(run)
    cfg = (cfg or CheckConfig()).validate()
    onnx = Run.find(run).artifact(formats.get("onnx"))
    if not onnx.is_file():
        raise EdgeclassError(f"{onnx} is missing; run `edgeclass export {run}` (and `edgeclass calibrate {run}` for int8) first")
    env, facts = environment(cfg.device)
    card = read_onnx_info(onnx).card
    images, labels = held_out_images(run, card, cfg.limit)
    specs, skipped = engine_specs(cfg, facts)
    rows: List[EngineRow] = []
    notes: List[str] = []
    if facts["trt"] is None:
        rows = [EngineRow(s.label, "skipped: no TensorRT") for s in specs]
        skipped = [("engines (build, layers, agreement, latency)", NO_TENSORRT_MESSAGE)] + skipped
    else:
        for spec in specs:
            try:
                rows.append(check_engine(run, spec, images, labels, cfg, facts["version"]))
            except EdgeclassError as e:
                rows.append(EngineRow(spec.label, f"failed: {e}"))
        skipped += [(f"{r.label} layer table", "TensorRT's engine inspector gave no layers") for r in rows if r.status.startswith("ok") and not r.layers]
        skipped += [(r.label, r.status) for r in rows if not r.status.startswith("ok")]
        if any(s.dla_core is not None for s in specs):
            notes.append("DLA engines are static batch 1 (DLA needs min = opt = max); larger batches run as several calls")
    return format_report(env, rows, len(images), str(run), skipped, notes)
