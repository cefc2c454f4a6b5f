"""Live recognition: backends, video sources, face regions, smoothing, outputs and the loop.

Three objects hide the whole camera loop::

    from edgeclass.runtime import Classifier, open_source
    clf = Classifier("runs/demo/weights/model.onnx")     # .engine, .onnx, .ts or .pt
    for frame in open_source("0"):                       # camera, csi://0, rtsp://..., video, folder
        label, conf = clf(frame)

This package never imports torch or torchvision at import time: on a Jetson it runs with numpy,
OpenCV and TensorRT or ONNX Runtime alone. (``.ts``/``.pt`` models import torch when loaded.)
"""

from .backends import Backend, load_backend
from .classifier import Classifier
from .outputs import JsonLinesOutput, Output, OutputSpec, Overlay, VideoOutput, Window, WindowOutput, parse_output
from .pipeline import Pipeline, PipelineConfig, SourceResult, Step, Summary
from .results import UNKNOWN, Prediction, Smoother
from .roi import FaceDetector, IoUTracker
from .sources import CaptureOptions, Frame, LiveSource, Source, open_source, parse_source

__all__ = [
    "Backend",
    "CaptureOptions",
    "Classifier",
    "FaceDetector",
    "Frame",
    "IoUTracker",
    "JsonLinesOutput",
    "LiveSource",
    "Output",
    "OutputSpec",
    "Overlay",
    "Pipeline",
    "PipelineConfig",
    "Prediction",
    "Smoother",
    "Source",
    "SourceResult",
    "Step",
    "Summary",
    "UNKNOWN",
    "VideoOutput",
    "Window",
    "WindowOutput",
    "load_backend",
    "open_source",
    "parse_output",
    "parse_source",
]
