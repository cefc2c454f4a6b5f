"""TensorRT's implicit INT8 calibration (`edgeclass engine --calibrator`, and every DLA int8 build;
TensorRT < 11 only): an ``IInt8MinMaxCalibrator`` (max calibration, the project's choice for every
INT8 file) or ``IInt8EntropyCalibrator2`` over the same preprocessed TRAIN images every calibrator
here sees (``edgeclass.data.image_sets.calibration_images``).

``weights/calibration.cache`` (written by `edgeclass calibrate --trt-cache VERSION`) is reused only
when its header names this TensorRT version and it has a scale for every tensor of the parsed
network: TensorRT runs a layer whose tensor has no scale in higher precision ("Missing scale and
zero-point for tensor ..., expect fall back to non-int8 implementation", its build log in
NVIDIA/TensorRT#2462, #4058), so with the run's dataset at hand a cache with gaps is recalibrated.
The calibrator's device memory is freed by ``close()`` when the build ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from ..artifacts import trt_cache
from ..data.image_sets import DataSource, calibration_images
from ..errors import EdgeclassError
from ..fileio import write_bytes_atomic
from ..runs import Run
from ..spec import ModelCard
from . import cuda
from .version import TrtVersion

CALIBRATOR_CLASS = {trt_cache.MINMAX: "IInt8MinMaxCalibrator", trt_cache.ENTROPY: "IInt8EntropyCalibrator2"}


@dataclass(frozen=True)
class CacheDecision:
    """What the calibrator does with an existing calibration cache."""

    algorithm: str  # the calibrator: MinMaxCalibration or EntropyCalibration2
    reuse: bool  # hand the cache to TensorRT (else calibrate from images)
    missing: List[str] = field(default_factory=list)  # network tensors the cache has no scale for
    note: str = ""

    def to_dict(self) -> dict:
        return {"algorithm": self.algorithm, "calibrator": CALIBRATOR_CLASS[self.algorithm], "reused_cache": self.reuse,
                "tensors_without_scale": len(self.missing), "note": self.note}


def cache_decision(data: Optional[bytes], version: TrtVersion, network_tensors: Sequence[str], images_available: bool) -> CacheDecision:
    """Which calibrator and whether the cache is reused: a cache written for this TensorRT names the
    algorithm (its header); without one, max calibration. A cache that misses tensors is reused only
    when there are no images to calibrate from (with a note counting the tensors left without a scale)."""
    header = trt_cache.parse_header(data)
    if header is None or header[0] != version.code or header[1] not in CALIBRATOR_CLASS:
        why = "" if header is None else f"calibration.cache is for {header[1]} on TensorRT code {header[0]}, not this one; "
        if not images_available:
            raise EdgeclassError(f"{why}implicit INT8 calibration needs the run's dataset (config.json 'data') or a "
                                 f"calibration.cache for TensorRT {version}: `edgeclass calibrate RUN --trt-cache {version}`")
        return CacheDecision(trt_cache.MINMAX, False, note=(why + "calibrating from images").strip())
    missing = trt_cache.missing_scales(trt_cache.tensor_names(data), network_tensors)
    if missing and images_available:
        return CacheDecision(header[1], False, missing, f"calibration.cache has no scale for {len(missing)} network tensor(s); recalibrating from images")
    note = f"{len(missing)} network tensor(s) have no scale in calibration.cache: TensorRT keeps their layers out of INT8" if missing else ""
    return CacheDecision(header[1], True, missing, note)


def run_image_source(weights_dir: Path, card: ModelCard, num: int) -> Optional[Callable[[], np.ndarray]]:
    """A loader of ``num`` TRAIN images of the run ``weights_dir`` belongs to; None without a dataset."""
    source = DataSource.of_run(Run.find(weights_dir))
    if source is None or not source.root.is_dir():
        return None
    return lambda: calibration_images(source.load(), card, num=num, seed=0)


def make_calibrator(trt: Any, load_images: Optional[Callable[[], np.ndarray]], cache_path: Path, version: TrtVersion,
                    batch: int, device: int, decision: CacheDecision) -> Any:
    """The calibrator of ``decision.algorithm`` feeding images in batches of ``batch`` from device
    memory (loaded on the first ``get_batch``, which TensorRT skips when it takes the cache)."""
    base = getattr(trt, CALIBRATOR_CLASS[decision.algorithm])

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.cuda = None
            self.images: Optional[np.ndarray] = None
            self.batch = batch
            self.pos = 0
            self.ptr = 0

        def _start(self) -> None:
            if load_images is None:
                raise EdgeclassError("TensorRT asked for calibration images, but the run has no dataset")
            self.images = np.ascontiguousarray(load_images(), dtype=np.float32)
            self.cuda = cuda.open_cuda(device)
            self.ptr = self.cuda.alloc(self.batch * int(np.prod(self.images.shape[1:])) * 4)
            self.host = self.cuda.host_buffer((self.batch,) + self.images.shape[1:], np.float32)

        def get_batch_size(self) -> int:
            return self.batch

        def get_batch(self, names, *_args):
            if self.images is None:
                self._start()
            if self.pos + self.batch > len(self.images):
                return None
            self.host[:] = self.images[self.pos : self.pos + self.batch]
            self.pos += self.batch
            self.cuda.upload(self.ptr, self.host)
            self.cuda.synchronize()
            return [int(self.ptr)]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if decision.reuse and cache_path.is_file() else None

        def write_calibration_cache(self, cache) -> None:
            write_bytes_atomic(cache_path, bytes(cache))

        def close(self) -> None:
            if self.cuda is not None:
                self.cuda.close()
                self.cuda = None

    return Calibrator()
