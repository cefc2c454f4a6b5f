"""`edgeclass run` (live recognition) and `edgeclass collect` (labelled photos from a camera).

Argument parsing only; the loop is ``edgeclass.runtime.app.run_live``. Nothing here imports torch:
`edgeclass run model.engine` works on a Jetson with TensorRT, numpy and OpenCV alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import click

from ..errors import EdgeclassError
from ..runtime.capture import FLIPS as FLIP_CHOICES
from .options import FRACTION, NON_NEGATIVE_FLOAT, PIXELS, POSITIVE, POSITIVE_FLOAT, CommaList, Device, Text, Threshold


def _threshold(value: Optional[str]):
    """--threshold: a number, 'none' (never unknown) or unset (the model card's)."""
    from ..runtime.classifier import FROM_CARD

    if value is None:
        return FROM_CARD
    if value.lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise EdgeclassError(f"--threshold {value!r}: give a number in [0, 1] or 'none'") from None


def _capture_options(width, height, fps, flip, stride, reconnect) -> dict:
    return dict(width=width, height=height, fps=fps, flip=flip, stride=stride, reconnect=reconnect)


def _echo_summary(summary, json_path: Optional[str]) -> None:
    """The summary table on stderr; with a JSON lines file, its numbers beside it (``X.summary.json``)."""
    from ..fileio import write_json_atomic

    click.echo(summary.text(), err=True)
    if json_path and json_path != "-":
        write_json_atomic(Path(json_path).with_suffix(".summary.json"), summary.to_dict())


@click.command("run")
@click.argument("model", type=click.Path(dir_okay=True))
@click.option("--source", "-s", "sources", type=Text(), multiple=True, help="0, /dev/video0, csi://0, rtsp://..., video file, image folder or glob, GStreamer pipeline. Repeat for several sources (batched).")
@click.option("--width", type=PIXELS, help="Capture width (camera/CSI); other sources are resized.")
@click.option("--height", type=PIXELS, help="Capture height.")
@click.option("--fps", type=POSITIVE_FLOAT, help="Camera frame rate to ask for (image folders: frames per second of media time).")
@click.option("--flip", type=click.Choice(FLIP_CHOICES), default="none", show_default=True)
@click.option("--stride", type=POSITIVE, default=1, show_default=True, help="Files: classify every N-th frame.")
@click.option("--roi", type=click.Choice(("full", "face")), default="full", show_default=True, help="Classify the whole frame or each detected face.")
@click.option("--face-model", type=click.Path(exists=True, dir_okay=False), help="YuNet .onnx face detector (default: OpenCV's Haar cascade).")
@click.option("--face-pad", type=NON_NEGATIVE_FLOAT, default=0.25, show_default=True, help="Margin around a face crop (fraction of the face size).")
@click.option("--topk", type=POSITIVE, default=3, show_default=True, help="Best classes listed per region (JSON topk).")
@click.option("--threshold", type=Threshold(), help="Below this confidence the label is 'unknown' (default: the model card's; 'none' = never).")
@click.option("--smooth", type=FRACTION, default=0.5, show_default=True, help="Weight of the newest frame in the moving average of probabilities (1 = off).")
@click.option("--output", "-o", "outputs", type=Text(), multiple=True, help="Where results go, repeatable: display://0 (window), out.mp4 (annotated video), frames.jsonl (JSON lines; - = stdout).")
@click.option("--show", is_flag=True, help="Show the overlay in a window (q or Esc quits); same as --output display://0.")
@click.option("--save", type=click.Path(dir_okay=False), help="Write the annotated video (.mp4/.avi); same as --output FILE.")
@click.option("--json", "json_path", type=Text(), help="One JSON line per frame to this file ('-' = stdout); same as --output FILE.jsonl.")
@click.option("--max-frames", type=POSITIVE, help="Stop after this many steps.")
@click.option("--device", type=Device(), help="Backend device: cpu, cuda, cuda:1, or a GPU index (TensorRT/torch).")
@click.option("--rebuild-stale", is_flag=True, help="TensorRT: rebuild an engine whose TensorRT version, GPU or ONNX changed (default: refuse with the command).")
@click.option("--no-reconnect", is_flag=True, help="End the run when a live source drops instead of reconnecting.")
@click.option("--demo-video", type=click.Path(exists=True, file_okay=False), help="Run folder or dataset: write its test split as a video, run on it, print live vs offline accuracy.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder for --demo-video (default: <run>/demo_run).")
def run_cmd(model, sources, width, height, fps, flip, stride, roi, face_model, face_pad, topk, threshold, smooth, outputs, show,
            save, json_path, max_frames, device, rebuild_stale, no_reconnect, demo_video, out) -> None:
    """Recognise what is in front of a camera (or in a video, stream or image folder) with MODEL
    (.engine, .onnx, .ts or .pt; the class names and preprocessing come from inside the file)."""
    from ..runtime.app import run_live
    from ..runtime.classifier import Classifier
    from ..runtime.outputs import output_specs
    from ..runtime.pipeline import PipelineConfig
    from ..runtime.sources import open_source

    model = _resolve_model(model)
    if demo_video:
        return _demo_video(model, demo_video, out, device, show)
    if not sources:
        raise EdgeclassError("give a --source (0 for the first camera, a video file, csi://0, rtsp://...)")
    specs = output_specs(outputs, show=show, save=save, json=json_path)  # refused before anything opens
    opts = {"device": device} if device else {}
    if rebuild_stale:
        opts["rebuild_stale"] = True
    clf = Classifier(model, topk=topk, threshold=_threshold(threshold), **opts)
    opened = []
    try:
        for s in sources:
            opened.append(open_source(s, **_capture_options(width, height, fps, flip, stride, not no_reconnect)))
        click.echo(f"{clf.describe()} | {len(clf.classes)} classes | {', '.join(s.name for s in opened)}", err=True)
        cfg = PipelineConfig(roi=roi, face_model=face_model, face_pad=face_pad, smooth=smooth, max_frames=max_frames)
        summary = run_live(clf, opened, cfg, specs)
    finally:
        for s in opened:
            s.close()
        clf.close()
    for s in opened:
        if getattr(s, "error", None):
            click.echo(f"warning: {s.error}", err=True)
        if getattr(s, "skipped", 0):  # image files the reader refused: counted on the source, named here
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(s.skip_reasons.items()))
            click.echo(f"warning: {s.name}: skipped {s.skipped} image files that cannot be used ({reasons}):", err=True)
            for text in s.skipped_files:
                click.echo(f"  {text}", err=True)
    _echo_summary(summary, next((s.target for s in specs if s.kind == "jsonl"), None))


