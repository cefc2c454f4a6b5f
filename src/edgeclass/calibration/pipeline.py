"""`edgeclass calibrate`: fp32 ONNX + TRAIN images -> model.int8.onnx (TensorRT, opset 17),
model.int8-fp16.onnx (strongly typed TensorRT 10/11, where ModelOpt is installed) and
model.int8-cpu.onnx (ONNX Runtime CPU), an accuracy report on the TEST split, a sensitivity fallback
that keeps the most sensitive layers in float until the top-1 drop fits ``max_drop``, and the
TensorRT placement lint on every TensorRT file (``int8_targets``)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..artifacts import formats
from ..artifacts import onnx as onnx_artifact
from ..artifacts import trt_cache
from ..data.image_sets import DataSource, calibration_images, split_images
from ..data.manifest import Dataset
from ..errors import EdgeclassError
from ..fileio import write_json_atomic
from ..runs import Run
from ..spec import ModelCard, sha256_file
from ..inference import onnx_logits
from .evaluate import Comparison, compare_to_fp32, relative_logit_error
from .int8_targets import calibration_targets, lint_target, placement_record
from .quantize import (
    DEFAULT_PERCENTILE, METHODS, TENSORRT, Target, calibrate, ensure_node_names, quantizable_nodes, quantize, range_amax,
)

REPORT_FILE = "calibration.json"
# what the pass/fail gate measures, wherever it is shown (report, calibration.json, the exit message)
MEASURED_WITH = "ONNX Runtime's CPU emulation of each INT8 file, not a TensorRT engine (`make jetson-check` measures the engines)"
FP32_ONNX = formats.get("onnx")  # what is calibrated


@dataclass
class CalibrationConfig:
    source: Path  # run folder or fp32 model.onnx
    data: Optional[Path] = None  # dataset root (default: the run's config.json)
    manifest: Optional[Path] = None
    num: int = 500  # calibration images (TRAIN split, stratified)
    batch: int = 16
    method: str = "minmax"
    percentile: float = DEFAULT_PERCENTILE
    max_drop: float = 1.0  # allowed top-1 loss in percentage points
    sensitivity_images: int = 256  # val images used to rank layers
    seed: int = 0
    out: Optional[Path] = None  # default: next to the fp32 model
    trt_cache_version: Optional[str] = None  # e.g. "8.6.1": also write calibration.cache for TensorRT
    targets: Optional[Tuple[str, ...]] = None  # INT8 files to write (int8, int8-cpu, int8-fp16); None: all

    def validate(self) -> "CalibrationConfig":
        if self.method not in METHODS:
            raise EdgeclassError(f"unknown --method {self.method!r} (choose from {', '.join(METHODS)})")
        if self.num < 1 or self.batch < 1:
            raise EdgeclassError("--num and --batch must be positive")
        calibration_targets(self.targets)  # names checked before any work
        if self.trt_cache_version:
            trt_cache.version_number(self.trt_cache_version)
            trt_cache.algorithm_of(self.method)
        return self


@dataclass
class ModelReport:
    name: str  # int8 / int8-cpu
    path: str
    top1: float
    drop_points: float
    agreement: float
    per_class_delta: Dict[str, float]
    float_layers: List[str] = field(default_factory=list)  # kept in float by the fallback
    sensitivity: List[Tuple[str, float]] = field(default_factory=list)  # (layer, relative logit error), worst first
    initial_drop_points: Optional[float] = None  # before the fallback, when it ran
    passed: bool = True
    placement: str = ""  # how the Q/DQ were placed (the card records the same)
    lint: Optional[List[dict]] = None  # TensorRT placement findings (None: not a TensorRT file)


@dataclass
class CalibrationResult:
    fp32_top1: float
    test_images: int
    calibration_images: int
    method: str
    max_drop: float
    models: List[ModelReport]
    report_path: Optional[Path] = None
    trt_cache: Optional[Path] = None
    notes: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(m.passed for m in self.models)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["report_path"] = str(self.report_path) if self.report_path else None
        d["trt_cache"] = str(self.trt_cache) if self.trt_cache else None
        d["passed"] = self.ok
        d["measured_with"] = MEASURED_WITH
        return d


def resolve_onnx(source: Path) -> Tuple[Path, Run]:
    """(fp32 ONNX path, its run) for a run folder or an ONNX file."""
    source = Path(source)
    run = Run.find(source)
    if source.is_dir():
        onnx_path = run.artifact(FP32_ONNX)
        if not onnx_path.is_file():
            raise EdgeclassError(f"{source} has no weights/model.onnx; run `edgeclass export {source}` first")
        return onnx_path, run
    if not source.is_file():
        raise EdgeclassError(f"{source} does not exist (give a run folder or an fp32 model.onnx)")
    if source.suffix.lower() != ".onnx":
        raise EdgeclassError(f"{source} is not an ONNX file; give a run folder or its weights/model.onnx")
    return source, run


def resolve_data(cfg: CalibrationConfig, run: Run) -> Dataset:
    source = DataSource(cfg.data, cfg.manifest) if cfg.data else DataSource.of_run(run)
    if source is None:
        raise EdgeclassError("no dataset to calibrate on: pass --data ROOT (the run's config.json names none)")
    if cfg.data is None and not source.root.is_dir():
        raise EdgeclassError(f"the run's dataset {source.root} (from config.json) is not there; pass --data ROOT")
    return source.load()


def check_classes(ds: Dataset, card: ModelCard) -> None:
    unknown = sorted(set(ds.classes) - set(card.classes))
    if unknown:
        raise EdgeclassError(
            f"the dataset {ds.root} has classes the model does not know: {', '.join(unknown)} (model knows {', '.join(card.classes)})"
        )


def int8_card(card: ModelCard, target: Target, parent_sha: str, cfg: CalibrationConfig, n_images: int, float_layers: List[str]) -> ModelCard:
    return card.replace(
        precision="int8",
        provenance={
            "parent": FP32_ONNX.file_name,
            "parent_sha256": parent_sha,
            "quantization": {
                "format": "QDQ",
                "activations": "int8 symmetric" if target.signed_activations else "uint8",
                "weights": "int8 symmetric per-channel",
                "method": cfg.method,
                "calibration_images": n_images,
                "calibration_split": "train",
                "seed": cfg.seed,
                "float_layers": list(float_layers),
                **placement_record(target),
            },
        },
    )


class Workbench:
    """Quantizes one target with a given float-layer list and measures it (shared state of the fallback)."""

    def __init__(self, model: Path, cache: Path, method: str, work: Path, test: Tuple[np.ndarray, np.ndarray],
                 fp32_test: np.ndarray, classes: List[str], calib: np.ndarray, batch: int):
        self.model, self.cache, self.method, self.work = model, cache, method, work
        self.test_x, self.test_y = test
        self.fp32_test, self.classes = fp32_test, classes
        self.calib, self.batch = calib, batch  # ModelOpt calibrates itself, on the same images

    def build(self, target: Target, out: Path, exclude: List[str] = ()) -> Comparison:
        if target.placement == "modelopt":
            from .modelopt_ptq import quantize_modelopt

            quantize_modelopt(self.model, out, self.calib, self.batch, exclude=exclude)
        else:
            quantize(self.model, out, target, self.cache, self.method, exclude=exclude)
        return compare_to_fp32(self.fp32_test, onnx_logits(out, self.test_x), self.test_y, self.classes)

    def candidates(self, target: Target) -> List[str]:
        """The layers ``target`` quantizes: the sensitivity fallback may keep any of them float."""
        if target.placement == "tensorrt":
            import onnx

            from .placement import plan_placement

            return plan_placement(onnx.load(str(self.model))).quantize
        return quantizable_nodes(self.model)

    def sensitivity(self, target: Target, images: np.ndarray) -> List[Tuple[str, float]]:
        """Each layer quantized alone: relative logit error on ``images``, worst first. ModelOpt's
        file is ranked with the TensorRT placement (the same rules, and a probe costs no recalibration)."""
        target = TENSORRT if target.placement == "modelopt" else target
        ref = onnx_logits(self.model, images)
        scores = []
        for node in self.candidates(target):
            probe = self.work / f"probe.{target.name}.onnx"
            quantize(self.model, probe, target, self.cache, self.method, only=[node])
            scores.append((node, relative_logit_error(ref, onnx_logits(probe, images))))
        return sorted(scores, key=lambda s: -s[1])


def fit_budget(bench: Workbench, target: Target, out: Path, first: Comparison, max_drop: float,
               sens_images: np.ndarray) -> Tuple[Comparison, List[str], List[Tuple[str, float]]]:
    """Keep the most sensitive layers in float, one more at a time, until the drop fits."""
    ranking = bench.sensitivity(target, sens_images)
    result, excluded = first, []
    for node, _score in ranking:
        excluded.append(node)
        result = bench.build(target, out, excluded)
        if result.drop_points <= max_drop:
            break
    return result, excluded, ranking


def run_calibration(cfg: CalibrationConfig) -> CalibrationResult:
    """Calibrate, quantize both targets, report accuracy on TEST, fall back per target if needed."""
    cfg.validate()
    fp32_path, run = resolve_onnx(cfg.source)
    card = onnx_artifact.read_card(fp32_path)
    if card.precision != "fp32":
        raise EdgeclassError(f"{fp32_path} is a {card.precision} model; calibrate the fp32 model.onnx")
    out_dir = Path(cfg.out) if cfg.out else fp32_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = resolve_data(cfg, run)
    check_classes(ds, card)

    calib = calibration_images(ds, card, cfg.num, cfg.seed)
    if len(calib) < cfg.batch:
        raise EdgeclassError(
            f"only {len(calib)} calibration images, fewer than one batch of {cfg.batch}; add TRAIN images or lower --batch"
        )
    test = split_images(ds, card, "test")
    parent_sha = sha256_file(fp32_path)

    with tempfile.TemporaryDirectory(prefix="edgeclass-int8-") as tmp:
        work = Path(tmp)
        model = onnx_artifact.load(fp32_path)
        ensure_node_names(model)
        named = onnx_artifact.save(model, work / "model.onnx")
        cache = calibrate(named, calib, cfg.batch, cfg.method, work / "ranges.json", cfg.percentile)
        fp32_test = onnx_logits(named, test[0])
        bench = Workbench(named, cache, cfg.method, work, test, fp32_test, card.classes, calib, cfg.batch)
        fp32_top1 = float(np.mean(fp32_test.argmax(1) == test[1]))
        sens_images: Optional[np.ndarray] = None
        reports = []
        targets, notes = calibration_targets(cfg.targets)
        for target in targets:
            out = out_dir / target.file_name
            first = bench.build(target, out)
            cmp_, excluded, ranking, initial = first, [], [], None
            if first.drop_points > cfg.max_drop:
                if sens_images is None:
                    sens_images, _ = split_images(ds, card, "val", num=cfg.sensitivity_images, seed=cfg.seed)
                initial = first.drop_points
                cmp_, excluded, ranking = fit_budget(bench, target, out, first, cfg.max_drop, sens_images)
            onnx_artifact.write_card(out, int8_card(card, target, parent_sha, cfg, len(calib), excluded))
            findings = lint_target(target, out)
            lint_errors = [f for f in findings or [] if f.severity == "error"]
            reports.append(ModelReport(
                name=target.name, path=str(out), top1=cmp_.top1, drop_points=cmp_.drop_points, agreement=cmp_.agreement,
                per_class_delta=cmp_.per_class_delta, float_layers=excluded,
                sensitivity=[(n, round(s, 6)) for n, s in ranking], initial_drop_points=initial,
                passed=cmp_.drop_points <= cfg.max_drop and not lint_errors,
                placement=str(placement_record(target)["placement"]),
                lint=None if findings is None else [f.to_dict() for f in findings],
            ))
        cache_path = None
        if cfg.trt_cache_version:
            code = trt_cache.version_number(cfg.trt_cache_version)
            cache_path = trt_cache.write(out_dir / trt_cache.FILE_NAME, range_amax(cache), code, trt_cache.algorithm_of(cfg.method))

    result = CalibrationResult(fp32_top1, len(test[1]), len(calib), cfg.method, cfg.max_drop, reports, trt_cache=cache_path, notes=notes)
    result.report_path = out_dir / REPORT_FILE
    write_json_atomic(result.report_path, result.to_dict())
    return result


def format_report(result: CalibrationResult) -> str:
    lines = [
        f"INT8 calibration: {result.calibration_images} TRAIN images, method {result.method}; "
        f"accuracy on {result.test_images} TEST images (budget: drop <= {result.max_drop:g} points)",
        f"{'model':<10} {'top-1':>8} {'drop':>8} {'agree':>8}  {'worst class':<22} result (ONNX Runtime)",
        f"{'fp32':<10} {result.fp32_top1:>8.2%} {'':>8} {'':>8}",
    ]
    for m in result.models:
        worst = min(m.per_class_delta.items(), key=lambda kv: kv[1]) if m.per_class_delta else ("-", 0.0)
        worst_text = f"{worst[0]} {worst[1]:+.1f}p" if worst[1] < 0 else "-"
        lines.append(
            f"{m.name:<10} {m.top1:>8.2%} {m.drop_points:>7.2f}p {m.agreement:>8.2%}  {worst_text:<22} "
            f"{'ok' if m.passed else 'FAIL'}"
        )
        if m.lint is not None:
            lines.append(f"  {m.placement}: TensorRT lint " + ("clean" if not m.lint else "; ".join(
                f"{f['severity']} {f['rule']} at {f['node']}" for f in m.lint[:5]) + (" ..." if len(m.lint) > 5 else "")))
        if m.initial_drop_points is not None:
            lines.append(
                f"  fallback: drop {m.initial_drop_points:.2f}p before; kept {len(m.float_layers)} layer(s) in float: "
                + ", ".join(m.float_layers)
            )
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"(accuracy and ok/FAIL: {MEASURED_WITH})")
    return "\n".join(lines)
