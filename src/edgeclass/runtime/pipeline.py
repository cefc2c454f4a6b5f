"""The recognition loop: sources -> regions -> one batched inference per step -> smoothed predictions.

Two threads overlap the work: a *prepare* thread takes the newest frame of every source, finds the
regions (whole frame or tracked faces) and preprocesses them into a preallocated batch buffer; the
caller's thread runs inference and turns logits into predictions. While the model runs on step
``k``, step ``k+1`` is already being captured, decoded and preprocessed, so the loop runs at the
speed of the model alone.

``for step in Pipeline(clf, sources, config): ...`` yields one ``Step`` per inference call, with
one ``SourceResult`` per source that delivered a frame.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgeclassError
from .classifier import Classifier
from .results import Prediction, Smoother
from .roi import Box, FaceDetector, IoUTracker, check_roi, crop, full_frame_box, padded_square
from .sources import Frame, Source

STAGES = ("capture", "preprocess", "inference", "postprocess", "latency")
# v2: one object per region (label, confidence, topk, box, track); v1 had parallel arrays
FRAME_SCHEMA = "edgeclass.frame.v2"


@dataclass
class PipelineConfig:
    roi: str = "full"  # "full" or "face"
    face_model: Optional[str] = None  # YuNet .onnx; None = Haar cascade
    face_pad: float = 0.25  # crop margin around a face, fraction of its size on each side
    max_faces: int = 8  # per frame
    smooth: float = 0.5  # EMA weight of the newest frame (1 = off)
    max_frames: Optional[int] = None  # stop after this many steps
    live_wait: float = 1.0  # s a step waits for a live source before going on without it (multi-source)

    def validate(self) -> "PipelineConfig":
        check_roi(self.roi)
        if self.face_pad < 0:
            raise EdgeclassError("--face-pad must be >= 0")
        Smoother(self.smooth)  # validates alpha
        return self


@dataclass
class SourceResult:
    """What one source's frame produced in one step."""

    source: int  # index in the source list
    frame: Frame
    predictions: List[Prediction]  # one per region (whole frame, or each face); empty: no face
    ms: Dict[str, float]  # per-stage milliseconds (preprocess/inference/postprocess are the step's)

    def to_json(self) -> Dict[str, Any]:
        """This frame's ``run --json`` line (schema ``FRAME_SCHEMA``, documented in docs/runtime.md)."""
        return {
            "schema": FRAME_SCHEMA,
            "time": round(time.time(), 4),
            "source": self.source,
            "frame": self.frame.index,
            "regions": [p.to_json() for p in self.predictions],
            "ms": {k: round(v, 3) for k, v in self.ms.items()},
        }


@dataclass
class Step:
    index: int
    results: List[SourceResult]


@dataclass
class _Prepared:
    """A step ready for inference (made by the prepare thread)."""

    frames: List[Tuple[int, Frame]]  # (source index, frame)
    regions: List[List[Tuple[Box, Box, Optional[int]]]]  # per frame: (box, crop box, track id)
    alive: List[List[int]]  # per frame: track ids alive in its source (to prune the smoother)
    buffer: Optional[np.ndarray]  # the pool buffer holding the batch (returned after inference)
    count: int  # rows of buffer in use
    preprocess_ms: float


class StageTimes:
    """Per-stage millisecond samples; p50/p95/mean for the summary."""

    def __init__(self) -> None:
        self.samples: Dict[str, List[float]] = {s: [] for s in STAGES}

    def add(self, stage: str, ms: float) -> None:
        self.samples[stage].append(ms)

    def stats(self) -> Dict[str, Dict[str, float]]:
        out = {}
        for stage, xs in self.samples.items():
            if xs:
                a = np.asarray(xs)
                out[stage] = {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "mean": float(a.mean())}
        return out


