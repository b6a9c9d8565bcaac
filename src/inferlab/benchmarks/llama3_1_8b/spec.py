"""Llama-3.1-8B-Instruct on CNN/DailyMail: MLPerf `llama3.1-8b` (datacenter: 13,368 articles)
and `llama3.1-8b-edge` (edge: the 5,000-article subset). Torch-free.

Facts: rules file §1.3 (mlperf.conf keys `llama3_1-8b`, `llama3_1-8b-edge`: PSC, token latencies
2000/100 ms, equal issue), §2.1 (ROUGE and GEN_LEN targets from v5.1), §2.3 (the official figure
is tokens per second in Offline and Server; the edge SingleStream figure is the 90th-percentile
latency), §2.4 (datacenter Offline, optional Server and Interactive; edge SingleStream, Offline).
The reference (`language/llama3.1-8b/`): prompts are the processed dataset's `tok_input` (the
instruction template around the article, tokenized with BOS), greedy decoding, responses are
the generated token ids as int32 with their count.
"""

from __future__ import annotations

from inferlab.core.rounds import targets_by_round
from inferlab.core.spec import BenchmarkSpec, QuickSettings, Scenario, Variant

DATASET_DIR = "cnn-dailymail-llama3.1-8b"  # its own: gptj's cnn_eval.json is another file
MODEL_ID = "llama3.1-8b"
CHECKPOINT_DIR = "Llama-3.1-8B-Instruct"
# the instruction the reference wraps around each article (download_cnndm.py)
PROMPT_TEMPLATE = (
    "In very brief sentences, summarize the following news article. Only return the summary."
    "\nArticle: {input}\nSummary: "
)
MAX_NEW_TOKENS = 128
# Llama-3.1-8B-Instruct's generation config: <|end_of_text|>, <|eom_id|>, <|eot_id|>
EOS_TOKEN_IDS = (128_001, 128_008, 128_009)
MIN_NEW_TOKENS = 1
# evaluation.py decodes with `batch_decode(ids, skip_special_tokens=True)` under transformers
# 4.46.2 (its requirements.txt), and Llama-3.1-8B-Instruct's tokenizer_config.json sets
# clean_up_tokenization_spaces true (as copies of it show; the Hub is not reachable here): the
# decoded text is cleaned up (" ." -> ".", " 's" -> "'s", ...), which moves GEN_LEN
CLEAN_UP_TOKENIZATION_SPACES = True

_LAYOUT = "int32 token ids of the generated summary (the prompt not included), n_tokens = count"

PYTORCH = Variant(
    name="pytorch",
    fmt="hf-checkpoint",
    preprocessing="cnndm-llama3.1-instruct-template",
    output_dtype="int32",
    output_layout=_LAYOUT,
    checkpoint_name=CHECKPOINT_DIR,
    backends=("torch", "null", "vllm"),
)

# A small Llama with random weights and the real Llama 3.1 tokenizer: the synthetic default.
TINY = Variant(
    name="tiny",
    fmt="random-init",
    preprocessing=PYTORCH.preprocessing,
    output_dtype="int32",
    output_layout=_LAYOUT,
    backends=("torch",),
)
TINY_ARCH = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
}

TOKENS = {
    Scenario.OFFLINE: ("result_tokens_per_second", "tokens/s", 1.0),
    Scenario.SERVER: ("result_completed_tokens_per_second", "tokens/s", 1.0),
}
# quick runs: the fewest queries LoadGen's early stopping can pass with (TTFT/TPOT at the
# 99th percentile need 459 queries, all within the bounds; SingleStream's 90th percentile 64)
_QUICK = {
    Scenario.OFFLINE: QuickSettings(min_query_count=64, min_duration_ms=2000),
    Scenario.SERVER: QuickSettings(min_query_count=459, min_duration_ms=2000),
    Scenario.INTERACTIVE: QuickSettings(min_query_count=459, min_duration_ms=2000),
    Scenario.SINGLE_STREAM: QuickSettings(min_query_count=64, min_duration_ms=1000),
}


def _spec(
    bid: str, loadgen: str, size: int, scenarios: tuple[Scenario, ...], task: str
) -> BenchmarkSpec:
    fields = dict(TOKENS)
    if Scenario.SINGLE_STREAM in scenarios:  # the edge figure (rules 2.3)
        fields[Scenario.SINGLE_STREAM] = ("result_90.00_percentile_latency_ns", "ms", 1e6)
    return BenchmarkSpec(
        id=bid,
        loadgen_name=loadgen,
        checker_name=bid,
        description=(
            f"Llama-3.1-8B-Instruct summarising CNN/DailyMail ({size:,} articles), greedy, "
            "ROUGE-1/2/L/Lsum >= 99 % of the reference and a GEN_LEN window"
        ),
        task=f"inferlab.benchmarks.llama3_1_8b.task:{task}",
        dataset_id=DATASET_DIR,
        dataset_size=size,
        performance_sample_count=size,
        scenarios=scenarios,
        variants=(PYTORCH, TINY),
        metrics=("ROUGE1", "ROUGE2", "ROUGEL", "ROUGELSUM", "GEN_LEN"),
        targets=targets_by_round(bid),
        server_latency_ms=20_000.0,
        default_batch=16,
        gpu_batch={
            Scenario.OFFLINE: 256,
            Scenario.SERVER: 64,
            Scenario.INTERACTIVE: 32,
            Scenario.SINGLE_STREAM: 1,
        },
        synthetic_count=64,
        quick={s: q for s, q in _QUICK.items() if s in scenarios},
        synthetic_variant=TINY.name,
        result_fields=fields,
    )


# Interactive: a Server run under the `llama3_1-8b-interactive` keys (TTFT 500 / TPOT 30 ms)
SPEC = _spec(
    "llama3.1-8b",
    "llama3_1-8b",
    13_368,
    (Scenario.OFFLINE, Scenario.SERVER, Scenario.INTERACTIVE),
    "TASK",
)
SPEC_EDGE = _spec(
    "llama3.1-8b-edge",
    "llama3_1-8b-edge",
    5_000,
    (Scenario.SINGLE_STREAM, Scenario.OFFLINE),
    "TASK_EDGE",
)
