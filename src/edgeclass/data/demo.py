"""The demo dataset: scikit-learn's handwritten digits (1,797 real scanned 8x8 images, 10 classes),
written as PNG files in a class-per-folder tree. Offline: the data ships inside scikit-learn."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import EdgeclassError

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def write_digits(dst: str | os.PathLike, size: int = 32) -> int:
    """Write every digit as ``dst/<name>/digit_<index>.png`` (grey, upscaled to ``size`` px with
    nearest-neighbour so the scanned 4-bit pixels stay as they were). Returns the number of files.
    Existing files are overwritten, so the command is idempotent."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise EdgeclassError("the demo dataset needs scikit-learn: pip install scikit-learn") from None
    import cv2

    digits = load_digits()
    dst = Path(dst)
    n = 0
    for i, (img, target) in enumerate(zip(digits.images, digits.target)):
        folder = dst / DIGIT_NAMES[int(target)]
        folder.mkdir(parents=True, exist_ok=True)
        grey = np.clip(np.round(img * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_NEAREST)
        if not cv2.imwrite(str(folder / f"digit_{i:04d}.png"), grey):
            raise EdgeclassError(f"cannot write images to {folder}")
        n += 1
    return n
