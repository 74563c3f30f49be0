"""Dataset validation: duplicated and out-of-range labels, oversize images, PIL warnings captured
per image (pytest turns any warning that escapes into an error), stray folders in a wnid layout.
Real sample images where the content matters; small files made here where the format does."""

from __future__ import annotations

import shutil
import struct
import warnings
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from quantarena.data.cache import cache_split, load_split
from quantarena.data.cache_entry import read_meta
from quantarena.data.dataset import Sample, check_labels, discover, ignored_folders, imagenet_wnids
from quantarena.data.notes import read_image_notes, summarize
from quantarena.data.preprocess import decode_image, load_image
from quantarena.errors import DataError
from quantarena.models.spec import PreprocessSpec

PALETTE_WARNING = "Palette images with Transparency expressed in bytes"


def _csv_dataset(root: Path, sample_dir: Path, rows: list[tuple[str, str]]) -> Path:
    """``images/`` with the real sample images named in ``rows`` and a labels.csv of ``rows``."""
    (root / "images").mkdir(parents=True)
    for name, _ in rows:
        source = sample_dir / "images" / name
        if source.exists() and not (root / "images" / name).exists():
            (root / "images" / name).symlink_to(source)
    text = "file,label\n" + "".join(f"{name},{label}\n" for name, label in rows)
    (root / "labels.csv").write_text(text)
    return root


def _sample_names(sample_dir: Path, count: int) -> list[str]:
    return sorted(p.name for p in (sample_dir / "images").iterdir())[:count]


