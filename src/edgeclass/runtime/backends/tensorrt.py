"""TensorRT runtime backend: load a ``model.<precision>[.dla<N>].engine`` and run it.

Imports nothing heavy at module level: ``tensorrt`` is imported when a backend is created, device
memory and pinned host buffers come from ``edgeclass.engine.cuda`` (cuda-python, or PyTorch CUDA
tensors), so a Jetson without PyTorch can run engines. The CUDA device (``--device cuda:1``) is made
current before deserialising and before every enqueue: TensorRT binds an engine to the device
current when it is deserialised.

On load the sidecar (``model.<precision>.engine.json``) is checked against the running TensorRT,
the GPU, the Jetson module, L4T release and DLA core count, and the source ONNX (when it sits next to
the engine): a stale engine, or one TensorRT cannot deserialise, is either rebuilt
(``rebuild_stale=True``, through ``edgeclass.engine.build``) or refused with one line that says why
and gives the exact rebuild command. Batching (chunks of the engine's max batch, padding up to its
min batch) is ``Backend.predict``'s. Every output of the engine is read (names from the engine, so a
model with ``logits`` and ``embedding`` works); ``predict`` returns the logits, ``predict_outputs``
all of them.

Untested on real hardware so far: no machine this was written on has TensorRT or a GPU. The API
calls follow NVIDIA's 8.5+/10.x/11.x Python docs (name-based I/O, execute_async_v3).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...engine import cuda
from ...engine.cuda_choice import device_index
from ...engine.dla import placement_phrase
from ...engine.identity import host_identity
from ...engine.layers import LayerInfo, inspect_engine, summary_phrase
from ...engine.plan import PRECISIONS, import_tensorrt
from ...engine.sidecar import Verdict, deserialize_failure_verdict, engine_verdict, rebuild_command, request_from_sidecar
from ...engine.source import logits_output
from ...errors import EdgeclassError
from ...inference import predict_in_chunks
from ...spec import ModelCard, check_class_count
from .base import Backend


class TensorRTBackend(Backend):
    """Runs a serialized TensorRT engine: float32 NCHW [0,1] in, float32 logits (and other outputs) out."""

    name = "tensorrt"

    def __init__(self, path: str | os.PathLike, device: Any = 0, rebuild_stale: bool = False, **_: Any):
        self.engine_path = Path(path)
        self.path = str(self.engine_path)
        if not self.engine_path.is_file():
            raise EdgeclassError(f"engine {self.path} does not exist; build it with `edgeclass engine RUN --precision fp16`")
        self.device = device_index(device)
        self.rebuild_stale = rebuild_stale
        self._cuda = None
        self._context = None
        self._engine = None
        self._trt, self.version = import_tensorrt()
        self._cuda = cuda.open_cuda(self.device)
        self.gpu = self._cuda.gpu()
        self._runtime = self._trt.Runtime(self._trt.Logger(self._trt.Logger.WARNING))
        self.host = host_identity(getattr(self._runtime, "num_DLA_cores", None))
        sidecar, verdict = engine_verdict(self.engine_path, self.version, self.gpu, self.host)
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
        self.dla_core = (sidecar.get("build") or {}).get("dla_core")
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
        runtime = self._runtime
        build = (sidecar or {}).get("build") or {}
        if build.get("dla_core") is not None:
            runtime.DLA_core = int(build["dla_core"])
        if build.get("version_compatible"):
            # version-compatible plans embed a lean runtime (host code); we built it, so trust it
            runtime.engine_host_code_allowed = True
        self._cuda.make_current()
        try:
            return runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        except Exception:  # some versions raise instead of returning None
            return None

    def _setup_io(self) -> None:
        trt, engine = self._trt, self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names: Tuple[str, ...] = tuple(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        if len(inputs) != 1 or not self.output_names:
            raise EdgeclassError(f"{self.path}: expected one input and at least one output, found {len(inputs)} and {len(self.output_names)}")
        self.input_name = inputs[0]
        self.output_name = logits_output(self.output_names)
        self._in_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.input_name)))
        lo, _opt, hi = _profile_shape(engine, self.input_name)
        self.min_batch = int(lo[0])
        self.max_batch = int(hi[0])
        self._chw: Tuple[int, ...] = tuple(int(v) for v in hi[1:])
        self._out: Dict[str, Tuple[Tuple[int, ...], np.dtype]] = {
            n: (tuple(int(v) for v in tuple(engine.get_tensor_shape(n))[1:]), np.dtype(trt.nptype(engine.get_tensor_dtype(n))))
            for n in self.output_names
        }
        check_class_count(self.card, int(self._out[self.output_name][0][-1]), self.path)
        self._context = engine.create_execution_context()
        self._host_in = self._cuda.host_buffer((self.max_batch,) + self._chw, self._in_dtype)
        self._in_ptr = self._cuda.alloc(self._host_in.nbytes)
        self._context.set_tensor_address(self.input_name, self._in_ptr)
        self._host_out: Dict[str, np.ndarray] = {}
        self._out_ptr: Dict[str, int] = {}
        for n, (shape, dtype) in self._out.items():
            self._host_out[n] = self._cuda.host_buffer((self.max_batch,) + shape, dtype)
            self._out_ptr[n] = self._cuda.alloc(self._host_out[n].nbytes)
            self._context.set_tensor_address(n, self._out_ptr[n])

    # -- run --------------------------------------------------------------------------------

    def _check_batch(self, batch: np.ndarray) -> np.ndarray:
        if self._context is None:
            raise EdgeclassError("this TensorRT backend is closed")
        x = np.asarray(batch)
        if x.ndim != 4 or tuple(x.shape[1:]) != self._chw:
            raise EdgeclassError(f"input batch has shape {tuple(x.shape)}, the engine takes N x {' x '.join(map(str, self._chw))}")
        return super()._check_batch(x)

    def _run_all(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """One chunk of min_batch..max_batch images -> every output (float32 copies)."""
        n = len(x)
        host_in = self._host_in[:n]
        host_in[:] = x  # into page-locked memory: the upload is a real asynchronous copy
        self._cuda.make_current()
        if not self._context.set_input_shape(self.input_name, tuple(host_in.shape)):
            raise EdgeclassError(f"the engine rejected input shape {tuple(host_in.shape)}")
        self._cuda.upload(self._in_ptr, host_in)
        if not self._context.execute_async_v3(self._cuda.stream_handle):
            raise EdgeclassError("TensorRT inference failed (see the TensorRT messages above)")
        for name in self.output_names:
            self._cuda.download(self._host_out[name][:n], self._out_ptr[name])
        self._cuda.synchronize()
        return {name: self._host_out[name][:n].astype(np.float32, copy=True) for name in self.output_names}

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._run_all(x)[self.output_name]

    def predict_outputs(self, batch: np.ndarray) -> Dict[str, np.ndarray]:
        """Every output of the engine for any number of images (chunked and padded like ``predict``)."""
        batch = self._check_batch(batch)
        sizes = [int(np.prod(self._out[n][0])) for n in self.output_names]

        def flat(chunk: np.ndarray) -> np.ndarray:
            outs = self._run_all(chunk)
            return np.concatenate([outs[n].reshape(len(chunk), -1) for n in self.output_names], axis=1)

        joined = predict_in_chunks(flat, batch, self.max_batch, self.min_batch)
        parts = np.split(joined, np.cumsum(sizes)[:-1], axis=1) if len(batch) else [np.zeros((0, s), np.float32) for s in sizes]
        return {n: p.reshape((len(batch),) + self._out[n][0]) for n, p in zip(self.output_names, parts)}

    def layers(self) -> Optional[List[LayerInfo]]:
        """This engine's layers (precision, device) from TensorRT's engine inspector; None where unavailable."""
        self._cuda.make_current()
        return inspect_engine(self._trt, self._engine, self.dla_core is not None, self._context)

    def describe(self) -> str:
        where = f"{self.gpu.name} ({self.gpu.sm})"
        if self.dla_core is not None:
            where += f", {placement_phrase(self.sidecar.get('placement'), self.dla_core)}"
        layers = self.sidecar.get("layers")
        extra = f"; {summary_phrase([LayerInfo(**d) for d in layers])}" if layers else ""
        return f"TensorRT {self.version} {self.precision} on {where}{extra}"

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
    """The precision an engine's file name says (``model.int8.engine``, ``model.fp16.dla0.engine``:
    its second part), else fp16."""
    parts = path.name.split(".")
    return parts[1] if len(parts) >= 3 and parts[1] in PRECISIONS else "fp16"
