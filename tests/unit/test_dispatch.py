"""Unit tests for inferlab.loadgen.dispatch (no LoadGen, fake completions, fake clock)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest

from inferlab.loadgen.dispatch import (
    Batch,
    CostAware,
    Dispatcher,
    DispatchError,
    FixedBatch,
    LatencyBudget,
    PendingView,
)


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class Recorder:
    """Fake complete_fn / first_token_fn: records every call, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[np.ndarray, Any, Any]] = []
        self.first_tokens: list[tuple[int, Any]] = []
        self.completed_order: list[int] = []

    def complete(self, ids: np.ndarray, payloads: Any, n_tokens: Any = None) -> None:
        with self.lock:
            self.calls.append((ids, payloads, n_tokens))
            self.completed_order.extend(int(i) for i in ids)

    def first_token(self, qid: int, payload: Any) -> None:
        with self.lock:
            self.first_tokens.append((qid, payload))

    def counts(self) -> Counter[int]:
        return Counter(self.completed_order)


def make(policy: Any = None, **kw: Any) -> tuple[Dispatcher, Recorder]:
    rec = Recorder()
    d = Dispatcher(
        policy if policy is not None else FixedBatch(4),
        rec.complete,
        first_token_fn=rec.first_token,
        **kw,
    )
    return d, rec


def ids_of(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.uint64) + np.uint64(1_000_000)


def payload(batch: Batch) -> np.ndarray:
    return np.zeros((len(batch), 2), dtype=np.float32)


# ---------------------------------------------------------------- batching


def test_fixed_batch_combines_and_splits_issued_arrays() -> None:
    d, _ = make(FixedBatch(5), max_inflight_batches=10)
    d.issue(ids_of(0, 3), [10, 11, 12])
    d.issue(ids_of(3, 4), [13, 14, 15, 16])
    d.issue(ids_of(7, 5), [17, 18, 19, 20, 21])
    batches = [d.next_batch(timeout=0) for _ in range(3)]
    assert all(b is not None for b in batches)
    sizes = [len(b) for b in batches if b is not None]
    assert sizes == [5, 5, 2]
    all_ids = np.concatenate([b.ids for b in batches if b is not None])
    all_idx = np.concatenate([b.indices for b in batches if b is not None])
    np.testing.assert_array_equal(all_ids, ids_of(0, 12))
    np.testing.assert_array_equal(all_idx, np.arange(10, 22))
    assert [b.seq for b in batches if b is not None] == [0, 1, 2]
    first = batches[0]
    assert first is not None
    assert first.ids.dtype == np.uint64 and first.indices.dtype == np.int64
    assert d.next_batch(timeout=0) is None


def test_fixed_batch_cuts_without_waiting_and_times_out_when_empty() -> None:
    d, _ = make(FixedBatch(8))
    t0 = time.monotonic()
    assert d.next_batch(timeout=0.02) is None
    assert time.monotonic() - t0 >= 0.015
    d.issue([7], [3])
    b = d.next_batch(timeout=0)
    assert b is not None and b.ids.tolist() == [7] and b.indices.tolist() == [3]


def test_issue_accepts_lists_and_rejects_mismatched_lengths() -> None:
    d, _ = make()
    with pytest.raises(ValueError):
        d.issue([1, 2, 3], [0, 1])
    d.issue([1, 2], [5, 6])
    assert d.snapshot().issued == 2


def test_issue_copies_caller_arrays() -> None:
    d, _ = make()
    ids = np.array([1, 2], dtype=np.uint64)
    d.issue(ids, np.array([0, 1]))
    ids[:] = 99
    b = d.next_batch(timeout=0)
    assert b is not None and b.ids.tolist() == [1, 2]


