"""Query-sample libraries: what LoadGen's sample indices stand for. Both serve the evaluation split,
in its order (index i is image i of the split, as in the accuracy pass):

- ``CachedImages`` (compute-only): the cached preprocessed tensors, copied into memory when
  LoadGen loads them, so a query costs only inference;
- ``JpegFiles`` (end to end): the original files' bytes in memory, so a query costs decoding,
  resizing and normalizing (the same code as the cache, so bit for bit the same tensors) plus
  inference, as a deployed server that receives JPEGs does.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.data.preprocess import decode_bytes
from quantarena.models.spec import PreprocessSpec


class SampleLibrary(ABC):
    """LoadGen's QSL callbacks plus ``inputs``, which the SUT calls inside the timed path."""

    def __init__(self, count: int) -> None:
        self.count = count
        #: per-image preprocessing seconds measured inside ``inputs`` (end to end only)
        self.preprocess_seconds: list[float] = []
        #: sample index -> what ``load`` read (a tensor, or a file's bytes)
        self.loaded: dict[int, Any] = {}

    @abstractmethod
    def load(self, indices: list[int]) -> None: ...

    def unload(self, indices: list[int]) -> None:
        for index in indices:
            self.loaded.pop(index, None)

    @abstractmethod
    def inputs(self, indices: list[int]) -> np.ndarray:
        """The float32 NCHW batch of these samples (loaded before)."""

    def close(self) -> None:  # noqa: B027 - optional: only a decoding pool has anything to close
        """Free what the library holds beyond its samples."""


class CachedImages(SampleLibrary):
    def __init__(self, split: ImageArray) -> None:
        super().__init__(len(split))
        self.split = split

    def load(self, indices: list[int]) -> None:
        for index in indices:
            self.loaded[index] = np.array(self.split.images[index], dtype=np.float32, copy=True)

    def inputs(self, indices: list[int]) -> np.ndarray:
        return np.stack([self.loaded[i] for i in indices])


class JpegFiles(SampleLibrary):
    """``threads`` decode the images of one batch in parallel (PIL releases the GIL while it
    decodes and resizes); a batch of one is decoded on the calling thread."""

    def __init__(self, paths: list[Path], spec: PreprocessSpec, threads: int) -> None:
        super().__init__(len(paths))
        self.paths, self.spec, self.threads = paths, spec, threads
        self._pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None

    def load(self, indices: list[int]) -> None:
        for index in indices:
            self.loaded[index] = self.paths[index].read_bytes()

    def _decode(self, index: int) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        array = decode_bytes(self.loaded[index], self.paths[index].name, self.spec)
        return array, time.perf_counter() - start

    def inputs(self, indices: list[int]) -> np.ndarray:
        if self._pool is None or len(indices) == 1:
            decoded = [self._decode(i) for i in indices]
        else:
            decoded = list(self._pool.map(self._decode, indices))
        self.preprocess_seconds.extend(seconds for _, seconds in decoded)
        return np.stack([array for array, _ in decoded])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
