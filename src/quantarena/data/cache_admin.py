"""``quantarena cache info|clear``: what the preprocessed-image cache holds, whether each entry
is intact, and removing entries. Only files named like cache entries are ever touched, so a
``--cache-dir`` pointed at the wrong folder cannot delete anything else."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from quantarena.data.cache_entry import (
    CACHE_FORMAT,
    ENTRY_NAME,
    EntryPaths,
    entry_problem,
    read_meta,
)
from quantarena.errors import ConfigError, DataError

_DAY = 86400.0


@dataclass(frozen=True)
class CacheEntry:
    """One key's files. ``status``: ``ok`` (hash verified), ``corrupt`` (rebuilt on next use),
    ``stale`` (older format: never reused), ``partial`` (being written, or left by a crash)."""

    key: str
    split: str
    images: int | None
    size_bytes: int
    created: str
    last_used: float
    status: str
    detail: str
    files: tuple[Path, ...]
    writer_pid: int | None = None

    @property
    def writer_alive(self) -> bool:
        return self.writer_pid is not None and _alive(self.writer_pid)


def default_cache_dir() -> Path:
    """The run config's default (``~/.cache/quantarena``), expanded."""
    from quantarena.config import RunConfig

    return Path(RunConfig.model_fields["cache_dir"].default).expanduser()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _check_folder(cache_dir: Path) -> bool:
    """False when there is no cache yet; a path that is not a folder is the user's mistake."""
    if not cache_dir.exists():
        return False
    if not cache_dir.is_dir():
        raise ConfigError(f"--cache-dir {cache_dir} is not a folder")
    return True


def _group(cache_dir: Path) -> dict[tuple[str, int | None], list[Path]]:
    groups: dict[tuple[str, int | None], list[Path]] = {}
    try:
        names = sorted(cache_dir.iterdir())
    except OSError as exc:
        raise DataError(f"cannot read cache folder {cache_dir}: {exc.strerror or exc}") from exc
    for path in names:
        match = ENTRY_NAME.fullmatch(path.name)
        if match and path.is_file():
            pid = int(match["pid"]) if match["pid"] else None
            groups.setdefault((match["key"], pid), []).append(path)
    return groups


def _entry(cache_dir: Path, key: str, pid: int | None, files: list[Path]) -> CacheEntry:
    stats = [f.stat() for f in files]
    size, last_used = sum(s.st_size for s in stats), max(s.st_mtime for s in stats)
    if pid is not None:
        doing = "being written by" if _alive(pid) else "left by an interrupted"
        return CacheEntry(key, "?", None, size, "", last_used, "partial",
                          f"{doing} process {pid}", tuple(files), pid)
    paths = EntryPaths.of(cache_dir, key)
    try:
        meta = read_meta(paths.meta)
    except ValueError:
        meta = {}
    images = len(meta["files"]) if isinstance(meta.get("files"), list) else None
    split, created = str(meta.get("split", "?")), str(meta.get("created", ""))
    if meta and "format" not in meta and images is not None:
        status, detail = "stale", "older format without a content hash; never reused"
    elif (problem := entry_problem(paths)) is None:
        status, detail = "ok", f"verified (format {CACHE_FORMAT})"
    else:
        status, detail = "corrupt", problem
    return CacheEntry(key, split, images, size, created, last_used, status, detail, tuple(files))


def scan_cache(cache_dir: Path) -> list[CacheEntry]:
    """Every entry, verified (reads each array once). Empty when the folder does not exist."""
    if not _check_folder(cache_dir):
        return []
    return [_entry(cache_dir, k, pid, files) for (k, pid), files in _group(cache_dir).items()]


@dataclass(frozen=True)
class Cleared:
    removed: list[CacheEntry]
    kept: list[CacheEntry]
    in_use: list[CacheEntry]


def clear_cache(cache_dir: Path, older_than_days: float | None = None) -> Cleared:
    """Remove every entry, or those not used for ``older_than_days``. Files still being written
    by a live process are kept (removing them would crash that run); those a crashed run left
    are removed whatever their age (nothing can ever use them)."""
    if older_than_days is not None and older_than_days < 0:
        raise ConfigError(f"--older-than must be a number of days >= 0, not {older_than_days}")
    if not _check_folder(cache_dir):
        return Cleared([], [], [])
    cutoff = time.time() - older_than_days * _DAY if older_than_days is not None else None
    removed, kept, in_use = [], [], []
    for (key, pid), files in _group(cache_dir).items():
        stats = [f.stat() for f in files]
        entry = CacheEntry(key, "?", None, sum(s.st_size for s in stats), "",
                           max(s.st_mtime for s in stats), "", "", tuple(files), pid)
        if entry.writer_alive:
            in_use.append(entry)
        elif cutoff is not None and entry.last_used >= cutoff and pid is None:
            kept.append(entry)
        else:
            for path in files:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise DataError(f"cannot remove {path}: {exc.strerror or exc}") from exc
            removed.append(entry)
    return Cleared(removed, kept, in_use)


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def format_info(cache_dir: Path, entries: list[CacheEntry]) -> str:
    """A table of the entries, or one line when there are none."""
    if not entries:
        state = "empty" if cache_dir.exists() else "does not exist (nothing cached yet)"
        return f"cache {cache_dir}: {state}"
    total = sum(e.size_bytes for e in entries)
    bad = sum(e.status != "ok" for e in entries)
    lines = [
        f"cache {cache_dir}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
        f"{_size(total)}" + (f", {bad} not usable as is" if bad else ""),
        f"{'key':<24}  {'split':<11}  {'images':>6}  {'size':>9}  {'created (UTC)':<16}  "
        f"{'last used (UTC)':<16}  check",
    ]
    for e in sorted(entries, key=lambda e: e.last_used, reverse=True):
        created = e.created.replace("T", " ")[:16] if e.created else "-"
        images = "-" if e.images is None else str(e.images)
        check = "ok" if e.status == "ok" else f"{e.status}: {e.detail}"
        lines.append(
            f"{e.key:<24}  {e.split:<11}  {images:>6}  {_size(e.size_bytes):>9}  {created:<16}  "
            f"{_when(e.last_used):<16}  {check}"
        )
    return "\n".join(lines)


def format_cleared(cache_dir: Path, cleared: Cleared, older_than_days: float | None) -> str:
    """One line: what was removed, and what was kept and why."""
    if not cache_dir.exists():
        return f"cache {cache_dir} does not exist: nothing to clear"
    freed = sum(e.size_bytes for e in cleared.removed)
    which = f" not used for {older_than_days:g} days" if older_than_days is not None else ""
    line = f"cache {cache_dir}: removed {len(cleared.removed)} entr" + (
        "y" if len(cleared.removed) == 1 else "ies"
    ) + f"{which} ({_size(freed)})"
    if cleared.kept:
        line += f"; kept {len(cleared.kept)} used more recently"
    if cleared.in_use:
        line += f"; kept {len(cleared.in_use)} being written by a running quantarena"
    return line
