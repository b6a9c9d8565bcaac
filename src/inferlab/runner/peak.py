"""Server peak search (``inferlab run BENCH --scenario Server --find-peak``).

Short LoadGen probe runs find the highest ``target_qps`` at which the Server run is VALID; one
run with the user's normal settings then confirms it. The search itself (:class:`PeakSearch`) is
pure and driven by results; :func:`find_peak` runs the probes through :func:`api.run`, each in its
own run directory, and keeps ``peak.json`` up to date after every probe. See docs/find-peak.md.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferlab.config.run_config import RunConfig
from inferlab.core import registry
from inferlab.core.clock import now_iso
from inferlab.core.errors import ConfigError, InferlabError
from inferlab.core.files import atomic_write_json
from inferlab.core.spec import BenchmarkSpec, Mode, Scenario, is_server_like
from inferlab.loadgen.overload import ServerOverload
from inferlab.results.load import ResultError, load_run
from inferlab.results.models import RunResult
from inferlab.results.store import create_run_dir
from inferlab.runner import api
from inferlab.runner.peak_search import GROWTH_FACTOR, PeakSearch, ProbeResult, round_qps
from inferlab.runner.signals import signal_name, signum_of, stop_signals
from inferlab.runner.supervisor import RunInterrupted

log = logging.getLogger(__name__)

PEAK_SCHEMA_VERSION = 1
OVERLOAD = ServerOverload.__name__  # error kind of a run the backlog guard stopped
PEAK_FILE = "peak.json"
#: Server early stopping (p = 0.99, confidence 0.99, rules file §6) needs 459 queries with none over
#: the bound and 662 with one; 662 lets a probe pass with one slow query (it is also the quick-mode
#: Server count). At rates below 662 / probe duration a probe lasts 662 / rate seconds.
PROBE_MIN_QUERY_COUNT = 662
DEFAULT_START_QPS = 100.0  # when there is no --peak-start, target_qps or calibration
MAX_CONFIRM_STEPS = 2  # extra confirming runs, each 1 / (1 + tolerance) lower


@dataclass(frozen=True)
class PeakOptions:
    """Settings of the search (CLI ``--peak-*``)."""

    probe_ms: float = 3000.0
    max_probes: int = 12
    tolerance: float = 0.05
    start: float | None = None
    max_qps: float | None = None
    min_qps: float = 1.0

    def __post_init__(self) -> None:
        if not self.probe_ms > 0:
            raise ConfigError(f"--peak-probe-ms {self.probe_ms} must be > 0", "e.g. 3000")
        if self.max_probes < 2:
            raise ConfigError(f"--peak-max-probes {self.max_probes} must be >= 2", "e.g. 12")
        if not 0.001 <= self.tolerance <= 1.0:
            raise ConfigError(
                f"--peak-tolerance {self.tolerance} must be in [0.001, 1]", "e.g. 0.05 (5 %)"
            )
        for name, v in (("--peak-start", self.start), ("--peak-max", self.max_qps)):
            if v is not None and not v > 0:
                raise ConfigError(f"{name} {v} must be > 0 QPS", f"drop {name} or give a rate")
        if not self.min_qps > 0:
            raise ConfigError(f"minimum probe rate {self.min_qps} must be > 0", "e.g. 1.0")


class PeakInterrupted(RunInterrupted):
    """Ctrl-C during the search; ``doc`` is the peak.json content kept so far."""

    def __init__(self, message: str, doc: dict[str, Any], *, signum: int = signal.SIGINT) -> None:
        super().__init__(message, signum=signum)
        self.doc = doc


def check(cfg: RunConfig) -> BenchmarkSpec:
    """Refuse configurations a peak search cannot apply to (before anything is written)."""
    if not is_server_like(cfg.scenario):
        raise ConfigError(
            f"--find-peak searches the Server scenario's target_qps, not {cfg.scenario}",
            "add --scenario Server (or Interactive; Offline measures its throughput in one run)",
        )
    if cfg.mode != Mode.PERFORMANCE.value:
        raise ConfigError(
            "--find-peak needs performance mode (accuracy mode has no VALID/INVALID result)",
            "drop --mode accuracy, then run accuracy at the found rate",
        )
    spec = registry.get(cfg.benchmark)
    if Scenario(cfg.scenario) not in spec.scenarios:
        raise ConfigError(
            f"{spec.id} has no {cfg.scenario} scenario",
            f"use one of {', '.join(s.value for s in spec.scenarios)}",
        )
    return spec


def _start(cfg: RunConfig, opts: PeakOptions, spec: BenchmarkSpec) -> tuple[float | None, str]:
    """The first probe's rate and where it came from (None: let calibration choose it)."""
    if opts.start is not None:
        return opts.start, "--peak-start"
    if "target_qps" in cfg.loadgen:
        return float(cfg.loadgen["target_qps"]), "--set loadgen.target_qps"
    if cfg.user_conf is not None:
        from inferlab.loadgen.settings import parse_user_conf

        scenario = Scenario(cfg.scenario)
        value = parse_user_conf(cfg.user_conf, spec.config_key(scenario), "Server").get(
            "target_qps"
        )
        if value:
            return float(value), "user.conf target_qps"
    if cfg.calibrate:
        return None, "calibration"
    return DEFAULT_START_QPS, "default"


