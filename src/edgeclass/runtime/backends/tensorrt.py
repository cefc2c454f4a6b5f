"""TensorRT runtime backend: load a ``model.<precision>.engine`` and run it.

Imports nothing heavy at module level: ``tensorrt`` is imported when a backend is created, device
memory comes from ``edgeclass.engine.cuda`` (cuda-python, or PyTorch CUDA tensors), so a Jetson
without PyTorch can run engines.

On load the sidecar (``model.<precision>.engine.json``) is checked against the running TensorRT,
the GPU and the source ONNX (when it sits next to the engine): a stale engine, or one TensorRT cannot
deserialise, is either rebuilt (``rebuild_stale=True``, through ``edgeclass.engine.build``) or
refused with one line that says why and gives the exact rebuild command. Batching (chunks of the
engine's max batch, padding up to its min batch) is ``Backend.predict``'s.

Untested on real hardware so far: no machine this was written on has TensorRT or a GPU. The API
calls follow NVIDIA's 8.5+/10.x/11.x Python docs (name-based I/O, execute_async_v3).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ...engine import cuda
from ...engine.plan import PRECISIONS, import_tensorrt
from ...engine.sidecar import Verdict, deserialize_failure_verdict, engine_verdict, rebuild_command, request_from_sidecar
from ...errors import EdgeclassError
from ...spec import ModelCard, check_class_count
from .base import Backend


class TensorRTBackend(Backend):
    """Runs a serialized TensorRT engine: float32 NCHW [0,1] in, float32 logits out."""

    name = "tensorrt"

    def __init__(self, path: str | os.PathLike, device: int = 0, rebuild_stale: bool = False, **_: Any):
        self.engine_path = Path(path)
        self.path = str(self.engine_path)
        if not self.engine_path.is_file():
            raise EdgeclassError(f"engine {self.path} does not exist; build it with `edgeclass engine RUN --precision fp16`")
        self.device = device
        self.rebuild_stale = rebuild_stale
        self._cuda = None
        self._context = None
        self._engine = None
        self._trt, self.version = import_tensorrt()
        self._cuda = cuda.open_cuda(device)
        self.gpu = self._cuda.gpu()
        sidecar, verdict = engine_verdict(self.engine_path, self.version, self.gpu)
        if verdict.stale:
            sidecar = self._rebuild_or_refuse(verdict, sidecar)
        engine = self._deserialize(sidecar)
        if engine is None:
            sidecar = self._rebuild_or_refuse(deserialize_failure_verdict(), sidecar)
            engine = self._deserialize(sidecar)
            if engine is None:
                raise EdgeclassError(f"TensorRT could not deserialise {self.path} even after rebuilding it")
        assert sidecar is not None
        self.sidecar = sidecar
        self.card: ModelCard = ModelCard.from_dict(sidecar["card"])
        self.precision = str(sidecar.get("precision", self.card.precision))
        self._engine = engine
        self._setup_io()

    # -- load -------------------------------------------------------------------------------

    def _rebuild_or_refuse(self, verdict: Verdict, sidecar: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        precision = (sidecar or {}).get("precision") or precision_from_name(self.engine_path)
        weights = self.engine_path.parent
        if not self.rebuild_stale:
            raise EdgeclassError(verdict.message(self.engine_path, rebuild_command(weights, sidecar, precision)))
        from ...engine.build import build_engine

        print(f"{self.path}: {'; '.join(verdict.reasons)}; rebuilding", flush=True)
        request = request_from_sidecar(sidecar, precision, self.device)
        return build_engine(weights, request, engine=self.engine_path).sidecar

    def _deserialize(self, sidecar: Optional[Dict[str, Any]]):
        trt = self._trt
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        if sidecar and (sidecar.get("build") or {}).get("dla_core") is not None:
            runtime.DLA_core = int(sidecar["build"]["dla_core"])
        if sidecar and (sidecar.get("build") or {}).get("version_compatible"):
            # version-compatible plans embed a lean runtime (host code); we built it, so trust it
            runtime.engine_host_code_allowed = True
        self._runtime = runtime
        try:
            return runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        except Exception:  # some versions raise instead of returning None
            return None

    def _setup_io(self) -> None:
        trt, engine = self._trt, self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EdgeclassError(f"{self.path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self._in_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.input_name)))
        self._out_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.output_name)))
        lo, _opt, hi = _profile_shape(engine, self.input_name)
        self.min_batch = int(lo[0])
        self.max_batch = int(hi[0])
        self._chw: Tuple[int, ...] = tuple(int(v) for v in hi[1:])
        out_shape = tuple(engine.get_tensor_shape(self.output_name))
        check_class_count(self.card, int(out_shape[-1]), self.path)
        self._classes = int(out_shape[-1])
        self._context = engine.create_execution_context()
        itemsize_in = self._in_dtype.itemsize * int(np.prod(self._chw))
        self._in_ptr = self._cuda.alloc(self.max_batch * itemsize_in)
        self._out_ptr = self._cuda.alloc(self.max_batch * self._classes * self._out_dtype.itemsize)
        self._context.set_tensor_address(self.input_name, self._in_ptr)
        self._context.set_tensor_address(self.output_name, self._out_ptr)

    # -- run --------------------------------------------------------------------------------

    def _check_batch(self, batch: np.ndarray) -> np.ndarray:
        if self._context is None:
            raise EdgeclassError("this TensorRT backend is closed")
        x = np.asarray(batch)
        if x.ndim != 4 or tuple(x.shape[1:]) != self._chw:
            raise EdgeclassError(f"input batch has shape {tuple(x.shape)}, the engine takes N x {' x '.join(map(str, self._chw))}")
        return super()._check_batch(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """One chunk of min_batch..max_batch images."""
        host_in = np.ascontiguousarray(x, dtype=self._in_dtype)
        if not self._context.set_input_shape(self.input_name, tuple(host_in.shape)):
            raise EdgeclassError(f"the engine rejected input shape {tuple(host_in.shape)}")
        host_out = np.empty((len(host_in), self._classes), dtype=self._out_dtype)
        self._cuda.upload(self._in_ptr, host_in)
        if not self._context.execute_async_v3(self._cuda.stream_handle):
            raise EdgeclassError("TensorRT inference failed (see the TensorRT messages above)")
        self._cuda.download(host_out, self._out_ptr)
        self._cuda.synchronize()
        return host_out.astype(np.float32, copy=False)

    def describe(self) -> str:
        dla = (self.sidecar.get("build") or {}).get("dla_core")
        where = f"DLA core {dla} of {self.gpu.name}" if dla is not None else f"{self.gpu.name} ({self.gpu.sm})"
        return f"TensorRT {self.version} {self.precision} on {where}"

    def close(self) -> None:
        self._context = None
        self._engine = None
        if self._cuda is not None:
            self._cuda.close()
            self._cuda = None


def _profile_shape(engine: Any, name: str):
    """(min, opt, max) of profile 0: the name-based call where present, else the 8.x form."""
    if hasattr(engine, "get_tensor_profile_shape"):
        return engine.get_tensor_profile_shape(name, 0)
    return engine.get_profile_shape(0, name)  # TensorRT 8.5/8.6 bindings without the name-based call


def precision_from_name(path: Path) -> str:
    """The precision an engine's file name says (``model.int8.engine``: its second part), else fp16."""
    parts = path.name.split(".")
    return parts[1] if len(parts) >= 3 and parts[1] in PRECISIONS else "fp16"
