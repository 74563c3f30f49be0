"""Labeled image folders: the sample's layout (``images/`` + ``labels.csv``) or ImageNet's
(one sub-folder per wnid). Only file names and labels here; pixels are ``preprocess``'s job.

Labels are validated where they are read, because a bad one does not fail loudly later: a
duplicated row can put one image in both the calibration and the evaluation split (and inflates
n, shrinking every confidence interval), and a label outside the model's classes silently counts
as a miss. Each problem is a ``DataError`` naming the line of ``labels.csv`` (or the folder).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from quantarena.errors import DataError

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".webp"}
#: a folder named like a wnid (n + digits) must be a known one; anything else is not a class
_WNID_LIKE = re.compile(r"n\d+")
#: problems listed by name in one error message; the rest are counted
_SHOWN = 5


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    #: where the label came from (``labels.csv line 12``, ``n01440764/``), for error messages
    origin: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return self.path.name


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k wnids in class-index order (sorted wnids, the usual convention)."""
    text = resources.files("quantarena.data").joinpath("imagenet_synsets.txt").read_text()
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def discover(root: Path) -> tuple[str, list[Sample]]:
    """(layout name, samples sorted by file name) for the dataset at ``root``."""
    if not root.exists():
        raise DataError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"dataset path is not a folder: {root}")
    if (root / "labels.csv").exists():
        return "labels-csv", _from_labels_csv(root)
    wnid_folders, others = _sub_folders(root)
    if wnid_folders:
        return "imagenet-wnid-folders", _from_wnid_folders(wnid_folders)
    found = f" (it has {', '.join(p.name + '/' for p in others[:_SHOWN])})" if others else ""
    raise DataError(
        f"{root}: no labels.csv and no wnid sub-folders (n01440764/ ...){found}; "
        "see README 'Datasets' for the two layouts quantarena reads"
    )


def ignored_folders(root: Path) -> list[str]:
    """Sub-folders of a wnid layout that are not wnids (``extras/``, ``.ipynb_checkpoints/``):
    not classes, so their images are left out; the results list them. Empty for labels.csv."""
    if not root.is_dir() or (root / "labels.csv").exists():
        return []
    wnid_folders, others = _sub_folders(root)
    return [p.name for p in others] if wnid_folders else []


def check_labels(samples: Sequence[Sample], num_classes: int) -> None:
    """Every label must be one of the model's class indices ``0 .. num_classes - 1``; the upper
    bound is known only once the model is prepared, so this runs after discovery."""
    bad = [s for s in samples if not 0 <= s.label < num_classes]
    if not bad:
        return
    shown = "; ".join(f"{s.origin or s.path} ({s.name}): label {s.label}" for s in bad[:_SHOWN])
    more = f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    raise DataError(
        f"{len(bad)} label(s) outside the model's {num_classes} classes "
        f"(0..{num_classes - 1}): {shown}{more}"
    )


def _sub_folders(root: Path) -> tuple[list[Path], list[Path]]:
    """(wnid-like folders, other folders), each sorted."""
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    wnid = [p for p in folders if _WNID_LIKE.fullmatch(p.name)]
    return wnid, [p for p in folders if not _WNID_LIKE.fullmatch(p.name)]


def _read_rows(csv_path: Path) -> list[tuple[int, dict[str, str | None]]]:
    """(line number, row) of every row; a malformed file is a ``DataError``, not a traceback."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
                raise DataError(f"{csv_path} needs a header with columns 'file,label'")
            return [(reader.line_num, dict(row)) for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{csv_path} is not a readable UTF-8 CSV file: {exc}") from exc


def _from_labels_csv(root: Path) -> list[Sample]:
    csv_path = root / "labels.csv"
    image_dir = root / "images" if (root / "images").is_dir() else root
    samples: list[Sample] = []
    negative: list[str] = []
    seen: dict[Path, list[int]] = {}
    for line, row in _read_rows(csv_path):
        name, raw = (row.get("file") or "").strip(), row.get("label")
        if not name:
            raise DataError(f"{csv_path} line {line}: no file name")
        try:
            label = int(raw or "")
        except ValueError:
            raise DataError(f"{csv_path} line {line}: label {raw!r} is not an integer") from None
        path = image_dir / name
        if not path.is_file():
            raise DataError(f"{csv_path} line {line}: image not found: {path}")
        if label < 0:
            negative.append(f"line {line} ({name}): {label}")
        seen.setdefault(path.resolve(), []).append(line)
        samples.append(Sample(path, label, origin=f"labels.csv line {line}"))
    if negative:
        more = f"; and {len(negative) - _SHOWN} more" if len(negative) > _SHOWN else ""
        raise DataError(
            f"{csv_path}: negative label(s), class indices start at 0: "
            f"{'; '.join(negative[:_SHOWN])}{more}"
        )
    _refuse_duplicates(csv_path, seen)
    if not samples:
        raise DataError(f"{csv_path} lists no images")
    return sorted(samples, key=lambda s: s.name)


def _refuse_duplicates(csv_path: Path, seen: dict[Path, list[int]]) -> None:
    """One image listed twice could land in both splits (calibration leaking into evaluation)
    and would be counted twice, so duplicates are an error naming their lines."""
    repeated = [(path, lines) for path, lines in seen.items() if len(lines) > 1]
    if not repeated:
        return
    shown = "; ".join(
        f"{path.name} on lines {', '.join(map(str, lines))}" for path, lines in repeated[:_SHOWN]
    )
    more = f"; and {len(repeated) - _SHOWN} more" if len(repeated) > _SHOWN else ""
    raise DataError(
        f"{csv_path} lists {len(repeated)} image(s) more than once (each must appear once): "
        f"{shown}{more}"
    )


def _from_wnid_folders(folders: list[Path]) -> list[Sample]:
    index = {wnid: i for i, wnid in enumerate(imagenet_wnids())}
    samples: list[Sample] = []
    for folder in folders:
        if folder.name not in index:
            raise DataError(f"{folder}: {folder.name!r} is not an ImageNet-1k wnid")
        for path in folder.iterdir():
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(path, index[folder.name], origin=f"{folder.name}/"))
    if not samples:
        raise DataError(f"no images found under {folders[0].parent}")
    return sorted(samples, key=lambda s: (s.name, s.path.parent.name))
