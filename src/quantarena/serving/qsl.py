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
    """Loaded samples live in one contiguous array (``store``), so a batch is one ``np.take``
    into a buffer kept per batch size, and a batch of one is a view of its row: no copy. A
    fresh ``np.stack`` per batch allocated 19 MB per OpenVINO batch of 32 and cost a few % of
    Offline's rate (``benchmarks/offline_gather.py``). The batch ``inputs`` returns is valid
    until the next call: the SUT runs it (synchronously) before gathering the next.
    """

    def __init__(self, split: ImageArray) -> None:
        super().__init__(len(split))
        self.split = split
        self.store = np.empty((0, *split.images.shape[1:]), dtype=np.float32)
        self._rows: dict[int, int] = {}
        self._buffers: dict[int, np.ndarray] = {}

    def load(self, indices: list[int]) -> None:
        kept = list(self.loaded) + [i for i in dict.fromkeys(indices) if i not in self.loaded]
        store = np.empty((len(kept), *self.store.shape[1:]), dtype=np.float32)
        for row, index in enumerate(kept):
            store[row] = self.loaded[index] if index in self.loaded else self.split.images[index]
        self.store, self._rows = store, {index: row for row, index in enumerate(kept)}
        self.loaded = {index: store[row] for row, index in enumerate(kept)}

    def unload(self, indices: list[int]) -> None:
        super().unload(indices)
        for index in indices:
            self._rows.pop(index, None)
        if not self.loaded:
            self.store = self.store[:0].copy()
            self._buffers.clear()

    def inputs(self, indices: list[int]) -> np.ndarray:
        if len(indices) == 1:
            row: np.ndarray = self.loaded[indices[0]]
            return row[np.newaxis]
        out = self._buffers.get(len(indices))
        if out is None:
            out = self._buffers[len(indices)] = np.empty(
                (len(indices), *self.store.shape[1:]), dtype=np.float32
            )
        # mode="clip" writes straight into ``out`` ("raise" buffers it: one more allocation);
        # every index was checked when its row was looked up
        np.take(self.store, [self._rows[i] for i in indices], axis=0, out=out, mode="clip")
        return out


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
