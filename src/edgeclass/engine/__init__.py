"""TensorRT engines (`edgeclass engine`): which TensorRT (``version``), what to build per version from
which ONNX with which flags (``plan``, ``shapes``, ``source``, ``dla``), the equivalent trtexec line
(``trtexec``), whether an engine is still good here (``sidecar``, ``identity``), CUDA device memory
and streams (``cuda``, ``cuda_choice``), where the layers of a built engine run (``layers``), and the
thin builder that calls TensorRT (``build``, ``calibrator``; ``torch_tensorrt`` for `--backend torch-tensorrt`).

Everything that decides is plain Python tested on every machine; ``tensorrt`` is imported only by
``version.import_tensorrt``, when a build or a runtime backend needs it.
"""
