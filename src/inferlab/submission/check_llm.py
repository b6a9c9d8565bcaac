"""The checker's LLM checks (rules §2.3, ``llm_check`` of the official checker): token latencies
recorded in every scenario of an LLM, and in Server and Interactive the 99th-percentile TTFT
and TPOT strictly below the benchmark's limits for that scenario (``LLM_LATENCY_LIMITS``)."""

from __future__ import annotations

from typing import Any

from inferlab.core.rounds import INTERACTIVE, SERVER, BenchmarkRules

TTFT_P99 = "result_first_token_99.00_percentile_latency_ns"
TPOT_P99 = "result_time_per_output_token_99.00_percentile_ns"
Finding = tuple[str, str, str]  # (code, message, fix)


def token_latency_findings(v: dict[str, Any], b: BenchmarkRules, scenario: str) -> list[Finding]:
    """What is wrong with one performance log's token latencies (empty: nothing, or not an
    LLM). ``v`` is the detail log's values, ``scenario`` the result's directory name."""
    if not b.llm:
        return []
    if v.get("requested_use_token_latencies") is not True:
        return [
            (
                "token-latencies",
                f"{b.name} is judged on token latencies, but use_token_latencies is not enabled",
                "do not override use_token_latencies (mlperf.conf enables it for LLMs); rerun",
            )
        ]
    if scenario not in (SERVER, INTERACTIVE):
        return []
    limits = b.interactive_latencies if scenario == INTERACTIVE else b.token_latencies
    if limits is None:
        return [
            (
                "token-latencies",
                f"the round has no TTFT/TPOT limits for {b.name} in {scenario}",
                "submit the scenarios the round lists for this benchmark",
            )
        ]
    ttft, tpot = v.get(TTFT_P99), v.get(TPOT_P99)
    if not (isinstance(ttft, int | float) and isinstance(tpot, int | float)):
        return [
            (
                "token-latencies",
                "no 99th-percentile TTFT/TPOT in the log",
                "the run did not record token latencies (a first token per response); rerun",
            )
        ]
    if ttft < limits[0] * 1e6 and tpot < limits[1] * 1e6:
        return []
    return [
        (
            "token-latency",
            f"p99 TTFT {ttft / 1e6:,.1f} ms (limit {limits[0]:g}), p99 TPOT {tpot / 1e6:,.2f} ms "
            f"(limit {limits[1]:g}): both must be below the {scenario} limits",
            "rerun at a lower target_qps (`inferlab run ... --find-peak` finds the highest "
            "VALID one)",
        )
    ]
