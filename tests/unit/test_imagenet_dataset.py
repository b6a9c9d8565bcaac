"""ImageNetDataset (MLPerf layout) and SyntheticImageNet."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inferlab.benchmarks.resnet50.dataset import ImageNetDataset, read_val_map
from inferlab.benchmarks.resnet50.preprocess import (
    normalize_nchw,
    preprocess_pytorch,
    pytorch_crop_from_image,
    transform_key,
)
from inferlab.benchmarks.resnet50.synthetic import (
    SyntheticImageNet,
    synthetic_image,
    synthetic_labels,
)
from inferlab.core.errors import ConfigError, DataError
from inferlab.preprocessing.cache import Cache

N = 6


def jpeg_bytes(width: int, height: int, seed: int, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    img = Image.fromarray(low).resize((width, height), Image.Resampling.BILINEAR).convert(mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def imagenet_dir(tmp_path: Path) -> Path:
    root = tmp_path / "imagenet2012-val"
    root.mkdir()
    lines = []
    sizes = [(60, 45), (45, 60), (31, 120), (50, 50), (70, 40), (40, 41)]
    for i, (w, h) in enumerate(sizes):
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        (root / name).write_bytes(jpeg_bytes(w, h, i, "L" if i == 3 else "RGB"))
        lines.append(f"{name} {(i * 337) % 1000}\n")
    (root / "val_map.txt").write_text("".join(lines))
    return root


def test_load_and_get_batch(imagenet_dir: Path) -> None:
    ds = ImageNetDataset(imagenet_dir, count=None)
    assert (ds.dataset_id, ds.total_count, ds.synthetic) == ("imagenet2012-val", N, False)
    ds.load([0, 2, 3])
    batch = ds.get_batch(np.array([3, 0, 2, 0]))
    assert batch.shape == (4, 3, 224, 224) and batch.dtype == np.float32
    raw = (imagenet_dir / "ILSVRC2012_val_00000004.JPEG").read_bytes()
    assert np.array_equal(batch[0], normalize_nchw(preprocess_pytorch(raw)[None])[0])
    assert np.array_equal(batch[1], batch[3])
    ds.unload([0])
    with pytest.raises(DataError, match="sample 0 was requested before it was loaded"):
        ds.get_batch(np.array([0]))
    with pytest.raises(IndexError):
        ds.load([N])


def test_labels_and_describe(imagenet_dir: Path) -> None:
    ds = ImageNetDataset(imagenet_dir, count=None)
    labels = ds.labels()
    assert labels.dtype == np.int64 and labels.tolist() == [(i * 337) % 1000 for i in range(N)]
    d = ds.describe()
    assert d["path"] == str(imagenet_dir) and d["total_count"] == N and d["full_count"] == N
    assert d["subset"] is False and d["synthetic"] is False
    assert d["transform_key"] == transform_key("pillow")


def test_subset_count(imagenet_dir: Path) -> None:
    ds = ImageNetDataset(imagenet_dir, count=4)
    assert ds.total_count == 4 and len(ds.labels()) == 4
    assert ds.describe()["subset"] is True and ds.describe()["full_count"] == N
    with pytest.raises(IndexError):
        ds.load([4])
    # files beyond the subset are not needed
    (imagenet_dir / "ILSVRC2012_val_00000006.JPEG").unlink()
    assert ImageNetDataset(imagenet_dir, count=5).total_count == 5


def test_cache_is_used(imagenet_dir: Path, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache", "whatever-the-caller-had")
    first = ImageNetDataset(imagenet_dir, count=None, cache=cache)
    assert first.cache is not None and first.cache.transform_key == transform_key("pillow")
    first.load(range(N))
    second = ImageNetDataset(imagenet_dir, count=None, cache=cache, workers=2)
    second.load(range(N))
    assert second.cache is not None and second.cache.stats.hits == N
    idx = np.arange(N)
    assert np.array_equal(first.get_batch(idx), second.get_batch(idx))


def test_corrupt_jpeg_detected_at_load(imagenet_dir: Path) -> None:
    bad = imagenet_dir / "ILSVRC2012_val_00000002.JPEG"
    bad.write_bytes(bad.read_bytes()[:50])
    ds = ImageNetDataset(imagenet_dir, count=None)  # construction does not decode
    assert len(ds.labels()) == N
    ds.load([0])
    with pytest.raises(DataError) as info:
        ds.load([1])
    msg = str(info.value)
    assert str(bad) in msg and "inferlab prepare resnet50 --from" in msg and "\n" not in msg


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        ImageNetDataset(tmp_path / "nope", count=None)
    assert "nope" in str(info.value) and "does not exist" in str(info.value)
    assert "--dataset-path DIR or --data-dir ROOT containing imagenet2012-val/" in str(info.value)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="is not a directory"):
        ImageNetDataset(f, count=None)


def test_missing_val_map(imagenet_dir: Path) -> None:
    (imagenet_dir / "val_map.txt").unlink()
    with pytest.raises(DataError) as info:
        ImageNetDataset(imagenet_dir, count=None)
    assert "val_map.txt" in str(info.value) and "inferlab prepare resnet50" in str(info.value)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("onlyonefield", "line 3 is malformed"),
        ("a.JPEG 1 2", "line 3 is malformed"),
        ("", "line 3 is malformed"),
        ("a.JPEG 1000", "line 3 has label '1000', outside 0..999"),
        ("a.JPEG -1", "line 3 has label '-1'"),
        ("a.JPEG cat", "line 3 has label 'cat'"),
    ],
)
def test_bad_val_map_lines(imagenet_dir: Path, line: str, match: str) -> None:
    vm = imagenet_dir / "val_map.txt"
    lines = vm.read_text().splitlines()
    lines.insert(2, line)
    vm.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=match) as info:
        ImageNetDataset(imagenet_dir, count=None)
    assert str(vm) in str(info.value)


def test_empty_val_map(imagenet_dir: Path) -> None:
    (imagenet_dir / "val_map.txt").write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        ImageNetDataset(imagenet_dir, count=None)


def test_count_larger_than_val_map(imagenet_dir: Path) -> None:
    with pytest.raises(DataError) as info:
        ImageNetDataset(imagenet_dir, count=N + 1)
    assert f"lists only {N}" in str(info.value) and f"--count {N}" in str(info.value)
    with pytest.raises(ConfigError):
        ImageNetDataset(imagenet_dir, count=0)


def test_missing_image_files(imagenet_dir: Path) -> None:
    (imagenet_dir / "ILSVRC2012_val_00000003.JPEG").unlink()
    (imagenet_dir / "ILSVRC2012_val_00000005.JPEG").unlink()
    with pytest.raises(DataError) as info:
        ImageNetDataset(imagenet_dir, count=None)
    msg = str(info.value)
    assert "ILSVRC2012_val_00000003.JPEG" in msg and "2 of 6" in msg and "re-copy" in msg


def test_bad_transform_or_decoder(imagenet_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown ImageNet transform"):
        ImageNetDataset(imagenet_dir, count=None, transform="caffe")
    with pytest.raises(ConfigError, match="unknown image decoder"):
        ImageNetDataset(imagenet_dir, count=None, decoder="magic")


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic() -> None:
    a, b = SyntheticImageNet(count=8, seed=3), SyntheticImageNet(count=8, seed=3)
    idx = np.array([0, 5, 7])
    a.load(idx)
    b.load([7, 5, 0])
    assert np.array_equal(a.get_batch(idx), b.get_batch(idx))
    c = SyntheticImageNet(count=8, seed=4)
    c.load(idx)
    assert not np.array_equal(a.get_batch(idx), c.get_batch(idx))
    batch = a.get_batch(idx)
    assert batch.shape == (3, 3, 224, 224) and batch.dtype == np.float32
    assert len({batch[i].tobytes() for i in range(3)}) == 3


def test_synthetic_uses_the_real_transform() -> None:
    ds = SyntheticImageNet(count=4, seed=1)
    ds.load([2])
    crop = pytorch_crop_from_image(synthetic_image(1, 2))
    assert np.array_equal(ds.get_batch(np.array([2])), normalize_nchw(crop[None]))
    sizes = [synthetic_image(0, i).size for i in range(20)]
    assert all(200 <= s <= 600 for size in sizes for s in size) and len(set(sizes)) > 10
    mean_only = SyntheticImageNet(count=4, seed=1, transform="mean_only")
    mean_only.load([0])
    assert mean_only.get_batch(np.array([0])).shape == (1, 3, 224, 224)


def test_synthetic_labels_depend_only_on_seed() -> None:
    small = SyntheticImageNet(count=50, seed=7).labels()
    big = SyntheticImageNet(count=500, seed=7, transform="mean_only").labels()
    assert small.dtype == np.int64 and np.array_equal(big[:50], small)
    assert big.min() >= 0 and big.max() <= 999 and len(set(big.tolist())) > 300
    assert not np.array_equal(synthetic_labels(8, 50), small)


def test_synthetic_val_map_and_describe(tmp_path: Path) -> None:
    ds = SyntheticImageNet(count=12, seed=2)
    path = ds.write_val_map(tmp_path / "val_map.txt")
    first = path.read_text().splitlines()[0]
    assert first == f"synthetic_00000.JPEG {ds.labels()[0]}"
    names, labels = read_val_map(path)
    assert names[11] == "synthetic_00011.JPEG" and np.array_equal(labels, ds.labels())
    d = ds.describe()
    assert d["dataset_id"] == "synthetic-imagenet" and d["synthetic"] is True
    assert d["total_count"] == 12 and ds.synthetic is True
    with pytest.raises(ConfigError):
        SyntheticImageNet(count=0)
