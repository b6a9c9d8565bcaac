"""Issue 15 item 8: LoadGen's sample load (``ImageNetDataset.load``) decodes and crops in a thread
pool: the same arrays, in the same order, as one thread; a corrupt image is still named."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from tests.integration.imagenet_fixture import make_imagenet_dir

from inferlab.benchmarks.resnet50 import dataset as D
from inferlab.benchmarks.resnet50.dataset import ImageNetDataset, default_workers, map_in_order
from inferlab.core.errors import DataError
from inferlab.preprocessing.cache import Cache

N = 12


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, _ = make_imagenet_dir(tmp_path_factory.mktemp("par") / "val", N, seed=7)
    return root


def _decoders() -> list[tuple[str, str]]:
    from inferlab.benchmarks.resnet50.preprocess import _cv2

    pairs = [("pytorch", "pillow"), ("mean_only", "pillow")]
    if _cv2() is not None:
        pairs += [("pytorch", "cv2"), ("mean_only", "cv2")]
    return pairs


@pytest.mark.parametrize(("transform", "decoder"), _decoders())
def test_one_and_three_threads_give_identical_arrays(
    images: Path, tmp_path: Path, transform: str, decoder: str
) -> None:
    order = [5, 0, 11, 3, 3, 7, 1, 2, 10, 4, 6, 9, 8]  # shuffled, one duplicate
    raw = {}
    for workers in (1, 3):
        ds = ImageNetDataset(images, transform=transform, decoder=decoder, workers=workers)
        assert ds.workers == workers and ds.describe()["preprocess_threads"] == workers
        ds.load(order)
        assert ds.resident_count == N
        raw[workers] = ds.raw_batch(np.arange(N))
    assert raw[1].dtype == np.uint8 and np.array_equal(raw[1], raw[3])
    # through a cold then a warm cache, in 3 threads: the same bytes again
    cache = Cache(tmp_path / "cache", "k")
    for expect_hits in (0, N):
        ds = ImageNetDataset(images, transform=transform, decoder=decoder, cache=cache, workers=3)
        ds.load(range(N))
        assert ds.cache is not None and ds.cache.stats.hits == expect_hits
        assert ds.cache.stats.hits + ds.cache.stats.misses == N
        assert np.array_equal(ds.raw_batch(np.arange(N)), raw[1])


def test_the_pool_is_used(images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()
    make = ImageNetDataset._make_crop

    def spy(self: ImageNetDataset, index: int) -> np.ndarray:
        seen.add(threading.current_thread().name)
        return make(self, index)

    monkeypatch.setattr(ImageNetDataset, "_make_crop", spy)
    ImageNetDataset(images, workers=3).load(range(N))
    assert seen and all(name.startswith("inferlab-preprocess") for name in seen)
    seen.clear()
    ImageNetDataset(images, workers=1).load(range(N))
    assert seen == {threading.current_thread().name}


def test_a_corrupt_image_is_named(tmp_path: Path) -> None:
    root, _ = make_imagenet_dir(tmp_path / "val", N, seed=1)
    for i in (6, 9):  # two bad files: the first in load order is the one reported
        bad = root / f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        bad.write_bytes(bad.read_bytes()[:60])
    for workers in (1, 3):
        ds = ImageNetDataset(root, workers=workers)
        with pytest.raises(DataError) as info:
            ds.load(range(N))
        msg = str(info.value)
        assert "ILSVRC2012_val_00000007.JPEG" in msg and "corrupt" in msg
        assert "inferlab prepare resnet50 --from" in msg
        assert ds.resident_count == 0  # nothing half-loaded
        with pytest.raises(DataError, match="ILSVRC2012_val_00000010.JPEG"):
            ds.load([11, 9, 0])


def test_map_in_order_keeps_order_and_raises_the_first_failure() -> None:
    gate = threading.Event()

    def fn(x: int) -> int:
        if x == 0:
            gate.wait(5)  # the first item finishes last
        if x in (3, 5):
            gate.set()
            raise ValueError(f"bad {x}")
        return x * x

    assert map_in_order(lambda x: x * x, list(range(20)), 4) == [x * x for x in range(20)]
    with pytest.raises(ValueError, match="bad 3"):
        map_in_order(fn, list(range(8)), 3)
    assert map_in_order(fn, [], 3) == [] and map_in_order(fn, [2], 3) == [4]


def test_default_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 1 <= default_workers() <= D.MAX_WORKERS
    monkeypatch.setattr(D.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert default_workers() == D.MAX_WORKERS
    monkeypatch.setattr(D.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_workers() == 1


def test_preprocess_threads_setting_reaches_the_sample_load(images: Path, tmp_path: Path) -> None:
    """``--set preprocess_threads=N`` (RunConfig) sizes the pool; unset, the CPUs' count."""
    from inferlab.config import build_config
    from inferlab.core import registry
    from inferlab.runner.backends import build_dataset

    for sets, want in ((["preprocess_threads=3"], 3), ([], default_workers())):
        cfg = build_config(
            flags={"benchmark": "resnet50", "dataset_path": images, "out": tmp_path},
            sets=sets,
            environ={},
        )
        spec = registry.get("resnet50")
        task = registry.resolve(spec.task)
        ds = build_dataset(cfg, task, spec.variant(None, "torch"), images, cache_dir=None)
        assert ds.describe()["preprocess_threads"] == want
