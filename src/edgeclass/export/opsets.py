"""The ONNX opsets ``edgeclass export --opset`` accepts (plain numbers: no torch is imported here).

13 is the oldest with per-channel QuantizeLinear/DequantizeLinear (INT8 needs it); 17 the newest
torch's TorchScript-based exporter writes and TensorRT 8.5 (JetPack 5) reads; 23 the newest torch
2.14's dynamo exporter writes (``torch.onnx._constants.ONNX_MAX_OPSET``; a test keeps them in step).
"""

MIN_OPSET = 13
LEGACY_MAX_OPSET = 17
DEFAULT_OPSET = 17
MAX_OPSET = 23
