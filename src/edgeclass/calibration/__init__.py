"""Calibration: calibration image sets, INT8 Q/DQ quantization, sensitivity fallback.

``calibration_images`` (in ``dataset``) is the one source of calibration tensors for every calibrator
(ONNX Runtime here, TensorRT's implicit calibrator on a Jetson).
"""
