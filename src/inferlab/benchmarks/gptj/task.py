"""The gptj-99 / gptj-99.9 task: the hooks the runner calls (torch-free at import).

Facts: rules file §2.1 (targets), §2.3 (inferred tokens per second), §4 (GPT-J), and the
reference (`language/gpt-j/`): the Alpaca prompt around each article, GPT-J's tokenizer and the
1,919-token truncation (`dataset.py`); beam search with 4 beams, early stopping, 30..128 new
tokens, EOS = pad = 50256 (`backend_PyTorch.py`); the generated ids as int64 in each response
(torch's dtype; `evaluation.py` reads int64 by default); ROUGE as `evaluation.py` computes it.
The reference streams no first token (LoadGen infers token figures for gptj: samples x 69).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.gptj.spec import (
    CHECKPOINT_DIR,
    DATASET_DIR,
    DATASET_FILE,
    EARLY_STOPPING,
    EOS_TOKEN_ID,
    MAX_NEW_TOKENS,
    MIN_NEW_TOKENS,
    MODEL_ID,
    NUM_BEAMS,
    SPEC_99,
    SPEC_99_9,
)
from inferlab.core.dataset import Dataset
from inferlab.core.errors import ModelError
from inferlab.core.spec import BenchmarkSpec, Variant
from inferlab.core.task import (
    BatchPlan,
    BenchmarkTask,
    Evaluation,
    GenerationSettings,
    MetricValue,
    ModelFacts,
    SampleOutput,
    find_dataset,
)

# GPT-J's context (n_positions): the longest prompt (1,919) + 128 generated tokens fit
MAX_SEQ_LEN = 2048
NULL_TOKENS = 2  # the null backend's placeholder answer (id 0), as the other LLM benchmarks
METRICS = ("ROUGE1", "ROUGE2", "ROUGEL", "ROUGELSUM", "GEN_LEN")
TOKENIZER = "gpt2"  # inferlab.generation.tokenizers: GPT-2's BPE, which GPT-J uses

# How evaluation.py's `tokenizer.batch_decode(ids, skip_special_tokens=True)` turns ids into
# text. It loads EleutherAI/gpt-j-6B's tokenizer (GPT2Tokenizer, use_fast=False), whose config
# is taken not to set clean_up_tokenization_spaces (it predates the setting; the Hub was not
# reachable to check): transformers before 4.45 then cleaned up tokenization spaces (the
# releases of 2023, when the reference's targets were measured), 4.45 on does not
# (transformers PR #31938), and 5.x refuses to for BPE tokenizers. inferlab decodes as the
# former (inferlab.generation.tokenizers.clean_up_tokenization).
CLEAN_UP_TOKENIZATION_SPACES = True


class GptjTask(BenchmarkTask):
    """Hooks for gptj-99 and gptj-99.9 (the same run; only the accuracy targets differ)."""

    model_id = MODEL_ID

    def __init__(self, spec: BenchmarkSpec) -> None:
        self.spec = spec

    # ---- data ---------------------------------------------------------------------------
    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        contents = f"the reference's {DATASET_FILE} (CNN/DailyMail validation, 13,368 records)"
        return find_dataset(data_dir, dataset_path, DATASET_DIR, contents, allow_file=True)

    def make_dataset(
        self,
        path: Path | None,
        *,
        count: int | None,
        seed: int,
        cache_dir: Path | None,
        variant: Variant,
        decoder: str,
        synthetic_count: int | None = None,
        preprocess_threads: int | None = None,
    ) -> Dataset:
        from inferlab.benchmarks.gptj import dataset as cnndm
        from inferlab.generation.tokenizers import resolve_tokenizer

        source = resolve_tokenizer(TOKENIZER, cache_dir=_cache_root(cache_dir))
        tok = source.load()

        def encode(texts: list[str]) -> list[list[int]]:
            # no truncation here (the dataset cuts at 1,919); verbose=False: no warning about
            # prompts over the tokenizer's 2,048-token model_max_length
            ids: list[list[int]] = tok(texts, verbose=False)["input_ids"]
            return ids

        label = f"{TOKENIZER} ({source.origin}: {source.path})"
        if path is not None:
            return cnndm.load_real(  # type: ignore[return-value]
                path, encode, full_count=self.spec.dataset_size, count=count, tokenizer=label
            )
        n = count or synthetic_count or self.spec.synthetic_count
        return cnndm.load_synthetic(n, seed, encode, label)  # type: ignore[return-value]

    def scoring_files(self, dataset: Dataset, run_dir: Path) -> dict[str, str]:
        """Generated data: the records as the cnn_eval.json evaluation.py reads."""
        if not dataset.synthetic:
            return {}
        dataset.write_scoring_file(run_dir / DATASET_FILE)  # type: ignore[attr-defined]
        return {"dataset": DATASET_FILE}

    # ---- model --------------------------------------------------------------------------
    def resolve_model_path(
        self, data_dir: Path | None, model_path: Path | None, variant: Variant | None = None
    ) -> Path | None:
        """A Hugging Face checkpoint directory: ``--model-path``, else
        ``<data_dir>/models/gptj/checkpoint`` when it is there."""
        if model_path is not None:
            if not (model_path / "config.json").is_file():
                raise ModelError(
                    f"{model_path} is not a Hugging Face checkpoint directory (no config.json)",
                    "pass --model-path to the GPT-J checkpoint directory (config.json, "
                    "*.safetensors); `inferlab prepare gptj-99 --dry-run` says where it comes "
                    "from",
                )
            return model_path
        if data_dir is not None and variant is not None and variant.checkpoint_name:
            candidate = data_dir / "models" / MODEL_ID / CHECKPOINT_DIR
            if (candidate / "config.json").is_file():
                return candidate
        return None

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        from inferlab.benchmarks.gptj.model import build

        return build(model_path, seed=seed)

    def generation_settings(self, variant: Variant) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=MAX_NEW_TOKENS,
            min_new_tokens=MIN_NEW_TOKENS,
            num_beams=NUM_BEAMS,
            early_stopping=EARLY_STOPPING,
            eos_token_ids=(EOS_TOKEN_ID,),
            max_seq_len=MAX_SEQ_LEN,
            output_dtype=variant.output_dtype,
            stream_scenarios=(),  # the reference sends whole responses only
        )

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        return (1 + MAX_NEW_TOKENS,)

    # ---- outputs ------------------------------------------------------------------------
    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> list[SampleOutput]:
        """(n, 1 + max_new) rows ``[count, tokens...]`` -> each sample's tokens (int64, as
        the reference's torch ids) with their count."""
        rows = np.asarray(outputs).astype(np.int64, copy=False)
        out = []
        for row in rows:
            count = int(row[0])
            if count == 0:  # the null backend's zeros (the engine makes >= 30 tokens)
                count = NULL_TOKENS
            tokens = row[1 : 1 + count].astype(variant.output_dtype)
            out.append(SampleOutput.of(tokens, n_tokens=count))
        return out

    def batch_plan(self, dataset: Dataset, config: Any, batch_size: int) -> BatchPlan:
        from inferlab.loadgen.dispatch import FixedBatch

        lengths = dataset.lengths  # type: ignore[attr-defined]

        def longest_first(indices: np.ndarray) -> np.ndarray:
            return np.argsort(-lengths[indices], kind="stable")

        facts = {"policy": "fixed", "max_batch": batch_size, "length_sort": True}
        return BatchPlan(
            FixedBatch(batch_size), order=longest_first, facts=facts, variable_cost=True
        )

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        from inferlab.loadgen.accuracy_log import iter_entries

        entries = [(e.qsl_idx, e.data) for e in iter_entries(accuracy_log)]
        references: list[str] = dataset.references  # type: ignore[attr-defined]
        return score_log(entries, references, make_decoder(), variant.output_dtype)


