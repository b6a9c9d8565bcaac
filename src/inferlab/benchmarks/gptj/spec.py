"""GPT-J 6B summarising CNN/DailyMail: MLPerf `gptj-99` and `gptj-99.9` (rounds up to v5.0).
Torch-free.

Facts: rules file §1.3 (mlperf.conf keys `gptj`: PSC 13,368, Server target latency 20 s,
equal issue, `infer_token_latencies = 1` with `token_latency_scaling_factor = 69`), §2.1
(ROUGE-1/2/L at 99 % / 99.9 % of the reference and GEN_LEN at 90 % of it, in `core.rounds`),
§2.3 (the official figure is the tokens per second LoadGen *infers*: samples/s x 69), §2.4
(datacenter Server and Offline, edge SingleStream and Offline), §4 (GPT-J). The reference
(`language/gpt-j/`): `dataset.py` (the Alpaca prompt, GPT-J's tokenizer, truncation to 1,919
tokens), `backend_PyTorch.py` (`gen_kwargs`: 4 beams, early stopping, 30..128 new tokens; the
response is the generated ids as torch's int64), `evaluation.py` (ROUGE; `--dtype` int64 by
default).

Retired: gptj is in the rounds v4.1 and v5.0 only. Under a LoadGen of a later round (6.0.17
serves v6.1) it runs like any benchmark that round lacks: as a measurement, flagged "round v6.1
has no gptj-99 benchmark" (not submittable), left out of suites and refused by `submission
build`; its accuracy is judged against the newest targets it has (v5.0's).
"""

from __future__ import annotations

from inferlab.core.rounds import targets_by_round
from inferlab.core.spec import BenchmarkSpec, QuickSettings, Scenario, Variant

DATASET_DIR = "cnn-dailymail"  # <data-dir>/cnn-dailymail/cnn_eval.json (sources.py)
DATASET_FILE = "cnn_eval.json"
MODEL_ID = "gptj"
CHECKPOINT_DIR = "checkpoint"  # <data-dir>/models/gptj/checkpoint/ (sources.py)
LAST_ROUND = "v5.0"

# language/gpt-j/dataset.py PROMPT_DICT["prompt_input"], filled with each record's instruction
# and input (str.format_map of the record, as the reference)
PROMPT_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
# language/gpt-j/download_cnndm.py: every record's instruction
INSTRUCTION = "Summarize the following news article:"
MAX_PROMPT_TOKENS = 1919  # dataset.py: tokenizer(..., truncation=True, max_length=1919)
# backend_PyTorch.py gen_kwargs (only 4 beams are allowed for a submission)
NUM_BEAMS = 4
EARLY_STOPPING = True
MIN_NEW_TOKENS = 30
MAX_NEW_TOKENS = 128
EOS_TOKEN_ID = 50256  # <|endoftext|>: GPT-J's eos (and, in the reference, its pad)

_LAYOUT = (
    "int64 token ids of the generated summary (the prompt not included; the EOS ending it "
    "included), n_tokens = count"
)

PYTORCH = Variant(
    name="pytorch",
    fmt="hf-checkpoint",
    preprocessing="cnndm-gptj-alpaca-template-1919",
    output_dtype="int64",
    output_layout=_LAYOUT,
    checkpoint_name=CHECKPOINT_DIR,
    backends=("torch", "null"),
)

# A small GPT-J with random weights and the real GPT-2 tokenizer: the synthetic default.
TINY = Variant(
    name="tiny",
    fmt="random-init",
    preprocessing=PYTORCH.preprocessing,
    output_dtype="int64",
    output_layout=_LAYOUT,
    backends=("torch",),
)
TINY_ARCH = {
    "n_embd": 64,
    "n_inner": 128,
    "n_layer": 2,
    "n_head": 4,
    "n_positions": 2048,
    # the tokenizer's 50,257 ids (GPT-J 6B pads its embedding to 50,400; every id the tiny
    # model draws is then one the tokenizer decodes)
    "vocab_size": 50_257,
}
# A random model puts EOS nowhere near the top, so every summary would run to 128 tokens; this
# bias on its output head makes EOS the best token as soon as it is allowed (after the 30-token
# minimum): beams end on EOS as a trained model's do, at a quarter of the cost (docs/gptj.md).
TINY_EOS_LOGIT_BIAS = 8.0

# The figure the checker reads (rules 2.3): LoadGen's inferred tokens/s (samples/s x 69);
# SingleStream keeps the usual early-stopping 90th-percentile latency.
TOKENS = {
    Scenario.OFFLINE: ("result_inferred_tokens_per_second", "tokens/s", 1.0),
    Scenario.SERVER: ("result_inferred_completed_tokens_per_second", "tokens/s", 1.0),
}
# quick runs: the fewest queries LoadGen's early stopping passes with (Server: the 99th
# percentile with no query over the 20 s bound needs 459). SingleStream needs 64 for its 90th
# percentile, but gptj issues equally (sample_concatenate_permutation), and then LoadGen makes
# its SingleStream min_query_count at least 2 x min_duration / expected latency, rounded up past
# a multiple of the performance sample count (test_settings_internal.cc). Quick mode's
# calibration caps that expected latency at min_duration / (8 x min_query_count), so LoadGen
# asks for >= 16 x min_query_count + PSC queries: 4 gives 64 + 32 = 96 on the generated set
# (64 would give 1,056, ten minutes of beam search on a CPU).
QUICK = {
    Scenario.OFFLINE: QuickSettings(min_query_count=32, min_duration_ms=2000),
    Scenario.SERVER: QuickSettings(min_query_count=459, min_duration_ms=2000),
    Scenario.SINGLE_STREAM: QuickSettings(min_query_count=4, min_duration_ms=1000),
}
SCENARIOS = (Scenario.SINGLE_STREAM, Scenario.OFFLINE, Scenario.SERVER)
# the names `inferlab prepare` also knows them by (sources.py)
ALIASES = {"99": ("gptj", "gpt-j", "gpt-j-99", "gpt-j-6b"), "99.9": ("gpt-j-99.9",)}


def _spec(suffix: str, fraction: str) -> BenchmarkSpec:
    bid = f"gptj-{suffix}"
    return BenchmarkSpec(
        id=bid,
        loadgen_name="gptj",
        checker_name=bid,
        description=(
            "GPT-J 6B summarising CNN/DailyMail (13,368 articles), beam search (4 beams), "
            f"ROUGE-1/2/L >= {fraction} of the reference, GEN_LEN >= 90 %; retired after "
            f"{LAST_ROUND}: a measurement under a later round's LoadGen"
        ),
        task=f"inferlab.benchmarks.gptj.task:TASK_{suffix.replace('.', '_')}",
        dataset_id=DATASET_DIR,
        dataset_size=13_368,
        performance_sample_count=13_368,
        scenarios=SCENARIOS,
        variants=(PYTORCH, TINY),
        metrics=("ROUGE1", "ROUGE2", "ROUGEL", "ROUGELSUM", "GEN_LEN"),
        targets=targets_by_round(bid),
        server_latency_ms=20_000.0,
        # requests at once; the engine holds 4 beams of each (KV cache: 4 x 2,048 tokens each)
        default_batch=8,
        gpu_batch={Scenario.OFFLINE: 16, Scenario.SERVER: 8, Scenario.SINGLE_STREAM: 1},
        synthetic_count=32,
        quick=dict(QUICK),
        aliases=ALIASES[suffix],
        synthetic_variant=TINY.name,
        result_fields=dict(TOKENS),
    )


SPEC_99 = _spec("99", "99 %")
SPEC_99_9 = _spec("99.9", "99.9 %")
