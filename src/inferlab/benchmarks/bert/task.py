"""The bert-99 / bert-99.9 task: the hooks the runner calls (torch-free at import).
Facts: rules file §3 (accuracy-squad.py), §4 (preprocessing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.bert.features import MAX_SEQ_LENGTH, PAD_LOGIT
from inferlab.benchmarks.bert.spec import DATASET_DIR, MODEL_ID, SPEC_99, TINY, TINY_ARCH
from inferlab.core.dataset import Dataset
from inferlab.core.errors import ModelError
from inferlab.core.spec import (
    Variant,
)
from inferlab.core.task import (
    BatchPlan,
    BenchmarkTask,
    Evaluation,
    MetricValue,
    ModelFacts,
    find_dataset,
)


class BertOnnxIO:
    """(n, 3, L) int32 batch -> the graph's three int64 inputs, found by name; its outputs (two
    (n, L) logit arrays, or one (n, L, 2)) -> (n, L, 2)."""

    ROLES = (
        ("input_ids",),
        ("input_mask", "attention_mask"),
        ("segment_ids", "token_type_ids"),
    )

    def feeds(self, inputs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for row, aliases in enumerate(self.ROLES):
            name = next((n for n in names if n.split(":")[0] in aliases), None)
            if name is None:
                raise ModelError(
                    f"the ONNX model has no input named {' or '.join(aliases)} (it has {names})",
                    "use the MLPerf BERT ONNX file (inputs input_ids, input_mask, segment_ids)",
                )
            out[name] = np.ascontiguousarray(inputs[:, row, :], dtype=np.int64)
        return out

    def output(self, outputs: list[np.ndarray], names: list[str]) -> np.ndarray:
        if len(outputs) == 2:
            start, end = outputs
            if "end" in names[0] and "start" in names[1]:
                start, end = end, start
            return np.stack([start, end], axis=-1)
        if len(outputs) == 1 and outputs[0].ndim == 3 and outputs[0].shape[-1] == 2:
            return outputs[0]
        raise ModelError(
            f"unexpected ONNX outputs {names} with shapes {[o.shape for o in outputs]}",
            "use the MLPerf BERT ONNX file (outputs: start and end logits)",
        )


class BertTask(BenchmarkTask):
    """Hooks the runner calls for bert-99 / bert-99.9."""

    model_id = MODEL_ID

    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        contents = "dev-v1.1.json and vocab.txt"
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
        from inferlab.benchmarks.bert import dataset as squad

        if path is None:
            n = count or synthetic_count or SPEC_99.synthetic_count
            return squad.load_synthetic(count=n, seed=seed)  # type: ignore[return-value]
        data_dir = path.parent if path.is_dir() else path.parent.parent
        json_path, vocab_path = squad.find_files(path, data_dir)
        return squad.load_real(  # type: ignore[return-value]
            json_path, vocab_path, count=count, cache_dir=cache_dir
        )

    def onnx_io(self, variant: Variant) -> Any:
        return BertOnnxIO()

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        import torch

        from inferlab.benchmarks.bert.model import BertConfig, build_bert_qa, load_bert_checkpoint

        torch.manual_seed(seed)
        if variant.name == TINY.name:  # random-init: prepare() refuses a --model-path for it
            config = BertConfig(**TINY_ARCH)
            return build_bert_qa(config), ModelFacts(
                random_weights=True, extra={"init_seed": seed, "config": config.__dict__}
            )
        config_note = "bert_config.json not found: BERT-large values (rules file §4)"
        config = BertConfig.large()
        if model_path is not None:
            cfg_path = model_path.parent / "bert_config.json"
            if cfg_path.is_file():
                config = BertConfig.from_json(cfg_path)
                config_note = str(cfg_path)
        # with a checkpoint the random init is skipped (the tensors are replaced anyway)
        model = build_bert_qa(config, random_init=model_path is None)
        extra = {"config": config.__dict__, "config_source": config_note}
        if model_path is None:
            return model, ModelFacts(random_weights=True, extra={"init_seed": seed, **extra})
        facts = load_bert_checkpoint(model, model_path)
        return model, ModelFacts(
            random_weights=False,
            path=str(model_path),
            sha256=facts.get("sha256"),
            size_bytes=facts.get("size_bytes"),
            extra={**extra, "ignored_keys": facts.get("ignored_keys", [])},
        )

    def scoring_files(self, dataset: Dataset, run_dir: Path) -> dict[str, str]:
        """Synthetic data: the generated dev-v1.1.json and vocab.txt accuracy-squad.py reads."""
        if not dataset.synthetic:
            return {}
        ds: Any = dataset
        return ds.write_scoring_files(run_dir)  # type: ignore[no-any-return]

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        return (MAX_SEQ_LENGTH, 2)

    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> np.ndarray:
        """(n, L, 2) logits -> (n, 384, 2) float32 payloads, -10000 past each sequence."""
        n, length = int(outputs.shape[0]), int(outputs.shape[1])
        lengths = dataset.lengths[np.asarray(indices, dtype=np.int64)]  # type: ignore[attr-defined]
        payload = np.full((n, MAX_SEQ_LENGTH, 2), PAD_LOGIT, dtype=np.float32)
        real = np.arange(length)[None, :] < lengths[:, None]
        payload[:, :length][real] = outputs[real]
        return payload

    def batch_plan(self, dataset: Dataset, config: Any, batch_size: int) -> BatchPlan:
        from inferlab.loadgen.dispatch import CostAware, FixedBatch

        ds: Any = dataset
        ds.set_padding(config.padding, config.pad_multiple)
        facts: dict[str, Any] = {
            "padding": config.padding,
            "pad_multiple": config.pad_multiple if config.padding == "batch" else None,
            "max_batch": batch_size,
            "length_sort": bool(config.length_sort),
        }
        order = None
        if config.length_sort:
            lengths = ds.lengths

            def order(indices: np.ndarray) -> np.ndarray:
                # longest first; stable, so equal lengths keep LoadGen's order
                return np.argsort(-lengths[indices], kind="stable")

        if config.max_batch_tokens:
            policy: Any = CostAware(
                max_cost=config.max_batch_tokens,
                cost_of=ds.padded_lengths,
                max_batch=batch_size,
                padded=True,
            )
            facts.update(policy="token-budget", max_batch_tokens=config.max_batch_tokens)
        else:
            policy = FixedBatch(batch_size)
            facts.update(policy="fixed")
        return BatchPlan(policy, order=order, facts=facts, variable_cost=True)

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        from inferlab.benchmarks.bert.accuracy import squad_from_log, write_predictions_json

        ds: Any = dataset
        res = squad_from_log(
            accuracy_log,
            ds.examples,
            ds.features.features[: ds.total_count],
            dtype=variant.output_dtype,
            subset=ds.cut,
        )
        write_predictions_json(run_dir / "predictions.json", res.predictions)
        score = res.score
        return Evaluation(
            values=(
                MetricValue(metric="F1", value=score.f1, unit="%"),
                MetricValue(metric="exact_match", value=score.exact_match, unit="%"),
            ),
            accuracy_txt=score.line() + "\n",
            details={
                "total": res.features_logged,
                "duplicates": res.duplicates,
                "questions_scored": score.total,
                "questions_covered": res.questions_covered,
                "questions_partial": res.questions_partial,
                "predictions": "predictions.json",
                "scored_over": (
                    "questions whose windows were all in the QSL" if ds.cut else "all questions"
                ),
            },
        )


TASK = BertTask()
