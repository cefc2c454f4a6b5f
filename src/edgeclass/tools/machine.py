"""What machine a measurement ran on: CPU (or Jetson board), GPU, load average, library versions.
Shared by `edgeclass bench` and `edgeclass jetson-check`; nothing is imported unless it is there."""

from __future__ import annotations

import os
import platform
from typing import Dict


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``), the board on a Jetson (device tree), else the platform."""
    try:
        with open("/proc/device-tree/model", "r", encoding="utf-8", errors="replace") as f:
            board = f.read().strip("\x00 \n")
    except OSError:
        board = ""
    name = ""
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    cores = os.cpu_count() or 0
    text = f"{name} ({cores} cores, {platform.machine()})"
    return f"{board}, {text}" if board else text


def library_version(module: str) -> str:
    """Version of an importable library, or "not installed" (importing it only when present)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return "not installed"
    try:
        return str(getattr(importlib.import_module(module), "__version__", "unknown version"))
    except Exception as e:  # a broken install (e.g. missing CUDA libraries) is worth naming
        return f"broken ({type(e).__name__})"


def gpu_name() -> str:
    """The CUDA GPU as PyTorch sees it, or "none"."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    except Exception:
        pass
    return "none"


def load_average() -> str:
    """The 1-minute load average: other work on the machine is the main source of timing noise."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "n/a"


def machine_info() -> Dict[str, str]:
    return {
        "load": load_average(),
        "cpu": cpu_name(),
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "torch": library_version("torch"),
        "onnxruntime": library_version("onnxruntime"),
        "tensorrt": library_version("tensorrt"),
    }