def _png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit grayscale PNG written by hand: the pixel count can exceed PIL's limit while
    the file stays a few kB and is made in milliseconds (PIL itself would allocate every pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    pixels = zlib.compressobj(9)
    body = b"".join(pixels.compress(row) for _ in range(height)) + pixels.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def _palette_png(path: Path) -> Path:
    """A palette PNG with per-entry alpha (tRNS bytes): converting it to RGB makes PIL warn."""
    image = Image.new("P", (40, 30))
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    image.putpixel((5, 5), 1)
    image.save(path, transparency=b"\x00\x80\xff")
    return path


# --- row 3: duplicates ----------------------------------------------------------------------


def test_duplicate_rows_are_refused_naming_their_lines(sample_dir: Path, tmp_path: Path) -> None:
    a, b, c = _sample_names(sample_dir, 3)
    root = _csv_dataset(tmp_path / "d", sample_dir, [(a, "1"), (b, "2"), (a, "1"), (c, "3")])
    with pytest.raises(DataError) as info:
        discover(root)
    message = str(info.value)
    assert f"{a} on lines 2, 4" in message and "more than once" in message
    assert len(message.splitlines()) == 1


def test_the_same_file_under_another_spelling_is_a_duplicate(
    sample_dir: Path, tmp_path: Path
) -> None:
    a, b = _sample_names(sample_dir, 2)
    root = _csv_dataset(tmp_path / "d", sample_dir, [(a, "1"), (b, "2")])
    (root / "labels.csv").write_text(f"file,label\n{a},1\n{b},2\n./{a},1\n")
    with pytest.raises(DataError, match=rf"{a} on lines 2, 4"):
        discover(root)


# --- row 4: labels out of range -------------------------------------------------------------


def test_negative_label_is_refused_at_discovery(sample_dir: Path, tmp_path: Path) -> None:
    a, b = _sample_names(sample_dir, 2)
    root = _csv_dataset(tmp_path / "d", sample_dir, [(a, "5"), (b, "-3")])
    with pytest.raises(DataError, match=rf"line 3 \({b}\): -3"):
        discover(root)


def test_label_beyond_the_models_classes_names_the_line(sample_dir: Path, tmp_path: Path) -> None:
    a, b, c = _sample_names(sample_dir, 3)
    root = _csv_dataset(tmp_path / "d", sample_dir, [(a, "5"), (b, "1000"), (c, "999")])
    _, samples = discover(root)  # the model's class count is not known at discovery
    with pytest.raises(DataError) as info:
        check_labels(samples, 1000)
    assert f"labels.csv line 3 ({b}): label 1000" in str(info.value)
    assert "1 label(s) outside the model's 1000 classes (0..999)" in str(info.value)
    check_labels(samples, 1001)  # in range for a larger head
    with pytest.raises(DataError, match="3 label"):
        check_labels(samples, 5)


def test_the_real_sample_fits_imagenet_and_not_a_ten_class_model(sample_dir: Path) -> None:
    _, samples = discover(sample_dir)
    check_labels(samples, 1000)
    with pytest.raises(DataError, match=r"and \d+ more"):
        check_labels(samples, 10)


def test_wnid_labels_checked_against_a_small_head_name_the_folder(
    sample_dir: Path, tmp_path: Path
) -> None:
    _, samples = discover(sample_dir)
    s = next(s for s in samples if s.label >= 10)
    folder = tmp_path / imagenet_wnids()[s.label]
    folder.mkdir()
    (folder / s.name).symlink_to(s.path)
    _, found = discover(tmp_path)
    with pytest.raises(DataError, match=rf"{folder.name}/ \({s.name}\): label {s.label}"):
        check_labels(found, 10)


# --- row 17: stray folders in a wnid layout -------------------------------------------------


def test_wnid_layout_ignores_and_records_stray_folders(sample_dir: Path, tmp_path: Path) -> None:
    _, samples = discover(sample_dir)
    wnids = imagenet_wnids()
    for s in samples[:4]:
        folder = tmp_path / wnids[s.label]
        folder.mkdir(exist_ok=True)
        (folder / s.name).symlink_to(s.path)
    (tmp_path / "extras").mkdir()
    (tmp_path / "extras" / samples[5].name).symlink_to(samples[5].path)
    (tmp_path / ".ipynb_checkpoints").mkdir()
    layout, found = discover(tmp_path)
    assert layout == "imagenet-wnid-folders"
    assert sorted(f.name for f in found) == sorted(s.name for s in samples[:4])
    assert ignored_folders(tmp_path) == [".ipynb_checkpoints", "extras"]
    assert ignored_folders(sample_dir) == []


def test_unknown_wnid_like_folder_is_still_an_error(sample_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "n01440764").mkdir()
    (tmp_path / "n99999999").mkdir()  # a class folder quantarena cannot map: never dropped
    with pytest.raises(DataError, match="'n99999999' is not an ImageNet-1k wnid"):
        discover(tmp_path)


def test_folder_without_any_wnid_names_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    with pytest.raises(DataError, match=r"no wnid sub-folders .*\(it has cats/\)"):
        discover(tmp_path)


# --- row 12: oversize images ----------------------------------------------------------------


def test_decompression_bomb_is_one_line_naming_the_image(tmp_path: Path) -> None:
    bomb = _png(tmp_path / "bomb.png", 14000, 14000)  # 196 Mpx > PIL's 179 Mpx error limit
    assert bomb.stat().st_size < 100_000 and Image.MAX_IMAGE_PIXELS is not None
    assert 14000 * 14000 > 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(DataError) as info:
        load_image(bomb, PreprocessSpec())
    message = str(info.value)
    assert "bomb.png" in message and "oversize" in message and len(message.splitlines()) == 1


def test_extreme_aspect_ratio_is_oversize(tmp_path: Path) -> None:
    strip = _png(tmp_path / "strip.png", 800_000, 1)  # few pixels, but 205 Mpx once resized
    with pytest.raises(DataError, match="strip.png is oversize: 800000x1 resized to"):
        load_image(strip, PreprocessSpec())


def test_skip_mode_lists_the_bomb_and_keeps_the_rest(sample_dir: Path, tmp_path: Path) -> None:
    from quantarena.runner.pipeline import _usable_samples

    _, samples = discover(sample_dir)
    bomb = Sample(_png(tmp_path / "bomb.png", 14000, 14000), 1)
    bundle: Any = SimpleNamespace(preprocessing=PreprocessSpec())  # only this field is read
    good, skipped = _usable_samples([*samples[:2], bomb], bundle, "skip", lambda _: None)
    assert good == samples[:2]
    assert len(skipped) == 1 and skipped[0].startswith("bomb.png:") and "oversize" in skipped[0]


def test_error_mode_stops_the_cache_at_the_bomb_leaving_no_files(
    sample_dir: Path, tmp_path: Path
) -> None:
    _, samples = discover(sample_dir)
    bomb = Sample(_png(tmp_path / "bomb.png", 14000, 14000), 1)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="bomb.png is oversize"):
        cache_split([*samples[:3], bomb], PreprocessSpec(), cache, "evaluation")
    assert list(cache.iterdir()) == []


