"""Types shared by the dispatcher and its batching policies, and the dispatcher's
per-batch bookkeeping (which ids of a cut batch are done, busy, or had their first token)
and the texts that explain a rejected completion.

Internal to :mod:`inferlab.loadgen.dispatch`; importers use the names it re-exports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.uint64]
IndexArray = npt.NDArray[np.int64]
#: One row per id (numpy array, first dimension == len(ids)) or one bytes-like/array per id.
Payloads = npt.NDArray[Any] | Sequence[Any]
NTokens = npt.NDArray[Any] | Sequence[int] | None


class DispatchError(Exception):
    """Protocol violation: unknown / not-yet-cut / already completed ids, misuse after close."""


class CompleteFn(Protocol):
    def __call__(self, ids: IdArray, payloads: Payloads, n_tokens: NTokens = None) -> None: ...


FirstTokenFn = Callable[[int, Any], None]


@dataclass(frozen=True, slots=True)
class Batch:
    """A cut batch: ``ids[i]`` is the LoadGen query id of dataset sample ``indices[i]``."""

    seq: int
    ids: IdArray
    indices: IndexArray
    cut_time: float

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class DispatchStats:
    issued: int
    completed: int
    pending: int  # issued, not yet cut into a batch
    inflight_samples: int  # cut, not yet completed
    inflight_batches: int  # cut, not fully completed
    batches_cut: int
    oldest_outstanding_ids: tuple[int, ...]  # pending or in flight, oldest first (<= 16)
    oldest_pending_wait_s: float  # 0.0 when nothing is pending
    last_completion_time: float | None  # injected clock; None before the first completion
    closed: bool


class Chunk(NamedTuple):
    ids: IdArray
    indices: IndexArray
    issue_time: float


class Flight:
    """Bookkeeping of one cut batch until all of its samples are completed.

    The id -> position map is built only when a completion or first token names ids one by
    one; completing a whole batch (the common case) touches no per-id Python state."""

    __slots__ = ("_pos", "batch", "busy", "done", "first_token", "id_list", "remaining")

    def __init__(self, batch: Batch, id_list: list[int]) -> None:
        n = len(id_list)
        self.batch = batch
        self.id_list = id_list
        self.done = np.zeros(n, dtype=bool)
        self.busy = np.zeros(n, dtype=bool)  # inside a running complete_fn
        self.first_token = np.zeros(n, dtype=bool)
        self.remaining = n
        self._pos: dict[int, int] | None = None

    def position(self, qid: int) -> int | None:
        """Position of an id that is not yet done in this batch, else None."""
        if self._pos is None:
            self._pos = dict(zip(self.id_list, range(len(self.id_list)), strict=True))
        p = self._pos.get(qid)
        return None if p is None or self.done[p] else p


Slot = tuple[Flight, int]


def readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.flags.writeable = False
    return a


ALL = slice(None)  # every position of a flight
#: (flight, positions or ALL, how many) of one completion
Group = tuple[Flight, "IndexArray | slice", int]


def group_slots(slots: list[Slot]) -> list[Group]:
    """(flight, positions, count) per flight, for vectorised mask updates."""
    by_flight: dict[int, tuple[Flight, list[int]]] = {}
    for flight, pos in slots:
        by_flight.setdefault(flight.batch.seq, (flight, []))[1].append(pos)
    return [(f, np.asarray(p, dtype=np.int64), len(p)) for f, p in by_flight.values()]


def check_len(name: str, value: Any, n: int) -> None:
    try:
        got = len(value)
    except TypeError:
        raise ValueError(f"{name} must have one entry per id ({n}), got {type(value)!r}") from None
    if got != n:
        raise ValueError(f"{name} has {got} entries for {n} ids")


def fmt_ids(ids: Sequence[int], limit: int = 16) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    more = f", ... (+{len(ids) - limit})" if len(ids) > limit else ""
    return f"[{shown}{more}]"


def why_not(qid: int, slot: Slot | None, pending_ids: set[int]) -> str:
    """Why ``qid`` cannot be completed now (error path only)."""
    if slot is not None and slot[0].busy[slot[1]]:
        return "being completed by another call"
    if qid in pending_ids:
        return "not yet cut into a batch"
    return "unknown or already completed"


def explain_bad(id_list: list[int], entries: Sequence[Slot | None], pending_ids: set[int]) -> str:
    """Why a complete() call naming ``id_list`` was rejected (error path only)."""
    reasons: dict[str, list[int]] = {}
    seen: set[int] = set()
    for i, slot in zip(id_list, entries, strict=True):
        if i in seen:
            reason = "repeated within the call"
        elif slot is not None and not slot[0].busy[slot[1]]:
            seen.add(i)
            continue
        else:
            reason = why_not(i, slot, pending_ids)
        seen.add(i)
        reasons.setdefault(reason, []).append(i)
    parts = [f"{reason}: {fmt_ids(ids)}" for reason, ids in reasons.items()]
    return f"complete of {len(id_list)} ids rejected, nothing completed; " + "; ".join(parts)
