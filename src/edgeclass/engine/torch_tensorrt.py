"""`edgeclass engine --backend torch-tensorrt`: compile the checkpoint with Torch-TensorRT (dynamo).

For desktop users with PyTorch, a CUDA GPU and ``torch_tensorrt`` installed. The compiled module is
traced to TorchScript and saved as ``weights/model.<precision>.trt.ts`` with the model card in
``_extra_files["edgeclass.json"]`` (like every TorchScript artifact here); loading it needs
``import torch_tensorrt`` before ``torch.jit.load``.

Lives in ``engine`` (not ``export``): it takes the engine's batch profile and options
(``shapes``, ``plan.EngineRequest``) and answers `edgeclass engine`; export may not import engine.

Not run yet: no machine this was written on has a GPU. Calls follow the Torch-TensorRT docs
(``torch_tensorrt.compile(model, ir="dynamo", inputs=[torch_tensorrt.Input(min_shape, opt_shape,
max_shape, dtype)])``; fp16 via ``enabled_precisions``, which newer releases deprecate in favour of
autocast but still accept).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..artifacts import formats, torchscript
from ..errors import EdgeclassError
from ..runs import checkpoint_file
from .plan import EngineRequest
from .shapes import profile_shapes


def output_path(weights_dir: Path, precision: str) -> Path:
    return weights_dir / formats.get(f"torch-tensorrt-{precision}").file_name


def compile_checkpoint(target: str | os.PathLike, request: EngineRequest) -> Path:
    if request.precision == "int8" or request.calibrator or request.dla_core is not None:
        raise EdgeclassError("--backend torch-tensorrt builds fp32 or fp16 only (int8 and DLA: use the default TensorRT backend)")
    try:
        import torch
        import torch_tensorrt
    except ImportError:
        raise EdgeclassError("--backend torch-tensorrt needs PyTorch and Torch-TensorRT: pip install torch-tensorrt") from None
    if not torch.cuda.is_available():
        raise EdgeclassError("--backend torch-tensorrt needs a CUDA GPU; none is visible to PyTorch")
    from ..train.checkpoint import load_model

    checkpoint = checkpoint_file(target)
    device = torch.device("cuda", request.device)
    model, card = load_model(checkpoint, device=device)
    shapes = profile_shapes(card.preprocess.imgsz, request.batch, request.min_batch, request.opt_batch, request.max_batch)
    spec = torch_tensorrt.Input(min_shape=shapes.min, opt_shape=shapes.opt, max_shape=shapes.max, dtype=torch.float32)
    precisions = {torch.float16, torch.float32} if request.precision == "fp16" else {torch.float32}
    kwargs = {}
    if request.workspace_gib is not None:
        kwargs["workspace_size"] = int(request.workspace_gib * (1 << 30))
    compiled = torch_tensorrt.compile(model, ir="dynamo", inputs=[spec], enabled_precisions=precisions, **kwargs)
    example = torch.rand(shapes.opt, device=device)
    traced = torch.jit.trace(compiled, example)
    out = output_path(checkpoint.parent, request.precision)
    engine_card = card.replace(precision=request.precision, provenance={"torch_tensorrt": torch_tensorrt.__version__})
    return torchscript.save(traced, out, engine_card)
