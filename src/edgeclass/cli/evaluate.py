"""`edgeclass eval` (accuracy of one artifact) and `edgeclass bench` (every artifact of a run, one table).

Argument parsing only; the work is in ``edgeclass.tools.evaluate`` and ``edgeclass.tools.bench``.
Those import numpy, torch and onnxruntime, so they are imported inside the command bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..artifacts import formats
from ..data.manifest import SPLITS
from .options import FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_FLOAT, CommaList, Device


@click.command("eval")
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Dataset root. Default: the dataset recorded in the run folder when MODEL is in runs/<name>/weights/.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Split manifest (default: the run's manifest for its own dataset, else DATA/splits.csv).")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True,
              help="Split to evaluate. 'val' also chooses the unknown threshold and stores it in MODEL's card.")
@click.option("--keep", type=FRACTION, default=0.99, show_default=True,
              help="With --split val: the threshold keeps this fraction of the correct predictions.")
@click.option("--write-threshold/--no-write-threshold", default=True, show_default=True,
              help="With --split val: store the chosen threshold in MODEL's model card.")
@click.option("--batch", type=POSITIVE, default=32, show_default=True, help="Images per inference call.")
@click.option("--device", type=Device(), default=None, help="PyTorch/TensorRT device (cpu, cuda, 0); default: CUDA when available.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for <artifact>.<split>.json and .confusion.png (default: runs/<name>/eval, else eval/ next to MODEL).")
def eval_command(model: Path, data: Optional[Path], manifest: Optional[Path], split: str, keep: float,
                 write_threshold: bool, batch: int, device: Optional[str], out: Optional[Path]) -> None:
    """Top-1, top-5, per-class precision/recall/F1 and a confusion matrix for MODEL (.pt, .ts, .onnx, .engine)."""
    from ..tools.evaluate import EvalConfig, default_out_dir, evaluate, format_eval, save_eval

    options = {"device": device} if device else {}
    cfg = EvalConfig(split=split, batch=batch, keep=keep, write_threshold=write_threshold, backend_options=options)
    result = evaluate(model, data=data, manifest=manifest, config=cfg)
    click.echo(format_eval(result))
    paths = save_eval(result, out or default_out_dir(model))
    if result.threshold is not None and write_threshold:
        click.echo(f"wrote threshold {result.card.threshold:.6f} into the model card of {model}")
    click.echo(f"wrote {paths['json']} and {paths['confusion']}")


@click.command("bench")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Dataset root (default: the run's own dataset).")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Split manifest (default: the run's).")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--formats", "format_keys", type=CommaList(formats.keys(formats.BENCHED), extra=("all",)), default="all", show_default=True,
              help=f"Comma-separated rows: {', '.join(formats.keys(formats.BENCHED))} (or 'all').")
@click.option("--batch", type=POSITIVE, default=32, show_default=True, help="Batch size for the throughput column.")
@click.option("--no-build", is_flag=True, help="Do not export/calibrate/build missing artifacts; mark them missing.")
@click.option("--warmup", type=NON_NEGATIVE, default=10, show_default=True, help="Untimed runs before each timing.")
@click.option("--iters", type=POSITIVE, default=200, show_default=True, help="At most this many timed runs per timing.")
@click.option("--seconds", type=POSITIVE_FLOAT, default=3.0, show_default=True, help="At most this long per timing (latency, throughput).")
@click.option("--device", type=Device(), default=None, help="PyTorch/TensorRT device (cpu, cuda, 0); default: CUDA when available.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for bench.md/.csv/.png (default: RUN).")
def bench_command(run: Path, data: Optional[Path], manifest: Optional[Path], split: str, format_keys: str, batch: int,
                  no_build: bool, warmup: int, iters: int, seconds: float, device: Optional[str], out: Optional[Path]) -> None:
    """Accuracy, size and speed of every artifact of RUN in one table (bench.md, bench.csv, bench.png)."""
    from ..tools.bench import BenchConfig, bench
    from ..tools.bench_report import format_markdown, save_bench

    cfg = BenchConfig(
        formats=format_keys, split=split, batch=batch, build=not no_build, warmup=warmup, iters=iters,
        seconds=seconds, backend_options={"device": device} if device else {},
    )
    result = bench(run, data=data, manifest=manifest, config=cfg, log=lambda m: click.echo(m, err=True))
    click.echo(format_markdown(result))
    paths = save_bench(result, out or run)
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


COMMANDS = [eval_command, bench_command]
