"""Preprocess a split once into a ``.npy`` file that workers memory-map, so measurement loops time
inference and never JPEG decoding. Files are keyed by (image list, preprocessing) and reused."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from quantarena.data.dataset import Sample
from quantarena.data.preprocess import load_image
from quantarena.models.spec import PreprocessSpec


@dataclass(frozen=True)
class ImageArray:
    """Preprocessed images (N, C, H, W) float32, their labels and file names."""

    images: np.ndarray
    labels: np.ndarray
    files: list[str]

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, count: int) -> ImageArray:
        return ImageArray(self.images[:count], self.labels[:count], self.files[:count])

    def batches(self, batch_size: int, pad: bool = True) -> list[tuple[np.ndarray, int]]:
        """Consecutive batches as (array, valid count). With ``pad`` the last batch is filled up
        by repeating its first image, so a runtime only ever sees one batch shape."""
        out: list[tuple[np.ndarray, int]] = []
        for start in range(0, len(self), batch_size):
            chunk = np.array(self.images[start : start + batch_size], dtype=np.float32, copy=True)
            valid = chunk.shape[0]
            if pad and valid < batch_size:
                filler = np.repeat(chunk[:1], batch_size - valid, axis=0)
                chunk = np.concatenate([chunk, filler], axis=0)
            out.append((chunk, valid))
        return out


def _key(samples: list[Sample], spec: PreprocessSpec) -> str:
    digest = hashlib.sha256()
    for s in samples:
        stat = s.path.stat()
        digest.update(f"{s.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{s.label}\n".encode())
    digest.update(spec.key().encode())
    return digest.hexdigest()[:24]


def cache_split(
    samples: list[Sample], spec: PreprocessSpec, cache_dir: Path, desc: str, threads: int = 2
) -> Path:
    """Write (or reuse) the preprocessed tensors of ``samples``; returns the ``.npy`` path.

    A ``.json`` beside it holds labels and file names. Writing goes to a temporary name first,
    so an interrupted run never leaves a half-written cache behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _key(samples, spec)
    array_path = cache_dir / f"{key}.npy"
    meta_path = cache_dir / f"{key}.json"
    if array_path.exists() and meta_path.exists():
        return array_path
    shape = (len(samples), 3, spec.crop, spec.crop)
    tmp = cache_dir / f"{key}.{os.getpid()}.partial.npy"
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
    try:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            images = pool.map(lambda s: load_image(s.path, spec), samples)
            for i, image in enumerate(
                tqdm(images, total=len(samples), desc=desc, unit="img", leave=False)
            ):
                array[i] = image
        array.flush()
        del array
        meta = {"files": [s.name for s in samples], "labels": [s.label for s in samples]}
        meta_path.write_text(json.dumps(meta))
        tmp.replace(array_path)
    finally:
        tmp.unlink(missing_ok=True)
    return array_path


def read_head(array_path: Path, count: int) -> np.ndarray:
    """The first ``count`` images of a cached split, read into private memory (not mapped), so a
    measuring worker's resident memory holds only what it timed, not pages of the whole split."""
    with array_path.open("rb") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(handle)
        count = min(count, shape[0])
        per_image = int(np.prod(shape[1:]))
        data = np.fromfile(handle, dtype=dtype, count=count * per_image)
    return data.reshape((count, *shape[1:])).astype(np.float32, copy=False)


def load_split(array_path: Path) -> ImageArray:
    """Memory-map a cached split (read-only)."""
    meta = json.loads(array_path.with_suffix(".json").read_text())
    images = np.load(array_path, mmap_mode="r")
    return ImageArray(
        images=images, labels=np.asarray(meta["labels"], dtype=np.int64), files=meta["files"]
    )
