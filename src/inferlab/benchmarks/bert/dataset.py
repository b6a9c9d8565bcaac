"""SQuAD v1.1 dev as a LoadGen QSL for BERT: one sample per feature (window), QSL index =
feature index, as the official accuracy-squad.py expects (rules file §3, §4).

All features stay resident (the real dev set is 10,833 x 3 x 384 int32 = 50 MB), so
load/unload only record what LoadGen asked for. ``get_batch`` stacks (input_ids, input_mask,
segment_ids) into one int32 array (n, 3, L): with padding "max" L = 384 like the reference SUT;
with padding "batch" L = the batch's longest sequence rounded up to ``pad_multiple`` (at most
384). The model's outputs at real positions do not depend on L (tested in
tests/unit/test_bert_model.py), which is what makes the shorter batches legitimate.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.bert.features import MAX_SEQ_LENGTH, SquadExample, SquadFeatures
from inferlab.core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DATASET_ID = "squad-v1.1"
DEV_FILE = "dev-v1.1.json"
VOCAB_FILE = "vocab.txt"
SYNTHETIC_ID = "synthetic-squad-v1.1"
OFFICIAL_QUESTIONS = 10_570  # SQuAD v1.1 dev
OFFICIAL_FEATURES = 10_833  # the reference's windows of them (rules file §4)


class SquadDataset:
    """BERT QSL over precomputed features. ``count`` keeps the first ``count`` features."""

    def __init__(
        self,
        examples: Sequence[SquadExample],
        features: SquadFeatures,
        *,
        count: int | None = None,
        synthetic: bool = False,
        source: dict[str, Any] | None = None,
    ) -> None:
        n = len(features)
        if n == 0:
            raise DataError("the SQuAD file produced no features", "check that it has questions")
        if count is not None and count < 1:
            raise ConfigError(f"count must be >= 1, got {count}", "pass --count N >= 1")
        if count is not None and count > n:
            raise ConfigError(
                f"--count {count} is more than the {n} features of the dataset",
                f"pass --count {n} or less, or drop --count",
            )
        self.examples = list(examples)
        self.features = features
        self.total_count = count or n
        # the QSL stops inside the feature list: score only questions whose windows all made it
        self.cut = self.total_count < n
        self.subset = self.cut and not synthetic  # generated sets are this size by design
        self.synthetic = synthetic
        self.dataset_id = SYNTHETIC_ID if synthetic else DATASET_ID
        self.source = dict(source or {})
        self.padding = "batch"
        self.pad_multiple = 8
        self.lengths = np.ascontiguousarray(features.lengths[: self.total_count], dtype=np.int32)
        stacked = np.stack([features.input_ids, features.input_mask, features.segment_ids], axis=1)[
            : self.total_count
        ]
        self._inputs = np.ascontiguousarray(stacked, dtype=np.int32)  # (N, 3, 384)

    # ------------------------------------------------------------------ QSL
    def load(self, indices: Sequence[int]) -> None:
        """Nothing to do: every feature is resident."""

    def unload(self, indices: Sequence[int]) -> None:
        """Nothing to do: every feature is resident."""

    def set_padding(self, padding: str, pad_multiple: int = 8) -> None:
        if padding not in ("batch", "max"):
            raise ConfigError(f"unknown padding {padding!r}", "use padding=batch or padding=max")
        if not 1 <= pad_multiple <= MAX_SEQ_LENGTH:
            raise ConfigError(
                f"pad_multiple must be in 1..{MAX_SEQ_LENGTH}, got {pad_multiple}",
                "use e.g. pad_multiple=8",
            )
        self.padding = padding
        self.pad_multiple = int(pad_multiple)

    def batch_length(self, indices: np.ndarray) -> int:
        """The padded length L of a batch of these samples."""
        if self.padding == "max" or len(indices) == 0:
            return MAX_SEQ_LENGTH
        longest = int(self.lengths[indices].max())
        m = self.pad_multiple
        return min(MAX_SEQ_LENGTH, -(-longest // m) * m)

    def padded_lengths(self, indices: np.ndarray) -> np.ndarray:
        """Per-sample cost for a token budget: the length each sample pads to on its own."""
        if self.padding == "max":
            return np.full(len(indices), MAX_SEQ_LENGTH, dtype=np.int64)
        m = self.pad_multiple
        return np.minimum(MAX_SEQ_LENGTH, -(-self.lengths[indices].astype(np.int64) // m) * m)

    def get_batch(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        return self._inputs[idx, :, : self.batch_length(idx)]

    # ------------------------------------------------------------------ facts
    def describe(self) -> dict[str, Any]:
        from inferlab.benchmarks.bert.preprocess import features_summary

        lengths = self.lengths
        return {
            "dataset_id": self.dataset_id,
            "synthetic": self.synthetic,
            "total_count": self.total_count,
            "features_in_file": len(self.features),
            "questions_in_file": len(self.examples),
            "subset": self.subset,
            "unit": "feature (one 384-token window of one question)",
            "length_mean": round(float(lengths.mean()), 2),
            "length_min": int(lengths.min()),
            "length_max": int(lengths.max()),
            "summary": features_summary(self.features),
            **{k: v for k, v in self.source.items() if not k.startswith("_")},
        }

    def write_scoring_files(self, run_dir: Path) -> dict[str, str]:
        """For synthetic data: dev-v1.1.json + vocab.txt, what accuracy-squad.py needs."""
        doc = self.source.get("_document")
        if not self.synthetic or doc is None:
            return {}
        from inferlab.benchmarks.bert.synthetic import write

        return write(doc["json"], doc["vocab"], Path(run_dir))


def find_files(path: Path, data_dir: Path | None) -> tuple[Path, Path]:
    """(dev-v1.1.json, vocab.txt) for a dataset path (directory or the JSON itself).

    vocab.txt is looked up beside the JSON, then under ``<data_dir>/models/bert/``."""
    json_path = path / DEV_FILE if path.is_dir() else path
    if not json_path.is_file():
        raise DataError(
            f"no {DEV_FILE} at {path}",
            f"put the SQuAD v1.1 dev file {DEV_FILE} in {path if path.is_dir() else path.parent}",
        )
    candidates = [json_path.parent / VOCAB_FILE]
    if data_dir is not None:
        candidates.append(data_dir / "models" / "bert" / VOCAB_FILE)
    for c in candidates:
        if c.is_file():
            return json_path, c
    raise DataError(
        f"no {VOCAB_FILE} (the BERT WordPiece vocabulary) found in "
        + " or ".join(str(c.parent) for c in candidates),
        f"copy vocab.txt of bert_tf_v1_1_large_fp32_384_v2 next to {json_path.name}",
    )


def load_real(
    json_path: Path, vocab_path: Path, *, count: int | None, cache_dir: Path | None
) -> SquadDataset:
    from inferlab.benchmarks.bert.preprocess import load_features

    meta: dict[str, Any] = {}
    examples, features = load_features(json_path, vocab_path, cache_dir=cache_dir, meta=meta)
    source: dict[str, Any] = {"path": str(json_path), "vocab": str(vocab_path)}
    generated = meta.get("generator")
    if generated is not None:  # e.g. the dev-v1.1.json a synthetic run left in its run dir
        log.warning(
            "%s was written by inferlab's synthetic generator: labelled SYNTHETIC", json_path
        )
        source["generator"] = generated
        return SquadDataset(examples, features, count=count, synthetic=True, source=source)
    if len(examples) == OFFICIAL_QUESTIONS:
        # the official dev file: its feature count is a check on the vocabulary and tokenizer
        source["matches_reference_feature_count"] = len(features) == OFFICIAL_FEATURES
        if len(features) != OFFICIAL_FEATURES:
            log.warning(
                "%s has the dev set's %d questions but gave %d features, not the reference's "
                "%d: check that %s is the BERT-large uncased vocab.txt (30,522 tokens)",
                json_path, OFFICIAL_QUESTIONS, len(features), OFFICIAL_FEATURES, vocab_path,
            )  # fmt: skip
    return SquadDataset(examples, features, count=count, source=source)


def load_synthetic(*, count: int, seed: int) -> SquadDataset:
    """Synthetic set of exactly ``count`` features made of whole questions: the generated
    questions whose windows fit, topped up with single-window questions. So every question is
    in the QSL and the official script scores the run's log on the written files exactly."""
    from inferlab.benchmarks.bert.synthetic import GENERATOR_VERSION, generate, keep_questions

    if count < 1:
        raise ConfigError(f"sample count must be at least 1, got {count}", "pass --count N >= 1")
    doc, vocab = generate(seed, count)  # >= 1 window per question, so >= count windows
    examples, features = _convert(doc, vocab)
    if len(features) > count:
        last = features.features[count].example_index  # first question that does not fit
        doc = keep_questions(doc, last)
        fits = sum(1 for f in features.features if f.example_index < last)
        if fits < count:
            filler, _ = generate(seed, count - fits, short=True, tag="f")
            doc = {**doc, "data": doc["data"] + filler["data"]}
        examples, features = _convert(doc, vocab)
    if len(features) != count:  # a filler paragraph needed two windows: never seen, but check
        raise DataError(
            f"the synthetic generator made {len(features)} windows for {count} requested",
            "use another --count or --set seed=N",
        )
    source = {
        "generator": f"inferlab.benchmarks.bert.synthetic v{GENERATOR_VERSION}",
        "seed": seed,
        "path": None,
        "_document": {"json": doc, "vocab": vocab},
    }
    return SquadDataset(examples, features, synthetic=True, source=source)


def _convert(doc: dict[str, Any], vocab: list[str]) -> tuple[list[SquadExample], SquadFeatures]:
    from inferlab.benchmarks.bert.preprocess import (
        WordPieceTokenizer,
        convert_examples_to_features,
        read_examples,
    )
    from inferlab.benchmarks.bert.synthetic import write

    with tempfile.TemporaryDirectory(prefix="inferlab-squad-") as tmp:
        names = write(doc, vocab, Path(tmp))
        examples = read_examples(Path(tmp) / names["dataset"])
        tokenizer = WordPieceTokenizer(Path(tmp) / names["vocab"])
    return examples, convert_examples_to_features(examples, tokenizer)
