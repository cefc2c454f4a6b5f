"""Calibration: INT8 Q/DQ quantization (TensorRT placement and U8S8 for ONNX Runtime on a CPU),
the accuracy budget and the sensitivity fallback.

The calibration images come from ``edgeclass.data.image_sets.calibration_images``, the one source of
calibration tensors for every calibrator (ONNX Runtime here, TensorRT's implicit calibrator in
``edgeclass.engine``). A sibling of ``export``: neither imports the other.
"""