def test_latency_budget_waits_then_cuts_on_timeout_fake_clock() -> None:
    clock = FakeClock()
    d, _ = make(LatencyBudget(max_batch=4, max_wait_s=0.010), clock=clock, max_inflight_batches=8)
    d.issue(ids_of(0, 2), [0, 1])
    clock.advance(0.006)
    d.issue(ids_of(2, 1), [2])
    assert d.next_batch(timeout=0) is None
    clock.advance(0.003)  # oldest waited 9 ms
    assert d.next_batch(timeout=0) is None
    clock.advance(0.002)  # oldest waited 11 ms: cut everything pending (3 < max_batch)
    b = d.next_batch(timeout=0)
    assert b is not None and b.ids.tolist() == ids_of(0, 3).tolist()
    assert b.cut_time == pytest.approx(clock.t)


def test_latency_budget_cuts_full_batch_immediately() -> None:
    clock = FakeClock()
    d, _ = make(LatencyBudget(max_batch=4, max_wait_s=1.0), clock=clock, max_inflight_batches=8)
    d.issue(ids_of(0, 6), np.arange(6))
    b = d.next_batch(timeout=0)
    assert b is not None and len(b) == 4
    assert d.next_batch(timeout=0) is None  # 2 left, younger than max_wait
    clock.advance(1.0)
    b2 = d.next_batch(timeout=0)
    assert b2 is not None and len(b2) == 2


def test_latency_budget_flush_cuts_partial_batch_then_waits_again() -> None:
    clock = FakeClock()
    d, _ = make(LatencyBudget(max_batch=4, max_wait_s=5.0), clock=clock, max_inflight_batches=8)
    d.issue(ids_of(0, 2), [0, 1])
    assert d.next_batch(timeout=0) is None
    d.flush()
    b = d.next_batch(timeout=0)
    assert b is not None and len(b) == 2
    d.issue(ids_of(2, 1), [2])  # issued after the flush: normal policy again
    assert d.next_batch(timeout=0) is None


def test_latency_budget_wait_hint_wakes_consumer_real_clock() -> None:
    d, _ = make(LatencyBudget(max_batch=64, max_wait_s=0.02))
    d.issue(ids_of(0, 1), [0])
    t0 = time.monotonic()
    b = d.next_batch(timeout=2.0)
    elapsed = time.monotonic() - t0
    assert b is not None and len(b) == 1
    assert 0.01 <= elapsed < 1.0


def test_cost_aware_cuts_longest_prefix_within_cost() -> None:
    lengths = np.array([3, 3, 3, 5, 1, 10, 2, 2])
    seen: list[list[int]] = []

    def cost_of(idx: np.ndarray) -> np.ndarray:
        seen.append(idx.tolist())
        return lengths[idx]

    d, _ = make(CostAware(max_cost=8, cost_of=cost_of), max_inflight_batches=16)
    d.issue(ids_of(0, 3), [0, 1, 2])
    d.issue(ids_of(3, 5), [3, 4, 5, 6, 7])
    got = []
    while (b := d.next_batch(timeout=0)) is not None:
        got.append(b.indices.tolist())
    # [3,3]=6 (+3>8); [3,5]=8; [1] (+10>8); [10] alone exceeds but >=1; [2,2]=4
    assert got == [[0, 1], [2, 3], [4], [5], [6, 7]]
    assert seen[0] == [0, 1, 2, 3, 4, 5, 6, 7]  # cost_of gets sample indices, not ids


def test_cost_aware_max_batch_and_large_windows() -> None:
    d, _ = make(
        CostAware(max_cost=150, cost_of=lambda idx: np.ones(len(idx))), max_inflight_batches=16
    )
    d.issue(ids_of(0, 500), np.arange(500))
    b = d.next_batch(timeout=0)
    assert b is not None and len(b) == 150  # needs more than the first scan window
    d2, _ = make(
        CostAware(max_cost=150, cost_of=lambda idx: np.ones(len(idx)), max_batch=32),
        max_inflight_batches=16,
    )
    d2.issue(ids_of(0, 500), np.arange(500))
    b2 = d2.next_batch(timeout=0)
    assert b2 is not None and len(b2) == 32


