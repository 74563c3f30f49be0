"""Dataset discovery, preprocessing (checked against torchvision's own transform), splits, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantarena.data.cache import cache_split, load_split
from quantarena.data.dataset import discover, imagenet_wnids
from quantarena.data.preprocess import load_image
from quantarena.data.split import list_sha256, split_samples
from quantarena.errors import ConfigError, DataError
from quantarena.models.spec import PreprocessSpec


def test_sample_layout_is_discovered(sample_dir: Path) -> None:
    layout, samples = discover(sample_dir)
    assert layout == "labels-csv"
    assert len(samples) == 1000
    assert all(0 <= s.label < 1000 for s in samples)


def test_imagenet_wnid_layout(sample_dir: Path, tmp_path: Path) -> None:
    _, samples = discover(sample_dir)
    wnids = imagenet_wnids()
    for s in samples[:6]:
        folder = tmp_path / wnids[s.label]
        folder.mkdir(exist_ok=True)
        (folder / s.name).symlink_to(s.path)
    layout, found = discover(tmp_path)
    assert layout == "imagenet-wnid-folders"
    assert sorted((f.name, f.label) for f in found) == sorted(
        (s.name, s.label) for s in samples[:6]
    )


def test_missing_and_unrecognized_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        discover(tmp_path / "nope")
    (tmp_path / "something").mkdir()
    with pytest.raises(DataError, match="labels.csv"):
        discover(tmp_path)


def test_labels_csv_naming_a_missing_image(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels.csv").write_text("file,label\nghost.JPEG,3\n")
    with pytest.raises(DataError, match="ghost.JPEG"):
        discover(tmp_path)


def test_preprocessing_matches_torchvision(sample_dir: Path) -> None:
    import torchvision
    from PIL import Image

    transform = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    _, samples = discover(sample_dir)
    for s in samples[:5]:
        ours = load_image(s.path, PreprocessSpec())
        theirs = transform(Image.open(s.path).convert("RGB")).numpy()
        assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_corrupt_image_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.JPEG"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(DataError, match="bad.JPEG"):
        load_image(bad, PreprocessSpec())


def test_split_is_disjoint_seeded_and_hashed(sample_dir: Path) -> None:
    _, samples = discover(sample_dir)
    a = split_samples(samples, 100, None, seed=1)
    b = split_samples(samples, 100, None, seed=1)
    c = split_samples(samples, 100, None, seed=2)
    assert not {s.name for s in a.calibration} & {s.name for s in a.evaluation}
    assert len(a.calibration) == 100 and len(a.evaluation) == 900
    assert list_sha256(a.evaluation) == list_sha256(b.evaluation) != list_sha256(c.evaluation)
    with pytest.raises(ConfigError, match="too few"):
        split_samples(samples[:10], 10, None, seed=0)


def test_cache_is_reused_and_batches_pad(sample_dir: Path, tmp_path: Path) -> None:
    _, samples = discover(sample_dir)
    first = cache_split(samples[:5], PreprocessSpec(), tmp_path, "t")
    mtime = first.stat().st_mtime_ns
    again = cache_split(samples[:5], PreprocessSpec(), tmp_path, "t")
    assert again == first and again.stat().st_mtime_ns == mtime
    images = load_split(first)
    assert images.files == [s.name for s in samples[:5]]
    batches = images.batches(2)
    assert [valid for _, valid in batches] == [2, 2, 1]
    assert all(chunk.shape[0] == 2 for chunk, _ in batches)
    np.testing.assert_array_equal(batches[2][0][0], images.images[4])
