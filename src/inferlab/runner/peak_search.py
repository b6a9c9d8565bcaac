"""The search of ``run --find-peak``: a bracket on the highest VALID Server rate, grown or
shrunk by a factor, then bisected to a tolerance (pure: probes are run by runner.peak)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

GROWTH_FACTOR = 2.0


@dataclass(frozen=True)
class ProbeResult:
    """What the search needs from one probe. ``hopeless``: even the fastest query missed the
    latency bound (a lower rate may still help when the batches were large)."""

    target_qps: float
    valid: bool
    hopeless: bool = False


def round_qps(qps: float) -> float:
    """Four significant digits: enough for any tolerance >= 0.001, and readable."""
    return float(f"{qps:.4g}")


@dataclass
class PeakSearch:
    """Grow x``factor`` from ``start`` until the first INVALID (or shrink until the first VALID),
    then bisect between the highest VALID and the lowest INVALID rate until
    ``hi / lo - 1 <= tolerance``, the probe budget is spent, or a cap/floor is reached.

    Call :meth:`next_qps` (None when finished; ``stop_reason`` says why) and :meth:`record`.
    Results may be recorded that :meth:`next_qps` did not propose (a calibrated first probe)."""

    start: float
    tolerance: float = 0.05
    max_probes: int = 12
    factor: float = GROWTH_FACTOR
    max_qps: float | None = None
    min_qps: float = 1.0
    probes: list[ProbeResult] = field(default_factory=list)
    stop_reason: str | None = None

    @property
    def hi(self) -> float | None:
        """Lowest INVALID rate (None before the first INVALID)."""
        bad = [p.target_qps for p in self.probes if not p.valid]
        return min(bad) if bad else None

    @property
    def lo(self) -> float | None:
        """Highest VALID rate below :attr:`hi`: a VALID result above an INVALID one (noise) is
        not trusted."""
        hi = self.hi
        good = [p.target_qps for p in self.probes if p.valid and (hi is None or p.target_qps < hi)]
        return max(good) if good else None

    @property
    def peak(self) -> float | None:
        return self.lo

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    def record(self, result: ProbeResult) -> None:
        self.probes.append(result)

    def next_qps(self) -> float | None:
        """The next rate to probe, or None when the search is over (``stop_reason`` set)."""
        if self.stop_reason is not None:
            return None
        qps, self.stop_reason = self._decide()
        return qps

    def _decide(self) -> tuple[float | None, str | None]:
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and hi / lo - 1 <= self.tolerance:
            return None, "converged"
        if len(self.probes) >= self.max_probes:
            return None, "budget"
        if not self.probes:
            return round_qps(self._clamp(self.start)), None
        if lo is None:  # nothing VALID yet: shrink
            assert hi is not None
            last_two = self.probes[-2:]
            if len(last_two) == 2 and all(not p.valid and p.hopeless for p in last_two):
                return None, "sut_too_slow"  # halving the rate did not help the fastest query
            if hi <= self.min_qps:
                return None, "floor"
            return round_qps(max(hi / self.factor, self.min_qps)), None
        if hi is None:  # nothing INVALID yet: grow
            if self.max_qps is not None and lo >= self.max_qps:
                return None, "cap"
            return round_qps(self._clamp(lo * self.factor)), None
        mid = round_qps((lo + hi) / 2)
        if not lo < mid < hi:  # rounding left nothing between them
            return None, "converged"
        return mid, None

    def _clamp(self, qps: float) -> float:
        if self.max_qps is not None:
            qps = min(qps, self.max_qps)
        return max(qps, self.min_qps)

    def run(self, probe: Callable[[float], ProbeResult]) -> float | None:
        """Drive the search with ``probe`` to the end; returns the peak (None: nothing VALID)."""
        while (qps := self.next_qps()) is not None:
            self.record(probe(qps))
        return self.peak


# --- the driver: real runs -------------------------------------------------------------------
