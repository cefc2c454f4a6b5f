"""`edgeclass engine` (build a TensorRT engine, or print the equivalent trtexec command) and
`edgeclass jetson-check` (the on-hardware report). Parsing and printing only: the work is in
``edgeclass.engine`` and ``edgeclass.tools.jetson_check``."""

from __future__ import annotations

from pathlib import Path
import click

from ..engine.plan import BUILDERS, DEFAULT_PLAN_VERSION, PRECISIONS, EngineRequest
from ..errors import EdgeclassError
from .options import NON_NEGATIVE, POSITIVE, POSITIVE_FLOAT, CommaList, Device, Version, comma_list, int_list


@click.command("engine")
@click.argument("target", metavar="RUN_OR_ONNX", type=click.Path(exists=True, path_type=Path))
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp16", show_default=True, help="engine precision")
@click.option("--batch", type=POSITIVE, help="fixed batch size (static engine)")
@click.option("--min-batch", type=POSITIVE, help="smallest batch the engine accepts (default 1)")
@click.option("--opt-batch", type=POSITIVE, help="batch TensorRT tunes for (default: min batch)")
@click.option("--max-batch", type=POSITIVE, help="largest batch the engine accepts (default 8)")
@click.option("--workspace", "workspace_gib", type=POSITIVE_FLOAT, help="builder workspace limit in GiB (default: TensorRT's)")
@click.option("--timing-cache", type=click.Path(dir_okay=False, path_type=Path), help="timing cache file (default: weights/timing.trt<ver>.sm<cc>.cache)")
@click.option("--dla-core", type=NON_NEGATIVE, help="build model.<precision>.dla<N>.engine for this DLA core (Jetson AGX Xavier/Orin): "
              "static batch, GPU fallback on, int8 by implicit calibration")
@click.option("--version-compatible", is_flag=True, help="engine that later TensorRT versions can load (8.6+)")
@click.option("--calibrator", is_flag=True, help="int8 by TensorRT's implicit (max) calibration of model.onnx (TensorRT < 11)")
@click.option("--calib-images", type=POSITIVE, default=512, show_default=True, help="train images for --calibrator")
@click.option("--print-trtexec", is_flag=True, help="only print the equivalent trtexec command (works without TensorRT)")
@click.option("--trt-version", type=Version(), help=f"with --print-trtexec: plan for this TensorRT version (default: the installed one, else {DEFAULT_PLAN_VERSION})")
@click.option("--backend", type=click.Choice(BUILDERS), default="tensorrt", show_default=True,
              help="torch-tensorrt: compile the checkpoint with Torch-TensorRT (dynamo) instead")
@click.option("--device", type=Device(), default="0", show_default=True, help="CUDA device: 0, 1, cuda:1")
def engine(target: Path, precision: str, batch, min_batch, opt_batch, max_batch, workspace_gib, timing_cache, dla_core,
           version_compatible, calibrator, calib_images, print_trtexec, trt_version, backend, device) -> None:
    """Build RUN/weights/model.<precision>.engine and its .engine.json sidecar from the run's ONNX.

    fp16 and fp32 build from model.onnx (TensorRT 11: model.fp16.onnx); int8 from the Q/DQ files
    `edgeclass calibrate` writes: model.int8.onnx on TensorRT 8.5/8.6, model.int8-fp16.onnx
    (strongly typed) on 10/11.
    """
    request = EngineRequest(
        precision=precision, batch=batch, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch,
        workspace_gib=workspace_gib, timing_cache=str(timing_cache.resolve()) if timing_cache else None, dla_core=dla_core,
        version_compatible=version_compatible, calibrator=calibrator, calib_images=calib_images, device=device,
    ).validate()
    if trt_version and not print_trtexec:
        raise EdgeclassError("--trt-version only applies with --print-trtexec (a build uses the installed TensorRT)")
    if print_trtexec:
        from ..engine.build import prepare, trtexec_for, trtexec_notes
        from ..engine.plan import planning_version

        prep = prepare(target, request, planning_version(trt_version))
        click.echo(trtexec_for(prep, request))
        for note in trtexec_notes(prep):
            click.echo(f"note: {note}", err=True)
        return
    if backend == "torch-tensorrt":
        from ..engine.torch_tensorrt import compile_checkpoint

        click.echo(f"saved {compile_checkpoint(target, request)}")
        return
    from ..engine.build import build_engine

    result = build_engine(target, request, log=lambda m: click.echo(m, err=True))
    click.echo(f"engine:  {result.engine}  ({result.seconds:.1f} s)")
    click.echo(f"sidecar: {result.sidecar_path}")
    click.echo(f"trtexec: {result.trtexec}")
    placement = result.sidecar.get("placement") or {}
    if placement.get("dla_core") is not None:
        from ..engine.dla import placement_phrase

        click.echo(f"layers:  {placement_phrase(placement, placement['dla_core'])}")


@click.command("jetson-check")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option("--precisions", type=CommaList(PRECISIONS), default="fp16,int8", show_default=True, help=f"comma-separated: {','.join(PRECISIONS)}")
@click.option("--batches", type=CommaList(ints=True), default="1,8", show_default=True, help="batch sizes to benchmark (the engines are built up to the largest)")
@click.option("--iters", type=POSITIVE, default=200, show_default=True, help="timed calls per batch size")
@click.option("--limit", type=POSITIVE, help="use at most this many test images")
@click.option("--device", type=Device(), default="0", show_default=True, help="CUDA device: 0, 1, cuda:1")
@click.option("--dla-core", type=NON_NEGATIVE, help="DLA core for the DLA engines (default: 0 where the device has DLA)")
@click.option("--no-dla", is_flag=True, help="skip the DLA engines")
@click.option("--rebuild", is_flag=True, help="rebuild engines even when fresh")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="also write the report to this file")
def jetson_check_cmd(run: Path, precisions: str, batches: str, iters: int, limit, device: str, dla_core, no_dla: bool,
                     rebuild: bool, out) -> None:
    """On a Jetson / CUDA machine: build (or reuse) RUN's fp16 and int8 engines (and DLA ones where the
    device has DLA), show each engine's layers (precision, device), compare every output with ONNX
    Runtime on the test split, time them, and print one Markdown report to paste into an issue."""
    from ..fileio import write_text_atomic
    from ..tools.jetson_check import CheckConfig, jetson_check

    cfg = CheckConfig(precisions=tuple(comma_list(precisions)), batches=tuple(int_list(batches, "--batches")), iters=iters,
                      limit=limit, device=device, rebuild=rebuild, dla_core=dla_core, dla=not no_dla)
    report = jetson_check(run, cfg)
    click.echo(report, nl=False)
    if out:
        write_text_atomic(out, report)


COMMANDS = [engine, jetson_check_cmd]
