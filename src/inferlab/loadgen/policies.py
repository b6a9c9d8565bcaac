"""Batching policies: how many pending samples the dispatcher cuts into a batch, and when.

A policy (:class:`BatchPolicy`) looks at a :class:`PendingView` under the dispatcher's lock
and returns how many samples to cut now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from inferlab.loadgen.inflight import DispatchError, IndexArray


@dataclass(frozen=True, slots=True)
class PendingView:
    """What a policy may look at. Valid only during the ``decide``/``wait_hint_s`` call.

    ``flushed`` is True after flush() (for samples issued before it) or close(): cut now.
    """

    count: int
    oldest_wait_s: float
    flushed: bool
    _indices_fn: Callable[[int], IndexArray] = field(repr=False)

    def indices(self, limit: int | None = None) -> IndexArray:
        """Sample indices of the first ``limit`` pending samples (all when None), oldest first."""
        n = self.count if limit is None else max(0, min(limit, self.count))
        return self._indices_fn(n)


class BatchPolicy(Protocol):
    """Decides how many pending samples to cut now. Called under the dispatcher's lock:
    must be fast, must not block, must not call back into the dispatcher."""

    def decide(self, view: PendingView) -> int:
        """Samples to cut now (0 = wait). Called only when ``view.count > 0``; must return
        > 0 when ``view.flushed``."""
        ...

    def wait_hint_s(self, view: PendingView) -> float | None:
        """After ``decide`` returned 0: seconds until it may change its mind without new
        issues (None = only new issues / flush / close can change it)."""
        ...


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class FixedBatch:
    """Cut up to ``max_batch`` pending samples as soon as any are pending."""

    max_batch: int

    def __post_init__(self) -> None:
        check_positive("max_batch", self.max_batch)

    def decide(self, view: PendingView) -> int:
        return min(view.count, self.max_batch)

    def wait_hint_s(self, view: PendingView) -> float | None:
        return None


@dataclass(frozen=True)
class LatencyBudget:
    """Cut when ``max_batch`` samples are pending or the oldest pending sample has waited
    ``max_wait_s`` (whichever comes first), or at once after flush/close."""

    max_batch: int
    max_wait_s: float

    def __post_init__(self) -> None:
        check_positive("max_batch", self.max_batch)
        if not self.max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s!r}")

    def decide(self, view: PendingView) -> int:
        if view.count >= self.max_batch:
            return self.max_batch
        if view.flushed or view.oldest_wait_s >= self.max_wait_s:
            return view.count
        return 0

    def wait_hint_s(self, view: PendingView) -> float | None:
        return self.max_wait_s - view.oldest_wait_s


@dataclass(frozen=True)
class CostAware:
    """Cut the longest prefix of pending samples whose cost is <= ``max_cost`` (always at
    least one sample), optionally bounded by ``max_batch``. Cuts as soon as anything is pending.
    ``cost_of`` runs under the dispatcher lock.

    The cost of a prefix is the sum of ``cost_of(indices)``, or with ``padded=True`` its length
    times its largest per-sample cost: the work of a batch padded to its longest member (e.g.
    tokens of a text batch padded to its longest sequence)."""

    max_cost: float
    cost_of: Callable[[IndexArray], npt.ArrayLike]
    max_batch: int | None = None
    padded: bool = False

    def __post_init__(self) -> None:
        check_positive("max_cost", self.max_cost)
        if self.max_batch is not None:
            check_positive("max_batch", self.max_batch)

    def decide(self, view: PendingView) -> int:
        limit = view.count if self.max_batch is None else min(view.count, self.max_batch)
        window = min(limit, 64)
        while True:
            costs = np.asarray(self.cost_of(view.indices(window)), dtype=np.float64).reshape(-1)
            if costs.shape[0] != window:
                raise DispatchError(f"cost_of returned {costs.shape[0]} costs for {window} samples")
            if self.padded:
                running = np.maximum.accumulate(costs) * np.arange(1, window + 1)
                # the first prefix over budget ends the batch
                over = np.flatnonzero(running > self.max_cost)
                fits = int(over[0]) if over.size else window
            else:
                fits = int(np.searchsorted(np.cumsum(costs), self.max_cost, side="right"))
            if fits < window or window >= limit:
                return max(1, fits)
            window = min(limit, window * 4)

    def wait_hint_s(self, view: PendingView) -> float | None:
        return None
