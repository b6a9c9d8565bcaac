"""Data types shared by SQuAD v1.1 feature generation, the BERT QSL and the F1/EM evaluation.

Facts (rules file §3, §4): features are built like the reference's ``create_squad_data.py``
with max sequence 384, document stride 128, max query 64; the QSL index is the feature index;
``unique_id`` starts at 1,000,000,000 and counts features in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
FIRST_UNIQUE_ID = 1_000_000_000
N_BEST = 20
MAX_ANSWER_LENGTH = 30
#: What accuracy-squad.py fills in for logits past the end of a payload shorter than 384 rows.
PAD_LOGIT = -10000.0


@dataclass(frozen=True)
class SquadExample:
    """One question, in dataset order (articles -> paragraphs -> qas)."""

    qas_id: str
    question_text: str
    doc_tokens: tuple[str, ...]  # the context split on whitespace, as the reference splits it
    answers: tuple[str, ...]  # ground-truth answer texts (SQuAD v1.1 dev has 1..n per question)


@dataclass(frozen=True)
class SquadFeature:
    """One window (doc span) of one question: what the model sees and how to map back."""

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: tuple[str, ...]  # [CLS] query [SEP] doc-span [SEP], unpadded
    token_to_orig_map: dict[int, int]  # feature token position -> index into doc_tokens
    token_is_max_context: dict[int, bool]  # feature token position -> max-context window?

    @property
    def length(self) -> int:
        """Real (unpadded) tokens, i.e. the number of ones in input_mask."""
        return len(self.tokens)


@dataclass(frozen=True)
class SquadFeatures:
    """All features plus the model inputs as dense arrays (row i = QSL index i).

    ``input_ids``, ``input_mask``, ``segment_ids``: int32, shape (N, max_seq_length), zero
    padded like the reference; ``lengths``: int32 (N,), real tokens per row.
    """

    features: tuple[SquadFeature, ...]
    input_ids: np.ndarray
    input_mask: np.ndarray
    segment_ids: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.features)
