"""The preprocessed-image cache: keyed by content, verified on reuse, rebuilt when damaged (one
line, correct data afterwards), and ``quantarena cache info|clear``. Real sample images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image

from quantarena.cli import main
from quantarena.data.cache import cache_split, load_split, read_head
from quantarena.data.dataset import Sample, discover
from quantarena.errors import DataError
from quantarena.models.spec import PreprocessSpec

SPEC = PreprocessSpec()


@pytest.fixture(scope="module")
def few(sample_dir: Path) -> list[Sample]:
    return discover(sample_dir)[1][:6]


def _build(samples: list[Sample], cache: Path, desc: str = "evaluation") -> tuple[Path, np.ndarray]:
    """An entry and a private copy of its correct pixels."""
    lines: list[str] = []
    path = cache_split(samples, SPEC, cache, desc, log=lines.append)
    assert lines == []
    return path, np.array(load_split(path).images)


def _reuse(samples: list[Sample], cache: Path, desc: str = "evaluation") -> tuple[Path, list[str]]:
    lines: list[str] = []
    return cache_split(samples, SPEC, cache, desc, log=lines.append), lines


def _data_offset(path: Path) -> int:
    with path.open("rb") as handle:
        np.lib.format.read_magic(handle)
        np.lib.format.read_array_header_1_0(handle)
        return handle.tell()


# --- row 1: same-size garbage ---------------------------------------------------------------


def test_garbage_of_the_same_size_is_detected_and_rebuilt(
    few: list[Sample], tmp_path: Path
) -> None:
    path, good = _build(few, tmp_path)
    size, offset = path.stat().st_size, _data_offset(path)
    with path.open("r+b") as handle:  # valid header, garbage pixels, same size
        handle.seek(offset)
        handle.write(np.random.default_rng(0).bytes(size - offset))
    assert path.stat().st_size == size
    again, lines = _reuse(few, tmp_path)
    key = path.stem
    assert again == path
    assert lines == [
        f"cache entry {key} (evaluation) is corrupt: content hash mismatch; rebuilding"
    ]
    np.testing.assert_array_equal(load_split(again).images, good)
    assert _reuse(few, tmp_path)[1] == []  # the rebuilt entry verifies


def test_whole_file_garbage_is_detected_and_reported_on_stderr(
    few: list[Sample], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, good = _build(few, tmp_path)
    path.write_bytes(b"\x00" * path.stat().st_size)
    capsys.readouterr()
    cache_split(few, SPEC, tmp_path, "evaluation")  # default log: one line on stderr
    err = [line for line in capsys.readouterr().err.splitlines() if "cache entry" in line]
    assert len(err) == 1
    assert err[0].endswith("is corrupt: unreadable array (ValueError); rebuilding")
    np.testing.assert_array_equal(load_split(path).images, good)


# --- row 2: truncated -----------------------------------------------------------------------


def test_truncated_array_is_detected_and_rebuilt(few: list[Sample], tmp_path: Path) -> None:
    path, good = _build(few, tmp_path)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(DataError, match=rf"cached split {path} is truncated"):
        read_head(path, 6)  # what a worker would have hit (not "cannot reshape array")
    with pytest.raises(DataError, match=rf"cached split {path} is unreadable"):
        load_split(path)
    again, lines = _reuse(few, tmp_path)
    assert len(lines) == 1 and f"is corrupt: truncated ({size // 2} bytes, expected {size})" in (
        lines[0]
    )
    np.testing.assert_array_equal(read_head(again, 6), good)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda meta: meta.write_text(meta.read_text()[:40]), "unreadable sidecar"),
        (lambda meta: meta.unlink(), "its sidecar is missing"),
        (lambda meta: meta.with_suffix(".npy").unlink(), "its array file is missing"),
        (
            lambda meta: meta.write_text(
                json.dumps({**json.loads(meta.read_text()), "labels": []})
            ),
            "different number of images",
        ),
    ],
)
def test_damaged_sidecar_or_missing_file_is_rebuilt(
    few: list[Sample], tmp_path: Path, damage: Callable[[Path], object], problem: str
) -> None:
    path, good = _build(few, tmp_path)
    damage(path.with_suffix(".json"))
    again, lines = _reuse(few, tmp_path)
    assert len(lines) == 1 and problem in lines[0] and lines[0].endswith("; rebuilding")
    rebuilt = load_split(again)
    np.testing.assert_array_equal(rebuilt.images, good)
    assert rebuilt.files == [s.name for s in few] and rebuilt.labels.tolist() == [
        s.label for s in few
    ]


# --- the key --------------------------------------------------------------------------------


def _bmp(path: Path, color: tuple[int, int, int]) -> None:
    Image.new("RGB", (64, 48), color).save(path)  # uncompressed: same size whatever the color


def test_key_follows_contents_not_path_size_or_mtime(tmp_path: Path) -> None:
    image = tmp_path / "a.bmp"
    _bmp(image, (250, 0, 0))
    first, _ = _build([Sample(image, 3)], tmp_path / "cache")
    stat = image.stat()
    _bmp(image, (0, 0, 250))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert image.stat().st_size == stat.st_size and image.stat().st_mtime_ns == stat.st_mtime_ns
    second, lines = _reuse([Sample(image, 3)], tmp_path / "cache")
    assert second != first and lines == []
    red, blue = read_head(first, 1)[0], read_head(second, 1)[0]
    assert red[0].mean() > red[2].mean() and blue[2].mean() > blue[0].mean()
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    (elsewhere / "a.bmp").write_bytes(image.read_bytes())  # same content, other path: reused
    assert _reuse([Sample(elsewhere / "a.bmp", 3)], tmp_path / "cache")[0] == second


def test_key_covers_labels_spec_and_decoder_versions(
    few: list[Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = cache_split(few[:2], SPEC, tmp_path, "t")
    relabeled = [Sample(s.path, s.label + 1) for s in few[:2]]
    assert cache_split(relabeled, SPEC, tmp_path, "t") != base
    assert cache_split(few[:2], PreprocessSpec(interpolation="bicubic"), tmp_path, "t") != base
    monkeypatch.setattr(PIL, "__version__", "0.0.0")
    newer = cache_split(few[:2], SPEC, tmp_path, "t")
    assert newer != base
    assert json.loads(newer.with_suffix(".json").read_text())["versions"]["pillow"] == "0.0.0"


def test_sidecar_records_hash_shape_and_split(few: list[Sample], tmp_path: Path) -> None:
    import hashlib

    path, _ = _build(few[:3], tmp_path, "calibration")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["split"] == "calibration" and meta["shape"] == [3, 3, 224, 224]
    data = path.read_bytes()[_data_offset(path) :]
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{path.stem}.json", path.name]


# --- quantarena cache info | clear ----------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["cache", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cache_commands_on_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope")
    code, out, err = _cli(capsys, "info", "--cache-dir", missing)
    assert code == 0 and out == f"cache {missing}: does not exist (nothing cached yet)\n"
    code, out, err = _cli(capsys, "clear", "--cache-dir", missing)
    assert code == 0 and out == f"cache {missing} does not exist: nothing to clear\n" and not err
    assert not Path(missing).exists()


def test_cache_commands_refuse_bad_arguments_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for args in (
        ("info", "--cache-dir", str(a_file)),
        ("info", "--older-than", "3", "--cache-dir", str(tmp_path)),
        ("clear", "--older-than", "-1", "--cache-dir", str(tmp_path)),
    ):
        code, out, err = _cli(capsys, *args)
        assert code == 2 and not out and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert a_file.exists()


def test_cache_info_lists_and_verifies_every_entry(
    few: list[Sample], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calibration, _ = _build(few[:2], tmp_path, "calibration")
    evaluation, _ = _build(few[2:], tmp_path, "evaluation")
    stale = tmp_path / ("ab" * 12)  # an entry of the previous format: no content hash
    np.save(stale.with_suffix(".npy"), np.zeros((1, 3, 2, 2), dtype=np.float32))
    stale.with_suffix(".json").write_text(json.dumps({"files": ["x.JPEG"], "labels": [1]}))
    code, out, _ = _cli(capsys, "info", "--cache-dir", str(tmp_path))
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert rows[calibration.stem].split()[1:3] == ["calibration", "2"]
    assert rows[calibration.stem].endswith("  ok") and rows[evaluation.stem].endswith("  ok")
    assert "stale: older format" in rows["ab" * 12]
    assert out.splitlines()[0].startswith(f"cache {tmp_path}: 3 entries")

    with evaluation.open("r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\x01" * 8)
    _, out, _ = _cli(capsys, "info", "--cache-dir", str(tmp_path))
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert rows[evaluation.stem].endswith("corrupt: content hash mismatch")
    assert out.splitlines()[0].endswith(", 2 not usable as is")  # the stale and the corrupt


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_cache_clear_all_or_older_than(
    few: list[Sample], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = _build(few[:2], tmp_path, "calibration")
    recent, _ = _build(few[2:], tmp_path, "evaluation")
    week_ago = time.time() - 7 * 86400
    for path in (old, old.with_suffix(".json")):
        os.utime(path, (week_ago, week_ago))
    leftover = tmp_path / f"{'cd' * 12}.{_dead_pid()}.partial.npy"
    leftover.write_bytes(b"half")
    writing = tmp_path / f"{'ef' * 12}.{os.getpid()}.partial.npy"  # a live writer: kept
    writing.write_bytes(b"busy")
    unrelated = tmp_path / "my-notes.txt"
    unrelated.write_text("not quantarena's")

    code, out, _ = _cli(capsys, "clear", "--older-than", "3", "--cache-dir", str(tmp_path))
    assert code == 0 and "removed 2 entries not used for 3 days" in out
    assert "kept 1 used more recently" in out and "kept 1 being written" in out
    assert not old.exists() and not leftover.exists() and recent.exists() and writing.exists()

    assert _reuse(few[2:], tmp_path)[0] == recent  # reuse still works after a partial clear
    code, out, _ = _cli(capsys, "clear", "--cache-dir", str(tmp_path))
    assert code == 0 and out.startswith(f"cache {tmp_path}: removed 1 entry (")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([unrelated.name, writing.name])


def test_reuse_marks_the_entry_used(few: list[Sample], tmp_path: Path) -> None:
    path, _ = _build(few[:2], tmp_path)
    week_ago = time.time() - 7 * 86400
    os.utime(path.with_suffix(".json"), (week_ago, week_ago))
    _reuse(few[:2], tmp_path)
    assert path.with_suffix(".json").stat().st_mtime > week_ago + 86400
