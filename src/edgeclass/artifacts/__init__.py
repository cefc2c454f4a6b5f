"""Artifacts: where the model card lives in each format, and the one format table.

One module per container: ``checkpoint`` (``.pt``: dict key ``card``), ``torchscript`` (``.ts``:
``_extra_files["edgeclass.json"]``), ``onnx`` (``.onnx``: ``metadata_props["edgeclass.model_card"]``),
``engine`` (``.engine``: the sidecar ``.engine.json``, key ``card``), plus ``trt_cache`` (TensorRT's
INT8 calibration cache). ``formats`` is the table every command reads. Imports only top-level
modules; torch and onnx load inside the functions that need them.
"""

from .formats import FORMATS, Format, read_card, write_card

__all__ = ["FORMATS", "Format", "read_card", "write_card"]