def test_cost_aware_padded_cost_is_count_times_longest() -> None:
    lengths = np.array([10, 4, 4, 3, 9, 2, 2, 2, 2, 2])
    d, _ = make(
        CostAware(max_cost=20, cost_of=lambda idx: lengths[idx], padded=True),
        max_inflight_batches=16,
    )
    d.issue(ids_of(0, 10), np.arange(10))
    got = []
    while (b := d.next_batch(timeout=0)) is not None:
        got.append(b.indices.tolist())
    # [10,4]: 2*10 = 20 fits, a third -> 30; [4,3,9]: 3*9 = 27 > 20 so [4,3]; [9,2]: 2*9 = 18,
    # a third -> 27; [2,2,2,2]: 8. (Summed costs would have cut [10,4,4] = 18 first.)
    assert got == [[0, 1], [2, 3], [4, 5], [6, 7, 8, 9]]


def test_order_sorts_each_issue_call() -> None:
    lengths = np.array([5, 9, 1, 7, 3, 8])
    d, _ = make(FixedBatch(2), max_inflight_batches=16, order=lambda idx: np.argsort(-lengths[idx]))
    d.issue(ids_of(0, 4), [0, 1, 2, 3])
    d.issue(ids_of(4, 2), [4, 5])  # a later call is not merged into the first one's order
    got = []
    while (b := d.next_batch(timeout=0)) is not None:
        got.append((b.indices.tolist(), (b.ids - np.uint64(1_000_000)).tolist()))
    assert got == [([1, 3], [1, 3]), ([0, 2], [0, 2]), ([5, 4], [5, 4])]


def test_order_must_return_a_permutation() -> None:
    d, _ = make(FixedBatch(2), order=lambda idx: np.zeros(len(idx), dtype=np.int64))
    with pytest.raises(DispatchError, match="permutation"):
        d.issue(ids_of(0, 3), [0, 1, 2])


def test_custom_policy_protocol() -> None:
    class Pairs:
        def __init__(self) -> None:
            self.views: list[tuple[int, bool, list[int]]] = []

        def decide(self, view: PendingView) -> int:
            self.views.append((view.count, view.flushed, view.indices(3).tolist()))
            return 2 if view.count >= 2 else 0

        def wait_hint_s(self, view: PendingView) -> float | None:
            return None

    pol = Pairs()
    d, _ = make(pol, max_inflight_batches=8)
    d.issue(ids_of(0, 3), [4, 5, 6])
    b = d.next_batch(timeout=0)
    assert b is not None and b.indices.tolist() == [4, 5]
    assert d.next_batch(timeout=0) is None
    assert pol.views[:2] == [(3, False, [4, 5, 6]), (1, False, [6])]


def test_policy_that_ignores_flush_still_makes_progress() -> None:
    class Never:
        def decide(self, view: PendingView) -> int:
            return 0

        def wait_hint_s(self, view: PendingView) -> float | None:
            return None

    d, _ = make(Never(), max_inflight_batches=8)
    d.issue([1, 2], [0, 1])
    assert d.next_batch(timeout=0) is None
    d.flush()
    b = d.next_batch(timeout=0)
    assert b is not None and b.ids.tolist() == [1]


def test_duplicate_outstanding_id_is_rejected_at_cut() -> None:
    d, _ = make(FixedBatch(4), max_inflight_batches=8)
    d.issue([1, 2], [0, 1])
    assert d.next_batch(timeout=0) is not None
    d.issue([2, 3], [2, 3])  # 2 is still in flight
    with pytest.raises(DispatchError, match=r"duplicate outstanding query ids in .*\[2\]"):
        d.next_batch(timeout=0)
    assert d.snapshot().pending == 2  # nothing consumed by the failed cut


# ---------------------------------------------------------------- completion


def test_out_of_order_partial_completion_completes_each_id_once() -> None:
    d, rec = make(FixedBatch(4), max_inflight_batches=4)
    d.issue(ids_of(0, 10), np.arange(10))
    batches = [d.next_batch(timeout=0) for _ in range(3)]
    assert [len(b) for b in batches if b is not None] == [4, 4, 2]
    b0, b1, b2 = (b for b in batches if b is not None)
    # later batch first, partial subsets, reversed order within a batch
    d.complete(b2.ids[::-1], [b"x", b"yy"])
    d.complete(b0.ids[[3, 1]], np.ones((2, 3)))
    d.complete(b1.ids, np.ones((4, 3)))
    assert not d.wait_idle(timeout=0)
    d.complete(b0.ids[[2, 0]], np.ones((2, 3)))
    assert d.wait_idle(timeout=0)
    assert rec.counts() == Counter(ids_of(0, 10).tolist())
    assert len(rec.calls) == 4


