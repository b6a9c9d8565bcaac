"""SUT concurrency between LoadGen's ``issue_queries`` callback and a backend batch loop.

LoadGen calls :meth:`Dispatcher.issue` with query ids and sample indices; the call only
records the arrays. Backend worker threads pull batches with :meth:`Dispatcher.next_batch`,
which cuts them lazily according to a :class:`BatchPolicy`, and report results with
:meth:`Dispatcher.complete` (any subset of in-flight ids, any order, any thread). Completion
is forwarded to an injected ``complete_fn`` (normally a thin wrapper around
``mlperf_loadgen.QuerySamplesComplete``), so this module never imports LoadGen.

Work is tracked by query id, never by position. Only in-flight batches are bounded
(``max_inflight_batches``); pending samples are unbounded, as LoadGen requires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from inferlab.loadgen.inflight import (
    ALL,
    Chunk,
    Flight,
    Group,
    Slot,
    check_len,
    explain_bad,
    fmt_ids,
    group_slots,
    readonly,
    why_not,
)

# the dispatch API, importable from here (explicit re-exports)
from inferlab.loadgen.inflight import Batch as Batch
from inferlab.loadgen.inflight import CompleteFn as CompleteFn
from inferlab.loadgen.inflight import DispatchError as DispatchError
from inferlab.loadgen.inflight import DispatchStats as DispatchStats
from inferlab.loadgen.inflight import FirstTokenFn as FirstTokenFn
from inferlab.loadgen.inflight import IdArray as IdArray
from inferlab.loadgen.inflight import IndexArray as IndexArray
from inferlab.loadgen.inflight import NTokens as NTokens
from inferlab.loadgen.inflight import Payloads as Payloads
from inferlab.loadgen.policies import BatchPolicy as BatchPolicy
from inferlab.loadgen.policies import CostAware as CostAware
from inferlab.loadgen.policies import FixedBatch as FixedBatch
from inferlab.loadgen.policies import LatencyBudget as LatencyBudget
from inferlab.loadgen.policies import PendingView as PendingView
from inferlab.loadgen.policies import check_positive

logger = logging.getLogger(__name__)

#: Number of outstanding ids reported by :meth:`Dispatcher.snapshot`.
OUTSTANDING_REPORT_LIMIT = 16
_MIN_WAIT_S = 1e-4


class Dispatcher:
    """Records issued samples, cuts batches on demand, routes completions by query id.

    ``complete_fn(ids, payloads, n_tokens=...)`` is called exactly once per successful
    :meth:`complete` call, outside the dispatcher lock; ``first_token_fn(id, payload)`` is
    called under the lock (so it always precedes that id's completion). Ids must be unique
    among outstanding samples (LoadGen guarantees this; ids may be reused after completion).

    ``order(indices) -> permutation``, when given, reorders the samples of each ``issue`` call
    before they are queued (e.g. longest sequence first, so that batches cut from an Offline
    query hold sequences of similar length). It runs in the issuing thread, outside the lock,
    and only reorders within one call: samples of different calls keep their arrival order.
    """

    def __init__(
        self,
        policy: BatchPolicy,
        complete_fn: CompleteFn,
        *,
        first_token_fn: FirstTokenFn | None = None,
        max_inflight_batches: int = 2,
        require_first_token: bool = False,
        clock: Callable[[], float] = time.monotonic,
        order: Callable[[IndexArray], npt.ArrayLike] | None = None,
    ) -> None:
        check_positive("max_inflight_batches", max_inflight_batches)
        self.policy = policy
        self._order = order
        self._complete_fn = complete_fn
        self._first_token_fn = first_token_fn
        self._max_inflight = int(max_inflight_batches)
        self._require_first_token = require_first_token
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: deque[Chunk] = deque()
        self._head = 0  # consumed samples of _pending[0]
        # single-sample issues (Server) go to this inbox without the lock (list.append is
        # atomic under the GIL); the consumer moves them into one chunk under the lock (_seal)
        self._inbox: list[tuple[int, int]] = []
        # issue time of the first inbox sample; racing with _seal it can be older than the
        # truth (never newer), which only makes a latency budget cut sooner
        self._inbox_time = 0.0
        # wake rule of issue_one: None = always, 0 = on the first pending
        # sample only, k = also each time k more samples are pending
        self._wake_every: int | None = (
            policy.max_batch
            if isinstance(policy, LatencyBudget)
            else 0
            if isinstance(policy, FixedBatch)
            else None
        )
        self._pending_count = 0  # sealed pending samples (the inbox not included)
        self._outstanding: set[int] = set()  # cut, not yet completed
        self._flights: dict[int, Flight] = {}  # seq -> flight, oldest first
        self._issued = 0
        self._cut = 0
        self._completed = 0
        self._seq = 0
        self._flush_upto = 0  # samples issued before the last flush()
        self._closed = False
        self._last_completion: float | None = None
        self._warned_policy = False

    # ------------------------------------------------------------------ producer side
    def issue(self, ids: npt.ArrayLike, indices: npt.ArrayLike) -> None:
        """Record issued samples (LoadGen issue callback). O(1) Python work per call."""
        id_arr = readonly(np.array(ids, dtype=np.uint64).reshape(-1))
        idx_arr = readonly(np.array(indices, dtype=np.int64).reshape(-1))
        if id_arr.shape != idx_arr.shape:
            raise ValueError(f"issue: {id_arr.shape[0]} ids but {idx_arr.shape[0]} indices")
        n = int(id_arr.shape[0])
        if n == 0:
            return
        if self._order is not None and n > 1:
            perm = np.asarray(self._order(idx_arr), dtype=np.int64).reshape(-1)
            if perm.shape[0] != n or not np.array_equal(np.sort(perm), np.arange(n)):
                raise DispatchError(f"order() did not return a permutation of {n} samples")
            id_arr = readonly(id_arr[perm])
            idx_arr = readonly(idx_arr[perm])
        with self._cond:
            if self._closed:
                raise DispatchError(f"issue after close ({n} samples)")
            self._seal()
            self._pending.append(Chunk(id_arr, idx_arr, self._clock()))
            self._pending_count += n
            self._issued += n
            self._cond.notify_all()

    @property
    def reorders(self) -> bool:
        """Whether samples of one issue call are reordered (an ``order`` was given): a feeder
        that merges queries must then hand each over alone to keep their order."""
        return self._order is not None

    def issue_one(self, qid: int, index: int) -> None:
        """Record one issued sample (LoadGen's Server scenario issues them one by one): the
        same as ``issue([qid], [index])``, without taking the lock unless a waiting consumer
        must be woken. An issue racing with close() may be dropped.

        Wake rule (``_wake_every``): a consumer with nothing pending waits without a timeout,
        so the first pending sample wakes it; with a latency budget it is already waiting with
        a timeout, so only each further full batch wakes it (a second batch thread may be
        waiting; a busy one checks what is pending before it waits again). Other policies are
        woken on every issue. Waking on every sample costs a thread switch per sample."""
        if self._closed:
            raise DispatchError("issue after close (1 sample)")
        inbox = self._inbox
        if not inbox:
            self._inbox_time = self._clock()
        inbox.append((qid, index))
        every = self._wake_every
        if every is not None:
            n = self._pending_count + len(inbox)
            if n != 1 and (not every or n % every):
                return
        with self._cond:
            self._cond.notify_all()

    def issue_lists(self, ids: list[int], indices: list[int]) -> None:
        """LoadGen's fast issue callback, as is: one sample -> :meth:`issue_one`, more ->
        :meth:`issue` (saves a Python frame per Server sample)."""
        if len(ids) == 1:
            self.issue_one(ids[0], indices[0])
        else:
            self.issue(ids, indices)

    def flush(self) -> None:
        """LoadGen flush_queries: cut everything issued so far without waiting."""
        with self._cond:
            self._seal()
            self._flush_upto = self._issued
            self._cond.notify_all()

    def close(self) -> None:
        """Stop accepting issues; waiting consumers wake, drain what is pending, get None."""
        with self._cond:
            if not self._closed and self._pending_count:
                logger.info("dispatcher closed with %d samples pending", self._pending_count)
            self._closed = True
            self._cond.notify_all()

    def wake(self) -> None:
        """Make waiting consumers re-evaluate the policy (e.g. after a fake clock moved)."""
        with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ consumer side
    def next_batch(self, timeout: float | None = None) -> Batch | None:
        """Block until the policy cuts a batch and fewer than ``max_inflight_batches`` are in
        flight. None on timeout (real seconds), or once closed with nothing pending. After
        close the in-flight bound is waived so pending samples can be drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._seal()
                wait: float | None = None
                if self._closed and not self._pending_count:
                    return None
                if self._pending_count and (
                    self._closed or len(self._flights) < self._max_inflight
                ):
                    view = self._view()
                    n = self.policy.decide(view)
                    if n <= 0 and view.flushed:
                        n = self._policy_refused()
                    if n > 0:
                        return self._cut_batch(min(n, self._pending_count))
                    hint = self.policy.wait_hint_s(view)
                    if hint is not None:
                        wait = max(hint, _MIN_WAIT_S)
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def complete(self, ids: npt.ArrayLike, payloads: Payloads, n_tokens: NTokens = None) -> None:
        """Complete in-flight ids (any subset, any order, any thread). Validates everything
        first: on any bad id raises DispatchError and calls nothing. Then calls
        ``complete_fn(ids, payloads, n_tokens=n_tokens)`` once. If complete_fn raises, the
        ids stay in flight and the exception propagates."""
        id_arr = np.asarray(ids, dtype=np.uint64).reshape(-1)
        n = int(id_arr.shape[0])
        check_len("payloads", payloads, n)
        if n_tokens is not None:
            check_len("n_tokens", n_tokens, n)
        if n == 0:
            return
        id_list: list[int] = id_arr.tolist()
        with self._cond:
            entries = [self._locate(i) for i in id_list]
            bad = None in entries or any(f.busy[p] for f, p in entries)  # type: ignore[misc]
            if bad or len(set(id_list)) != n:
                raise DispatchError(explain_bad(id_list, entries, self._pending_ids()))
            taken = cast(list[Slot], entries)
            if self._require_first_token:
                missing = [
                    i for i, (f, p) in zip(id_list, taken, strict=True) if not f.first_token[p]
                ]
                if missing:
                    raise DispatchError(f"complete before first_token for ids {fmt_ids(missing)}")
            groups = group_slots(taken)
            for flight, pos, _ in groups:
                flight.busy[pos] = True
        self._deliver(id_arr, payloads, n_tokens, groups, id_list)

    def complete_batch(self, batch: Batch, payloads: Payloads, n_tokens: NTokens = None) -> None:
        """Complete every sample of ``batch`` (payloads in batch order). A batch none of whose
        samples was completed yet takes a fast path without per-id bookkeeping."""
        n = len(batch)
        check_len("payloads", payloads, n)
        if n_tokens is not None:
            check_len("n_tokens", n_tokens, n)
        with self._cond:
            flight = self._flights.get(batch.seq)
            whole = (
                flight is not None
                and flight.batch is batch
                and flight.remaining == n
                and not flight.busy.any()
                and (not self._require_first_token or bool(flight.first_token.all()))
            )
            if whole:
                flight.busy[:] = True  # type: ignore[union-attr]
        if not whole or flight is None:
            self.complete(batch.ids, payloads, n_tokens=n_tokens)
            return
        self._deliver(batch.ids, payloads, n_tokens, [(flight, ALL, n)], flight.id_list)

    def _deliver(
        self,
        ids: IdArray,
        payloads: Payloads,
        n_tokens: NTokens,
        groups: list[Group],
        id_list: list[int],
    ) -> None:
        """Call complete_fn for samples already marked busy; on success retire them, on
        failure leave them in flight (not busy) and re-raise."""
        try:
            self._complete_fn(ids, payloads, n_tokens=n_tokens)
        except BaseException:
            with self._cond:
                for flight, pos, _ in groups:
                    flight.busy[pos] = False
                self._cond.notify_all()
            raise
        with self._cond:
            for flight, pos, count in groups:
                flight.busy[pos] = False
                flight.done[pos] = True
                flight.remaining -= count
                if flight.remaining == 0:
                    del self._flights[flight.batch.seq]
            self._outstanding.difference_update(id_list)
            self._completed += len(id_list)
            self._last_completion = self._clock()
            self._cond.notify_all()

    def first_token(self, query_id: int, payload: Any) -> None:
        """Report an in-flight id's first token (once per id, before its completion)."""
        qid = int(query_id)
        with self._cond:
            slot = self._locate(qid)
            if slot is None or slot[0].busy[slot[1]]:
                reason = why_not(qid, slot, self._pending_ids())
                raise DispatchError(f"first_token for id {qid}: {reason}")
            flight, pos = slot
            if flight.first_token[pos]:
                raise DispatchError(f"first_token called twice for id {qid}")
            if self._first_token_fn is not None:
                self._first_token_fn(qid, payload)
            flight.first_token[pos] = True

    # ------------------------------------------------------------------ monitoring
    def snapshot(self) -> DispatchStats:
        with self._cond:
            oldest: list[int] = []
            want = OUTSTANDING_REPORT_LIMIT
            for flight in self._flights.values():
                if len(oldest) >= want:
                    break
                pos = np.flatnonzero(~flight.done)[: want - len(oldest)]
                oldest.extend(flight.batch.ids[pos].tolist())
            if len(oldest) < want:
                oldest.extend(self._gather(want - len(oldest))[0].tolist())
            self._seal()
            return DispatchStats(
                issued=self._issued,
                completed=self._completed,
                pending=self._pending_count,
                inflight_samples=self._cut - self._completed,
                inflight_batches=len(self._flights),
                batches_cut=self._seq,
                oldest_outstanding_ids=tuple(oldest),
                oldest_pending_wait_s=self._oldest_wait(),
                last_completion_time=self._last_completion,
                closed=self._closed,
            )

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once every issued sample is completed (False on timeout, real seconds)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._completed == self._issued + len(self._inbox), timeout
            )

    # ------------------------------------------------------------------ internals
    def _seal(self) -> None:
        """Move the single-sample issues from the inbox into one chunk (arrival order kept).
        Under the lock; only this side pops, the issuing thread only appends."""
        inbox = self._inbox
        k = len(inbox)
        if not k:
            return
        items = inbox[:k]
        del inbox[:k]  # atomic under the GIL; appends made meanwhile stay
        qids, idx = zip(*items, strict=True)
        chunk = Chunk(
            readonly(np.array(qids, dtype=np.uint64)),
            readonly(np.array(idx, dtype=np.int64)),
            self._inbox_time,
        )
        self._pending.append(chunk)
        self._pending_count += k
        self._issued += k

    def _oldest_wait(self) -> float:
        if not self._pending_count:
            return 0.0
        return max(0.0, self._clock() - self._pending[0].issue_time)

    def _locate(self, qid: int) -> Slot | None:
        """The in-flight (cut, not done) position of ``qid``, busy or not."""
        if qid not in self._outstanding:
            return None
        for flight in self._flights.values():
            pos = flight.position(qid)
            if pos is not None:
                return flight, pos
        return None

    def _view(self) -> PendingView:
        flushed = self._closed or self._cut < self._flush_upto
        return PendingView(
            self._pending_count, self._oldest_wait(), flushed, lambda k: self._gather(k)[1]
        )

    def _policy_refused(self) -> int:
        if not self._warned_policy:
            logger.warning("policy %r returned 0 while flushed; cutting 1 sample", self.policy)
            self._warned_policy = True
        return 1

    def _gather(self, n: int) -> tuple[IdArray, IndexArray, int, int]:
        """First n pending samples without consuming them: (ids, indices, pops, new_head)."""
        self._seal()
        id_parts: list[IdArray] = []
        idx_parts: list[IndexArray] = []
        head, pops, need = self._head, 0, min(n, self._pending_count)
        for chunk in self._pending:
            if need <= 0:
                break
            take = min(need, int(chunk.ids.shape[0]) - head)
            id_parts.append(chunk.ids[head : head + take])
            idx_parts.append(chunk.indices[head : head + take])
            need -= take
            if head + take == chunk.ids.shape[0]:
                head, pops = 0, pops + 1
            else:
                head += take
        if not id_parts:
            return np.empty(0, np.uint64), np.empty(0, np.int64), 0, self._head
        if len(id_parts) == 1:
            return id_parts[0], idx_parts[0], pops, head
        ids = readonly(np.concatenate(id_parts))
        return ids, readonly(np.concatenate(idx_parts)), pops, head

    def _cut_batch(self, n: int) -> Batch:
        ids, indices, pops, head = self._gather(n)
        id_list: list[int] = ids.tolist()
        fresh = set(id_list)
        if len(fresh) != n or not fresh.isdisjoint(self._outstanding):
            dup = sorted(fresh & self._outstanding)
            raise DispatchError(
                f"duplicate outstanding query ids in issued samples {fmt_ids(dup)} "
                f"({n - len(fresh)} repeated within the batch)"
            )
        for _ in range(pops):
            self._pending.popleft()
        self._head = head
        self._pending_count -= n
        self._cut += n
        batch = Batch(self._seq, ids, indices, self._clock())
        self._seq += 1
        self._flights[batch.seq] = Flight(batch, id_list)
        self._outstanding |= fresh
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("cut batch %d: %d samples, %d pending", batch.seq, n, self._pending_count)
        return batch

    def _pending_ids(self) -> set[int]:
        return set(self._gather(self._pending_count)[0].tolist())


def cut_batches(
    policy: BatchPolicy, n: int, order: Callable[[IndexArray], npt.ArrayLike] | None = None
) -> list[IndexArray]:
    """The batches ``policy`` cuts from samples 0..n-1 issued as one query (after ``order``),
    without LoadGen: what the SUT would do with an Offline query, for calibration and
    benchmarks."""
    d = Dispatcher(policy, lambda *a, **k: None, max_inflight_batches=n + 1, order=order)
    d.issue(np.arange(n, dtype=np.uint64), np.arange(n, dtype=np.int64))
    d.close()
    out = []
    while (b := d.next_batch(timeout=0)) is not None:
        out.append(b.indices)
    return out
