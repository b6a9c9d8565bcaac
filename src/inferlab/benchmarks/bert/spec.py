"""BERT-Large on SQuAD v1.1 dev (MLPerf `bert-99` and `bert-99.9`, LoadGen model key `bert`).

One spec module, two registry entries: the benchmarks differ only in the accuracy target (99% or
99.9% of the reference F1 90.874). Torch-free.
Facts: rules file §1.3 (mlperf.conf: PSC 10,833, Server 130 ms), §2.1 (targets), §2.4 (bert is
SingleStream/Offline from v5.0 on; Server only until v4.1), §4.
"""

from __future__ import annotations

from inferlab.core.rounds import targets_by_round
from inferlab.core.spec import (
    BenchmarkSpec,
    QuickSettings,
    Scenario,
    Variant,
)

DATASET_DIR = "squad-v1.1"
MODEL_ID = "bert"
REFERENCE_F1 = 90.874

_LAYOUT = (
    "float32 (384, 2) per sample: (start_logit, end_logit) per token position; positions past "
    "the sequence hold -10000, the value accuracy-squad.py pads short payloads with"
)

PYTORCH = Variant(
    name="pytorch",
    fmt="torch-state-dict",
    preprocessing="squad-v1.1-wordpiece-384-128-64",
    output_dtype="float32",
    output_layout=_LAYOUT,
    checkpoint_name="model.pytorch",
    expected_accuracy=REFERENCE_F1,
    backends=("torch", "null"),
)

# The reference's ONNX export (zenodo 3733910): inputs input_ids / input_mask / segment_ids (or
# attention_mask / token_type_ids), int64; outputs start and end logits. Runs on onnxruntime.
ONNX = Variant(
    name="onnx",
    fmt="onnx",
    preprocessing=PYTORCH.preprocessing,
    output_dtype="float32",
    output_layout=_LAYOUT,
    checkpoint_name="model.onnx",
    expected_accuracy=REFERENCE_F1,
    backends=("onnxruntime",),
)

# A small BERT with random weights: the synthetic default (pipeline checks, fast tests).
TINY = Variant(
    name="tiny",
    fmt="random-init",
    preprocessing=PYTORCH.preprocessing,
    output_dtype="float32",
    output_layout=_LAYOUT,
    backends=("torch",),
)
TINY_ARCH = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 512,
}


def _spec(bid: str, lower: float, aliases: tuple[str, ...]) -> BenchmarkSpec:
    return BenchmarkSpec(
        id=bid,
        loadgen_name="bert",
        checker_name=bid,
        description=(
            f"BERT-Large question answering, SQuAD v1.1 dev (10,833 windows of 10,570 "
            f"questions), F1 >= {lower:g} x {REFERENCE_F1}"
        ),
        task="inferlab.benchmarks.bert.task:TASK",
        dataset_id=DATASET_DIR,
        dataset_size=10_833,
        performance_sample_count=10_833,
        scenarios=(Scenario.SINGLE_STREAM, Scenario.OFFLINE, Scenario.SERVER),
        variants=(PYTORCH, TINY, ONNX),
        metrics=("squad_f1",),
        targets=targets_by_round(bid),
        server_latency_ms=130.0,
        default_batch=64,
        gpu_batch={Scenario.OFFLINE: 128, Scenario.SERVER: 64, Scenario.SINGLE_STREAM: 1},
        synthetic_count=1024,
        quick={
            Scenario.OFFLINE: QuickSettings(min_query_count=512, min_duration_ms=2000),
            Scenario.SINGLE_STREAM: QuickSettings(min_query_count=64, min_duration_ms=1000),
            Scenario.SERVER: QuickSettings(min_query_count=662, min_duration_ms=1000),
        },
        aliases=aliases,
        synthetic_variant=TINY.name,
        unsubmittable={
            Scenario.SERVER: (
                "bert has no Server scenario from v5.0 on (edge only); measured at LoadGen's "
                "130 ms bound as in v4.1"
            )
        },
    )


SPEC_99 = _spec("bert-99", 0.99, ("bert", "bert-large", "bert-large-99"))
SPEC_99_9 = _spec("bert-99.9", 0.999, ("bert-large-99.9",))
