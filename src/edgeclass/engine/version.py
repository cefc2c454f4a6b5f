"""Which TensorRT: its version (installed, asked for with ``--trt-version``, or the default the
printed trtexec line plans for), the oldest one edgeclass takes, and the one place that imports
``tensorrt``. Plain Python otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ..artifacts import trt_cache
from ..errors import EdgeclassError

MIN_VERSION = (8, 5)
# what `--print-trtexec` plans for when TensorRT is not installed here: JetPack 6.1 / 6.2
DEFAULT_PLAN_VERSION = "10.3.0"

NO_TENSORRT_MESSAGE = (
    "TensorRT is not installed for this Python: on a Jetson it comes with JetPack "
    "(`sudo apt install nvidia-jetpack`, then a venv made with --system-site-packages, see `make setup-jetson`); "
    "on an x86 machine with an NVIDIA GPU run `pip install tensorrt`; "
    "`edgeclass engine RUN --print-trtexec` prints the trtexec command without it"
)


@dataclass(frozen=True, order=True)
class TrtVersion:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> "TrtVersion":
        """'10.3.0.30' / '8.6.2' / '11.0' -> TrtVersion (build number dropped)."""
        m = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", str(text))
        if not m:
            raise EdgeclassError(f"cannot read TensorRT version {text!r} (expected e.g. 10.3.0)")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def code(self) -> int:
        """NV_TENSORRT_VERSION as TensorRT writes it in calibration cache headers (8.6.1 -> 8601)."""
        return trt_cache.version_code(self.major, self.minor, self.patch)

    @property
    def strongly_typed_only(self) -> bool:
        return self.major >= 11

    @property
    def has_calibrators(self) -> bool:
        """Implicit INT8 calibrators (IInt8EntropyCalibrator2, IInt8MinMaxCalibrator): deprecated in
        10.1, removed in 11.0 (TensorRT Python API docs, "IInt8Calibrator")."""
        return self.major < 11


def check_supported(version: TrtVersion) -> TrtVersion:
    """Refuse TensorRT older than 8.5: the name-based I/O API (set_tensor_address,
    execute_async_v3) this project uses starts there."""
    if (version.major, version.minor) < MIN_VERSION:
        raise EdgeclassError(
            f"TensorRT {version} is too old: edgeclass needs TensorRT 8.5 or newer "
            "(JetPack 5.1+ on a Jetson, or `pip install -U tensorrt` on x86)"
        )
    return version


def installed_version() -> Optional[str]:
    """The installed TensorRT's version string, None when it is not installed."""
    try:
        import tensorrt
    except ImportError:
        return None
    return str(tensorrt.__version__)


def planning_version(asked: Optional[str] = None) -> TrtVersion:
    """The version `--print-trtexec` plans for: ``asked``, else the installed one, else the default."""
    return TrtVersion.parse(asked or installed_version() or DEFAULT_PLAN_VERSION)


def import_tensorrt() -> Tuple[Any, TrtVersion]:
    """``tensorrt`` module and its version (refusing < 8.5), or the one-line "how to get it" error."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgeclassError(NO_TENSORRT_MESSAGE) from None
    return trt, check_supported(TrtVersion.parse(trt.__version__))
