"""Labeled image folders: the sample's layout (``images/`` + ``labels.csv``) or ImageNet's
(one sub-folder per wnid). Only file names and labels here; pixels are ``preprocess``'s job."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from quantarena.errors import DataError

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int

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
    subfolders = sorted(p for p in root.iterdir() if p.is_dir())
    if subfolders and all(p.name.startswith("n") and p.name[1:].isdigit() for p in subfolders):
        return "imagenet-wnid-folders", _from_wnid_folders(subfolders)
    raise DataError(
        f"{root}: no labels.csv and no wnid sub-folders (n01440764/ ...); "
        "see README 'Datasets' for the two layouts quantarena reads"
    )


def _from_labels_csv(root: Path) -> list[Sample]:
    image_dir = root / "images" if (root / "images").is_dir() else root
    samples: list[Sample] = []
    with (root / "labels.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
            raise DataError(f"{root / 'labels.csv'} needs a header with columns 'file,label'")
        for line, row in enumerate(reader, start=2):
            try:
                label = int(row["label"])
            except (TypeError, ValueError):
                raise DataError(
                    f"{root / 'labels.csv'} line {line}: label {row['label']!r} is not an integer"
                ) from None
            path = image_dir / row["file"]
            if not path.exists():
                raise DataError(f"{root / 'labels.csv'} line {line}: image not found: {path}")
            samples.append(Sample(path, label))
    if not samples:
        raise DataError(f"{root / 'labels.csv'} lists no images")
    return sorted(samples, key=lambda s: s.name)


def _from_wnid_folders(folders: list[Path]) -> list[Sample]:
    index = {wnid: i for i, wnid in enumerate(imagenet_wnids())}
    samples: list[Sample] = []
    for folder in folders:
        if folder.name not in index:
            raise DataError(f"{folder}: {folder.name!r} is not an ImageNet-1k wnid")
        for path in folder.iterdir():
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(path, index[folder.name]))
    if not samples:
        raise DataError(f"no images found under {folders[0].parent}")
    return sorted(samples, key=lambda s: (s.name, s.path.parent.name))
