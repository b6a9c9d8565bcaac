"""The end-of-run summary: a pure function of a stored result.json."""

from __future__ import annotations

from typing import Any

from inferlab.backends.registry import find_section
from inferlab.core.spec import is_server_like
from inferlab.results.models import RunResult


def labels(result: RunResult) -> list[str]:
    flags = result.flags
    out = []
    if flags and flags.synthetic:
        out.append("SYNTHETIC DATA")
    if flags and flags.random_weights:
        section = find_section(result.config.get("backend"))
        out.append((section.random_weights_label if section else "random weights").upper())
    variant = result.benchmark.variant
    if variant.get("fmt") == "random-init":
        out.append(f"{str(variant.get('name')).upper()} MODEL")
    if flags and flags.official_checkpoint is False:
        out.append("NOT THE OFFICIAL CHECKPOINT")
    if flags and flags.quick:
        out.append("QUICK")
    if flags and flags.subset:
        out.append("SUBSET")
    if flags and not flags.submittable:
        out.append("NOT SUBMITTABLE")
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 1e6 else f"{v:,.1f}"
    return str(v)


def accuracy_lines(result: RunResult) -> list[str]:
    acc = result.accuracy
    if result.mode != "accuracy":
        return ["accuracy : not measured (performance mode; use --mode accuracy)"]
    if not acc:
        return ["accuracy : not available (the run did not finish)"]
    lines = []
    status = acc.status
    for m in acc.metrics:
        name = "top-1" if m.metric == "acc" else m.metric
        if status == "n/a-synthetic":
            lines.append(
                f"accuracy : N/A (synthetic)  [pipeline check: {name} {m.value:.3f}{m.unit} "
                "on generated labels]"
            )
        elif m.judged:
            verdict = "PASS" if m.passed else "FAIL"
            lines.append(
                f"accuracy : {name} {m.value:.3f}{m.unit} = {m.percent_of_reference:.2f}% "
                f"of reference {m.reference} (threshold {m.threshold:.4f}) {verdict}"
            )
            if acc.expected_for_checkpoint is not None:
                lines.append(
                    f"           expected for this checkpoint: {acc.expected_for_checkpoint}"
                )
        else:
            random = status == "measured-random-weights"
            why = "random weights: no target" if random else "no target"
            lines.append(f"accuracy : {name} {m.value:.3f}{m.unit} ({why})")
    if acc.note and status != "n/a-synthetic":
        lines.append(f"           {acc.note}")
    if acc.log and not acc.log.complete:
        lines.append(
            f"           WARNING: accuracy log covers {acc.log.unique_samples} samples of "
            f"{result.dataset_count}"
        )
    return lines


def token_latency_line(result: RunResult) -> str | None:
    """LLM runs with token latencies: TTFT and TPOT (median, 99th percentile) against the
    bounds LoadGen judged them on, when it recorded them."""
    v = result.loadgen.results or {}
    ttft = v.get("result_first_token_99.00_percentile_latency_ns")
    tpot = v.get("result_time_per_output_token_99.00_percentile_ns")
    if not isinstance(ttft, int | float) or not isinstance(tpot, int | float):
        return None
    eff = result.loadgen.effective or {}
    parts = []
    for name, p50_key, p99, bound_key in (
        ("TTFT", "result_first_token_50.00_percentile_latency_ns", ttft, "server_ttft_latency"),
        ("TPOT", "result_time_per_output_token_50.00_percentile_ns", tpot, "server_tpot_latency"),
    ):
        p50 = v.get(p50_key)
        bound = eff.get(f"effective_{bound_key}", eff.get(f"requested_{bound_key}"))
        text = f"{name} p99 {p99 / 1e6:,.1f} ms"
        if isinstance(p50, int | float):
            text += f" (p50 {p50 / 1e6:,.1f})"
        if isinstance(bound, int | float) and bound and is_server_like(result.scenario):
            text += f" vs {bound / 1e6:,.0f} ms"
        parts.append(text)
    return "tokens   : " + "; ".join(parts)


def summary(result: RunResult) -> str:
    tag = " ".join(f"[{x}]" for x in labels(result))
    head = f"inferlab {result.benchmark.id} {result.scenario} {result.mode}"
    lines = [f"{head}  {tag}".rstrip()]
    status = result.status
    if status in ("failed", "interrupted"):
        message = result.error.message if result.error else ""
        lines.append(f"status   : {status.upper()}: {message}")
    res = result.result
    if res and result.mode == "performance":
        shown = _fmt(res.value) if res.value is not None else "n/a"
        lines.append(f"result   : {shown} {res.unit}  ({result.scenario} {res.official_field})")
        lines.append(f"validity : {res.validity or 'n/a'}")
        for reason in res.invalid_reasons:
            lines.append(f"           - {reason}")
        if tokens := token_latency_line(result):
            lines.append(tokens)
    elif res:
        lines.append("validity : n/a in accuracy mode")
    lines.extend(accuracy_lines(result))
    lg_keys = result.loadgen.keys
    for key in ("target_qps", "target_latency", "performance_sample_count_override"):
        meta = lg_keys.get(key)
        if meta and meta.source in ("calibration", "harness"):
            lines.append(f"setting  : {key} = {meta.value} ({meta.note})")
    if result.loadgen.audit_applied:
        lines.append("audit    : LoadGen applied the audit.config of this run (compliance test)")
    flags = result.flags
    if flags and flags.not_submittable_because:
        lines.append("not submittable: " + "; ".join(flags.not_submittable_because))
    ds = result.dataset or {}
    lines.append(
        f"data     : {'SYNTHETIC ' if ds.get('synthetic') else ''}{ds.get('dataset_id')} "
        f"{ds.get('total_count')} samples"
        + (" (subset)" if flags and flags.subset else "")
        + (f" from {ds['path']}" if ds.get("path") else "")
    )
    lines.append(f"loadgen  : mlcommons-loadgen {result.loadgen.version} (round {result.round})")
    lines.append(f"run dir  : {result.run_dir}")
    return "\n".join(lines)