def make_decoder() -> Any:
    """ids -> text as evaluation.py's ``batch_decode(ids, skip_special_tokens=True)`` with
    GPT-J's tokenizer (the packaged GPT-2 BPE; see CLEAN_UP_TOKENIZATION_SPACES)."""
    from inferlab.generation.tokenizers import clean_up_tokenization, load_tokenizer

    tok = load_tokenizer(TOKENIZER)

    def decode(ids: np.ndarray) -> str:
        text = str(tok.decode(ids.tolist(), skip_special_tokens=True))
        return clean_up_tokenization(text) if CLEAN_UP_TOKENIZATION_SPACES else text

    return decode


def score_log(
    entries: list[tuple[int, str]], references: list[str], decode: Any, dtype: str
) -> Evaluation:
    """evaluation.py on the log's ``(qsl_idx, hex data)`` pairs: ROUGE-1/2/L/Lsum, gen_len
    (characters), gen_num; printed as the v5.0 script does (ROUGE values as strings)."""
    from inferlab.metrics.rouge import summarization_score_from_log

    score = summarization_score_from_log(entries, references, decode, dtype=dtype)
    values = tuple(
        MetricValue(m, float(score.metric(m)), "" if m == "GEN_LEN" else "%") for m in METRICS
    )
    return Evaluation(
        values=values,
        accuracy_txt=score.report_text(),
        details={
            "total": score.gen_num,
            "duplicates": len(entries) - len({q for q, _ in entries}),
            **score.result_dict(),
            "token_dtype": dtype,
            "clean_up_tokenization_spaces": CLEAN_UP_TOKENIZATION_SPACES,
        },
    )


def _cache_root(cache_dir: Path | None) -> Path | None:
    """The inferlab cache root from the run's preprocessed-cache directory (its parent)."""
    return cache_dir.parent if cache_dir is not None else None


TASK_99 = GptjTask(SPEC_99)
TASK_99_9 = GptjTask(SPEC_99_9)