def _resolve_model(model: str) -> str:
    """A run folder (or its weights/ folder) stands for its ONNX model, the artifact every machine runs."""
    from ..artifacts import formats
    from ..runs import Run

    if not Path(model).is_dir():
        return model
    onnx = Run.find(model).artifact(formats.get("onnx"))
    if not onnx.is_file():
        raise EdgeclassError(f"{model} is a folder without weights/model.onnx; export it first (`edgeclass export {model}`) or give a model file")
    return str(onnx)


def _demo_video(model: str, data: str, out: Optional[str], device: Optional[str], show: bool) -> None:
    from ..tools.demo_video import accuracy_line, run_demo_video

    demo = run_demo_video(model, data, out, device, show)
    _echo_summary(demo.summary, str(demo.frames_json))
    click.echo(f"{Path(model).name} ({demo.backend}): " + accuracy_line(demo.live, demo.summary.frames, demo.offline, len(demo.video.images)))
    click.echo(f"video {demo.video.path}, annotated {demo.annotated}, per-frame results {demo.frames_json}")


@click.command("collect")
@click.option("--source", "-s", type=Text(), required=True, help="Camera index, /dev/videoN, csi://N, stream URL or video file.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Dataset root: images go to OUT/<class>/.")
@click.option("--classes", type=CommaList(names=True), required=True, help="Comma-separated class names, e.g. alice,bob,carol.")
@click.option("--count", type=POSITIVE, default=20, show_default=True, help="Images per class (timed bursts).")
@click.option("--interval", type=NON_NEGATIVE_FLOAT, default=0.5, show_default=True, help="Seconds between images of a burst.")
@click.option("--countdown", type=NON_NEGATIVE_FLOAT, default=3.0, show_default=True, help="Seconds to get ready before each class.")
@click.option("--keys", is_flag=True, help="Label with keys 1-9 in a window instead of timed bursts (needs --show).")
@click.option("--faces", is_flag=True, help="Save only the largest face (padded crop); frames without a face are skipped.")
@click.option("--face-model", type=click.Path(exists=True, dir_okay=False), help="YuNet .onnx face detector (default: Haar cascade).")
@click.option("--show", is_flag=True, help="Show the camera with the countdown in a window.")
@click.option("--width", type=PIXELS)
@click.option("--height", type=PIXELS)
@click.option("--flip", type=click.Choice(FLIP_CHOICES), default="none", show_default=True)
@click.option("--png", is_flag=True, help="Save PNG instead of JPEG.")
def collect_cmd(source, out, classes, count, interval, countdown, keys, faces, face_model, show, width, height, flip, png) -> None:
    """Capture labelled images from a camera into OUT/<class>/, ready for `edgeclass data split OUT`."""
    from ..runtime.sources import open_source
    from ..tools.collect import CollectConfig, collect

    cfg = CollectConfig(
        out=Path(out), classes=classes.split(","), mode="keys" if keys else "burst", count=count, interval=interval,
        countdown=countdown, faces=faces, face_model=face_model, ext=".png" if png else ".jpg", show=show or keys,
    ).validate()
    src = open_source(source, width=width, height=height, flip=flip)
    result = collect(src, cfg, log=lambda m: click.echo(m, err=True))
    counts = ", ".join(f"{c} {n}" for c, n in result.counts.items())
    click.echo(f"saved {len(result.files)} images to {out} ({counts})")
    if not result.complete and cfg.mode == "burst":
        click.echo("warning: the source ended before every class had its images", err=True)
    click.echo(f"next: edgeclass data split {out}")


COMMANDS: List[click.Command] = [run_cmd, collect_cmd]
