"""The toy benchmark's spec (torch-free, like every spec)."""

from __future__ import annotations

from inferlab.core.spec import AccuracyTarget, BenchmarkSpec, QuickSettings, Scenario, Variant

# The answer of every sample computed from its input (the sequence reversed): a stand-in for a
# model, run on the null backend, so the test exercises the harness, not a network.
REVERSER = Variant(
    name="reverser",
    fmt="random-init",
    preprocessing="toy-seq-v1",
    output_dtype="int32",
    output_layout="int32 per token: the sample's sequence reversed (its own length per sample)",
    backends=("null",),
)

SPEC = BenchmarkSpec(
    id="toy-seq",
    loadgen_name="toy-seq",
    checker_name="toy-seq",
    description="toy: reverse a sequence of int32 tokens (variable-length outputs; tests only)",
    task="tests.toy.task:TASK",
    dataset_id="toy-seq",
    dataset_size=96,
    performance_sample_count=96,
    scenarios=(Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE, Scenario.SERVER),
    variants=(REVERSER,),
    metrics=("exact_match",),
    targets={"toy": (AccuracyTarget(metric="exact_match", reference=100.0, lower=0.99),)},
    server_latency_ms=50.0,
    default_batch=8,
    synthetic_count=96,
    quick={
        s: QuickSettings(min_query_count=64, min_duration_ms=200)
        for s in (Scenario.SINGLE_STREAM, Scenario.OFFLINE, Scenario.SERVER)
    }
    | {Scenario.MULTI_STREAM: QuickSettings(min_query_count=64, min_duration_ms=200)},
    aliases=("toy",),
    in_mlperf_conf=False,  # LoadGen's mlperf.conf has no toy-seq keys: its bound comes from here
)