def test_complete_passes_same_payloads_and_n_tokens() -> None:
    d, rec = make(FixedBatch(3))
    d.issue(ids_of(0, 3), [0, 1, 2])
    b = d.next_batch(timeout=0)
    assert b is not None
    var = [np.arange(1), np.arange(5)]
    d.complete(b.ids[:2], var, n_tokens=[1, 5])
    ids, got, n_tok = rec.calls[0]
    assert got is var  # passed through untouched
    assert n_tok == [1, 5]
    np.testing.assert_array_equal(ids, b.ids[:2])
    rows = np.arange(4).reshape(1, 4)
    d.complete(b.ids[2:], rows)
    assert rec.calls[1][1] is rows and rec.calls[1][2] is None


def test_complete_batch_shortcut_and_payload_length_check() -> None:
    d, rec = make(FixedBatch(3))
    d.issue(ids_of(0, 3), [0, 1, 2])
    b = d.next_batch(timeout=0)
    assert b is not None
    with pytest.raises(ValueError):
        d.complete_batch(b, np.zeros((2, 4)))
    with pytest.raises(ValueError):
        d.complete_batch(b, [b"a"] * 3, n_tokens=[1])
    assert rec.calls == []
    d.complete_batch(b, np.zeros((3, 4)))
    assert rec.counts() == Counter(b.ids.tolist())
    assert d.snapshot().inflight_batches == 0


def test_invalid_completions_raise_and_do_not_call_complete_fn() -> None:
    d, rec = make(FixedBatch(2), max_inflight_batches=4)
    d.issue(ids_of(0, 4), np.arange(4))
    b = d.next_batch(timeout=0)
    assert b is not None
    good, pending_id = int(b.ids[0]), int(ids_of(2, 1)[0])
    with pytest.raises(DispatchError, match="unknown") as ei:
        d.complete([good, 42], [b"", b""])
    assert "42" in str(ei.value)
    with pytest.raises(DispatchError, match="not yet cut") as ei:
        d.complete([pending_id], [b""])
    assert str(pending_id) in str(ei.value)
    with pytest.raises(DispatchError, match="repeated"):
        d.complete([good, good], [b"", b""])
    assert rec.calls == []
    d.complete([good], [b""])  # still valid after the rejected calls
    with pytest.raises(DispatchError, match="already completed") as ei:
        d.complete([good], [b""])
    assert str(good) in str(ei.value)
    assert len(rec.calls) == 1
    snap = d.snapshot()
    assert snap.completed == 1 and snap.inflight_samples == 1


def test_concurrent_completion_of_same_id_is_rejected() -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def slow_complete(ids: np.ndarray, payloads: Any, n_tokens: Any = None) -> None:
        calls.append(ids.tolist())
        entered.set()
        release.wait(2.0)

    d = Dispatcher(FixedBatch(2), slow_complete)
    d.issue([1, 2], [0, 1])
    b = d.next_batch(timeout=0)
    assert b is not None
    t = threading.Thread(target=d.complete, args=([1], [b""]))
    t.start()
    assert entered.wait(2.0)
    with pytest.raises(DispatchError, match="being completed"):
        d.complete([1, 2], [b"", b""])
    release.set()
    t.join(2.0)
    assert calls == [[1]]
    assert d.snapshot().completed == 1


def test_complete_fn_failure_keeps_ids_in_flight() -> None:
    fail = [True]
    done: list[int] = []

    def flaky(ids: np.ndarray, payloads: Any, n_tokens: Any = None) -> None:
        if fail[0]:
            raise RuntimeError("boom")
        done.extend(ids.tolist())

    d = Dispatcher(FixedBatch(2), flaky)
    d.issue([1, 2], [0, 1])
    b = d.next_batch(timeout=0)
    assert b is not None
    with pytest.raises(RuntimeError):
        d.complete_batch(b, [b"", b""])
    assert d.snapshot().oldest_outstanding_ids == (1, 2)
    fail[0] = False
    d.complete_batch(b, [b"", b""])
    assert done == [1, 2] and d.wait_idle(0)