_STOP_REASONS = {
    "converged": "the VALID/INVALID bracket is within the tolerance",
    "budget": "the probe budget is spent",
    "cap": "reached the --peak-max rate",
    "floor": "reached the lowest probe rate",
    "sut_too_slow": "even the fastest query missed the latency bound at two rates",
}


def _qps(v: Any) -> str:
    return f"{v:,.1f}" if isinstance(v, int | float) else "?"


def _probe_figure(rec: dict[str, Any]) -> str:
    """Latency percentile vs bound, or the first reason / error when there is no figure."""
    if rec.get("status") not in ("ok", "invalid"):
        err = rec.get("error") or {}
        return str(err.get("message") or rec.get("status"))[:90]
    lat, bound = rec.get("latency_ns"), rec.get("bound_ns")
    if isinstance(lat, int | float) and isinstance(bound, int | float):
        sign = "<=" if lat <= bound else ">"
        pct = rec.get("percentile") or 0.99
        text = f"p{pct * 100:g} {lat / 1e6:,.2f} ms {sign} {bound / 1e6:,.2f} ms"
        over, n = rec.get("overlatency_queries"), rec.get("queries")
        if isinstance(over, int) and isinstance(n, int) and over:
            text += f" ({over} of {n} over)"
        if rec.get("validity") == "INVALID" and lat <= bound and rec.get("invalid_reasons"):
            text += f"; {rec['invalid_reasons'][0][:70]}"
        return text
    reasons = rec.get("invalid_reasons") or []
    return reasons[0][:90] if reasons else ""


def _run_table(rows: list[dict[str, Any]], first: str) -> list[str]:
    lines = [
        f"  {first:>3}  {'target QPS':>11}  {'achieved':>11}  {'result':<11}  latency / reason"
    ]
    for i, rec in enumerate(rows, start=1):
        verdict = rec.get("validity") or str(rec.get("status") or "?").upper()
        lines.append(
            f"  {rec.get('index', i):>3}  {_qps(rec.get('target_qps')):>11}  "
            f"{_qps(rec.get('achieved_qps')):>11}  {verdict:<11}  {_probe_figure(rec)}"
        )
    return lines


def peak_verdict(doc: dict[str, Any]) -> str:
    """The final line: the confirmed peak, or why there is none."""
    peak = doc.get("peak") or {}
    found = (doc.get("search") or {}).get("peak_qps")
    if peak.get("confirmed"):
        line = f"Server peak: {_qps(peak['qps'])} QPS VALID (confirmed in {peak['run_dir']})"
        if peak.get("stepped_down"):
            line += f"; the search found {_qps(found)} QPS, INVALID in its confirming run"
        return line
    status = doc.get("status")
    if status == "interrupted":
        done = [p for p in doc.get("probes") or [] if p.get("status") in ("ok", "invalid")]
        return f"Server peak: not found: interrupted after {len(done)} complete probe(s)"
    if status == "failed":
        return f"Server peak: not found: {(doc.get('error') or {}).get('message', 'failed')}"
    if found is None:
        return "Server peak: not found: no probe was VALID (see the reasons above)"
    rates = ", ".join(_qps(r.get("target_qps")) for r in doc.get("confirm") or [])
    return (
        f"Server peak: not confirmed: the search found {_qps(found)} QPS but the confirming "
        f"run(s) at {rates} QPS were not VALID (last: {peak.get('run_dir')})"
    )


def peak_summary(doc: dict[str, Any]) -> str:
    """Every probe, the search bounds, the confirming runs and the verdict of a peak.json."""
    cfg = doc.get("config") or {}
    tags = []
    section = find_section(cfg.get("backend"))
    if section is not None and not section.loads_model:
        tags.append(f"[{section.random_weights_label.upper()}]")
    if cfg.get("quick"):
        tags.append("[QUICK]")
    lines = [f"inferlab {doc.get('benchmark')} Server find-peak  {' '.join(tags)}".rstrip()]
    st = doc.get("settings") or {}
    lines.append(
        f"probes   : {st.get('probe_ms'):g} ms, >= {st.get('probe_min_query_count')} queries each; "
        f"start {_qps(st.get('start_qps'))} QPS ({st.get('start_source')}); "
        f"tolerance {st.get('tolerance', 0) * 100:g} %"
    )
    lines += _run_table(doc.get("probes") or [], "#")
    search = doc.get("search") or {}
    if search.get("stop_reason"):
        why = _STOP_REASONS.get(search["stop_reason"], search["stop_reason"])
        lo, hi = search.get("valid_qps"), search.get("invalid_qps")
        text = f"search   : highest VALID {_qps(lo)}, lowest INVALID {_qps(hi)} QPS; stopped: {why}"
        if lo is not None and hi is None:
            text += " (a lower bound: nothing above it was INVALID)"
        lines.append(text)
    if doc.get("confirm"):
        lines.append("confirm  : the found rate with the normal run settings")
        lines += _run_table(doc["confirm"], "run")
    lines.append(f"peak.json: {doc.get('group_dir')}/peak.json")
    lines.append(peak_verdict(doc))
    return "\n".join(lines)
