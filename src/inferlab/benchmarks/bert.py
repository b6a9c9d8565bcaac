"""BERT-Large on SQuAD v1.1 dev (MLPerf `bert-99` and `bert-99.9`, LoadGen model key `bert`).

One module, two registry entries: the benchmarks differ only in the accuracy target (99% or
99.9% of the reference F1 90.874). Torch-free at import.
Facts: rules file §1.3 (mlperf.conf: PSC 10,833, Server 130 ms), §2.1 (targets), §2.4 (bert is
SingleStream/Offline from v5.0 on; Server only until v4.1), §3 (accuracy-squad.py), §4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inferlab.core.dataset import Dataset
from inferlab.core.errors import ModelError
from inferlab.core.rounds import targets_by_round
from inferlab.core.spec import (
    BenchmarkSpec,
    QuickSettings,
    Scenario,
    Variant,
)
from inferlab.core.task import (
    BatchPlan,
    Evaluation,
    MetricValue,
    ModelFacts,
    find_dataset,
    find_model_file,
)
from inferlab.preprocessing.squad_types import MAX_SEQ_LENGTH, PAD_LOGIT

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


class BertTask:
    """Hooks the runner calls for bert-99 / bert-99.9."""

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
    ) -> Dataset:
        from inferlab.datasets import squad

        if path is None:
            n = count or synthetic_count or SPEC_99.synthetic_count
            return squad.load_synthetic(count=n, seed=seed)  # type: ignore[return-value]
        data_dir = path.parent if path.is_dir() else path.parent.parent
        json_path, vocab_path = squad.find_files(path, data_dir)
        return squad.load_real(  # type: ignore[return-value]
            json_path, vocab_path, count=count, cache_dir=cache_dir
        )

    def resolve_model_path(
        self, data_dir: Path | None, model_path: Path | None, variant: Variant | None = None
    ) -> Path | None:
        name = (variant or PYTORCH).checkpoint_name or ""
        return find_model_file(data_dir, model_path, MODEL_ID, name)

    def onnx_io(self, variant: Variant) -> Any:
        return BertOnnxIO()

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        import torch

        from inferlab.models.bert import BertConfig, build_bert_qa, load_bert_checkpoint

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
        from inferlab.metrics.squad import squad_from_log, write_predictions_json

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


def _spec(bid: str, lower: float, aliases: tuple[str, ...]) -> BenchmarkSpec:
    return BenchmarkSpec(
        id=bid,
        loadgen_name="bert",
        checker_name=bid,
        description=(
            f"BERT-Large question answering, SQuAD v1.1 dev (10,833 windows of 10,570 "
            f"questions), F1 >= {lower:g} x {REFERENCE_F1}"
        ),
        task="inferlab.benchmarks.bert:TASK",
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

TASK = BertTask()
