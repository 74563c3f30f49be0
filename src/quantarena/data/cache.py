"""Preprocess a split once into a ``.npy`` file that workers memory-map, so measurement loops time
inference and never JPEG decoding. Entries are keyed by image contents and preprocessing (see
``cache_entry``), verified against their content hash each time they are reused, and rebuilt
when they are not intact: a damaged cache costs one line and a rebuild, never wrong numbers."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from quantarena.data.cache_entry import (
    CACHE_FORMAT,
    EntryPaths,
    decoder_versions,
    entry_key,
    entry_problem,
    read_meta,
    source_digests,
    write_meta,
)
from quantarena.data.dataset import Sample
from quantarena.data.preprocess import captured_warnings, decode_image
from quantarena.errors import DataError
from quantarena.models.spec import PreprocessSpec

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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


def cache_split(
    samples: list[Sample],
    spec: PreprocessSpec,
    cache_dir: Path,
    desc: str,
    threads: int = 2,
    log: Log | None = None,
) -> Path:
    """Write (or reuse) the preprocessed tensors of ``samples``; returns the ``.npy`` path.

    A reused entry is verified first (sidecar, size, SHA-256 of the array); a damaged one is
    reported in one line through ``log`` (default: stderr) and rebuilt. A ``.json`` sidecar
    beside the array holds labels, file names, the content hash and the PIL warnings of each
    image. Both files are written under temporary names and renamed, so an interrupted run never
    leaves a half-written entry, and a process that has the old file mapped keeps reading it.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = entry_key(samples, spec, source_digests(samples, threads))
    paths = EntryPaths.of(cache_dir, key)
    if paths.array.exists() or paths.meta.exists():
        problem = entry_problem(paths)
        if problem is None:
            os.utime(paths.meta)  # marks the entry used, for ``cache clear --older-than``
            return paths.array
        (log or _stderr)(f"cache entry {key} ({desc}) is corrupt: {problem}; rebuilding")
    _build(samples, spec, paths, key, desc, threads)
    return paths.array


def _build(
    samples: list[Sample], spec: PreprocessSpec, paths: EntryPaths, key: str, desc: str,
    threads: int,
) -> None:
    shape = (len(samples), 3, spec.crop, spec.crop)
    tmp = paths.array.with_name(f"{key}.{os.getpid()}.partial.npy")
    digest = hashlib.sha256()
    notes: dict[str, list[str]] = {}
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
    try:
        with captured_warnings(), ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            decoded = pool.map(lambda s: decode_image(s.path, spec), samples)
            for i, image in enumerate(
                tqdm(decoded, total=len(samples), desc=desc, unit="img", leave=False)
            ):
                array[i] = image.array
                digest.update(array[i].tobytes())
                for note in image.notes:
                    notes.setdefault(note, []).append(samples[i].name)
        array.flush()
        del array
        tmp.replace(paths.array)
    finally:
        tmp.unlink(missing_ok=True)
    write_meta(
        paths.meta,
        {
            "format": CACHE_FORMAT,
            "key": key,
            "split": desc,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "shape": list(shape),
            "dtype": "float32",
            "sha256": digest.hexdigest(),
            "preprocessing": asdict(spec),
            "versions": decoder_versions(),
            "image_notes": notes,
            "files": [s.name for s in samples],
            "labels": [s.label for s in samples],
        },
    )


def _broken(array_path: Path, why: str) -> DataError:
    return DataError(
        f"cached split {array_path} is {why}; run again (the cache verifies and rebuilds it) "
        "or remove it with 'quantarena cache clear'"
    )


def read_head(array_path: Path, count: int) -> np.ndarray:
    """The first ``count`` images of a cached split, read into private memory (not mapped), so a
    measuring worker's resident memory holds only what it timed, not pages of the whole split."""
    try:
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
    except (OSError, ValueError) as exc:
        raise _broken(array_path, f"unreadable ({type(exc).__name__})") from exc
    if data.size != count * per_image:
        raise _broken(array_path, "truncated")
    return data.reshape((count, *shape[1:])).astype(np.float32, copy=False)


def load_split(array_path: Path) -> ImageArray:
    """Memory-map a cached split (read-only). A damaged file is a ``DataError`` naming it (the
    run verified it when it started; this catches damage done since)."""
    try:
        meta = read_meta(array_path.with_suffix(".json"))
        images = np.load(array_path, mmap_mode="r")
        labels = np.asarray(meta["labels"], dtype=np.int64)
        files = list(meta["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _broken(array_path, f"unreadable ({exc})") from exc
    if not images.shape[0] == len(labels) == len(files):
        raise _broken(array_path, "inconsistent with its sidecar")
    return ImageArray(images=images, labels=labels, files=files)
