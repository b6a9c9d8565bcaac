"""On-disk preprocessing cache: hits, misses, stale keys, corrupt entries, concurrency."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from inferlab.preprocessing.cache import Cache, decode_entry, encode_entry, key_folder_name

KEY = "imagenet_pytorch/v1;decoder=pillow;pillow=13.0.0;numpy=2.4.6"


def counting(
    fn: Callable[[bytes], np.ndarray],
) -> tuple[Callable[[bytes], np.ndarray], list[bytes]]:
    calls: list[bytes] = []

    def wrapped(data: bytes) -> np.ndarray:
        calls.append(data)
        return fn(data)

    return wrapped, calls


def crop_of(data: bytes) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(data).digest()[:4], "little")
    return np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)


def test_miss_then_hit(tmp_path: Path) -> None:
    cache = Cache(tmp_path, KEY)
    compute, calls = counting(crop_of)
    first = cache.get_or_compute(b"image-1", compute)
    second = cache.get_or_compute(b"image-1", compute)
    assert len(calls) == 1
    assert np.array_equal(first, second) and second.dtype == np.uint8
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    # a fresh instance (another process, a later run) hits too
    again = Cache(tmp_path, KEY)
    assert np.array_equal(again.get_or_compute(b"image-1", compute), first)
    assert len(calls) == 1 and again.stats.hits == 1


def test_layout_and_key_json(tmp_path: Path) -> None:
    cache = Cache(tmp_path, KEY)
    cache.get_or_compute(b"abc", crop_of)
    digest = hashlib.sha256(b"abc").hexdigest()
    folder = tmp_path / hashlib.sha256(KEY.encode()).hexdigest()[:16]
    assert folder == cache.directory and key_folder_name(KEY) == folder.name
    entry = folder / digest[:2] / f"{digest}.npy"
    assert entry == cache.entry_path(b"abc") and entry.is_file()
    assert np.array_equal(np.load(entry), crop_of(b"abc"))  # still a readable .npy
    doc = json.loads((folder / "key.json").read_text())
    assert doc["transform_key"] == KEY
    assert not list(folder.rglob("*.tmp"))


def test_changed_transform_key_never_returns_stale(tmp_path: Path) -> None:
    Cache(tmp_path, KEY).get_or_compute(b"img", lambda d: np.zeros((2, 2), np.uint8))
    new = Cache(tmp_path, KEY.replace("v1", "v2"))
    out = new.get_or_compute(b"img", lambda d: np.ones((2, 2), np.uint8))
    assert out.sum() == 4 and new.stats.misses == 1 and new.stats.hits == 0
    assert new.with_key(KEY).get_or_compute(b"img", crop_of).sum() == 0  # old one still there


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: raw[:100] + bytes([raw[100] ^ 0xFF]) + raw[101:],
        lambda raw: b"garbage",
        lambda raw: b"",
        lambda raw: raw[:-36],  # a plain .npy without our trailer
    ],
    ids=["truncated", "bitflip", "garbage", "empty", "no-trailer"],
)
def test_corrupt_entry_is_recomputed_and_overwritten(
    tmp_path: Path, damage: Callable[[bytes], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(tmp_path, KEY)
    good = cache.get_or_compute(b"img", crop_of)
    path = cache.entry_path(b"img")
    path.write_bytes(damage(path.read_bytes()))
    compute, calls = counting(crop_of)
    with caplog.at_level(logging.WARNING):
        out = cache.get_or_compute(b"img", compute)
    assert np.array_equal(out, good) and len(calls) == 1
    assert cache.stats.corrupt == 1 and "corrupt" in caplog.text
    assert decode_entry(path.read_bytes()) is not None  # repaired on disk
    assert np.array_equal(cache.get_or_compute(b"img", compute), good) and len(calls) == 1


def test_disabled_bypasses_disk(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c", KEY, enabled=False)
    compute, calls = counting(crop_of)
    cache.get_or_compute(b"x", compute)
    cache.get_or_compute(b"x", compute)
    assert len(calls) == 2 and not (tmp_path / "c").exists()


def test_unwritable_cache_still_computes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = Cache(blocker, KEY)
    with caplog.at_level(logging.WARNING):
        out = cache.get_or_compute(b"x", crop_of)
        cache.get_or_compute(b"y", crop_of)
    assert np.array_equal(out, crop_of(b"x"))
    assert caplog.text.count("continuing without caching") == 1


def test_foreign_key_json_disables_cache(tmp_path: Path) -> None:
    folder = tmp_path / key_folder_name(KEY)
    folder.mkdir()
    (folder / "key.json").write_text(json.dumps({"transform_key": "something else"}))
    cache = Cache(tmp_path, KEY)
    compute, calls = counting(crop_of)
    cache.get_or_compute(b"x", compute)
    cache.get_or_compute(b"x", compute)
    assert len(calls) == 2 and not cache.enabled


def test_encode_decode_roundtrip() -> None:
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    back = decode_entry(encode_entry(arr))
    assert back is not None and back.dtype == arr.dtype and np.array_equal(back, arr)


def _writer(root: str, rounds: int) -> None:
    cache = Cache(Path(root), KEY)
    for r in range(rounds):
        for i in range(10):
            # force the race: drop the entry so both processes keep rewriting it
            cache.entry_path(f"img{i}".encode()).unlink(missing_ok=True)
            out = cache.get_or_compute(f"img{i}".encode(), crop_of)
            assert np.array_equal(out, crop_of(f"img{i}".encode())), (r, i)


def test_two_processes_writing_the_same_entries(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 20)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    cache = Cache(tmp_path, KEY)
    for i in range(10):
        raw = cache.entry_path(f"img{i}".encode()).read_bytes()
        back = decode_entry(raw)
        assert back is not None and np.array_equal(back, crop_of(f"img{i}".encode()))
    assert not list(tmp_path.rglob("*.tmp"))
