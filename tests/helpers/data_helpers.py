"""Photo trees for the data tests: real scikit-image photos cut into unrelated tiles, plus edited
copies (flipped, brightened, cropped, re-encoded) that only the perceptual hash can group."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeclass.data.hashing import hash_bytes

PHOTOS = {"a": ("astronaut", "coffee", "chelsea"), "b": ("rocket", "camera", "moon")}


def edited_copy(rgb: np.ndarray) -> np.ndarray:
    """Flipped, brightened 20%, cropped 3% per side (re-encoded as JPEG by the caller)."""
    h, w = rgb.shape[:2]
    dy, dx = int(h * 0.03), int(w * 0.03)
    out = rgb[dy : h - dy, dx : w - dx, :][:, ::-1]
    return np.clip(out.astype(np.float32) * 1.2, 0, 255).astype(np.uint8)


def write_photo_tree(root: Path, every: int = 2) -> dict:
    """Two classes of real photos (scikit-image), each photo cut into 3x3 unrelated tiles, 27 tiles
    per class. Every ``every``-th tile (none when 0) also gets an edited copy with an unrelated name (so only the
    perceptual hash can group it). Returns {copy path: source path} (relative)."""
    import skimage.data

    pairs = {}
    for label, names in PHOTOS.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        k = 0
        for name in names:
            img = getattr(skimage.data, name)()
            img = img[..., :3] if img.ndim == 3 else np.stack([img] * 3, -1)
            h, w = img.shape[:2]
            for i in range(3):
                for j in range(3):
                    tile = np.ascontiguousarray(img[i * h // 3 : (i + 1) * h // 3, j * w // 3 : (j + 1) * w // 3])
                    src = f"{label}/{name}_{i}{j}.png"
                    cv2.imwrite(str(root / src), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))
                    if every and k % every == 0:
                        dst = f"{label}/zz_copy_{k}.jpg"
                        bgr = cv2.cvtColor(edited_copy(tile), cv2.COLOR_RGB2BGR)
                        cv2.imwrite(str(root / dst), bgr, [cv2.IMWRITE_JPEG_QUALITY, 70])
                        pairs[dst] = src
                    k += 1
    return pairs


def is_plain(path: Path) -> bool:
    return hash_bytes(path.read_bytes()).plain