def probe_config(
    cfg: RunConfig, qps: float | None, opts: PeakOptions, out: Path, *, calibrate: bool = False
) -> RunConfig:
    """The user's config with short-run LoadGen keys on top (``--set`` layer)."""
    lg = {k: v for k, v in cfg.loadgen.items() if k != "target_qps"}
    lg.update({"min_duration": opts.probe_ms, "min_query_count": PROBE_MIN_QUERY_COUNT})
    if qps is not None:
        lg["target_qps"] = qps
    return cfg.model_copy(update={"loadgen": lg, "out": out, "calibrate": calibrate})


def _latency(run_dir: Path) -> dict[str, Any]:
    """The Server percentile figures from the run's detail log (empty if there is none)."""
    from inferlab.loadgen.logs import parse_detail

    path = run_dir / "mlperf_log_detail.txt"
    if not path.is_file():
        return {}
    try:
        d = parse_detail(path, strict=False)
    except InferlabError:
        return {}
    pct = d.get("effective_target_latency_percentile") or 0.99
    tag = f"{pct * 100:.2f}"
    out: dict[str, Any] = {
        "percentile": pct,
        "latency_ns": d.get(f"result_{tag}_percentile_latency_ns"),
        "bound_ns": d.get("effective_target_latency_ns"),
        "min_latency_ns": d.get("result_min_latency_ns"),
        "overlatency_queries": d.get("result_overlatency_query_count"),
        "queries": d.get("result_query_count"),
    }
    if d.get("requested_use_token_latencies"):
        out["ttft_ns"] = d.get(f"result_first_token_{tag}_percentile_latency_ns")
        out["tpot_ns"] = d.get(f"result_time_per_output_token_{tag}_percentile_ns")
    return out


def _qps_of(result: RunResult) -> float | None:
    eff = (result.loadgen.effective or {}).get("effective_target_qps")
    key = result.loadgen.keys.get("target_qps")
    value = eff if eff is not None else key.value if key is not None else None
    return float(value) if isinstance(value, int | float) else None


def run_record(result: RunResult, qps: float | None) -> dict[str, Any]:
    """One probe or confirming run as peak.json lists it."""
    res, run_dir = result.result, result.run_dir
    rec: dict[str, Any] = {
        "target_qps": qps if qps is not None else _qps_of(result),
        "status": result.status,
        "validity": res.validity if res else None,
        "achieved_qps": res.value if res else None,
        "invalid_reasons": list(res.invalid_reasons) if res else [],
        **_latency(run_dir),
        "run_dir": str(run_dir),
        "duration_s": result.timings.get("total_s"),
    }
    return {**rec, "error": result.error.model_dump()} if result.error is not None else rec


def _overloaded(rec: dict[str, Any]) -> bool:
    """The worker stopped the run because LoadGen's offered load outran the SUT (its backlog
    kept growing): the rate is too high, as an INVALID run says, not a broken probe."""
    return rec.get("status") == "failed" and (rec.get("error") or {}).get("kind") == OVERLOAD


def _hopeless(rec: dict[str, Any]) -> bool:
    fastest, bound = rec.get("min_latency_ns"), rec.get("bound_ns")
    return isinstance(fastest, int | float) and isinstance(bound, int | float) and fastest > bound


