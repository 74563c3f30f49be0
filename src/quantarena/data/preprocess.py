"""JPEG -> normalized CHW float32, with torchvision ``ImageClassification`` semantics in PIL/NumPy
(so the orchestrator and the data cache need no torch).

Images come from users, so decoding is defensive: anything PIL cannot read, an image over PIL's
decompression-bomb limit, or one whose resize would be absurdly large is a ``DataError`` naming
the file (``--on-bad-image`` decides whether that stops the run). PIL's warnings (palette
transparency, EXIF, near-bomb sizes ...) are captured per image and returned as notes, which the
results record, instead of leaking onto the user's terminal.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np
from PIL import Image

from quantarena.errors import DataError, first_line
from quantarena.models.spec import PreprocessSpec

_INTERPOLATION = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


@dataclass(frozen=True)
class Decoded:
    """One preprocessed image and the warnings PIL raised while decoding it (deduplicated)."""

    array: np.ndarray
    notes: tuple[str, ...]


class _Capture:
    """Process-wide warning capture shared by every decoding thread (reference-counted).

    ``warnings.catch_warnings`` swaps process-global state and is not thread-safe: threads that
    each entered and left their own would restore one another's filters mid-decode, and a warning
    would escape (under pytest's ``-W error``, as an exception). So one capture stays installed
    while any thread decodes, and a thread-local list says which image a warning belongs to.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.guard: warnings.catch_warnings[None] | None = None
        self.previous: Any = None
        self.local = threading.local()

    def enter(self) -> None:
        with self.lock:
            if self.depth == 0:
                self.guard = warnings.catch_warnings()
                self.guard.__enter__()
                self.previous = warnings.showwarning
                warnings.simplefilter("always")
                warnings.showwarning = self.record
            self.depth += 1

    def exit(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.guard is not None:
                self.guard.__exit__(None, None, None)
                self.guard = None

    def record(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        notes: list[str] | None = getattr(self.local, "notes", None)
        if notes is None:  # a warning from some other thread's code: not ours to swallow
            self.previous(message, category, filename, lineno, file, line)
            return
        lines = str(message).strip().splitlines()
        text = lines[0] if lines else category.__name__
        notes.append(text if category is UserWarning else f"{category.__name__}: {text}")


_CAPTURE = _Capture()


@contextmanager
def captured_warnings() -> Iterator[None]:
    """Keep PIL's warnings captured for a whole batch of decoding threads (``cache_split`` holds
    this around its thread pool so the capture is installed once, not once per image)."""
    _CAPTURE.enter()
    try:
        yield
    finally:
        _CAPTURE.exit()


def decode_image(path: Path, spec: PreprocessSpec) -> Decoded:
    """The preprocessed image with the warnings raised while decoding it."""
    notes: list[str] = []
    with captured_warnings():
        _CAPTURE.local.notes = notes
        try:
            array = _decode(path, spec)
        finally:
            _CAPTURE.local.notes = None
    return Decoded(array, tuple(dict.fromkeys(notes)))


def decode_bytes(data: bytes, name: str, spec: PreprocessSpec) -> np.ndarray:
    """The same preprocessing on an image file already in memory (``name`` for messages): the
    end-to-end serving path decodes inside its timed window, bit for bit what the cache holds."""
    with captured_warnings():
        _CAPTURE.local.notes = []
        try:
            return _decode(io.BytesIO(data), spec, name)
        finally:
            _CAPTURE.local.notes = None


def load_image(path: Path, spec: PreprocessSpec) -> np.ndarray:
    """Decode, resize the shorter side to ``spec.resize``, center-crop ``spec.crop``, normalize.
    Warnings are captured (and dropped here; ``decode_image`` returns them)."""
    return decode_image(path, spec).array


def _resized(width: int, height: int, spec: PreprocessSpec) -> tuple[int, int]:
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = spec.resize, int(spec.resize * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def _check_resize(path: str, size: tuple[int, int], spec: PreprocessSpec) -> None:
    """An extreme aspect ratio (say 1 x 10^6) passes PIL's pixel limit but would need gigabytes
    once its shorter side is scaled up; refuse it by the limit PIL refuses to decode beyond."""
    if Image.MAX_IMAGE_PIXELS is None:  # the user turned PIL's limit off
        return
    limit = 2 * Image.MAX_IMAGE_PIXELS
    width, height = _resized(*size, spec)
    if width * height > limit:
        raise DataError(
            f"image {path} is oversize: {size[0]}x{size[1]} resized to {width}x{height} "
            f"would exceed PIL's decompression-bomb limit of {limit} pixels"
        )


def _decode(
    source: Path | BinaryIO, spec: PreprocessSpec, name: str | None = None
) -> np.ndarray:
    path = name if name is not None else str(source)
    try:
        with Image.open(source) as image:
            _check_resize(path, image.size, spec)
            rgb = image.convert("RGB")
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"image {path} is oversize: {first_line(exc)}") from exc
    except Exception as exc:  # any failure of PIL on a user's file makes it a bad image
        raise DataError(f"cannot read image {path}: {first_line(exc)}") from exc
    size = _resized(*rgb.size, spec)
    rgb = rgb.resize(size, _INTERPOLATION.get(spec.interpolation, Image.Resampling.BILINEAR))
    left = int(round((size[0] - spec.crop) / 2.0))
    top = int(round((size[1] - spec.crop) / 2.0))
    rgb = rgb.crop((left, top, left + spec.crop, top + spec.crop))
    pixels = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    normalized: np.ndarray = (pixels - mean) / std
    return np.ascontiguousarray(normalized.transpose(2, 0, 1))