# --- row 16: formats, and PIL warnings as notes ---------------------------------------------


def _odd_images(folder: Path, sample_dir: Path) -> list[Sample]:
    folder.mkdir()
    photo = Image.open(next((sample_dir / "images").iterdir())).convert("RGB")
    photo.convert("RGBA").save(folder / "rgba.png")
    photo.convert("L").save(folder / "gray.jpg")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(folder / "tiny.png")
    photo.resize((4000, 3000)).save(folder / "huge.jpg")
    Image.fromarray(np.full((20, 30), 40000, dtype=np.uint16)).save(folder / "gray16.png")
    _palette_png(folder / "palette.png")
    return [Sample(p, 0) for p in sorted(folder.iterdir())]


def test_every_format_decodes_and_warnings_become_notes(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = _odd_images(tmp_path / "odd", sample_dir)
    path = cache_split(samples, PreprocessSpec(), tmp_path / "cache", "evaluation", threads=3)
    images = load_split(path)
    assert images.images.shape == (len(samples), 3, 224, 224)
    assert np.isfinite(images.images).all()
    recorded = read_meta(path.with_suffix(".json"))["image_notes"]
    assert list(recorded) == [
        "Palette images with Transparency expressed in bytes should be converted to RGBA images"
    ]
    assert recorded[next(iter(recorded))] == ["palette.png"]
    notes = read_image_notes([path])
    assert notes.count == 1 and notes.lines[0].endswith("(1 image: palette.png)")
    assert PALETTE_WARNING not in capsys.readouterr().err  # nothing reached the terminal


def test_warnings_are_captured_even_where_they_would_be_errors(tmp_path: Path) -> None:
    palette = _palette_png(tmp_path / "palette.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escaped the capture would raise here
        decoded = decode_image(palette, PreprocessSpec())
    assert decoded.array.shape == (3, 224, 224)
    assert decoded.notes == (
        "Palette images with Transparency expressed in bytes should be converted to RGBA images",
    )


def test_capture_holds_across_decoding_threads(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    template = _palette_png(folder / "p00.png")
    for i in range(1, 24):
        shutil.copyfile(template, folder / f"p{i:02d}.png")
    samples = [Sample(p, 0) for p in sorted(folder.iterdir())]
    path = cache_split(samples, PreprocessSpec(), tmp_path / "cache", "calibration", threads=4)
    recorded = read_meta(path.with_suffix(".json"))["image_notes"]
    assert sorted(next(iter(recorded.values()))) == [s.name for s in samples]
    notes = read_image_notes([path])
    assert notes.count == 24 and "(24 images: p00.png, p01.png, p02.png ...)" in notes.lines[0]


def test_near_bomb_size_is_a_note_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 70_000)  # warns above 70k px, fails above 140k
    image = _png(tmp_path / "big.png", 300, 300)  # 90k px: PIL's DecompressionBombWarning
    decoded = decode_image(image, PreprocessSpec())
    assert decoded.array.shape == (3, 224, 224)
    assert decoded.notes == (
        "DecompressionBombWarning: Image size (90000 pixels) exceeds limit of 70000 pixels, "
        "could be decompression bomb DOS attack.",
    )


def test_notes_are_grouped_capped_and_counted() -> None:
    by_message = {f"warning {i}": [f"img{i}.png"] for i in range(25)}
    by_message["warning 3"] = ["a.png", "b.png", "c.png", "d.png"]
    notes = summarize(by_message, limit=20)
    assert notes.count == 28
    assert notes.lines[0] == "warning 3 (4 images: a.png, b.png, c.png ...)"
    assert len(notes.lines) == 21 and notes.lines[-1] == "... and 5 more distinct warning(s)"