class _Driver:
    """Runs the probes and confirming runs of one search and keeps peak.json current."""

    def __init__(self, cfg: RunConfig, opts: PeakOptions, spec: BenchmarkSpec) -> None:
        self.cfg, self.opts = cfg, opts
        self.group = create_run_dir(cfg.out, spec.id, cfg.scenario, "findpeak").resolve()
        self.probes_dir = self.group / "probes"
        self.confirm_dir = self.group / "confirm"
        self.current_qps: float | None = None
        self.probes_dir.mkdir()
        self.doc: dict[str, Any] = {
            "schema_version": PEAK_SCHEMA_VERSION,
            "kind": "server-find-peak",
            "status": "running",
            "benchmark": spec.id,
            "scenario": cfg.scenario,
            "group_dir": str(self.group),
            "started_at": now_iso(),
            "finished_at": None,
            "settings": {
                "probe_ms": opts.probe_ms,
                "probe_min_query_count": PROBE_MIN_QUERY_COUNT,
                "max_probes": opts.max_probes,
                "tolerance": opts.tolerance,
                "growth_factor": GROWTH_FACTOR,
                "start_qps": None,
                "start_source": None,
                "max_qps": opts.max_qps,
                "min_qps": opts.min_qps,
            },
            "config": cfg.model_dump(mode="json"),
            "probes": [],
            "search": dict.fromkeys(("stop_reason", "valid_qps", "invalid_qps", "peak_qps")),
            "confirm": [],
            "peak": None,
            "error": None,
        }
        self.save()

    def save(self) -> None:
        atomic_write_json(self.group / PEAK_FILE, self.doc)

    def _run(self, cfg: RunConfig, qps: float | None) -> dict[str, Any]:
        self.current_qps = qps
        return run_record(api.run(cfg), qps)

    def probe(self, qps: float | None, *, calibrate: bool = False) -> ProbeResult:
        cfg = probe_config(self.cfg, qps, self.opts, self.probes_dir, calibrate=calibrate)
        n = len(self.doc["probes"]) + 1
        if qps is not None and PROBE_MIN_QUERY_COUNT / qps > 1.2 * self.opts.probe_ms / 1000:
            floor = PROBE_MIN_QUERY_COUNT
            log.info("probe %d at %g QPS lasts ~%.0f s (%d queries)", n, qps, floor / qps, floor)
        rec = self._run(cfg, qps)
        rec["index"] = n
        self.doc["probes"].append(rec)
        self.save()
        log.info("probe %d: %s", n, _describe(rec))
        if _overloaded(rec) and rec["target_qps"] is not None:
            return ProbeResult(rec["target_qps"], False, False)
        if rec["status"] not in ("ok", "invalid") or rec["target_qps"] is None:
            err = rec.get("error") or {}
            raise _ProbeFailed(f"probe {n} failed: {err.get('message', rec['status'])}")
        return ProbeResult(rec["target_qps"], rec["validity"] == "VALID", _hopeless(rec))

    def search(self, start: float | None, source: str) -> PeakSearch:
        settings = self.doc["settings"]
        settings["start_source"] = source
        first: ProbeResult | None = None
        if start is None:  # the first probe calibrates; LoadGen runs it at the calibrated rate
            first = self.probe(None, calibrate=True)
            start = first.target_qps
        settings["start_qps"] = start
        search = PeakSearch(
            start=start,
            tolerance=self.opts.tolerance,
            max_probes=self.opts.max_probes,
            max_qps=self.opts.max_qps,
            min_qps=self.opts.min_qps,
        )
        if first is not None:
            search.record(first)
        while (qps := search.next_qps()) is not None:
            search.record(self.probe(qps))
            self._bounds(search)
        self._bounds(search)
        return search

    def _bounds(self, search: PeakSearch) -> None:
        self.doc["search"] = {
            "stop_reason": search.stop_reason,
            "valid_qps": search.lo,
            "invalid_qps": search.hi,
            "peak_qps": search.peak if search.done else None,
        }
        self.save()

    def confirm(self, qps: float) -> None:
        """Runs at ``qps`` with the user's settings; steps down on INVALID (at most twice)."""
        for step in range(MAX_CONFIRM_STEPS + 1):
            cfg = self.cfg.model_copy(
                update={"loadgen": {**self.cfg.loadgen, "target_qps": qps}, "out": self.confirm_dir}
            )
            log.info("confirming run %d at %g QPS with the normal settings", step + 1, qps)
            rec = self._run(cfg, qps)
            rec["step"] = step
            self.doc["confirm"].append(rec)
            self.save()
            log.info("confirming run %d: %s", step + 1, _describe(rec))
            ok = rec["validity"] == "VALID"
            failed = rec["status"] not in ("ok", "invalid") and not _overloaded(rec)
            if ok or failed or step == MAX_CONFIRM_STEPS:
                break  # a failed run says nothing about the rate: no step down
            qps = round_qps(qps / (1 + self.opts.tolerance))
        self.doc["peak"] = _peak(self.doc, rec if ok else None, rec, step)

    def sweep_unrecorded(self) -> None:
        """After Ctrl-C: list the run directory of the run that was cut short."""
        known = {r["run_dir"] for r in self.doc["probes"] + self.doc["confirm"]}
        for parent, kind in ((self.probes_dir, "probes"), (self.confirm_dir, "confirm")):
            if not parent.is_dir():
                continue
            for d in sorted(parent.iterdir()):
                if not d.is_dir() or str(d.resolve()) in known:
                    continue
                rec: dict[str, Any] = {
                    "target_qps": self.current_qps,
                    "status": "interrupted",
                    "validity": None,
                    "invalid_reasons": [],
                    "run_dir": str(d.resolve()),
                }
                try:  # api.run writes result.json (status interrupted) before it raises
                    rec = run_record(load_run(d).result, self.current_qps)
                except ResultError:
                    pass
                if kind == "probes":
                    rec["index"] = len(self.doc["probes"]) + 1
                self.doc[kind].append(rec)


