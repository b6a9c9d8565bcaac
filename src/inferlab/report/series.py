"""Per-sample and over-time data read from a run directory's stored files, for the HTML report.

LoadGen's trace (``mlperf_log_trace.json``, kept with ``--trace``) is Chrome trace-event JSON
written one event per line: ``{"traceEvents":[`` then ``{...},`` lines, ``{"name":"LastTrace"}``,
``],"displayTimeUnit":"ns","otherData":{...}}``. ``ts`` is in microseconds since LoadGen's origin.
The file is not always valid JSON as a whole (``LogDetail`` events quote their key twice,
``"key":""result_...""``) and can be many GB, so it is read line by line and only the per-sample
completion events are kept. LoadGen writes one async begin event per completed sample::

    {"name":"Sample","cat":"default","ph":"b","pid":..,"id":<sample seq>,"ts":<scheduled, us>,
     "args":{"sample_seq":..,"query_seq":..,"sample_idx":..,"issue_start_ns":..,"complete_ns":..}}

``complete_ns`` is the time from the query's scheduled start to the sample's completion: the
latency LoadGen records for its own percentiles (the matching ``"ph":"e"`` event sits at
``ts + complete_ns / 1000``). A query's latency is its slowest sample's (MultiStream has 8 per
query); LoadGen's percentile p is ``sorted(query latencies)[int(n * p)]``. Offline has one query,
so its distribution is per sample (time from the query's start to each sample's completion).

Telemetry: ``telemetry.csv`` (one row per sample per GPU), read tolerantly: a time column, an
optional GPU column, and every other numeric column as one series per GPU.
"""

from __future__ import annotations

import csv
import logging
import re
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TRACE_NAME = "mlperf_log_trace.json"
TELEMETRY_NAME = "telemetry.csv"
MAX_LINE = 1 << 20  # a trace event line is ~250 bytes; longer lines are skipped, not buffered

_NAME = re.compile(rb'"name"\s*:\s*"Sample"')
_BEGIN = re.compile(rb'"ph"\s*:\s*"b"')
_TS = re.compile(rb'"ts"\s*:\s*([-+0-9.eE]+)')
_QUERY = re.compile(rb'"query_seq"\s*:\s*(\d+)')
_COMPLETE = re.compile(rb'"complete_ns"\s*:\s*(\d+)')


@dataclass
class TraceData:
    """What the trace says per query (``per="query"``) or per sample (Offline, ``"sample"``).

    ``latency_ns``, ``start_s`` and ``done_s`` are per entry, ``start_s``/``done_s`` in seconds
    from the first scheduled query; ``sample_done_s`` is every sample's completion time."""

    latency_ns: np.ndarray
    start_s: np.ndarray
    done_s: np.ndarray
    sample_done_s: np.ndarray
    per: str
    samples: int
    queries: int
    skipped_lines: int = 0

    def percentile_ns(self, p: float) -> float | None:
        """LoadGen's rule: ``sorted(latencies)[int(n * p)]`` (None without entries)."""
        n = len(self.latency_ns)
        if n == 0:
            return None
        s = np.sort(self.latency_ns)
        return float(s[min(n - 1, int(n * p))])


def read_trace(path: Path, scenario: str | None) -> TraceData | None:
    """Stream the per-sample completions out of a LoadGen trace; None when it has none."""
    ts: array[float] = array("d")
    queries: array[int] = array("q")
    lat: array[int] = array("q")
    skipped = 0
    with path.open("rb") as fh:
        while True:
            line = fh.readline(MAX_LINE)
            if not line:
                break
            if b'"Sample"' not in line:
                if len(line) >= MAX_LINE and not line.endswith(b"\n"):
                    skipped += 1
                    _skip_rest(fh)
                continue
            if not (_NAME.search(line) and _BEGIN.search(line)):
                continue
            m_ts, m_q, m_c = _TS.search(line), _QUERY.search(line), _COMPLETE.search(line)
            if m_ts is None or m_q is None or m_c is None:
                skipped += 1  # a cut last line of a killed run
                continue
            ts.append(float(m_ts.group(1)))
            queries.append(int(m_q.group(1)))
            lat.append(int(m_c.group(1)))
    if skipped:
        log.warning("%s: skipped %d unreadable Sample line(s)", path, skipped)
    if not lat:
        return None
    start_us = np.frombuffer(ts, dtype=np.float64)
    q = np.frombuffer(queries, dtype=np.int64)
    lat_ns = np.frombuffer(lat, dtype=np.int64).astype(np.float64)
    origin = float(start_us.min())
    sample_done = (start_us - origin) / 1e6 + lat_ns / 1e9
    if scenario == "Offline":
        order = np.argsort(sample_done, kind="stable")
        return TraceData(
            latency_ns=lat_ns[order],
            start_s=(start_us[order] - origin) / 1e6,
            done_s=sample_done[order],
            sample_done_s=sample_done[order],
            per="sample",
            samples=len(lat_ns),
            queries=len(np.unique(q)),
            skipped_lines=skipped,
        )
    ids, inverse = np.unique(q, return_inverse=True)
    q_lat = np.zeros(len(ids))
    np.maximum.at(q_lat, inverse, lat_ns)
    q_start = np.full(len(ids), np.inf)
    np.minimum.at(q_start, inverse, start_us)
    q_start = (q_start - origin) / 1e6
    q_done = q_start + q_lat / 1e9
    order = np.argsort(q_done, kind="stable")
    return TraceData(
        latency_ns=q_lat[order],
        start_s=q_start[order],
        done_s=q_done[order],
        sample_done_s=np.sort(sample_done),
        per="query",
        samples=len(lat_ns),
        queries=len(ids),
        skipped_lines=skipped,
    )


