"""Export: TorchScript, ONNX (fp32/fp16) with parity checks against PyTorch eager.

A sibling of ``calibration``: neither imports the other (cards come from ``edgeclass.artifacts``,
image sets from ``edgeclass.data.image_sets``, chunked inference from ``edgeclass.inference``).
TensorRT engines are ``edgeclass.engine``. Imports are lazy: ``import edgeclass.export`` loads no torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExportConfig", "ExportResult", "export"]


def export(cfg: Any) -> Any:
    """Write the artifacts ``cfg`` asks for and check their parity (see ``pipeline.export``)."""
    from .pipeline import export as _export

    return _export(cfg)


def __getattr__(name: str) -> Any:
    if name in ("ExportConfig", "ExportResult"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
