"""The engine's optimisation profile: the batch range (NCHW min / opt / max) of the input ``images``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import EdgeclassError

DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True)
class ProfileShapes:
    """One optimisation profile for the input ``images``: NCHW min / opt / max."""

    min: Tuple[int, int, int, int]
    opt: Tuple[int, int, int, int]
    max: Tuple[int, int, int, int]

    @property
    def batches(self) -> Tuple[int, int, int]:
        return (self.min[0], self.opt[0], self.max[0])

    @property
    def static(self) -> bool:
        return self.min == self.opt == self.max

    def to_dict(self) -> Dict[str, List[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d: Dict[str, Sequence[int]]) -> "ProfileShapes":
        return cls(tuple(d["min"]), tuple(d["opt"]), tuple(d["max"]))  # type: ignore[arg-type]


def profile_shapes(
    imgsz: int,
    batch: Optional[int] = None,
    min_batch: Optional[int] = None,
    opt_batch: Optional[int] = None,
    max_batch: Optional[int] = None,
    onnx_batch: Optional[int] = None,
) -> ProfileShapes:
    """Batch range of the engine. ``--batch N`` fixes it at N; otherwise min 1, opt 1 (one camera
    frame at a time is the real-time case) and max 8 unless given. ``onnx_batch`` is the ONNX input's
    batch dimension when it is fixed (not dynamic): the profile must then be exactly that."""
    ranged = (min_batch, opt_batch, max_batch)
    if batch is not None and any(v is not None for v in ranged):
        raise EdgeclassError("give either --batch or --min-batch/--opt-batch/--max-batch, not both")
    if batch is not None:
        lo = opt = hi = batch
    else:
        hi = max_batch if max_batch is not None else max(DEFAULT_MAX_BATCH, min_batch or 1, opt_batch or 1)
        lo = min_batch if min_batch is not None else 1
        opt = opt_batch if opt_batch is not None else lo
    if lo < 1:
        raise EdgeclassError(f"batch sizes must be 1 or more (got {lo})")
    if not lo <= opt <= hi:
        raise EdgeclassError(f"batch sizes need min <= opt <= max (got {lo}, {opt}, {hi})")
    if onnx_batch is not None and onnx_batch > 0 and (lo, opt, hi) != (onnx_batch,) * 3:
        if batch is None and all(v is None for v in ranged):
            lo = opt = hi = onnx_batch  # the ONNX fixes the batch and the user asked for nothing else
        else:
            raise EdgeclassError(
                f"the ONNX input has a fixed batch of {onnx_batch}; re-export with a dynamic batch "
                f"(`edgeclass export RUN`) or use --batch {onnx_batch}"
            )
    chw = (3, imgsz, imgsz)
    return ProfileShapes((lo,) + chw, (opt,) + chw, (hi,) + chw)  # type: ignore[arg-type]


def _dims(shape: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in shape)


def trtexec_shape_args(shapes: ProfileShapes, input_name: str, onnx_batch: Optional[int]) -> List[str]:
    """trtexec's ``--minShapes/--optShapes/--maxShapes`` for a dynamic-batch ONNX (equal for a static
    profile, e.g. DLA); none for an ONNX whose batch is fixed: trtexec refuses shape flags when no
    network input is dynamic ("Static model does not take explicit shapes since the shape of inference
    tensors will be determined by the model itself", samples/common/sampleEngines.cpp, 8.5 to 11.1)."""
    if onnx_batch is not None:
        if shapes.batches != (onnx_batch,) * 3:
            raise EdgeclassError(f"the ONNX input has a fixed batch of {onnx_batch}; the profile {shapes.batches} cannot differ")
        return []
    return [f"--{k}Shapes={input_name}:{_dims(getattr(shapes, k))}" for k in ("min", "opt", "max")]