def _skip_rest(fh: Any) -> None:
    while True:
        chunk = fh.readline(MAX_LINE)
        if not chunk or chunk.endswith(b"\n"):
            return


def cdf_points(latency_ns: np.ndarray, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(latency ms, cumulative fraction) at no more than ``max_points`` quantiles."""
    s = np.sort(latency_ns) / 1e6
    n = len(s)
    if n <= max_points:
        return s, np.arange(1, n + 1) / n
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
    return s[idx], (idx + 1) / n


def histogram(latency_ns: np.ndarray, bins: int = 50) -> tuple[np.ndarray, np.ndarray, int]:
    """(edges ms, counts, entries above the last edge). The range ends at the 99.9th percentile
    when the maximum is more than twice it, so one outlier does not flatten the plot."""
    ms = latency_ns / 1e6
    lo, hi = float(ms.min()), float(ms.max())
    cap = float(np.quantile(ms, 0.999))
    if hi > 2 * cap > 0:
        hi = cap
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-3, 1e-6)
    counts, edges = np.histogram(ms, bins=bins, range=(lo, hi))
    return edges, counts, int((ms > hi).sum())


@dataclass
class OverTime:
    """Per time bin (bin centre ``t_s``): completed samples/s and latency percentiles (ms)."""

    t_s: np.ndarray
    samples_per_s: np.ndarray
    p50_ms: np.ndarray
    pmark_ms: np.ndarray
    bin_s: float


def over_time(data: TraceData, pmark: float, max_bins: int = 200) -> OverTime:
    """Throughput (sample completions per bin) and latency (p50 and ``pmark`` of the entries
    completing in each bin) over the run, in at most ``max_bins`` bins."""
    end = float(data.sample_done_s.max()) if len(data.sample_done_s) else 0.0
    n_bins = int(max(1, min(max_bins, len(data.latency_ns) // 20)))
    width = end / n_bins if end > 0 else 1.0
    edges = np.linspace(0.0, width * n_bins, n_bins + 1)
    done_counts, _ = np.histogram(data.sample_done_s, bins=edges)
    which = np.clip(np.searchsorted(edges, data.done_s, side="right") - 1, 0, n_bins - 1)
    p50 = np.full(n_bins, np.nan)
    pm = np.full(n_bins, np.nan)
    ms = data.latency_ns / 1e6
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(n_bins + 1))
    for b in range(n_bins):
        chunk = ms[order[bounds[b] : bounds[b + 1]]]
        if len(chunk):
            p50[b] = np.median(chunk)
            pm[b] = np.quantile(chunk, pmark)
    return OverTime(
        t_s=(edges[:-1] + edges[1:]) / 2,
        samples_per_s=done_counts / width,
        p50_ms=p50,
        pmark_ms=pm,
        bin_s=width,
    )


# ---- telemetry.csv -------------------------------------------------------------------------

_TIME_COLS = ("time_s", "t_s", "elapsed_s", "seconds", "time", "timestamp", "ts")
_GPU_COLS = ("gpu", "gpu_index", "index", "device", "gpu_id")
_UNITS = (
    ("_w", "W"),
    ("_c", "°C"),
    ("_pct", "%"),
    ("_percent", "%"),
    ("_mib", "MiB"),
    ("_mb", "MB"),
    ("_gib", "GiB"),
    ("_mhz", "MHz"),
    ("_mj", "mJ"),
    ("_j", "J"),
)


@dataclass
class Telemetry:
    """Numeric telemetry columns over time: ``series[column][gpu] = (t_s, values)``."""

    path: str
    time_column: str
    series: dict[str, dict[str, tuple[list[float], list[float]]]] = field(default_factory=dict)
    rows: int = 0

    @staticmethod
    def unit(column: str) -> str:
        low = column.lower()
        return next((u for suffix, u in _UNITS if low.endswith(suffix)), "")


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    t = text.strip().rstrip("%").strip()
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        return None


def _seconds(text: str) -> float | None:
    v = _number(text)
    if v is not None:
        return v
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_telemetry(path: Path) -> Telemetry | None:
    """Read ``telemetry.csv`` tolerantly; None when it has no time column or no numeric data."""
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        cols = [c for c in (reader.fieldnames or []) if c]
        lower = {c.strip().lower(): c for c in cols}
        tcol = next((lower[c] for c in _TIME_COLS if c in lower), None)
        if tcol is None:
            log.warning("%s: no time column (one of %s)", path, ", ".join(_TIME_COLS))
            return None
        gcol = next((lower[c] for c in _GPU_COLS if c in lower), None)
        tel = Telemetry(path=str(path), time_column=tcol)
        t0: float | None = None
        for rec in reader:
            t = _seconds(rec.get(tcol) or "")
            if t is None:
                continue
            t0 = t if t0 is None else t0
            gpu = (rec.get(gcol) or "").strip() if gcol else ""
            tel.rows += 1
            for c in cols:
                if c in (tcol, gcol):
                    continue
                v = _number(rec.get(c))
                if v is None:
                    continue
                xs, ys = tel.series.setdefault(c, {}).setdefault(gpu, ([], []))
                xs.append(t - t0)
                ys.append(v)
    return tel if tel.series else None
