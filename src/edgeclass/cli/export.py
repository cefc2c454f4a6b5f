"""`edgeclass export` and `edgeclass calibrate`: argument parsing only (see edgeclass.export and
edgeclass.calibration). torch and onnxruntime are imported inside the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from ..artifacts import formats
from ..calibration.int8_targets import TARGET_NAMES
from ..calibration.quantize import DEFAULT_PERCENTILE, METHODS
from ..export.opsets import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from .options import IMAGE_SIZE, NON_NEGATIVE, POSITIVE, SEED, CommaList, Finite, Int, Version, comma_list

EXPORT_FORMATS = formats.keys(formats.made_by("export"))


@click.command("export")
@click.argument("source", metavar="RUN_OR_CHECKPOINT", type=click.Path(exists=True, path_type=Path))
@click.option("--formats", "format_keys", type=CommaList(EXPORT_FORMATS), default=",".join(EXPORT_FORMATS), show_default=True,
              help=f"Comma-separated: {','.join(EXPORT_FORMATS)}.")
@click.option("--imgsz", type=IMAGE_SIZE, default=None, help="Input size (default: the training size).")
@click.option("--dynamic/--no-dynamic", default=True, show_default=True, help="Dynamic batch axis (ignored with --batch).")
@click.option("--batch", type=POSITIVE, default=None, help="Fixed batch size instead of a dynamic batch axis.")
@click.option("--opset", type=Int(MIN_OPSET, MAX_OPSET), default=DEFAULT_OPSET, show_default=True,
              help=f"ONNX opset {MIN_OPSET}-{MAX_OPSET}: 17 for TensorRT 8.5/JetPack 5; 18+ uses torch's dynamo exporter.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder (default: next to the weights).")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Dataset for the parity check (default: the run's).")
@click.option("--parity-images", type=NON_NEGATIVE, default=256, show_default=True, help="Val images for the parity check (0 skips it).")
def export_cmd(source: Path, format_keys: str, imgsz: Optional[int], dynamic: bool, batch: Optional[int], opset: int,
               out: Optional[Path], data: Optional[Path], parity_images: int) -> None:
    """Export RUN_OR_CHECKPOINT to TorchScript / ONNX / fp16 ONNX and check each against PyTorch."""
    from ..export.pipeline import ExportConfig, export, parity_table

    if batch is None and not dynamic:
        batch = 1
    cfg = ExportConfig(source=source, formats=comma_list(format_keys), imgsz=imgsz, batch=batch, opset=opset, out=out,
                       data=data, parity_images=parity_images)
    result = export(cfg)
    for fmt, path in result.artifacts.items():
        click.echo(f"{fmt:<12} {path}")
    if result.parity:
        click.echo(parity_table(result))
        click.echo(f"parity report: {result.parity_path}")
    if not result.ok:
        click.echo(f"error: parity check failed for {', '.join(result.failed)}", err=True)
        sys.exit(1)


@click.command("calibrate")
@click.argument("source", metavar="RUN_OR_ONNX", type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Dataset root (default: the run's config.json).")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Split manifest (default: DATA/splits.csv).")
@click.option("--num", type=POSITIVE, default=500, show_default=True, help="Calibration images, drawn stratified from the TRAIN split.")
@click.option("--batch", type=POSITIVE, default=16, show_default=True, help="Calibration batch size.")
@click.option("--method", type=click.Choice(METHODS), default="minmax", show_default=True,
              help="How activation ranges are chosen.")
@click.option("--percentile", type=Finite(0, 100, min_open=True), default=DEFAULT_PERCENTILE, show_default=True,
              help="For --method percentile: in (0, 100].")
@click.option("--max-drop", type=Finite(), default=1.0, show_default=True,
              help="Allowed top-1 loss (points) on TEST; beyond it the most sensitive layers stay float.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder (default: next to model.onnx).")
@click.option("--trt-cache", "trt_cache_version", type=Version(), default=None, metavar="VERSION",
              help="Also write calibration.cache for TensorRT VERSION's implicit INT8 calibration (e.g. 8.6.1; TensorRT < 11).")
@click.option("--targets", type=CommaList(TARGET_NAMES), default=",".join(TARGET_NAMES), show_default=True,
              help="INT8 files to write: int8 (TensorRT, opset 17), int8-cpu (ONNX Runtime CPU), int8-fp16 (ModelOpt, TensorRT 10/11).")
def calibrate_cmd(source: Path, data: Optional[Path], manifest: Optional[Path], num: int, batch: int, method: str,
                  percentile: float, max_drop: float, seed: int, out: Optional[Path], trt_cache_version: Optional[str],
                  targets: str) -> None:
    """INT8-quantize RUN_OR_ONNX: model.int8.onnx (TensorRT, opset 17), model.int8-fp16.onnx (strongly
    typed TensorRT 10/11, needs ModelOpt) and model.int8-cpu.onnx (ONNX Runtime CPU)."""
    from ..calibration.pipeline import CalibrationConfig, format_report, run_calibration

    cfg = CalibrationConfig(source=source, data=data, manifest=manifest, num=num, batch=batch, method=method,
                            percentile=percentile, max_drop=max_drop, seed=seed, out=out,
                            trt_cache_version=trt_cache_version, targets=tuple(comma_list(targets)))
    result = run_calibration(cfg)
    click.echo(format_report(result))
    for m in result.models:
        click.echo(f"{m.name:<12} {m.path}")
    if result.trt_cache:
        click.echo(f"tensorrt cache {result.trt_cache}")
    click.echo(f"report: {result.report_path}")
    if not result.ok:
        failed = ", ".join(f"{m.name} ({m.drop_points:.2f} points)" for m in result.models if not m.passed)
        click.echo(f"error: INT8 top-1 drop exceeds --max-drop {max_drop:g} even with layers kept in float: {failed} "
                   "(measured with ONNX Runtime's CPU emulation, not a TensorRT engine)", err=True)
        sys.exit(1)


COMMANDS = [export_cmd, calibrate_cmd]
