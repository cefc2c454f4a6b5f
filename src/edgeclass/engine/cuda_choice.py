"""Which CUDA device and which CUDA library: plain decisions behind ``engine.cuda`` and the
Makefile's ``setup-jetson`` (``python -m edgeclass.engine.cuda_choice``).

- The device: TensorRT binds an engine to the device current when it is built or deserialised
  ("Each ICudaEngine object is bound to a specific GPU when it is instantiated ... use
  cudaSetDevice() before calling the builder or deserializing the engine", NVIDIA's TensorRT FAQ as
  quoted by NVIDIA staff in NVIDIA/TensorRT#322), so ``--device cuda:1`` must make device 1 current.
- The library: cuda-python's major follows the CUDA major (``cuda.bindings`` "shares the same
  major.minor version with the CUDA Toolkit" and supports minor-version compatibility within a
  major, its support policy); a cuda-python newer than the driver's CUDA major cannot run, so PyTorch's
  CUDA is used instead when it is there.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Optional, Tuple

from ..errors import EdgeclassError

CUDA_VERSION_FILES = ("/usr/local/cuda/version.json", "/usr/local/cuda/version.txt")
JETPACK5_NOTE = (
    "CUDA {cuda} (JetPack 5): no cuda-python is installed, because cuda-python 12+ needs a CUDA 12 driver and "
    "cuda-python 11.8 is untested on CUDA 11.4; edgeclass takes device memory from NVIDIA's PyTorch wheel for "
    "JetPack 5 (see docs/jetson.md), or install 'cuda-python>=11.4,<12' yourself"
)


def device_index(device: Any) -> int:
    """``0``, ``"1"``, ``"cuda"``, ``"cuda:1"`` -> the CUDA device index to make current
    (``cudaSetDevice`` / ``torch.cuda.set_device``) before building, deserialising or enqueueing."""
    if isinstance(device, bool):
        raise EdgeclassError(f"--device {device!r}: give a CUDA device index such as 0, 1 or cuda:1")
    if isinstance(device, int):
        idx = device
    else:
        m = re.fullmatch(r"\s*(?:cuda(?::(\d+))?|(\d+))\s*", str(device))
        if not m:
            raise EdgeclassError(f"--device {device!r}: give a CUDA device index such as 0, 1 or cuda:1")
        idx = int(m.group(1) or m.group(2) or 0)
    if idx < 0:
        raise EdgeclassError(f"--device {device}: the index must be 0 or more")
    return idx


def cuda_major(version_int: Optional[int]) -> Optional[int]:
    """cudaDriverGetVersion / cudaRuntimeGetVersion's integer (12060 for CUDA 12.6) -> 12; None for 0
    (no driver) or unknown."""
    return int(version_int) // 1000 if version_int else None


def cuda_text(version_int: Optional[int]) -> str:
    """12060 -> '12.6'; 0 / None -> 'none'."""
    if not version_int:
        return "none"
    return f"{int(version_int) // 1000}.{int(version_int) % 1000 // 10}"


def choose_cuda_backend(cuda_python_major: Optional[int], driver_version: Optional[int], torch_cuda: bool) -> Tuple[str, str]:
    """("cuda-python" or "torch", a one-line note or ""). cuda-python when it is installed
    (``cuda_python_major``: the CUDA major its runtime bindings target, None when not installed) and
    the driver's CUDA major is at least its own; else PyTorch's CUDA (with a note when cuda-python was
    there but too new); else an error saying what to install."""
    drv = cuda_major(driver_version)
    if cuda_python_major is not None and drv is not None and cuda_python_major <= drv:
        return "cuda-python", ""
    too_new = cuda_python_major is not None and drv is not None and cuda_python_major > drv
    want = f"'cuda-python>={drv},<{drv + 1}'" if drv else "cuda-python matching your CUDA"
    if torch_cuda:
        note = (f"cuda-python {cuda_python_major}.x needs a CUDA {cuda_python_major} driver and this driver is CUDA "
                f"{drv}: using PyTorch's CUDA instead (or install {want})") if too_new else ""
        return "torch", note
    if cuda_python_major is not None and drv is None:
        raise EdgeclassError("no CUDA driver answers (cudaDriverGetVersion gives 0): this machine has no usable NVIDIA GPU or driver")
    if too_new:
        raise EdgeclassError(f"cuda-python {cuda_python_major}.x is newer than the driver's CUDA {drv}: install {want} "
                             "(or NVIDIA's PyTorch for your JetPack)")
    raise EdgeclassError(
        "TensorRT needs CUDA device memory from cuda-python or PyTorch and neither is usable here: "
        f"`pip install {want}` (JetPack 6.1/6.2: 'cuda-python>=12.6,<13') or install NVIDIA's PyTorch wheel for your JetPack"
    )


def parse_cuda_version(text: str) -> Optional[str]:
    """'12.6' from /usr/local/cuda/version.json ({"cuda": {"version": "12.6.68"}}) or version.txt
    ("CUDA Version 11.4.315"); None when neither form is there."""
    try:
        doc = json.loads(text)
        version = str(doc["cuda"]["version"])
    except (ValueError, KeyError, TypeError):
        m = re.search(r"CUDA Version\s+(\d+\.\d+)", text)
        return m.group(1) if m else None
    m = re.match(r"(\d+\.\d+)", version)
    return m.group(1) if m else None


def read_cuda_version(files=CUDA_VERSION_FILES) -> Optional[str]:
    for name in files:
        p = Path(name)
        if p.is_file():
            found = parse_cuda_version(p.read_text(encoding="utf-8", errors="replace"))
            if found:
                return found
    return None


def cuda_python_requirement(cuda_version: str) -> str:
    """The cuda-python requirement of the same CUDA major ("12.6" -> 'cuda-python>=12.6,<13')."""
    m = re.match(r"^\s*(\d+)\.(\d+)", cuda_version)
    if not m:
        raise EdgeclassError(f"cannot read CUDA version {cuda_version!r}")
    major, minor = int(m.group(1)), int(m.group(2))
    return f"cuda-python>={major}.{minor},<{major + 1}"


def setup_requirement(cuda_version: Optional[str]) -> Tuple[Optional[str], str]:
    """What `make setup-jetson` installs for device memory: (requirement or None, note). CUDA 12+:
    cuda-python of that major; CUDA 11 (JetPack 5): none, PyTorch's CUDA is the path (``JETPACK5_NOTE``)."""
    if not cuda_version:
        return None, "CUDA version not found (/usr/local/cuda/version.json): no cuda-python installed (JETSON_CUDA_PYTHON=... picks one)"
    if int(cuda_version.split(".", 1)[0]) < 12:
        return None, JETPACK5_NOTE.format(cuda=cuda_version)
    return cuda_python_requirement(cuda_version), ""


def main(argv=None) -> int:
    """`python -m edgeclass.engine.cuda_choice`: print the requirement (or nothing), the note on stderr."""
    req, note = setup_requirement(read_cuda_version())
    if note:
        print(f"setup-jetson: {note}", file=sys.stderr)
    if req:
        print(req)
    return 0


if __name__ == "__main__":
    sys.exit(main())
