"""The llama3.1-8b / llama3.1-8b-edge task: the hooks the runner calls (torch-free at import).

Facts: rules file §2.1 (targets), §2.3 (tokens per second), and the reference
(`language/llama3.1-8b/`): greedy decoding with at most 128 and at least 1 new token
(`SUT_VLLM.py`), the processed dataset's `tok_input` as prompts (`dataset.py`), int32 token ids
with their count in each response, ROUGE as `evaluation.py` computes it (`--dtype int32`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.llama3_1_8b.spec import (
    CHECKPOINT_DIR,
    CLEAN_UP_TOKENIZATION_SPACES,
    DATASET_DIR,
    EOS_TOKEN_IDS,
    MAX_NEW_TOKENS,
    MIN_NEW_TOKENS,
    MODEL_ID,
    PROMPT_TEMPLATE,
    SPEC,
    SPEC_EDGE,
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

# prompt + generated tokens a request may need; the longest CNN/DailyMail prompt is ~2,300
# tokens, plus 128 generated (the KV cache is sized by it, per sequence)
MAX_SEQ_LEN = 4096
NULL_TOKENS = 2  # LoadGen: "Number of tokens need to be greater than 1"
METRICS = ("ROUGE1", "ROUGE2", "ROUGEL", "ROUGELSUM", "GEN_LEN")


class Llama31Task(BenchmarkTask):
    """Hooks for llama3.1-8b (``edge``: the 5,000-article llama3.1-8b-edge)."""

    model_id = MODEL_ID

    def __init__(self, spec: BenchmarkSpec, *, edge: bool) -> None:
        self.spec = spec
        self.edge = edge

    # ---- data ---------------------------------------------------------------------------
    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        contents = "the processed CNN/DailyMail file (cnn_eval.json, sample_cnn_eval_5000.json)"
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
        from inferlab.benchmarks.llama3_1_8b import dataset as cnndm

        if path is not None:
            return cnndm.load_real(  # type: ignore[return-value]
                path, edge=self.edge, full_count=self.spec.dataset_size, count=count
            )
        from inferlab.generation.tokenizers import resolve_tokenizer

        source = resolve_tokenizer("llama3", cache_dir=_cache_root(cache_dir))
        tok = source.load()
        n = count or synthetic_count or self.spec.synthetic_count
        return cnndm.load_synthetic(  # type: ignore[return-value]
            n, seed, PROMPT_TEMPLATE, tok.encode, f"llama3 ({source.origin}: {source.path})"
        )

    def scoring_files(self, dataset: Dataset, run_dir: Path) -> dict[str, str]:
        """Generated data: the records in the processed-file format evaluation.py reads."""
        if not dataset.synthetic:
            return {}
        name = "sample_cnn_eval_5000.json" if self.edge else "cnn_eval.json"
        dataset.write_scoring_file(run_dir / name)  # type: ignore[attr-defined]
        return {"dataset": name}

    # ---- model --------------------------------------------------------------------------
    def resolve_model_path(
        self, data_dir: Path | None, model_path: Path | None, variant: Variant | None = None
    ) -> Path | None:
        """A Hugging Face checkpoint directory: ``--model-path``, else
        ``<data_dir>/models/llama3.1-8b/Llama-3.1-8B-Instruct`` when it is there."""
        if model_path is not None:
            if not (model_path / "config.json").is_file():
                raise ModelError(
                    f"{model_path} is not a Hugging Face checkpoint directory (no config.json)",
                    f"pass --model-path to the {CHECKPOINT_DIR} directory (config.json, "
                    "tokenizer, *.safetensors)",
                )
            return model_path
        if data_dir is not None and variant is not None and variant.checkpoint_name:
            candidate = data_dir / "models" / MODEL_ID / variant.checkpoint_name
            if (candidate / "config.json").is_file():
                return candidate
        return None

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        from inferlab.benchmarks.llama3_1_8b.model import build

        return build(model_path, seed=seed)

    def generation_settings(self, variant: Variant) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=MAX_NEW_TOKENS,
            min_new_tokens=MIN_NEW_TOKENS,
            eos_token_ids=EOS_TOKEN_IDS,
            max_seq_len=MAX_SEQ_LEN,
            output_dtype=variant.output_dtype,
        )

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        return (1 + MAX_NEW_TOKENS,)

    # ---- outputs ------------------------------------------------------------------------
    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> list[SampleOutput]:
        """(n, 1 + max_new) rows ``[count, tokens...]`` -> each sample's tokens (int32) with
        their count; in Server the first token too, sent ahead of the rest."""
        stream = bool(getattr(dataset, "stream_first", False))
        rows = np.asarray(outputs).astype(np.int64, copy=False)
        out = []
        for row in rows:
            count = int(row[0])
            if count == 0:  # the null backend's zeros (the engine makes >= 1 token): LoadGen
                count = NULL_TOKENS  # needs more than one token, so placeholders (id 0)
            tokens = row[1 : 1 + count].astype(variant.output_dtype)
            first = tokens[:1] if stream and count else None
            out.append(SampleOutput.of(tokens, n_tokens=count, first=first))
        return out

    def batch_plan(self, dataset: Dataset, config: Any, batch_size: int) -> BatchPlan:
        from inferlab.loadgen.dispatch import FixedBatch

        ds: Any = dataset
        settings = self.generation_settings(self.spec.variant())
        ds.stream_first = config.scenario in settings.stream_scenarios
        lengths = ds.lengths

        def longest_first(indices: np.ndarray) -> np.ndarray:
            return np.argsort(-lengths[indices], kind="stable")

        facts = {"policy": "fixed", "max_batch": batch_size, "length_sort": True}
        return BatchPlan(
            FixedBatch(batch_size), order=longest_first, facts=facts, variable_cost=True
        )

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        from inferlab.generation.tokenizers import clean_up_tokenization, load_tokenizer
        from inferlab.loadgen.accuracy_log import iter_entries
        from inferlab.metrics.rouge import summarization_score_from_log

        ds: Any = dataset
        tok = load_tokenizer("llama3")

        def decode(ids: np.ndarray) -> str:
            text = str(tok.decode(ids.tolist(), skip_special_tokens=True))
            return clean_up_tokenization(text) if CLEAN_UP_TOKENIZATION_SPACES else text

        entries = ((e.qsl_idx, e.data) for e in iter_entries(accuracy_log))
        score = summarization_score_from_log(
            entries, ds.references, decode, dtype=variant.output_dtype
        )
        values = tuple(
            MetricValue(m, float(score.metric(m)), "" if m == "GEN_LEN" else "%") for m in METRICS
        )
        return Evaluation(
            values=values,
            accuracy_txt=score.report_text(),
            details={
                "total": score.gen_num,
                "duplicates": 0,
                "clean_up_tokenization_spaces": CLEAN_UP_TOKENIZATION_SPACES,
                **score.result_dict(),
            },
        )


def _cache_root(cache_dir: Path | None) -> Path | None:
    """The inferlab cache root from the run's preprocessed-cache directory (its parent)."""
    return cache_dir.parent if cache_dir is not None else None


TASK = Llama31Task(SPEC, edge=False)
TASK_EDGE = Llama31Task(SPEC_EDGE, edge=True)