@dataclass
class Summary:
    frames: int  # frames classified (all sources)
    steps: int  # inference calls
    dropped: int  # live frames replaced by newer ones before being read
    reconnects: int
    seconds: float
    stages: Dict[str, Dict[str, float]] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        """Frames classified per second of wall time (all sources together)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> Dict[str, Any]:
        return {
            "frames": self.frames,
            "steps": self.steps,
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "ms": {k: {m: round(v, 3) for m, v in d.items()} for k, d in self.stages.items()},
        }

    def text(self) -> str:
        lines = [
            f"frames {self.frames}  dropped {self.dropped}  reconnects {self.reconnects}  "
            f"time {self.seconds:.1f} s  mean FPS {self.fps:.1f}",
            f"{'stage':<12}{'p50 ms':>9}{'p95 ms':>9}",
        ]
        for stage in STAGES:
            if stage in self.stages:
                d = self.stages[stage]
                lines.append(f"{stage:<12}{d['p50']:>9.2f}{d['p95']:>9.2f}")
        return "\n".join(lines)


class _BufferPool:
    """Preallocated NCHW batch buffers reused step after step (three: one being filled, one queued,
    one in inference), grown only when a step needs more rows than ever before."""

    def __init__(self, shape: Tuple[int, int, int], rows: int, count: int = 3):
        self.shape = shape
        self._free: "queue.Queue[np.ndarray]" = queue.Queue()
        for _ in range(count):
            self._free.put(np.empty((rows,) + shape, np.float32))

    def get(self, rows: int, stop: threading.Event) -> Optional[np.ndarray]:
        while not stop.is_set():
            try:
                buf = self._free.get(timeout=0.1)
            except queue.Empty:
                continue
            return buf if buf.shape[0] >= rows else np.empty((max(rows, 2 * buf.shape[0]),) + self.shape, np.float32)
        return None

    def give_back(self, buf: np.ndarray) -> None:
        self._free.put(buf)


class Pipeline:
    """Iterate to run: ``for step in Pipeline(classifier, sources): ...``; ``summary()`` at the end."""

    def __init__(self, classifier: Classifier, sources: Sequence[Source], config: Optional[PipelineConfig] = None):
        if not sources:
            raise EdgeclassError("no source given")
        self.clf = classifier
        self.sources = list(sources)
        self.config = (config or PipelineConfig()).validate()
        self.detector = FaceDetector(self.config.face_model) if self.config.roi == "face" else None
        self.trackers = [IoUTracker() for _ in self.sources]
        self.smoothers = [Smoother(self.config.smooth) for _ in self.sources]
        self.times = StageTimes()
        s = classifier.card.preprocess.imgsz
        rows = len(self.sources) * (self.config.max_faces if self.detector else 1)
        self._pool = _BufferPool((3, s, s), rows)
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._taken = threading.Event()  # set by the caller's thread when it takes a prepared step
        self._frames = 0
        self._steps = 0
        self._t0 = 0.0
        self._t1 = 0.0

    # -- prepare thread: capture, regions, preprocessing -------------------------------------------
    def _read_frames(self) -> List[Tuple[int, Frame]]:
        """One frame per source that has one; waits for live sources at most ``live_wait`` s when
        there are several sources, so one dead camera does not stall the others."""
        many = len(self.sources) > 1
        got = []
        for i, src in enumerate(self.sources):
            if src.ended:
                continue
            t0 = time.perf_counter()
            frame = None
            while frame is None and not src.ended and not self._stop.is_set():
                frame = src.read(timeout=self.config.live_wait if many and src.live else 0.25)
                if frame is None and many and src.live:
                    break
            if frame is not None:
                frame.capture_ms = frame.capture_ms if not src.live else (time.perf_counter() - t0) * 1e3
                got.append((i, frame))
        return got

    def _regions(self, i: int, image: np.ndarray) -> List[Tuple[Box, Box, Optional[int]]]:
        """(box reported, box classified, track id) of each region: the frame, or each face with its
        padded square crop."""
        if self.detector is None:
            box = full_frame_box(image)
            return [(box, box, None)]
        h, w = image.shape[:2]
        faces = self.detector.detect(image)[: self.config.max_faces]
        tracks = self.trackers[i].update([d.box for d in faces])
        return [(d.box, padded_square(d.box, self.config.face_pad, w, h), t.id) for d, t in zip(faces, tracks)]

    def _prepare_one(self) -> Optional[_Prepared]:
        frames = self._read_frames()
        if not frames:
            return None
        t0 = time.perf_counter()
        regions = [self._regions(i, f.image) for i, f in frames]
        count = sum(len(r) for r in regions)
        buf = self._pool.get(max(1, count), self._stop)
        if buf is None:
            return None
        row = 0
        for (_, f), regs in zip(frames, regions):
            for _box, crop_box, _track in regs:
                self.clf.preprocess(crop(f.image, crop_box), out=buf[row])
                row += 1
        alive = [self.trackers[i].alive_ids() for i, _ in frames]
        return _Prepared(frames, regions, alive, buf, count, (time.perf_counter() - t0) * 1e3)

    def _all_ended(self) -> bool:
        return all(s.ended for s in self.sources)

    def _prepare_loop(self) -> None:
        try:
            while not self._stop.is_set():
                prepared = self._prepare_one()
                if prepared is None:
                    if self._all_ended() or self._stop.is_set():
                        break
                    continue
                while not self._stop.is_set():
                    try:
                        self._queue.put(prepared, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                # read the next frames only once this step went into inference: still overlapped
                # with the model, but as fresh as possible (latency ~ one inference, not two)
                while not self._taken.wait(0.1):
                    if self._stop.is_set():
                        break
                self._taken.clear()
        except BaseException as e:  # handed to the caller's thread, raised there
            self._put_final(e)
            return
        self._put_final(None)

    def _put_final(self, item: Any) -> None:
        while True:
            try:
                self._queue.put(("end", item), timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    # -- caller's thread: inference and post-processing -------------------------------------------
    def _finish(self, p: _Prepared) -> Step:
        t0 = time.perf_counter()
        probs = self.clf.probabilities(p.buffer[: p.count]) if p.count else np.zeros((0, len(self.clf.classes)), np.float32)
        t1 = time.perf_counter()
        self._pool.give_back(p.buffer)
        results = []
        row = 0
        for (i, frame), regs, alive in zip(p.frames, p.regions, p.alive):
            preds = []
            for box, _crop_box, track in regs:
                smoothed = self.smoothers[i].update(track if track is not None else "frame", probs[row])
                preds.append(self.clf.decide(smoothed, box, track))
                row += 1
            if self.detector is not None:
                self.smoothers[i].keep_only(alive)
            results.append(SourceResult(i, frame, preds, {"capture": frame.capture_ms}))
        t2 = time.perf_counter()
        ms = {"preprocess": p.preprocess_ms, "inference": (t1 - t0) * 1e3, "postprocess": (t2 - t1) * 1e3}
        for r in results:
            r.ms.update(ms)
            r.ms["latency"] = (t2 - r.frame.grabbed) * 1e3
        return Step(self._steps, results)

    def record(self, step: Step, extra_post_ms: float = 0.0) -> None:
        """Account a step in the summary (``extra_post_ms``: the caller's time with the step)."""
        for r in step.results:
            r.ms["postprocess"] += extra_post_ms
            for stage in STAGES:
                if stage in r.ms:
                    self.times.add(stage, r.ms[stage])
        self._frames += len(step.results)

    def __iter__(self) -> Iterator[Step]:
        self._stop.clear()
        self._taken.clear()
        self._t0 = time.perf_counter()
        worker = threading.Thread(target=self._prepare_loop, name="prepare", daemon=True)
        worker.start()
        try:
            while self.config.max_frames is None or self._steps < self.config.max_frames:
                item = self._queue.get()
                self._taken.set()
                if isinstance(item, tuple) and item and item[0] == "end":
                    if item[1] is not None:
                        raise item[1]
                    break
                step = self._finish(item)
                self._steps += 1
                handed = time.perf_counter()
                try:
                    yield step
                finally:  # the caller's drawing and writing count as post-processing in the summary
                    self.record(step, (time.perf_counter() - handed) * 1e3)
        finally:
            self._t1 = time.perf_counter()
            self._stop.set()
            worker.join(timeout=5.0)

    def summary(self) -> Summary:
        end = self._t1 or time.perf_counter()
        return Summary(
            frames=self._frames,
            steps=self._steps,
            dropped=sum(s.dropped for s in self.sources),
            reconnects=sum(s.reconnects for s in self.sources),
            seconds=max(0.0, end - self._t0) if self._t0 else 0.0,
            stages=self.times.stats(),
        )

    def close(self) -> None:
        self._stop.set()
        for s in self.sources:
            s.close()
