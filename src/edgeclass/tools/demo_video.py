"""The live check of ``make demo``: held-out test images written as a video, run through the live
pipeline, and the per-frame accuracy printed next to the offline accuracy of the same model.

The video is what a camera would give the runtime (real frames, decoded by OpenCV, lossy codec),
so a gap between the two numbers would point at the capture/preprocessing path.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from ..errors import EdgeclassError
from ..preprocess import preprocess_file, read_image, stack
from ..runs import Run

VIDEO_NAME = "test_split.avi"
TRUTH_NAME = "test_split.labels.csv"


@dataclass
class DemoVideo:
    path: Path
    truth: List[str]  # label of each frame
    images: List[Path]  # the test images, in video order
    labels: List[str]  # label of each image
    frames_per_image: int


def test_images(run_or_data: str | os.PathLike, split: str = "test") -> Tuple[List[Path], List[str]]:
    """(images, labels) of a split, from a run folder (its config.json's ``data``/``manifest``) or a
    dataset root with ``splits.csv``."""
    from ..data.load import load_dataset

    root, manifest = Path(run_or_data), None
    run = Run.find(root)
    if run.has_config:
        paths = run.dataset()
        if paths is None:
            raise EdgeclassError(f"{run.config} names no dataset (key 'data')")
        root, manifest = paths
    ds = load_dataset(root, manifest=manifest)
    samples = ds.split(split)
    if not samples:
        raise EdgeclassError(f"{run_or_data}: the {split} split is empty")
    return [ds.abspath(s) for s in samples], [s.label for s in samples]


def write_video(
    images: Sequence[Path],
    labels: Sequence[str],
    path: str | os.PathLike,
    size: int = 128,
    frames_per_image: int = 2,
    fps: float = 10.0,
    fourcc: str = "MJPG",
) -> DemoVideo:
    """Each image resized to ``size`` x ``size`` and shown for ``frames_per_image`` frames; the labels
    go to a CSV next to the video (frame, label)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (size, size))
    if not writer.isOpened():
        raise EdgeclassError(f"cannot write video {path} with codec {fourcc}")
    truth: List[str] = []
    try:
        for img_path, label in zip(images, labels):
            rgb = read_image(img_path)
            frame = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (size, size), interpolation=cv2.INTER_LINEAR)
            for _ in range(frames_per_image):
                writer.write(frame)
                truth.append(label)
    finally:
        writer.release()
    with open(path.with_name(path.stem + ".labels.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("frame", "label"))
        w.writerows(enumerate(truth))
    return DemoVideo(path, truth, list(images), list(labels), frames_per_image)


def offline_accuracy(backend, images: Sequence[Path], labels: Sequence[str], batch: int = 64) -> float:
    """Top-1 accuracy of ``backend`` on the image files themselves (no video in between)."""
    pp = backend.card.preprocess
    classes = backend.card.classes
    correct = 0
    for i in range(0, len(images), batch):
        x = stack([preprocess_file(p, pp) for p in images[i : i + batch]])
        pred = backend.predict(x).argmax(axis=1)
        correct += sum(classes[int(k)] == y for k, y in zip(pred, labels[i : i + batch]))
    return correct / max(1, len(images))


def frame_accuracy(records: Sequence[dict], truth: Sequence[str]) -> float:
    """Fraction of JSON-line records (``edgeclass.frame.v2``) whose top-1 class (the region's
    ``topk[0]``, before the unknown threshold) is the label of the image shown in that frame."""
    if not records:
        return 0.0

    def top1(r: dict) -> Optional[str]:
        regions = r.get("regions") or []
        return regions[0]["topk"][0][0] if regions and regions[0]["topk"] else None

    hits = sum(1 for r in records if top1(r) == truth[r["frame"]])
    return hits / len(records)


def read_json_lines(path: str | os.PathLike) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def accuracy_line(live: float, frames: int, offline: float, images: int) -> str:
    return f"live accuracy {live * 100:.2f}% on {frames} video frames | offline accuracy {offline * 100:.2f}% on {images} test images"


def agree(live: float, offline: float, points: float = 1.0) -> bool:
    return abs(live - offline) * 100 <= points + 1e-9



@dataclass
class DemoRun:
    """What ``edgeclass run MODEL --demo-video DATA`` did: the video, the live loop's summary and the
    two accuracies."""

    video: DemoVideo
    summary: Any  # runtime.pipeline.Summary
    live: float
    offline: float
    backend: str
    out_dir: Path
    frames_json: Path

    @property
    def annotated(self) -> Path:
        return self.out_dir / "annotated.mp4"


def run_demo_video(model: str, data: str | os.PathLike, out: Optional[str | os.PathLike] = None,
                   device: Optional[str] = None, show: bool = False) -> DemoRun:
    """Test split -> video -> live run (every frame judged alone) -> per-frame vs offline accuracy."""
    from ..runtime.app import run_live
    from ..runtime.classifier import Classifier
    from ..runtime.outputs import output_specs
    from ..runtime.pipeline import PipelineConfig
    from ..runtime.sources import open_source

    out_dir = Path(out) if out else Path(data) / "demo_run"
    images, labels = test_images(data)
    video = write_video(images, labels, out_dir / VIDEO_NAME)
    frames_json = out_dir / "frames.jsonl"
    clf = Classifier(model, topk=1, threshold=None, **({"device": device} if device else {}))
    try:
        cfg = PipelineConfig(roi="full", smooth=1.0)  # images change between frames: no smoothing
        source = open_source(str(video.path))
        try:
            specs = output_specs(show=show, save=str(out_dir / "annotated.mp4"), json=str(frames_json))
            summary = run_live(clf, [source], cfg, specs)
        finally:
            source.close()
        offline = offline_accuracy(clf.backend, video.images, video.labels)
        backend = clf.describe()
    finally:
        clf.close()
    live = frame_accuracy(read_json_lines(frames_json), video.truth)
    return DemoRun(video, summary, live, offline, backend, out_dir, frames_json)
