"""TensorRT engines (`edgeclass engine`): what to build per TensorRT version, from which ONNX, with
which flags and shapes (``plan``, ``shapes``, ``source``), whether an engine is still good
(``sidecar``), CUDA memory and streams (``cuda``), and the thin builder that calls TensorRT
(``build``, ``calibrator``; ``torch_tensorrt`` for `--backend torch-tensorrt`).

Everything that decides is plain Python tested on every machine; ``tensorrt`` is imported only by
``plan.import_tensorrt``, when a build or a runtime backend needs it.
"""
