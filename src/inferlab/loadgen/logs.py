"""Parse LoadGen's ``mlperf_log_detail.txt`` / ``mlperf_log_summary.txt`` and judge the run.

Detail log: one record per line, ``:::MLLOG {json}`` (``:::ENDPTS`` for network logs) with
``key``, ``value``, ``time_ms``, ``namespace``, ``event_type`` and
``metadata = {"is_error": bool, "is_warning": bool, "file": str, "line_no": int, "pid", "tid"}``.
Errors use keys ``error_runtime``, ``error_invalid_config``, ``error_invalid_test_settings``,
``error_uncommitted_loadgen_changes``; warnings ``warning_generic_message``. A key may repeat
(``generic_message``, ``loaded_qsl_set``, ``generated_query_count`` per loaded set in accuracy
mode); like the submission checker's ``log_parser`` the FIRST value wins.

:func:`outcome` turns both logs into a :class:`LoadgenOutcome`: validity, the official figure
(submission rules: Offline ``result_samples_per_second``, Server
``result_completed_samples_per_sec``, SingleStream ``early_stopping_latency_ss``, MultiStream
``early_stopping_latency_ms``, both in ns) and one-line explanations of every failed constraint.
The parsers live in :mod:`inferlab.loadgen.logparse` and are re-exported here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferlab.core.spec import OFFICIAL_FIELD

# the parsers, importable from here (explicit re-exports)
from inferlab.loadgen.logparse import DETAIL_LOG_NAME as DETAIL_LOG_NAME
from inferlab.loadgen.logparse import MARKERS as MARKERS
from inferlab.loadgen.logparse import SUMMARY_LOG_NAME as SUMMARY_LOG_NAME
from inferlab.loadgen.logparse import DetailLog as DetailLog
from inferlab.loadgen.logparse import LogRecord as LogRecord
from inferlab.loadgen.logparse import SummaryLog as SummaryLog
from inferlab.loadgen.logparse import parse_detail as parse_detail
from inferlab.loadgen.logparse import parse_summary as parse_summary

#: Detail-log key holding the official figure per scenario (checker's ``RESULT_FIELD_NEW``).
RESULT_FIELD: dict[str, str] = {s.value: spec[0] for s, spec in OFFICIAL_FIELD.items()}
SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed", "accuracy_log_rng_seed")


@dataclass(frozen=True)
class LoadgenOutcome:
    """What a LoadGen run produced, judged like the submission checker would.

    ``result`` is the raw value of ``result_field`` (``unit`` "samples/s", "tokens/s" or "ns";
    ``result_ms`` for latency figures). It is None in accuracy mode, when the run ended without
    results, and for SingleStream/MultiStream when early stopping failed (LoadGen logs 0 then).
    """

    scenario: str | None
    mode: str | None
    validity: str | None
    result_field: str | None = None
    result: float | None = None
    unit: str | None = None
    result_ms: float | None = None
    constraints: dict[str, bool | None] = field(default_factory=dict)
    invalid_reasons: list[str] = field(default_factory=list)
    loadgen_reason: str | None = None
    early_stopping: list[str] = field(default_factory=list)
    query_count: int | None = None
    sample_count: int | None = None
    duration_s: float | None = None
    effective: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    loadgen_version: str | None = None
    truncated: bool = False

    @property
    def valid(self) -> bool:
        return self.validity == "VALID"

    def headline(self) -> str:
        """One line for humans, e.g. ``Offline PerformanceOnly VALID: 101438 samples/s``."""
        head = f"{self.scenario} {self.mode}" + (f" {self.validity}" if self.validity else "")
        if self.result is None:
            return head
        if self.result_ms is not None:
            return f"{head}: {_num(self.result_ms)} ms ({self.result_field})"
        return f"{head}: {self.result:g} {self.unit}"


def _num(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def _ms(ns: float) -> str:
    return f"{_num(ns / 1e6)} ms"


def _as_float(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _as_bool(value: Any) -> bool | None:
    """Detail logs hold JSON booleans, summaries "Yes"/"NO"."""
    if isinstance(value, bool) or value is None:
        return value
    return {"yes": True, "no": False}.get(str(value).strip().lower())


def _setting(d: DetailLog, name: str) -> Any:
    return d.get(f"effective_{name}", d.get(f"requested_{name}"))


def _counts(d: DetailLog, scenario: str | None, accuracy: bool) -> tuple[int | None, int | None]:
    if accuracy:
        queries = d.all("generated_query_count")
        spq = d.all("generated_samples_per_query")
        if not queries:
            return None, None
        if len(spq) != len(queries):
            spq = [spq[0] if spq else 1] * len(queries)
        return sum(queries), sum(q * s for q, s in zip(queries, spq, strict=True))
    q = d.get("result_query_count")
    if not isinstance(q, int):
        return None, None
    spq = _setting(d, "samples_per_query")
    per_query = spq if scenario in ("Offline", "MultiStream") and isinstance(spq, int) else 1
    return q, q * per_query


def _duration(d: DetailLog, scenario: str | None, samples: int | None) -> float | None:
    """Run length as LoadGen measures it for the min-duration check (None when not derivable)."""
    if scenario == "Offline":
        ns = _as_float(d.get("result_max_latency_ns"))
        return ns / 1e9 if ns else None
    rate_key = {
        "Server": "result_scheduled_samples_per_sec",
        "SingleStream": "result_qps_with_loadgen_overhead",
    }.get(scenario or "")
    rate = _as_float(d.get(rate_key)) if rate_key else None
    if rate and samples and samples > 1:
        return (samples - 1) / rate
    return None


def _min_duration_reason(d: DetailLog, scenario: str | None, dur: float | None) -> str:
    need = _as_float(_setting(d, "min_duration_ms"))
    need_txt = f"{_num(need / 1000)} s" if need is not None else "the minimum"
    ran = f"ran {_num(dur)} s of {need_txt}" if dur is not None else f"ran less than {need_txt}"
    fix = {
        "Offline": "raise the expected QPS (offline target_qps) so LoadGen builds a larger query",
        "Server": "raise target_qps or min_query_count so LoadGen schedules enough queries",
    }.get(
        scenario or "",
        "lower the expected latency (target_latency) so LoadGen generates more queries, "
        "or raise min_query_count",
    )
    cap = _as_float(_setting(d, "max_duration_ms"))
    if cap and need is not None and cap < need:
        fix = f"max_duration ({_num(cap / 1000)} s) is shorter than min_duration: raise or unset it"
    early = [e for e in d.errors if "Ending early" in e]
    if early:
        fix += f" (LoadGen error: {early[0]})"
    return f"min duration not met: {ran}; {fix}"


def _min_queries_reason(d: DetailLog, queries: int | None, samples: int | None) -> str:
    need_q = _as_float(_setting(d, "min_query_count"))
    need_s = _as_float(_setting(d, "min_sample_count"))
    if queries is not None and need_q is not None and queries < need_q:
        what = f"issued {queries} queries of {int(need_q)} required (min_query_count)"
    elif samples is not None and need_s is not None and samples < need_s:
        what = f"completed {samples} samples of {int(need_s)} required (min_sample_count)"
    else:
        what = "the test exited before enough queries were issued"
    cause = f"; LoadGen error: {d.errors[0]}" if d.errors else ""
    return (
        f"min queries not met: {what}{cause}; the run ended early: check max_query_count, "
        "max_duration and the LoadGen errors"
    )


def _percentile_parts(d: DetailLog) -> tuple[str, str]:
    p = _as_float(_setting(d, "target_latency_percentile")) or 0.99
    return f"{p * 100:.1f}th", f"{p * 100:.2f}"


def _perf_reasons(d: DetailLog) -> list[str]:
    label, pct = _percentile_parts(d)
    qps = _setting(d, "target_qps")
    fix = f"lower target_qps (now {qps})" if qps is not None else "lower target_qps"
    checks = [("latency", f"result_{pct}_percentile_latency_ns", "target_latency_ns")]
    if d.get("requested_use_token_latencies"):
        checks = [
            ("TTFT", f"result_first_token_{pct}_percentile_latency_ns", "server_ttft_latency"),
            ("TPOT", f"result_time_per_output_token_{pct}_percentile_ns", "server_tpot_latency"),
        ]
    reasons = []
    for what, key, limit_name in checks:
        value, limit = _as_float(d.get(key)), _as_float(_setting(d, limit_name))
        if value is not None and limit is not None and value > limit:
            fastest = _as_float(d.get("result_min_latency_ns")) if what == "latency" else None
            if fastest is not None and fastest > limit:
                advice = (
                    f"even the fastest query took {_ms(fastest)}, so no target_qps can pass: "
                    "the SUT itself is too slow for this bound (smaller batches, a faster "
                    "device or lower precision)"
                )
            else:
                advice = f"{fix} until the {label} percentile fits"
            reasons.append(
                f"Server {what} constraint not met: {label} percentile {_ms(value)} > target "
                f"{_ms(limit)}; {advice}"
            )
    over, count = d.get("result_overlatency_query_count"), d.get("result_query_count")
    if reasons and isinstance(over, int) and isinstance(count, int) and checks[0][0] != "TTFT":
        reasons[0] += f" ({over} of {count} queries over the target)"
    if not reasons:
        msg = str(d.get("result_invalid_reason", "")).strip() or "latency percentile over target"
        reasons.append(f"Server performance constraint not met: {msg}; {fix}")
    return reasons


_ES_TOO_FEW = re.compile(r"Only processed (\d+) queries\..*?at least (\d+) queries")
_ES_SERVER = re.compile(r"Processed (\d+) queries\..*?at least (\d+) more queries")


#: TTFT / TPOT early stopping: (bound, 99th percentile, fastest) detail keys, ns
_TOKEN_KEYS = {
    "TTFT ": (
        "server_ttft_latency",
        "result_first_token_99.00_percentile_latency_ns",
        "result_first_token_min_latency_ns",
    ),
    "TPOT ": (
        "server_tpot_latency",
        "result_time_per_output_token_99.00_percentile_ns",
        "result_time_to_output_token_min",
    ),
}


def _token_reason(d: DetailLog, head: str, prefix: str, done: str, more: str) -> str:
    """TTFT/TPOT early stopping: judged on the token latencies against their own bounds (the
    query latency bound is 0 then, and LoadGen counts every query "over" it)."""
    bound_key, p99_key, min_key = _TOKEN_KEYS[prefix]
    bound = _as_float(_setting(d, bound_key))
    p99 = _as_float(d.get(p99_key))
    fastest = _as_float(d.get(min_key))
    name = prefix.strip()
    total = int(done) + int(more)
    if bound and fastest is not None and fastest > bound:
        advice = f"no query's {name} ({_ms(fastest)} at best) meets it: only a faster SUT can pass"
    elif bound and p99 is not None and p99 <= bound:
        advice = (
            f"the 99th-percentile {name} {_ms(p99)} is within it, so the run was too short: "
            f"raise min_query_count to at least {total}"
        )
    elif bound and p99 is not None:
        advice = (
            f"the 99th-percentile {name} {_ms(p99)} is {_ms(p99 - bound)} over it: lower "
            "target_qps (or run longer)"
        )
    else:
        advice = "see the summary log"
    where = f"the {_ms(bound)} {name} bound" if bound else f"the {name} bound"
    return (
        f"{head}: processed {done} queries; LoadGen would need at least {more} more, all under "
        f"{where}; {advice}"
    )


def _early_stopping_reason(d: DetailLog, text: str, prefix: str) -> str:
    flat = " ".join(text.replace("*", " ").split())
    head = f"{prefix}early stopping not met"
    if prefix in _TOKEN_KEYS and (m := _ES_SERVER.search(flat)):
        return _token_reason(d, head, prefix, m.group(1), m.group(2))
    if m := _ES_TOO_FEW.search(flat):
        return (
            f"{head}: processed {m.group(1)} queries, need {m.group(2)}; raise min_query_count "
            f"to at least {m.group(2)} (or min_duration) so LoadGen issues enough queries"
        )
    if m := _ES_SERVER.search(flat):
        over = d.get("result_overlatency_query_count")
        limit = _as_float(_setting(d, "target_latency_ns"))
        bound = f"the {_ms(limit)} bound" if limit else "the latency bound"
        over_txt = f", {over} over {bound}" if isinstance(over, int) else ""
        fastest = _as_float(d.get("result_min_latency_ns"))
        if fastest is not None and limit is not None and fastest > limit:
            advice = "no query meets the bound, so only a faster SUT can pass"
        elif over == 0:
            total = int(m.group(1)) + int(m.group(2))
            advice = f"the run was too short: raise min_query_count to at least {total}"
        else:
            advice = "lower target_qps so fewer queries miss the bound (or run longer)"
        return (
            f"{head}: processed {m.group(1)} queries{over_txt}; LoadGen would need at least "
            f"{m.group(2)} more queries, all under latency; {advice}"
        )
    return f"{head}: {flat or 'see the Early Stopping Result in the summary'}"


_ES_SOURCES = (
    ("", "early_stopping_result", "Early Stopping Result"),
    ("TTFT ", "early_stopping_ttft_result", "TTFT Early Stopping Result"),
    ("TPOT ", "early_stopping_tpot_result", "TPOT Early Stopping Result"),
)
#: (constraint name, detail key, summary label)
_FLAGS = (
    ("min_duration_met", "result_min_duration_met", "Min duration satisfied"),
    ("min_queries_met", "result_min_queries_met", "Min queries satisfied"),
    ("perf_constraints_met", "result_perf_constraints_met", "Performance constraints satisfied"),
    ("early_stopping_met", "early_stopping_met", "Early stopping satisfied"),
)


def _early_stopping_texts(d: DetailLog, summary: SummaryLog | None) -> list[tuple[str, str]]:
    out = []
    for prefix, key, section in _ES_SOURCES:
        if key in d:
            out.append((prefix, str(d[key])))
        elif summary is not None and section in summary.sections:
            out.append((prefix, " ".join(f"* {s}" for s in summary.sections[section])))
    return out


def _unit(result_field: str) -> str:
    if "token" in result_field:
        return "tokens/s"
    if result_field.endswith("_ns") or result_field.startswith("early_stopping_latency"):
        return "ns"
    return "samples/s"


def outcome(
    detail: DetailLog, summary: SummaryLog | None = None, *, result_field: str | None = None
) -> LoadgenOutcome:
    """Judge a run from its parsed logs. ``result_field`` overrides the per-scenario field (the
    checker's per-benchmark overrides, e.g. ``result_tokens_per_second`` for LLM Offline)."""
    d = detail
    s_vals = summary.values if summary is not None else {}
    scenario = d.get("effective_scenario", d.get("requested_scenario", s_vals.get("Scenario")))
    mode = d.get("effective_test_mode", d.get("requested_test_mode", s_vals.get("Mode")))
    accuracy = mode == "AccuracyOnly"
    validity = None if accuracy else d.get("result_validity", s_vals.get("Result is"))

    constraints: dict[str, bool | None] = {}
    for name, key, label in _FLAGS:
        flag = _as_bool(d.get(key))
        constraints[name] = flag if flag is not None else _as_bool(s_vals.get(label))

    queries, samples = _counts(d, scenario, accuracy)
    duration = None if accuracy else _duration(d, scenario, samples)
    es_texts = _early_stopping_texts(d, summary)
    reasons: list[str] = []
    if not accuracy:
        if validity is None:
            reasons.append(
                "no result: the detail log has no result_validity (the run was killed or "
                "crashed before LoadGen finished); check the errors and re-run"
            )
        if constraints["perf_constraints_met"] is False:
            reasons += _perf_reasons(d)
        if constraints["min_duration_met"] is False:
            reasons.append(_min_duration_reason(d, scenario, duration))
        if constraints["min_queries_met"] is False:
            reasons.append(_min_queries_reason(d, queries, samples))
        if constraints["early_stopping_met"] is False:
            failing = [(p, t) for p, t in es_texts if "unsuccessful" in t or "Only processed" in t]
            for prefix, text in failing or es_texts or [("", "")]:
                reasons.append(_early_stopping_reason(d, text, prefix))
        if validity == "INVALID" and not reasons:
            why = str(d.get("result_invalid_reason", "")).strip() or "see the summary log"
            reasons.append(f"LoadGen marked the run INVALID: {why}")

    field_name = result_field or RESULT_FIELD.get(str(scenario))
    value = None if accuracy or field_name is None else _as_float(d.get(field_name))
    unit = _unit(field_name) if field_name else None
    if unit == "ns" and value == 0 and constraints["early_stopping_met"] is False:
        value = None  # LoadGen's placeholder when no early-stopping estimate exists
    result_ms = value / 1e6 if value is not None and unit == "ns" else None

    effective = {k: v for k, v in d.values.items() if k.startswith(("effective_", "requested_"))}
    seeds = {k: v for k in SEED_KEYS if isinstance(v := _setting(d, k), int)}
    es_lines = summary.early_stopping if summary is not None else []
    if not es_lines:
        es_lines = [f"{p}{t.strip()}" for p, t in es_texts if t.strip()]
    reason_raw = d.get("result_invalid_reason")
    return LoadgenOutcome(
        scenario=scenario,
        mode=mode,
        validity=validity,
        result_field=None if accuracy else field_name,
        result=value,
        unit=None if accuracy else unit,
        result_ms=result_ms,
        constraints={} if accuracy else constraints,
        invalid_reasons=reasons,
        loadgen_reason=(str(reason_raw).strip() or None) if reason_raw is not None else None,
        early_stopping=es_lines,
        query_count=queries,
        sample_count=samples,
        duration_s=duration,
        effective=effective,
        seeds=seeds,
        errors=list(d.errors),
        warnings=list(d.warnings),
        loadgen_version=d.get("loadgen_version"),
        truncated=d.truncated,
    )


def load_outcome(
    outdir: str | os.PathLike[str], *, result_field: str | None = None
) -> LoadgenOutcome:
    """Parse ``<outdir>/mlperf_log_detail.txt`` (+ the summary when present) into an outcome."""
    base = Path(outdir)
    detail = parse_detail(base / DETAIL_LOG_NAME)
    summary_path = base / SUMMARY_LOG_NAME
    summary = parse_summary(summary_path) if summary_path.is_file() else None
    return outcome(detail, summary, result_field=result_field)
