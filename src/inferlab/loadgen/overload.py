"""A bound on the samples a Server SUT may fall behind LoadGen (issue 15, item 3).

LoadGen's Server scenario issues queries on its schedule whatever the SUT does; when it is
offered more than the SUT serves, the issued-but-not-completed samples (and LoadGen's own
records of them) grow without bound: 0.4 GB/s was seen with the null backend offered 2.4M QPS
while serving 0.56M. Such a run cannot be VALID, so it is ended, with the offered and the served
rate and the fix, instead of growing until the machine runs out of memory.

:class:`BacklogGuard` is fed the dispatcher's counts once a second (the worker's heartbeat: no
cost per sample). It trips when the backlog (issued - completed) exceeds both
``min_backlog`` samples and ``backlog_s`` seconds of the rate the SUT served over the last
checks, and grew since the previous check. A legitimately slow SUT (a CPU model at a few
QPS) never comes near ``min_backlog``; a fast one may fall behind for a moment (a garbage
collection, a busy neighbour) without tripping it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from inferlab.core.errors import RunFailed

MIN_BACKLOG = 100_000  # samples; below this the memory of a backlog is not worth a failed run
BACKLOG_S = 2.0  # seconds of served samples the SUT may be behind


class ServerOverload(RunFailed):
    """A Server run stopped because the SUT fell far behind the offered load."""


@dataclass(frozen=True)
class Overload:
    """Why the guard tripped (rates in samples/s over the test so far)."""

    backlog: int
    limit: int
    offered_sps: float
    served_sps: float
    elapsed_s: float

    def message(self) -> str:
        return (
            f"LoadGen offered {self.offered_sps:,.0f} samples/s and the SUT served "
            f"{self.served_sps:,.0f} samples/s: {self.backlog:,} samples were outstanding "
            f"(limit {self.limit:,}) and the backlog kept growing; the run was stopped before it "
            "used up the memory (it could not be VALID)"
        )

    def fix(self) -> str:
        target = max(self.served_sps * 0.5, 1.0)
        return (
            f"offer less: --set loadgen.target_qps={target:.0f} (half the rate served here), or "
            "a lower --set server_qps_fraction; inferlab run --find-peak searches the highest "
            "VALID rate"
        )


class BacklogGuard:
    """Decides, from (time, issued, completed) checks, whether the SUT is overrun."""

    def __init__(
        self, *, min_backlog: int = MIN_BACKLOG, backlog_s: float = BACKLOG_S, window: int = 3
    ) -> None:
        self.min_backlog = int(min_backlog)
        self.backlog_s = float(backlog_s)
        self._recent: deque[tuple[float, int, int]] = deque(maxlen=window + 1)
        self._start: tuple[float, int, int] | None = None
        self.peak_backlog = 0

    def check(self, now: float, issued: int, completed: int) -> Overload | None:
        """One check (the clock in seconds); an :class:`Overload` when the run must end. Rates
        are measured from the first check that saw samples issued, so that check never trips."""
        backlog = issued - completed
        self.peak_backlog = max(self.peak_backlog, backlog)
        if self._start is None:
            if issued:
                self._start = (now, issued, completed)
                self._recent.append(self._start)
            return None
        prev = self._recent[-1]
        self._recent.append((now, issued, completed))
        t0, _, c0 = self._recent[0]
        served_recent = (completed - c0) / (now - t0) if now > t0 else 0.0
        limit = max(self.min_backlog, int(self.backlog_s * served_recent))
        if backlog <= limit or backlog <= prev[1] - prev[2]:
            return None
        t_start, i_start, c_start = self._start
        elapsed = max(now - t_start, 1e-9)
        return Overload(
            backlog=backlog,
            limit=limit,
            offered_sps=(issued - i_start) / elapsed,
            served_sps=(completed - c_start) / elapsed,
            elapsed_s=elapsed,
        )
