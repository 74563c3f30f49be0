"""JPEG -> normalized CHW float32, with torchvision ``ImageClassification`` semantics in PIL/NumPy
(so the orchestrator and the data cache need no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from quantarena.errors import DataError
from quantarena.models.spec import PreprocessSpec

_INTERPOLATION = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


def load_image(path: Path, spec: PreprocessSpec) -> np.ndarray:
    """Decode, resize the shorter side to ``spec.resize``, center-crop ``spec.crop``, normalize."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    width, height = rgb.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = spec.resize, int(spec.resize * long / short)
    size = (new_short, new_long) if width <= height else (new_long, new_short)
    rgb = rgb.resize(size, _INTERPOLATION.get(spec.interpolation, Image.Resampling.BILINEAR))
    left = int(round((size[0] - spec.crop) / 2.0))
    top = int(round((size[1] - spec.crop) / 2.0))
    rgb = rgb.crop((left, top, left + spec.crop, top + spec.crop))
    pixels = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    normalized: np.ndarray = (pixels - mean) / std
    return np.ascontiguousarray(normalized.transpose(2, 0, 1))
