"""PIL's warnings about the images of a run, as a short list for ``results.json``.

Decoding records each image's warnings in its cache entry's sidecar (so a reused entry still
reports them); here they are merged across splits, grouped by message, and capped, so that ten
thousand PNGs with the same palette warning make one line with a count, not ten thousand."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from quantarena.data.cache_entry import read_meta

#: distinct messages kept in the results; ``count`` still counts every (image, message) pair
MAX_NOTES = 20
#: file names quoted per message
_NAMED = 3


@dataclass(frozen=True)
class ImageNotes:
    lines: list[str]
    count: int


def summarize(by_message: dict[str, list[str]], limit: int = MAX_NOTES) -> ImageNotes:
    """One line per distinct message (most frequent first): the message, how many images, and
    the first few file names."""
    ordered = sorted(by_message.items(), key=lambda item: (-len(item[1]), item[0]))
    lines = []
    for message, files in ordered[:limit]:
        unique = list(dict.fromkeys(files))
        named = ", ".join(unique[:_NAMED]) + (" ..." if len(unique) > _NAMED else "")
        lines.append(f"{message} ({len(unique)} image{'s' if len(unique) != 1 else ''}: {named})")
    if len(ordered) > limit:
        lines.append(f"... and {len(ordered) - limit} more distinct warning(s)")
    return ImageNotes(lines=lines, count=sum(len(set(files)) for files in by_message.values()))


def read_image_notes(array_paths: Iterable[Path]) -> ImageNotes:
    """The notes recorded when these cached splits were built (sidecars of older formats hold
    none; an unreadable sidecar contributes nothing rather than failing the run here)."""
    merged: dict[str, list[str]] = {}
    for array_path in array_paths:
        try:
            recorded = read_meta(array_path.with_suffix(".json")).get("image_notes") or {}
        except ValueError:
            continue
        for message, files in dict(recorded).items():
            merged.setdefault(str(message), []).extend(str(f) for f in files)
    return summarize(merged)
