"""edgeclass: train an image classifier for the people (or things) in front of a camera and run it
in real time on Jetson / CUDA (TensorRT) or on a CPU (ONNX Runtime).

Importing the package imports nothing heavy: torch, onnxruntime and tensorrt load lazily in the
modules that need them.
"""

__version__ = "0.1.0"