def _peak(
    doc: dict[str, Any], valid: dict[str, Any] | None, last: dict[str, Any] | None, step: int
) -> dict[str, Any]:
    """peak.json's verdict: the confirmed rate (``valid``), or none after ``last``."""
    return {
        "qps": valid["target_qps"] if valid else None,
        "validity": last["validity"] if last else None,
        "run_dir": last["run_dir"] if last else None,
        "achieved_qps": last["achieved_qps"] if last else None,
        "search_peak_qps": doc["search"]["peak_qps"],
        "stepped_down": step,
        "confirmed": valid is not None,
    }


class _ProbeFailed(InferlabError):
    exit_code = 1


def _describe(rec: dict[str, Any]) -> str:
    qps = rec.get("target_qps")
    head = f"{qps:g} QPS" if isinstance(qps, int | float) else "? QPS"
    if rec.get("status") not in ("ok", "invalid"):
        return f"{head} {str(rec.get('status')).upper()}"
    lat, bound = rec.get("latency_ns"), rec.get("bound_ns")
    fig = ""
    if isinstance(lat, int | float) and isinstance(bound, int | float):
        fig = f" (p{rec['percentile'] * 100:g} {lat / 1e6:.2f} ms, bound {bound / 1e6:.2f} ms)"
    return f"{head} {rec.get('validity')}{fig}"


def find_peak(cfg: RunConfig, opts: PeakOptions | None = None) -> dict[str, Any]:
    """Search the highest VALID Server target_qps, confirm it; returns peak.json's content. Raises
    :class:`PeakInterrupted` on Ctrl-C, SIGTERM or SIGHUP (peak.json keeps the probes done so far)
    and the input errors of :func:`api.run` (recorded in peak.json first)."""
    opts = opts or PeakOptions()
    spec = check(cfg)
    start, source = _start(cfg, opts, spec)
    drv = _Driver(cfg, opts, spec)
    doc = drv.doc
    log.info("find-peak: probes and peak.json in %s", drv.group)
    try:
        with stop_signals():  # SIGTERM/SIGHUP between probes too stop as Ctrl-C does
            search = drv.search(start, source)
            if search.peak is None:
                doc["peak"] = _peak(doc, None, None, 0)
            else:
                drv.confirm(search.peak)
        doc["status"] = "done"
    except (RunInterrupted, KeyboardInterrupt) as exc:
        signum = signum_of(exc)
        drv.sweep_unrecorded()
        doc["status"] = "interrupted"
        doc["error"] = {"kind": "interrupted", "message": f"stopped by {signal_name(signum)}"}
        doc["finished_at"] = now_iso()
        drv.save()
        kept = f"{len(doc['probes'])} probe(s) kept in {drv.group / PEAK_FILE}"
        raise PeakInterrupted(f"find-peak interrupted; {kept}", doc, signum=signum) from exc
    except _ProbeFailed as exc:
        doc["status"] = "failed"
        doc["error"] = {"kind": "probe_failed", "message": str(exc)}
    except InferlabError as exc:
        doc["status"] = "failed"
        doc["error"] = {"kind": type(exc).__name__, "message": str(exc)}
        doc["finished_at"] = now_iso()
        drv.save()
        raise
    doc["finished_at"] = now_iso()
    drv.save()
    return doc


def peak_ok(doc: dict[str, Any]) -> bool:
    """A confirmed VALID peak."""
    return bool((doc.get("peak") or {}).get("confirmed"))
