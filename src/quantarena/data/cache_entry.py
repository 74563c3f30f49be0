"""One cache entry on disk: ``KEY.npy`` (the preprocessed images) and ``KEY.json`` (its sidecar:
labels, file names, and the SHA-256 of the array's bytes).

The key covers everything that decides the pixels: the preprocessing spec, the libraries that
decode and resize (Pillow and its libjpeg, NumPy), and the *contents* of the source images (a
path/size/mtime key cannot see a file rewritten in place). The content hash makes the entry
checkable: a cached file overwritten, truncated or half-copied is found before anything measures
on it, instead of surfacing as 0% accuracy or a reshape error in every worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import features

from quantarena.data.dataset import Sample
from quantarena.errors import DataError
from quantarena.models.spec import PreprocessSpec

#: sidecar layout; entries of another format are never reused (their key differs anyway)
CACHE_FORMAT = 2
KEY_LENGTH = 24
ENTRY_NAME = re.compile(rf"(?P<key>[0-9a-f]{{{KEY_LENGTH}}})(\.(?P<pid>\d+)\.partial)?\.(npy|json)")
_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class EntryPaths:
    array: Path
    meta: Path

    @classmethod
    def of(cls, cache_dir: Path, key: str) -> EntryPaths:
        return cls(cache_dir / f"{key}.npy", cache_dir / f"{key}.json")


def decoder_versions() -> dict[str, str]:
    """Versions of what turns files into pixels: a new Pillow/libjpeg can change pixel values."""
    return {
        "pillow": PIL.__version__,
        "libjpeg": str(features.version("jpg")),
        "numpy": np.__version__,
    }


def _file_sha256(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc.strerror or exc}") from exc


def source_digests(samples: list[Sample], threads: int) -> list[str]:
    """SHA-256 of every source image's bytes (hashlib releases the GIL: threads help)."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(_file_sha256, [s.path for s in samples]))


def entry_key(samples: list[Sample], spec: PreprocessSpec, digests: list[str]) -> str:
    """Equal keys mean equal pixels: same images (by content), labels, order, spec, decoders."""
    digest = hashlib.sha256()
    header = {"format": CACHE_FORMAT, "spec": asdict(spec), "versions": decoder_versions()}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for sample, content in zip(samples, digests, strict=True):
        digest.update(f"{sample.name}|{sample.label}|{content}\n".encode())
    return digest.hexdigest()[:KEY_LENGTH]


def read_meta(meta_path: Path) -> dict[str, Any]:
    """The sidecar as a mapping; ``ValueError`` (with why) when it is not one of ours."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError("its sidecar is missing") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"unreadable sidecar ({type(exc).__name__})") from exc
    if not isinstance(meta, dict):
        raise ValueError("unreadable sidecar (not a JSON object)")
    return meta


def _array_layout(handle: Any) -> tuple[tuple[int, ...], np.dtype[Any], bool, int]:
    """(shape, dtype, fortran_order, offset of the data) from an open ``.npy`` file."""
    major, _ = np.lib.format.read_magic(handle)
    read_header = (
        np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(handle)
    return tuple(int(n) for n in shape), np.dtype(dtype), bool(fortran), int(handle.tell())


def array_problem(array_path: Path, meta: dict[str, Any]) -> str | None:
    """Why the array does not match its sidecar (shape, size, content hash), or None if it does.
    Reads the whole file once (about a second per 500 MB)."""
    shape = tuple(meta.get("shape") or ())
    try:
        with array_path.open("rb") as handle:
            found, dtype, fortran, offset = _array_layout(handle)
            if found != shape or dtype != np.dtype(np.float32) or fortran:
                return f"array header says {found} {dtype}, sidecar says {shape} float32"
            expected = offset + int(np.prod(shape)) * 4
            size = os.fstat(handle.fileno()).st_size
            if size != expected:
                kind = "truncated" if size < expected else "too long"
                return f"{kind} ({size} bytes, expected {expected})"
            digest = hashlib.sha256()
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return "its array file is missing"
    except (OSError, ValueError) as exc:
        return f"unreadable array ({type(exc).__name__})"
    if digest.hexdigest() != meta.get("sha256"):
        return "content hash mismatch"
    return None


def entry_problem(paths: EntryPaths) -> str | None:
    """Why the entry cannot be used as it is, or None when it is intact (hash verified)."""
    try:
        meta = read_meta(paths.meta)
    except ValueError as exc:
        return str(exc)
    if meta.get("format") != CACHE_FORMAT:
        return f"sidecar format {meta.get('format', 1)!r}, expected {CACHE_FORMAT}"
    files, labels, shape = meta.get("files"), meta.get("labels"), meta.get("shape")
    if not (isinstance(files, list) and isinstance(labels, list) and isinstance(shape, list)):
        return "unreadable sidecar (files, labels or shape missing)"
    if not shape or not len(files) == len(labels) == shape[0]:
        return "sidecar lists a different number of images than the array holds"
    return array_problem(paths.array, meta)


def write_meta(meta_path: Path, meta: dict[str, Any]) -> None:
    """Atomically: readers see the old sidecar or the new one, never half of one."""
    tmp = meta_path.with_name(f"{meta_path.stem}.{os.getpid()}.partial.json")
    try:
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        tmp.replace(meta_path)
    finally:
        tmp.unlink(missing_ok=True)
