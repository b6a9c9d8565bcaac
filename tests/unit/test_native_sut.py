"""The native issue queue (inferlab.loadgen.native): build, cache, and the C++ SUT's queue
semantics through the same virtual calls LoadGen makes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferlab.core.errors import UnsupportedError
from inferlab.loadgen import native
from inferlab.loadgen.native import NativeIssueQueue, build, native_sut_available

OK, WHY = native_sut_available()
needs_native = pytest.mark.skipif(not OK, reason=f"native issue queue unavailable: {WHY}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("native-cache")


@pytest.fixture
def queue(cache: Path) -> Iterator[NativeIssueQueue]:
    if not OK:
        pytest.skip(f"native issue queue unavailable: {WHY}")
    with NativeIssueQueue("inferlab-test", cache_dir=cache) as q:
        yield q


def _u64(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.uint64)


# ---------------------------------------------------------------------------- build


@needs_native
def test_build_is_cached_and_reused_by_another_process(cache: Path) -> None:
    lib = build(cache)
    assert lib.name == "libinferlab_sut.so" and lib.parent.parent == cache
    assert len(lib.parent.name) == 64  # sha256 hex of source, compiler, platform
    mtime = lib.stat().st_mtime_ns
    assert build(cache) == lib
    code = "import sys; from inferlab.loadgen.native import build; print(build(sys.argv[1]))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(cache)], capture_output=True, text=True, check=True
    )
    assert Path(out.stdout.strip()) == lib
    assert lib.stat().st_mtime_ns == mtime  # not rebuilt
    assert not [p for p in lib.parent.iterdir() if p.name.startswith(".build-")]


def test_no_compiler_is_unsupported_with_a_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with pytest.raises(UnsupportedError) as err:
        build(tmp_path / "cache")
    assert "no C++ compiler" in err.value.message
    assert err.value.fix and "native_issue=off" in err.value.fix
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script as the compiler")
def test_compile_error_is_unsupported_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fake-cxx"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = --version ]; then echo fake 1.0; exit 0; fi\n'
        'echo "sut.cpp:1: error: broken" >&2\nexit 3\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    with pytest.raises(UnsupportedError) as err:
        build(tmp_path / "cache")
    assert "failed (exit 3)" in err.value.message and "broken" in err.value.message
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_availability_is_a_reason_not_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    ok, why = native_sut_available(tmp_path / "other-cache")
    assert not ok and "no C++ compiler" in why


def test_source_ships_next_to_the_module() -> None:
    assert native.SOURCE.is_file() and native.SOURCE.name == "sut.cpp"


# ---------------------------------------------------------------------------- queue


def test_name_through_the_virtual_interface(queue: NativeIssueQueue) -> None:
    assert queue.name_for_test() == "inferlab-test"
    assert queue.handle > 0


def test_timeout_returns_nothing(queue: NativeIssueQueue) -> None:
    t0 = time.monotonic()
    ids, idx, flushed = queue.take(16, 0.05)
    waited = time.monotonic() - t0
    assert len(ids) == 0 and len(idx) == 0 and not flushed
    assert 0.04 <= waited < 2.0
    ids, _, _ = queue.take(16, 0)
    assert len(ids) == 0


def test_singles_come_together_and_queries_whole(queue: NativeIssueQueue) -> None:
    queue.issue_for_test([1], [10])
    queue.issue_for_test([2], [20])
    queue.issue_for_test([3, 4, 5], [30, 40, 50])
    queue.issue_for_test([6], [60])
    ids, idx, flushed = queue.take(100, 0)
    assert ids.tolist() == [1, 2] and idx.tolist() == [10, 20] and not flushed
    assert ids.dtype == np.uint64 and idx.dtype == np.int64
    assert not queue.last_was_query
    ids, idx, _ = queue.take(100, 0)
    assert ids.tolist() == [3, 4, 5] and idx.tolist() == [30, 40, 50]
    assert queue.last_was_query
    ids, _, _ = queue.take(1, 0)
    assert ids.tolist() == [6] and not queue.last_was_query
    assert queue.stats() == {"issued": 6, "taken": 6, "flushes": 0, "buffered": 0}


def test_a_query_larger_than_max_n_comes_whole(queue: NativeIssueQueue) -> None:
    n = 10_000  # more than the queue's initial buffers, too
    queue.issue_for_test(np.arange(n), np.arange(n) * 2)
    ids, idx, _ = queue.take(8, 0)
    assert ids.tolist() == list(range(n)) and idx.tolist() == list(range(0, 2 * n, 2))
    assert queue.last_was_query


def test_max_n_bounds_a_run_of_singles(queue: NativeIssueQueue) -> None:
    for k in range(5):
        queue.issue_for_test([k], [k])
    assert queue.take(2, 0)[0].tolist() == [0, 1]
    assert queue.take(2, 0)[0].tolist() == [2, 3]
    assert queue.take(2, 0)[0].tolist() == [4]


def test_flush_is_reported_once_with_the_last_sample_before_it(queue: NativeIssueQueue) -> None:
    queue.issue_for_test([1], [1])
    queue.issue_for_test([2, 3], [2, 3])
    queue.flush_for_test()
    queue.issue_for_test([4], [4])  # after the flush: not part of it
    ids, _, flushed = queue.take(100, 0)
    assert ids.tolist() == [1] and not flushed
    ids, _, flushed = queue.take(100, 0)
    assert ids.tolist() == [2, 3] and flushed
    ids, _, flushed = queue.take(100, 0)
    assert ids.tolist() == [4] and not flushed
    # a flush with nothing pending: an empty take reports it, once, without waiting
    queue.flush_for_test()
    t0 = time.monotonic()
    ids, _, flushed = queue.take(100, 5.0)
    assert len(ids) == 0 and flushed and time.monotonic() - t0 < 1.0
    assert queue.take(100, 0)[2] is False
    assert queue.stats()["flushes"] == 2


def test_flush_mark_stops_a_take_of_singles(queue: NativeIssueQueue) -> None:
    queue.issue_for_test([1], [1])
    queue.issue_for_test([2], [2])
    queue.flush_for_test()
    queue.issue_for_test([3], [3])
    ids, _, flushed = queue.take(100, 0)
    assert ids.tolist() == [1, 2] and flushed
    ids, _, flushed = queue.take(100, 0)
    assert ids.tolist() == [3] and not flushed


def test_flush_wakes_a_blocked_take(queue: NativeIssueQueue) -> None:
    got: list[tuple[int, bool]] = []

    def taker() -> None:
        ids, _, flushed = queue.take(100, 10.0)
        got.append((len(ids), flushed))

    t = threading.Thread(target=taker)
    t.start()
    time.sleep(0.05)
    queue.flush_for_test()
    t.join(5.0)
    assert not t.is_alive() and got == [(0, True)]


def test_close_wakes_a_blocked_take(queue: NativeIssueQueue) -> None:
    got: list[int] = []

    def taker() -> None:
        ids, _, _ = queue.take(100, None)  # no timeout: only close can end it
        got.append(len(ids))

    t = threading.Thread(target=taker)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()
    queue.close()
    t.join(5.0)
    assert not t.is_alive() and got == [0]
    assert queue.closed and queue.exhausted


def test_close_lets_what_is_left_be_taken(queue: NativeIssueQueue) -> None:
    queue.issue_for_test([7], [70])
    queue.close()
    queue.issue_for_test([8, 9], [80, 90])
    assert not queue.exhausted
    ids, _, _ = queue.take(100, None)
    assert ids.tolist() == [7] and not queue.exhausted
    ids, _, _ = queue.take(100, None)
    assert ids.tolist() == [8, 9] and queue.exhausted  # nothing left after this one
    ids, _, flushed = queue.take(100, None)
    assert len(ids) == 0 and not flushed and queue.exhausted


def test_release_is_idempotent_and_final(cache: Path) -> None:
    if not OK:
        pytest.skip(WHY)
    q = NativeIssueQueue(cache_dir=cache)
    q.release()
    q.release()
    q.close()
    with pytest.raises(RuntimeError, match="after release"):
        _ = q.handle
    with pytest.raises(RuntimeError):
        q.take(1, 0)


def test_release_waits_for_a_blocked_take(cache: Path) -> None:
    if not OK:
        pytest.skip(WHY)
    q = NativeIssueQueue(cache_dir=cache)
    done = threading.Event()

    def taker() -> None:
        q.take(10, None)
        done.set()

    t = threading.Thread(target=taker)
    t.start()
    time.sleep(0.05)
    q.release()  # closes (wakes the take), then frees once it has returned
    t.join(5.0)
    assert done.is_set()


def test_concurrent_producers_every_sample_once_in_order(queue: NativeIssueQueue) -> None:
    """Several threads call IssueQuery at once (ctypes releases the GIL, so the C++ calls
    really overlap), mixing one-sample and multi-sample queries; one consumer takes while
    they issue. Every (id, index) comes out exactly once, each producer's in its order, and
    every multi-sample query whole and alone."""
    producers, per_producer = 4, 3000
    rng = np.random.default_rng(0)
    plans: list[list[list[int]]] = []  # per producer: its queries, as lists of sample numbers
    for p in range(producers):
        queries, k = [], 0
        while k < per_producer:
            size = 1 if rng.random() < 0.7 else int(rng.integers(2, 40))
            size = min(size, per_producer - k)
            queries.append([p * per_producer + j for j in range(k, k + size)])
            k += size
        plans.append(queries)
    total = producers * per_producer
    start = threading.Barrier(producers + 1)

    def produce(p: int) -> None:
        start.wait()
        for q in plans[p]:
            arr = np.asarray(q, dtype=np.uint64)
            queue.issue_for_test(arr + 1_000_000, arr)  # id = 1e6 + sample, index = sample

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for t in threads:
        t.start()
    start.wait()
    taken: list[tuple[list[int], list[int], bool]] = []
    count = 0
    deadline = time.monotonic() + 60
    while count < total and time.monotonic() < deadline:
        ids, idx, _ = queue.take(64, 1.0)
        taken.append((ids.tolist(), idx.tolist(), queue.last_was_query))
        count += len(ids)
    for t in threads:
        t.join(10)
    assert count == total
    all_ids = [i for ids, _, _ in taken for i in ids]
    all_idx = [i for _, idx, _ in taken for i in idx]
    assert sorted(all_idx) == list(range(total))  # each exactly once
    assert [i - 1_000_000 for i in all_ids] == all_idx  # pairs stay together
    for p in range(producers):
        mine = [i for i in all_idx if i // per_producer == p]
        assert mine == sorted(mine)  # in issue order per producer
    multi = {tuple(q) for plan in plans for q in plan if len(q) > 1}
    taken_queries = {tuple(idx) for _, idx, is_query in taken if is_query}
    assert taken_queries == multi  # every multi-sample query came whole, alone
    singles = sum(len(idx) for _, idx, is_query in taken if not is_query)
    assert singles == sum(1 for plan in plans for q in plan if len(q) == 1)
    assert queue.stats() == {"issued": total, "taken": total, "flushes": 0, "buffered": 0}


def test_take_rejects_a_bad_max(queue: NativeIssueQueue) -> None:
    with pytest.raises(ValueError):
        queue.take(0, 0)
    with pytest.raises(ValueError):
        queue.take(1, 0, min_n=0)
    with pytest.raises(ValueError):
        queue.take(1, 0, linger_s=-1.0)


def _take_in_thread(
    queue: NativeIssueQueue, **kw: Any
) -> tuple[threading.Thread, list[tuple[list[int], bool, float]]]:
    got: list[tuple[list[int], bool, float]] = []

    def run() -> None:
        t0 = time.monotonic()
        ids, _, flushed = queue.take(100, 10.0, **kw)
        got.append((ids.tolist(), flushed, time.monotonic() - t0))

    t = threading.Thread(target=run)
    t.start()
    return t, got


def test_linger_waits_for_min_n_then_returns_at_once(queue: NativeIssueQueue) -> None:
    queue.issue_for_test([0], [0])
    t, got = _take_in_thread(queue, min_n=5, linger_s=10.0)
    time.sleep(0.05)
    assert t.is_alive()  # lingering: 1 of 5
    for k in range(1, 5):
        queue.issue_for_test([k], [k])
    t.join(5.0)
    assert not t.is_alive()
    ids, flushed, waited = got[0]
    assert ids == [0, 1, 2, 3, 4] and not flushed and waited < 5.0


def test_linger_ends_after_linger_s(queue: NativeIssueQueue) -> None:
    queue.issue_for_test([0], [0])
    t0 = time.monotonic()
    ids, _, _ = queue.take(100, 0, min_n=10, linger_s=0.05)
    waited = time.monotonic() - t0
    assert ids.tolist() == [0] and 0.04 <= waited < 2.0


@pytest.mark.parametrize("event", ["flush", "query", "close"])
def test_flush_query_or_close_ends_a_linger(queue: NativeIssueQueue, event: str) -> None:
    queue.issue_for_test([0], [0])
    t, got = _take_in_thread(queue, min_n=1000, linger_s=10.0)
    time.sleep(0.05)
    assert t.is_alive()
    if event == "flush":
        queue.flush_for_test()
    elif event == "query":
        queue.issue_for_test([1, 2], [1, 2])
    else:
        queue.close()
    t.join(5.0)
    assert not t.is_alive()
    ids, flushed, waited = got[0]
    assert ids == [0] and flushed == (event == "flush") and waited < 5.0
    if event == "query":
        assert queue.take(100, 0)[0].tolist() == [1, 2] and queue.last_was_query


def test_default_cache_dir_is_under_the_home() -> None:
    assert native.default_cache_dir() == Path.home() / ".cache" / "inferlab" / "native"
    assert os.path.isabs(native.default_cache_dir())
