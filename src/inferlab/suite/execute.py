"""Run a suite: plan it, run each planned run in order (resumable), find the Server rates,
then build and check the submission tree and write the summary.

Each run is an ordinary ``inferlab run`` (``runner.api.run``: its own run directory under
``<suite>/runs``, its own worker); the suite only decides the order and the settings, and
records every outcome in ``suite.json`` as it goes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferlab.config.run_config import RunConfig
from inferlab.core.errors import ConfigError, InferlabError
from inferlab.core.spec import is_server_like
from inferlab.runner import api
from inferlab.runner.signals import signal_name, signum_of, stop_signals
from inferlab.runner.supervisor import RunInterrupted
from inferlab.suite.plan import PERFORMANCE, Plan, PlannedRun, Skipped, make_plan
from inferlab.suite.state import SuiteState
from inferlab.suite.system import SystemFile, load_system_file, run_config

log = logging.getLogger(__name__)

SERVER = "Server"


def rate_key(benchmark: str, scenario: str) -> str:
    """suite.json's ``server_qps`` key: the benchmark for Server (as before Interactive), and
    ``<benchmark> <scenario>`` for another Server-like scenario (Interactive)."""
    return benchmark if scenario == SERVER else f"{benchmark} {scenario}"


RUNS_DIR, PEAK_DIR, TREE_DIR = "runs", "peak", "submission"


@dataclass(frozen=True)
class SuiteOptions:
    out: Path
    category: str = "edge"
    benchmarks: tuple[str, ...] = ()
    division: str = "closed"
    round: str | None = None
    quick: bool = False
    system_file: Path | None = None
    flags: Mapping[str, Any] = field(default_factory=dict)  # RunConfig fields for every run
    sets: tuple[str, ...] = ()
    fail_fast: bool = False
    submitter: str = "inferlab"
    system_desc: Path | None = None
    official_checker: Path | None = None
    build: bool = True

    def args(self) -> dict[str, Any]:
        """What resuming needs to continue the same suite (stored in suite.json)."""
        return {
            "category": self.category,
            "benchmarks": list(self.benchmarks),
            "division": self.division,
            "round": self.round,
            "quick": self.quick,
            "system_file": str(self.system_file) if self.system_file else None,
            "flags": {k: str(v) if isinstance(v, Path) else v for k, v in self.flags.items()},
            "sets": list(self.sets),
            "fail_fast": self.fail_fast,
            "submitter": self.submitter,
            "system_desc": str(self.system_desc) if self.system_desc else None,
            "official_checker": str(self.official_checker) if self.official_checker else None,
            "build": self.build,
        }

    @classmethod
    def from_args(cls, out: Path, a: Mapping[str, Any]) -> SuiteOptions:
        def path(v: Any) -> Path | None:
            return Path(v) if v else None

        return cls(
            out=out,
            category=a["category"],
            benchmarks=tuple(a.get("benchmarks") or ()),
            division=a.get("division", "closed"),
            round=a.get("round"),
            quick=bool(a.get("quick")),
            system_file=path(a.get("system_file")),
            flags=dict(a.get("flags") or {}),
            sets=tuple(a.get("sets") or ()),
            fail_fast=bool(a.get("fail_fast")),
            submitter=a.get("submitter", "inferlab"),
            system_desc=path(a.get("system_desc")),
            official_checker=path(a.get("official_checker")),
            build=bool(a.get("build", True)),
        )


class SuiteInterrupted(RunInterrupted):
    """The suite was stopped by a signal; suite.json says which run was stopped."""


def installed_round() -> str:
    from inferlab.loadgen.probe import probe_round, resolve_round

    return resolve_round(probe_round())


def _flags(opts: SuiteOptions) -> dict[str, Any]:
    flags = dict(opts.flags)
    if opts.quick:
        flags["quick"] = True
    return flags


def plan_suite(opts: SuiteOptions, *, check_data: bool = True) -> Plan:
    """The plan for ``opts``; without named benchmarks and outside quick mode, the benchmarks
    whose data ``inferlab check`` does not find are dropped, each listed with why."""
    round_ = opts.round or installed_round()
    plan = make_plan(
        list(opts.benchmarks) or None,
        category=opts.category,
        division=opts.division,
        round_=round_,
    )
    if check_data and not opts.benchmarks and not opts.quick:
        _drop_benchmarks_without_data(plan, opts)
    return plan


def _data_dir(opts: SuiteOptions, system: SystemFile) -> Path | None:
    value = opts.flags.get("data_dir") or system.common.get("data_dir")
    value = value or os.environ.get("INFERLAB_DATA_DIR")
    return Path(value) if value else None


def _drop_benchmarks_without_data(plan: Plan, opts: SuiteOptions) -> None:
    from inferlab.runner.preflight import Report, check_data

    root = _data_dir(opts, load_system_file(opts.system_file))
    if root is None:
        raise ConfigError(
            "no data root (--data-dir, the system file's data_dir or INFERLAB_DATA_DIR): a suite "
            "without benchmark names runs those whose data is ready there",
            "pass --data-dir ROOT (inferlab prepare fills it), name the benchmarks to run them "
            "on synthetic data, or try the flow with --quick",
        )
    for bid in list(plan.benchmarks):
        report = Report()
        check_data(report, bid, root)
        if report.ok:
            continue
        failing = [c for c in report.checks if c.status in ("fail", "warn")]
        why = "; ".join(f"{c.name}: {c.detail}" for c in failing[:3]) or "no data root"
        fix = next((c.fix for c in failing if c.fix), f"inferlab prepare {bid}")
        plan.benchmarks.remove(bid)
        plan.runs = [r for r in plan.runs if r.benchmark != bid]
        plan.skipped.append(Skipped(bid, f"its data is not ready ({why}); {fix}"))
    if not plan.runs:
        raise ConfigError(
            f"no benchmark of round {plan.round} ({plan.category}) has its data ready: "
            + "; ".join(f"{s.what}: {s.why}" for s in plan.skipped),
            "prepare the data (inferlab prepare BENCHMARK --data-dir ROOT), name the benchmarks "
            "to run them on synthetic data, or try the flow with --quick",
        )


def start_or_resume(opts: SuiteOptions, *, resume: bool) -> tuple[SuiteState, SuiteOptions]:
    suite_dir = opts.out.resolve()
    if resume:
        state = SuiteState.load(suite_dir)
        return state, SuiteOptions.from_args(suite_dir, state.args)
    plan = plan_suite(opts)
    if opts.round is not None and plan.round != installed_round():
        raise ConfigError(
            f"round {plan.round} asked for, but the installed mlcommons-loadgen serves "
            f"{installed_round()} (its seeds decide)",
            f"install a LoadGen release of {plan.round} (docs/rounds.md), or use --dry-run "
            "to see that round's plan",
        )
    suite_dir.mkdir(parents=True, exist_ok=True)
    state = SuiteState.new(suite_dir, plan, opts.args())
    state.save()
    return state, opts


def _server_extra(
    state: SuiteState, opts: SuiteOptions, system: SystemFile, run: PlannedRun, say: Any
) -> dict[str, Any] | None:
    """Server runs: ``loadgen.target_qps`` from the system file or the flags (nothing to
    add), else the rate found once per benchmark (find-peak; quick: the calibrated rate of
    the performance run) and recorded in suite.json. None: no rate, the run cannot go."""
    if not is_server_like(run.scenario):
        return {}
    key = rate_key(run.benchmark, run.scenario)
    given = system.target_qps(run.benchmark, run.scenario)
    lg = opts.flags.get("loadgen") or {}
    if given is not None or (isinstance(lg, Mapping) and lg.get("target_qps") is not None):
        src = "the system file" if given is not None else "the flags"
        state.server_qps.setdefault(key, {"qps": given, "source": src})
        return {}
    known = state.server_qps.get(key)
    if known and known.get("qps"):
        return {"loadgen": {**(lg if isinstance(lg, Mapping) else {}), "target_qps": known["qps"]}}
    if opts.quick:
        return {}  # quick: the performance run calibrates; the rate it used is recorded after
    if known and known.get("source") == "find-peak":
        return None  # searched before and found nothing VALID
    say(f"{run.benchmark} {run.scenario}: searching the highest VALID target_qps (find-peak)")
    from inferlab.runner.peak import PeakInterrupted, find_peak

    cfg = run_config(
        PlannedRun(run.benchmark, run.scenario, PERFORMANCE),
        system,
        flags=_flags(opts),
        sets=opts.sets,
        out=state.suite_dir / PEAK_DIR,
    )
    try:
        doc = find_peak(cfg)
    except PeakInterrupted as exc:
        raise SuiteInterrupted(str(exc), signum=exc.signum) from exc
    qps = (doc.get("peak") or {}).get("qps")
    state.server_qps[key] = {
        "qps": qps,
        "source": "find-peak",
        "peak_json": str(Path(doc.get("group_dir", "")) / "peak.json"),
    }
    state.save()
    if qps is None:
        return None
    return {"loadgen": {**(lg if isinstance(lg, Mapping) else {}), "target_qps": qps}}


def _record_calibrated_rate(state: SuiteState, run: PlannedRun, result: Any) -> None:
    if not is_server_like(run.scenario) or run.mode != PERFORMANCE or run.audit is not None:
        return
    key = rate_key(run.benchmark, run.scenario)
    if state.server_qps.get(key, {}).get("qps"):
        return
    used = result.loadgen.keys.get("target_qps")
    if used is not None and used.value:
        state.server_qps[key] = {
            "qps": float(used.value),
            "source": f"{used.source} of the performance run",
        }


def run_planned(state: SuiteState, opts: SuiteOptions, say: Callable[[str], None]) -> bool:
    """Run every planned run not yet done. True when none failed. Raises SuiteInterrupted."""
    system = load_system_file(opts.system_file)
    runs_dir = state.suite_dir / RUNS_DIR
    todo = [r for r in state.plan.runs if not state.done(r.key)]
    ok = True
    state.status = "running"
    state.save()
    for n, run in enumerate(todo, 1):
        say(f"[{n}/{len(todo)}] {run.key}")
        try:
            with stop_signals():  # SIGTERM/SIGHUP between runs stop the suite as Ctrl-C does
                extra = _server_extra(state, opts, system, run, say)
                if extra is None:
                    state.mark(run.key, "failed", error="no VALID Server rate was found")
                    ok = False
                    continue
                cfg: RunConfig = run_config(
                    run, system, flags=_flags(opts), sets=opts.sets, out=runs_dir, extra=extra
                )
                state.mark(run.key, "running")
                result = api.run(cfg)
        except RunInterrupted as exc:
            where = getattr(exc, "run_dir", None)
            state.mark(run.key, "interrupted", run_dir=str(where) if where else None)
            state.status = "interrupted"
            state.save()
            raise SuiteInterrupted(
                f"suite stopped ({signal_name(exc.signum)}) at {run.key}; resume it with "
                f"inferlab suite --resume --out {state.suite_dir}",
                signum=exc.signum,
            ) from exc
        except KeyboardInterrupt as exc:  # between runs (a signal outside api.run)
            signum = signum_of(exc)
            if state.runs[run.key].get("status") == "running":
                state.mark(run.key, "interrupted")
            state.status = "interrupted"
            state.save()
            raise SuiteInterrupted(
                f"suite stopped ({signal_name(signum)}) before {run.key}; resume it with "
                f"inferlab suite --resume --out {state.suite_dir}",
                signum=signum,
            ) from exc
        except InferlabError as exc:
            state.mark(run.key, "failed", error=str(exc))
            say(f"  failed: {exc}")
            ok = False
            if opts.fail_fast:
                break
            continue
        _record_calibrated_rate(state, run, result)
        state.mark(run.key, result.status, run_dir=str(result.run_dir))
        say(f"  {result.status}: {result.run_dir}")
        if result.status not in ("ok", "invalid"):
            ok = False
            if opts.fail_fast:
                break
    state.status = "ran" if ok else "ran-with-failures"
    state.save()
    return ok


def run_dirs(state: SuiteState) -> list[Path]:
    """The run directories of the runs that finished (ok or invalid)."""
    return [
        Path(rec["run_dir"])
        for key, rec in state.runs.items()
        if state.done(key) and rec.get("run_dir")
    ]
