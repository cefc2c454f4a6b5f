"""TensorRT's implicit INT8 calibration (`edgeclass engine --calibrator`, TensorRT < 11 only): an
``IInt8EntropyCalibrator2`` over the same preprocessed TRAIN images every calibrator here sees
(``edgeclass.data.image_sets.calibration_images``), reusing ``weights/calibration.cache`` only when
its header names this exact TensorRT version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import trt_cache
from ..data.image_sets import DataSource, calibration_images
from ..errors import EdgeclassError
from ..fileio import write_bytes_atomic
from ..runs import Run
from ..spec import ModelCard
from . import cuda
from .plan import TrtVersion


def run_calibration_images(weights_dir: Path, card: ModelCard, num: int) -> np.ndarray:
    """``num`` TRAIN images of the run that ``weights_dir`` belongs to."""
    source = DataSource.of_run(Run.find(weights_dir))
    if source is None:
        raise EdgeclassError(f"--calibrator needs the run's dataset, but no config.json with 'data' was found next to {weights_dir}")
    return calibration_images(source.load(), card, num=num, seed=0)


def make_calibrator(trt: Any, images: np.ndarray, cache_path: Path, version: TrtVersion, batch: int, device: int) -> Any:
    """IInt8EntropyCalibrator2 feeding ``images`` in batches of ``batch`` from device memory."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.cuda = cuda.open_cuda(device)
            self.images = np.ascontiguousarray(images, dtype=np.float32)
            self.batch = batch
            self.pos = 0
            self.ptr = self.cuda.alloc(batch * int(np.prod(self.images.shape[1:])) * 4)

        def get_batch_size(self) -> int:
            return self.batch

        def get_batch(self, names, *_args):
            if self.pos + self.batch > len(self.images):
                return None
            chunk = self.images[self.pos : self.pos + self.batch]
            self.pos += self.batch
            self.cuda.upload(self.ptr, chunk)
            self.cuda.synchronize()
            return [int(self.ptr)]

        def read_calibration_cache(self):
            data = cache_path.read_bytes() if cache_path.is_file() else None
            return data if trt_cache.matches(data, version.code) else None

        def write_calibration_cache(self, cache) -> None:
            write_bytes_atomic(cache_path, bytes(cache))

    return EntropyCalibrator()
