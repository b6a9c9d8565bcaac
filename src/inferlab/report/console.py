"""The end-of-run summary: a pure function of a stored result.json."""

from __future__ import annotations

from typing import Any


def labels(result: dict[str, Any]) -> list[str]:
    flags = result.get("flags") or {}
    out = []
    if flags.get("synthetic"):
        out.append("SYNTHETIC DATA")
    if flags.get("random_weights"):
        out.append("RANDOM WEIGHTS" if result["config"]["backend"] != "null" else "NULL BACKEND")
    if (result.get("benchmark") or {}).get("variant", {}).get("fmt") == "random-init":
        out.append(f"{result['benchmark']['variant']['name'].upper()} MODEL")
    if flags.get("quick"):
        out.append("QUICK")
    if flags.get("subset"):
        out.append("SUBSET")
    if flags and not flags.get("submittable"):
        out.append("NOT SUBMITTABLE")
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 1e6 else f"{v:,.1f}"
    return str(v)


def accuracy_lines(result: dict[str, Any]) -> list[str]:
    acc = result.get("accuracy")
    if result.get("mode") != "accuracy":
        return ["accuracy : not measured (performance mode; use --mode accuracy)"]
    if not acc:
        return ["accuracy : not available (the run did not finish)"]
    lines = []
    status = acc["status"]
    for m in acc["metrics"]:
        name = "top-1" if m["metric"] == "acc" else m["metric"]
        if status == "n/a-synthetic":
            lines.append(
                f"accuracy : N/A (synthetic)  [pipeline check: {name} {m['value']:.3f}{m['unit']} "
                "on generated labels]"
            )
        elif "passed" in m:
            verdict = "PASS" if m["passed"] else "FAIL"
            lines.append(
                f"accuracy : {name} {m['value']:.3f}{m['unit']} = {m['percent_of_reference']:.2f}% "
                f"of reference {m['reference']} (threshold {m['threshold']:.4f}) {verdict}"
            )
            if acc.get("expected_for_checkpoint") is not None:
                lines.append(
                    f"           expected for this checkpoint: {acc['expected_for_checkpoint']}"
                )
        else:
            random = status == "measured-random-weights"
            why = "random weights: no target" if random else "no target"
            lines.append(f"accuracy : {name} {m['value']:.3f}{m['unit']} ({why})")
    if acc.get("note") and status != "n/a-synthetic":
        lines.append(f"           {acc['note']}")
    log = acc.get("log") or {}
    if log and not log.get("complete"):
        lines.append(
            f"           WARNING: accuracy log covers {log.get('unique_samples')} samples of "
            f"{(result.get('dataset') or {}).get('total_count')}"
        )
    return lines


def summary(result: dict[str, Any]) -> str:
    tag = " ".join(f"[{x}]" for x in labels(result))
    head = f"inferlab {result['benchmark']['id']} {result['scenario']} {result['mode']}"
    lines = [f"{head}  {tag}".rstrip()]
    status = result["status"]
    if status in ("failed", "interrupted"):
        err = result.get("error") or {}
        lines.append(f"status   : {status.upper()}: {err.get('message', '')}")
    res = result.get("result")
    if res and result["mode"] == "performance":
        value = res.get("value")
        shown = _fmt(value) if value is not None else "n/a"
        lines.append(
            f"result   : {shown} {res['unit']}  ({result['scenario']} {res['official_field']})"
        )
        lines.append(f"validity : {res.get('validity') or 'n/a'}")
        for reason in res.get("invalid_reasons") or []:
            lines.append(f"           - {reason}")
    elif res:
        lines.append("validity : n/a in accuracy mode")
    lines.extend(accuracy_lines(result))
    lg_keys = (result.get("loadgen") or {}).get("keys") or {}
    for key in ("target_qps", "target_latency", "performance_sample_count_override"):
        meta = lg_keys.get(key)
        if meta and meta.get("source") in ("calibration", "harness"):
            lines.append(f"setting  : {key} = {meta['value']} ({meta.get('note')})")
    if (result.get("loadgen") or {}).get("audit_applied"):
        lines.append("audit    : LoadGen applied the audit.config of this run (compliance test)")
    flags = result.get("flags") or {}
    if flags.get("not_submittable_because"):
        lines.append("not submittable: " + "; ".join(flags["not_submittable_because"]))
    ds = result.get("dataset") or {}
    lines.append(
        f"data     : {'SYNTHETIC ' if ds.get('synthetic') else ''}{ds.get('dataset_id')} "
        f"{ds.get('total_count')} samples"
        + (" (subset)" if flags.get("subset") else "")
        + (f" from {ds['path']}" if ds.get("path") else "")
    )
    lg = result.get("loadgen") or {}
    lines.append(f"loadgen  : mlcommons-loadgen {lg.get('version')} (round {result.get('round')})")
    lines.append(f"run dir  : {result['run_dir']}")
    return "\n".join(lines)