# ---------------------------------------------------------------- streaming


def test_first_token_then_complete_with_n_tokens() -> None:
    d, rec = make(FixedBatch(2), require_first_token=True)
    d.issue([5, 6], [0, 1])
    b = d.next_batch(timeout=0)
    assert b is not None
    with pytest.raises(DispatchError, match="before first_token"):
        d.complete([5], [b"tok"], n_tokens=[1])
    d.first_token(5, b"t5")
    with pytest.raises(DispatchError, match="twice"):
        d.first_token(5, b"again")
    d.complete([5], [b"t5 rest"], n_tokens=[7])
    with pytest.raises(DispatchError):
        d.first_token(5, b"after complete")
    d.first_token(6, b"t6")
    d.complete([6], [b"t6 rest"], n_tokens=np.array([3]))
    assert rec.first_tokens == [(5, b"t5"), (6, b"t6")]
    assert [c[2] for c in rec.calls][0] == [7]
    assert rec.counts() == Counter([5, 6])


def test_first_token_unknown_or_pending_id_raises() -> None:
    d, rec = make(FixedBatch(1))
    d.issue([1, 2], [0, 1])
    with pytest.raises(DispatchError, match="not yet cut"):
        d.first_token(1, b"x")
    assert d.next_batch(timeout=0) is not None
    with pytest.raises(DispatchError, match="unknown"):
        d.first_token(99, b"x")
    d.first_token(1, b"x")
    assert rec.first_tokens == [(1, b"x")]


# ---------------------------------------------------------------- in-flight bound


def test_max_inflight_blocks_until_batch_fully_completed() -> None:
    d, _ = make(FixedBatch(2), max_inflight_batches=1)
    d.issue(ids_of(0, 4), np.arange(4))
    b1 = d.next_batch(timeout=0)
    assert b1 is not None
    assert d.next_batch(timeout=0) is None  # bound reached, pending work waits
    got: list[Batch | None] = []
    t = threading.Thread(target=lambda: got.append(d.next_batch(timeout=2.0)))
    t.start()
    t.join(0.03)
    assert t.is_alive()
    d.complete(b1.ids[:1], [b""])  # partial completion does not release the batch
    t.join(0.03)
    assert t.is_alive()
    d.complete(b1.ids[1:], [b""])
    t.join(2.0)
    assert not t.is_alive()
    assert got[0] is not None and got[0].ids.tolist() == ids_of(2, 2).tolist()


# ---------------------------------------------------------------- close / idle


def test_close_unblocks_waiting_consumer_and_rejects_issue() -> None:
    d, _ = make(FixedBatch(4))
    got: list[Batch | None] = []
    t = threading.Thread(target=lambda: got.append(d.next_batch()))
    t.start()
    t.join(0.03)
    assert t.is_alive()
    d.close()
    t.join(2.0)
    assert not t.is_alive() and got == [None]
    with pytest.raises(DispatchError):
        d.issue([1], [0])


def test_close_drains_pending_without_waiting_for_policy_or_bound() -> None:
    clock = FakeClock()
    d, _ = make(LatencyBudget(max_batch=2, max_wait_s=60.0), clock=clock, max_inflight_batches=1)
    d.issue(ids_of(0, 5), np.arange(5))
    first = d.next_batch(timeout=0)
    assert first is not None and len(first) == 2
    d.close()
    drained = [d.next_batch(timeout=0), d.next_batch(timeout=0)]
    assert [len(b) for b in drained if b is not None] == [2, 1]
    assert d.next_batch(timeout=0) is None
    assert d.snapshot().closed


