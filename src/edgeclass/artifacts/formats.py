"""The format table: one row per artifact kind, read by export, calibrate, engine, eval, bench, the
card writer and the runtime. Nothing else spells an artifact's file name, suffix or maker.

=================== ====================== ========= ============== ======================= =============
key                 file in weights/       precision card lives in  made by                 runtime backend
=================== ====================== ========= ============== ======================= =============
pytorch             best.pt                fp32      checkpoint     edgeclass train         pytorch
torchscript         model.ts               fp32      torchscript    edgeclass export        torchscript
onnx                model.onnx             fp32      onnx           edgeclass export        onnxruntime
onnx-fp16           model.fp16.onnx        fp16      onnx           edgeclass export        onnxruntime
onnx-int8           model.int8.onnx        int8      onnx           edgeclass calibrate     onnxruntime
onnx-int8-fp16      model.int8-fp16.onnx   int8      onnx           edgeclass calibrate     onnxruntime
onnx-int8-cpu       model.int8-cpu.onnx    int8-cpu  onnx           edgeclass calibrate     onnxruntime
engine-fp32/16/int8 model.<p>.engine       p         engine sidecar edgeclass engine        tensorrt
torch-tensorrt-fp32 model.<p>.trt.ts       p         torchscript    edgeclass engine        torchscript
                                                                    --backend torch-tensorrt
=================== ====================== ========= ============== ======================= =============

``model.<p>.dla<N>.engine`` (a ``--dla-core N`` build) is an engine too: same suffix, same sidecar.

The suffix of a file (``.pt``, ``.ts``, ``.onnx``, ``.engine``) decides where its card lives and which
backend loads it, so a renamed artifact still works. No heavy import here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import EdgeclassError
from ..spec import ModelCard
from . import checkpoint, engine, onnx, torchscript


@dataclass(frozen=True)
class Format:
    key: str  # the --formats name
    file_name: str  # under runs/<name>/weights/
    precision: str  # the precision its card records
    label: str  # what runs it, as bench prints it
    precision_label: str  # the precision, as bench prints it
    made_by: str  # the edgeclass sub-command that writes it
    backend: str  # the runtime backend that loads it (``Backend.name``)
    card: ModuleType  # the module with read_card / write_card for this container
    benched: bool = True  # a row of `edgeclass bench --formats all`

    @property
    def suffix(self) -> str:
        return Path(self.file_name).suffix

    @property
    def maker(self) -> str:
        """The command that writes it, e.g. ``edgeclass calibrate``."""
        return f"edgeclass {self.made_by}"


def _engine(precision: str, benched: bool = True) -> Format:
    return Format(f"engine-{precision}", f"model.{precision}.engine", precision, "TensorRT", precision, "engine", "tensorrt",
                  engine, benched)


def _torch_tensorrt(precision: str) -> Format:
    return Format(f"torch-tensorrt-{precision}", f"model.{precision}.trt.ts", precision, "Torch-TensorRT", precision,
                  "engine --backend torch-tensorrt", "torchscript", torchscript, benched=False)


FORMATS: Tuple[Format, ...] = (
    Format("pytorch", "best.pt", "fp32", "PyTorch", "fp32", "train", "pytorch", checkpoint),
    Format("torchscript", "model.ts", "fp32", "TorchScript", "fp32", "export", "torchscript", torchscript),
    Format("onnx", "model.onnx", "fp32", "ONNX Runtime", "fp32", "export", "onnxruntime", onnx),
    Format("onnx-fp16", "model.fp16.onnx", "fp16", "ONNX Runtime", "fp16", "export", "onnxruntime", onnx),
    Format("onnx-int8", "model.int8.onnx", "int8", "ONNX Runtime", "int8 (Q/DQ, opset 17)", "calibrate", "onnxruntime", onnx),
    # ModelOpt's Q/DQ with fp16 elsewhere (opset 19), for strongly typed TensorRT 10/11; written where
    # ModelOpt is installed. After onnx-int8, so of_precision(".onnx", "int8") stays model.int8.onnx.
    Format("onnx-int8-fp16", "model.int8-fp16.onnx", "int8", "ONNX Runtime", "int8 (Q/DQ, fp16, opset 19)", "calibrate",
           "onnxruntime", onnx),
    Format("onnx-int8-cpu", "model.int8-cpu.onnx", "int8-cpu", "ONNX Runtime", "int8-cpu (U8S8)", "calibrate", "onnxruntime", onnx),
    _engine("fp32", benched=False),
    _engine("fp16"),
    _engine("int8"),
    _torch_tensorrt("fp32"),
    _torch_tensorrt("fp16"),
)
_BY_KEY: Dict[str, Format] = {f.key: f for f in FORMATS}
BENCHED: Tuple[Format, ...] = tuple(f for f in FORMATS if f.benched)  # the rows of `edgeclass bench`
SUFFIXES: Tuple[str, ...] = tuple(dict.fromkeys(f.suffix for f in FORMATS))


def get(key: str) -> Format:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise EdgeclassError(f"unknown artifact kind {key!r} (choose from {', '.join(_BY_KEY)})") from None


def made_by(command: str) -> List[Format]:
    """The rows one command writes, in table order (``made_by("export")``: torchscript, onnx, onnx-fp16)."""
    return [f for f in FORMATS if f.made_by == command]


def keys(rows: Sequence[Format]) -> Tuple[str, ...]:
    return tuple(f.key for f in rows)


def of_precision(suffix: str, precision: str) -> Format:
    """The row of a container and precision, e.g. the fp16 ONNX (``of_precision(".onnx", "fp16")``)."""
    return next(f for f in FORMATS if f.suffix == suffix and f.precision == precision)


def by_file_name(name: str) -> Optional[Format]:
    """The row whose file name is ``name`` (None for a renamed file)."""
    return next((f for f in FORMATS if f.file_name == name), None)


def _suffix_list() -> str:
    return ", ".join(SUFFIXES[:-1]) + " or " + SUFFIXES[-1]


def by_suffix(path: str | os.PathLike) -> Format:
    """The first row of ``path``'s container (decides the card's place and the backend)."""
    suffix = Path(path).suffix.lower()
    found = next((f for f in FORMATS if f.suffix == suffix), None)
    if found is None:
        raise EdgeclassError(f"{path}: unknown model type {suffix or '(no suffix)'!r}; give a {_suffix_list()} file")
    return found


def require_file(path: Path) -> None:
    """A model argument must be a file: a folder or a missing path is a one-line error."""
    if path.is_dir():
        raise EdgeclassError(f"{path} is a folder; give a model file ({_suffix_list()}), e.g. {path}/weights/model.onnx")
    if not path.is_file():
        raise EdgeclassError(f"model file {path} does not exist")


def read_card(path: str | os.PathLike) -> ModelCard:
    """The model card stored inside the artifact at ``path``."""
    path = Path(path)
    fmt = by_suffix(path)
    require_file(path)
    return fmt.card.read_card(path)


def write_card(path: str | os.PathLike, card: ModelCard) -> Path:
    """Replace the model card stored in the artifact at ``path`` (weights are left untouched; every
    write is atomic, so a kill never leaves a half-written model)."""
    path = Path(path)
    fmt = by_suffix(path)
    require_file(path)
    fmt.card.write_card(path, card.validate())
    return path