def test_wake_reevaluates_policy_after_fake_clock_moves() -> None:
    clock = FakeClock()
    d, _ = make(LatencyBudget(max_batch=8, max_wait_s=30.0), clock=clock)
    d.issue([1], [0])
    got: list[Batch | None] = []
    t = threading.Thread(target=lambda: got.append(d.next_batch(timeout=3.0)))
    t.start()
    t.join(0.02)
    assert t.is_alive()  # would sleep ~30 s on the policy's wait hint
    clock.advance(30.0)
    d.wake()
    t.join(2.0)
    assert not t.is_alive() and got[0] is not None and got[0].ids.tolist() == [1]


def test_wait_idle() -> None:
    d, _ = make(FixedBatch(4))
    assert d.wait_idle(0)
    d.issue([1, 2], [0, 1])
    assert not d.wait_idle(0.01)
    b = d.next_batch(timeout=0)
    assert b is not None
    threading.Timer(0.01, d.complete_batch, args=(b, [b"", b""])).start()
    assert d.wait_idle(2.0)


# ---------------------------------------------------------------- monitoring


def test_snapshot_reports_outstanding_ids_oldest_first() -> None:
    clock = FakeClock()
    d, _ = make(FixedBatch(3), clock=clock, max_inflight_batches=8)
    d.issue([10, 11, 12, 13], [0, 1, 2, 3])
    clock.advance(1.0)
    d.issue([14, 15], [4, 5])
    b0 = d.next_batch(timeout=0)  # 10 11 12
    b1 = d.next_batch(timeout=0)  # 13 14 15
    assert b0 is not None and b1 is not None
    d.issue(np.arange(100, 130), np.arange(30))
    clock.advance(0.5)
    d.complete([14, 10], [b"", b""])
    snap = d.snapshot()
    assert snap.oldest_outstanding_ids == (11, 12, 13, 15, *range(100, 112))
    assert (snap.issued, snap.completed, snap.pending) == (36, 2, 30)
    assert (snap.inflight_samples, snap.inflight_batches, snap.batches_cut) == (4, 2, 2)
    assert snap.last_completion_time == pytest.approx(clock.t)
    assert snap.oldest_pending_wait_s == pytest.approx(0.5)
    d.complete([11, 12], [b"", b""])
    assert d.snapshot().inflight_batches == 1


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize(
    "policy", [FixedBatch(7), LatencyBudget(7, 0.002)], ids=["fixed", "latency"]
)
def test_many_threads_complete_every_id_exactly_once(policy: Any) -> None:
    d, rec = make(policy, max_inflight_batches=3)
    n_producers, calls_per_producer = 3, 150
    issued: list[int] = []
    issued_lock = threading.Lock()
    max_seen = [0]
    errors: list[BaseException] = []

    def producer(p: int) -> None:
        rng = random.Random(p)
        base = p * 1_000_000
        next_id = 0
        for _ in range(calls_per_producer):
            k = rng.randint(1, 9)
            ids = np.arange(base + next_id, base + next_id + k, dtype=np.uint64)
            next_id += k
            with issued_lock:
                issued.extend(ids.tolist())
            d.issue(ids, ids.astype(np.int64) % 1000)

    def consumer(c: int) -> None:
        rng = random.Random(100 + c)
        try:
            while (b := d.next_batch()) is not None:
                max_seen[0] = max(max_seen[0], len(b))
                order = list(range(len(b)))
                rng.shuffle(order)
                cut = rng.randint(0, len(order))
                for part in (order[:cut], order[cut:]):
                    if part:
                        if rng.random() < 0.3:
                            for pos in part:
                                d.first_token(int(b.ids[pos]), b"t")
                        d.complete(b.ids[part], np.zeros((len(part), 1)))
        except BaseException as e:  # pragma: no cover - surfaced by the assert below
            errors.append(e)

    consumers = [threading.Thread(target=consumer, args=(c,)) for c in range(4)]
    producers = [threading.Thread(target=producer, args=(p,)) for p in range(n_producers)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join(5.0)
    d.flush()
    assert d.wait_idle(5.0)
    d.close()
    for t in consumers:
        t.join(5.0)
        assert not t.is_alive()
    assert errors == []
    assert max_seen[0] <= 7
    counts = rec.counts()
    assert sorted(counts) == sorted(issued)
    assert set(counts.values()) == {1}
    snap = d.snapshot()
    assert snap.completed == snap.issued == len(issued)
    assert snap.pending == snap.inflight_samples == snap.inflight_batches == 0


def test_issue_one_keeps_arrival_order_with_array_issues_and_wait_times() -> None:
    clock = FakeClock()
    d, rec = make(FixedBatch(3), clock=clock, max_inflight_batches=16)
    d.issue_one(1_000_000, 7)
    clock.advance(0.5)
    d.issue_one(1_000_001, 8)
    d.issue(ids_of(2, 2), [9, 10])  # seals the single samples first
    d.issue_one(1_000_004, 11)
    snap = d.snapshot()
    assert snap.pending == 5 and snap.issued == 5
    assert snap.oldest_pending_wait_s == pytest.approx(0.5)  # the first single sample's time
    assert snap.oldest_outstanding_ids == tuple(range(1_000_000, 1_000_005))
    got = []
    d.close()
    while (b := d.next_batch(timeout=0)) is not None:
        got.append(b.indices.tolist())
        d.complete_batch(b, np.zeros((len(b), 1), np.float32))
    assert got == [[7, 8, 9], [10, 11]]
    assert rec.completed_order == list(range(1_000_000, 1_000_005))
    with pytest.raises(DispatchError, match="after close"):
        d.issue_one(5, 5)


def test_issue_one_duplicate_outstanding_id_is_refused_at_cut() -> None:
    d, _ = make(FixedBatch(4), max_inflight_batches=16)
    d.issue_one(42, 0)
    d.issue_one(42, 1)
    with pytest.raises(DispatchError, match="duplicate outstanding query ids"):
        d.next_batch(timeout=0)


def test_single_sample_issues_wake_a_waiting_consumer_only_when_needed() -> None:
    """LatencyBudget: the first sample wakes the consumer (it then waits with a timeout), the
    next ones do not until a full batch is pending; FixedBatch: only the first."""
    d, _ = make(LatencyBudget(max_batch=3, max_wait_s=60.0), max_inflight_batches=16)
    wakes = []
    real_notify = d._cond.notify_all

    def counting_notify() -> None:
        wakes.append(d._pending_count + len(d._inbox))  # issued, not yet cut
        real_notify()

    d._cond.notify_all = counting_notify  # type: ignore[method-assign]
    for i in range(3):
        d.issue_one(10 + i, i)
    assert wakes == [1, 3]
    b = d.next_batch(timeout=0)
    assert b is not None and b.indices.tolist() == [0, 1, 2]
    f, _ = make(FixedBatch(8), max_inflight_batches=16)
    fw: list[int] = []
    f_notify = f._cond.notify_all
    f._cond.notify_all = lambda: (fw.append(f._pending_count + len(f._inbox)), f_notify())  # type: ignore[method-assign]
    for i in range(3):
        f.issue_one(20 + i, i)
    assert fw == [1]


def test_backlog_guard_trips_only_on_a_growing_backlog_past_its_limit() -> None:
    from inferlab.loadgen.overload import BacklogGuard

    guard = BacklogGuard(min_backlog=1000, backlog_s=2.0)
    assert guard.check(0.0, 0, 0) is None  # nothing issued yet
    assert guard.check(1.0, 5000, 0) is None  # the first check with issues only starts the clock
    # served 100/s: limit max(1000, 200); backlog 9900 and growing
    over = guard.check(2.0, 10_000, 100)
    assert over is not None and over.backlog == 9900 and over.limit == 1000
    assert over.offered_sps == 5000 and over.served_sps == 100
    assert "offered 5,000 samples/s" in over.message() and "target_qps=50" in over.fix()


def test_backlog_guard_allows_a_fast_sut_a_moment_behind() -> None:
    from inferlab.loadgen.overload import BacklogGuard

    guard = BacklogGuard(min_backlog=1000, backlog_s=2.0)
    guard.check(0.0, 100, 0)
    assert guard.check(1.0, 400_100, 300_000) is None  # 100k behind < 2 s x 300k/s
    assert guard.check(2.0, 800_100, 750_000) is None
    assert guard.check(3.0, 900_000, 899_000) is None  # shrinking
