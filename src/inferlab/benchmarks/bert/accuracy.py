"""SQuAD v1.1 F1 / exact match from a LoadGen accuracy log, computed like the official
``language/bert/accuracy-squad.py`` followed by ``evaluate_v1.1.py``.

Rules reproduced:

* **Log** (``load_loadgen_log``): every element is decoded with ``bytes.fromhex`` +
  ``np.frombuffer(dtype)`` (dtype one of int8..float64), reshaped ``(-1, 2)`` (or ``(2, -1)`` and
  transposed), and copied into float64 start/end vectors of 384 rows pre-filled with -10000.0.
  Results are then keyed by feature, so when a ``qsl_idx`` repeats the LAST element wins.
* **Post-processing** (``write_predictions``): per feature, the 20 best start and 20 best end
  positions by a stable descending sort; a (start, end) pair is kept when both lie inside the
  feature's tokens and map to a document word, the start position is in its max-context window,
  ``end >= start`` and the span has at most 30 tokens; the candidates of all the question's
  windows are sorted by ``start_logit + end_logit`` (float64, stable descending). The prediction
  is the first n-best entry, which is always the text of the first candidate (the n-best list
  only de-duplicates LATER texts), so we compute the best candidate directly with numpy,
  keeping the official order on ties (window order, then start rank, then end rank). A question
  with no valid candidate (or no logged window) gets the nonce ``"empty"``. The text is the
  WordPiece span de-tokenised and projected back onto the document words by
  :func:`get_final_text` (Google's alignment heuristic with its fallbacks, in
  :mod:`inferlab.benchmarks.bert.squad_text`).
* **Scores** (``evaluate``): answers are normalised (lower case, ``string.punctuation`` removed,
  ``\\b(a|an|the)\\b`` removed, whitespace collapsed: :func:`normalize_answer` in
  :mod:`inferlab.benchmarks.bert.squad_text`); per question the best EM (bool) and F1 over the
  ground truths are summed in dataset order, a question without prediction adds 0 but counts; EM and
  F1 are ``100.0 * sum / total``. The sums use the same Python arithmetic, so
  both floats are bit-identical to the official ones, and :meth:`SquadScore.line` is the exact
  ``json.dumps`` line evaluate_v1.1.py prints.

Where the official scripts would crash or behave arbitrarily we raise :class:`DataError`: an
empty log, a ``qsl_idx`` outside the features, a payload with an odd number of values or more
than 384 rows, NaN logits (Python's sort gives an arbitrary order with NaN), an empty dataset.

``line()`` keeps Python's float repr like the official script. A score below 0.0001 (but not 0)
would print in exponent form (``1e-05``), which the submission checker's regex does not accept;
that only happens for a run hopelessly below the accuracy target, and the official
``accuracy.txt`` would read the same, so we do not reformat it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inferlab.benchmarks.bert.features import (
    MAX_ANSWER_LENGTH,
    MAX_SEQ_LENGTH,
    N_BEST,
    PAD_LOGIT,
    SquadExample,
    SquadFeature,
    SquadFeatures,
)
from inferlab.benchmarks.bert.squad_text import (
    basic_tokenize,
    exact_match_score,
    f1_score,
    get_final_text,
    normalize_answer,
)
from inferlab.core.errors import ConfigError, DataError
from inferlab.core.files import atomic_write_text
from inferlab.loadgen.accuracy_log import LogStats, decode_hex, iter_entries

__all__ = [
    "DTYPES",
    "EMPTY_PREDICTION",
    "SquadResult",
    "SquadScore",
    "basic_tokenize",
    "evaluate",
    "exact_match_score",
    "f1_score",
    "get_final_text",
    "logits_from_log",
    "normalize_answer",
    "predict",
    "read_logits",
    "squad_from_log",
    "write_predictions_json",
]

log = logging.getLogger(__name__)

#: ``--output_dtype`` choices of accuracy-squad.py (its ``dtype_map``).
DTYPES: dict[str, type[np.generic]] = {
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
}
#: The nonce prediction of a question without any valid span.
EMPTY_PREDICTION = "empty"

_CHUNK = 2048  # features per numpy batch in predict()
_FIX_FEATURES = "use the features of the dataset the run used (same order and count)"

# ---------------------------------------------------------------------------------------------
# evaluate_v1.1.py (the per-answer normalisation and scores are in squad_text)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadScore:
    """Exact match and F1 in percent over ``total`` questions (``answered`` had a prediction)."""

    exact_match: float
    f1: float
    total: int
    answered: int

    def line(self) -> str:
        """What evaluate_v1.1.py prints, e.g. ``{"exact_match": 83.6, "f1": 90.87}``."""
        return json.dumps({"exact_match": self.exact_match, "f1": self.f1})


def evaluate(
    examples: Sequence[SquadExample],
    predictions: Mapping[str, str],
    *,
    only: Collection[str] | None = None,
) -> SquadScore:
    """Score ``predictions`` (qas_id -> text) against ``examples`` in dataset order.

    ``only`` restricts the evaluation to those qas_ids (``total`` is then the number of questions
    in the restricted set); every id in it must belong to ``examples``."""
    if only is not None:
        wanted = set(only)
        unknown = wanted.difference(ex.qas_id for ex in examples)
        if unknown:
            raise DataError(
                f"{len(unknown)} qas_ids to evaluate are not in the dataset "
                f"(e.g. {sorted(unknown)[0]!r})",
                "pass ids of the dataset's questions",
            )
        examples = [ex for ex in examples if ex.qas_id in wanted]
    f1: float = 0
    exact = 0
    total = 0
    answered = 0
    for ex in examples:
        total += 1
        if ex.qas_id not in predictions:
            continue
        prediction = predictions[ex.qas_id]
        if not ex.answers:
            raise DataError(
                f"question {ex.qas_id!r} has no ground-truth answer",
                "use the SQuAD v1.1 dev set (every question has at least one answer)",
            )
        answered += 1
        exact += max(exact_match_score(prediction, truth) for truth in ex.answers)
        f1 += max([f1_score(prediction, truth) for truth in ex.answers])
    if total == 0:
        raise DataError("no questions to evaluate", "check the dataset (and the subset) used")
    missing = total - answered
    if missing:
        log.warning("%d of %d questions have no prediction and score 0", missing, total)
    return SquadScore(
        exact_match=100.0 * exact / total, f1=100.0 * f1 / total, total=total, answered=answered
    )


# ---------------------------------------------------------------------------------------------
# load_loadgen_log
# ---------------------------------------------------------------------------------------------


def _np_dtype(dtype: str) -> type[np.generic]:
    try:
        return DTYPES[str(dtype)]
    except KeyError:
        raise ConfigError(
            f"unsupported SQuAD logits dtype {dtype!r}",
            f"use one of {', '.join(DTYPES)} (what the SUT writes into the response)",
        ) from None


def _pad(pairs: np.ndarray) -> np.ndarray:
    """(n, 2) start/end logits -> float64 (384, 2) filled with -10000.0 past row n."""
    out = np.full((MAX_SEQ_LENGTH, 2), PAD_LOGIT, dtype=np.float64)
    out[: pairs.shape[0]] = pairs
    return out


def read_logits(
    path: str | os.PathLike[str],
    n_features: int,
    *,
    dtype: str = "float32",
    transposed: bool = False,
) -> tuple[dict[int, np.ndarray], LogStats]:
    """Decode every element of the log into float64 (384, 2) start/end logits keyed by qsl_idx
    (the LAST element of a repeated qsl_idx wins, as official). Returns them with LogStats."""
    np_dtype = _np_dtype(dtype)
    logits: dict[int, np.ndarray] = {}
    entries = 0
    for entry in iter_entries(path):
        where = f"element {entries} (qsl_idx {entry.qsl_idx})"
        entries += 1
        if not 0 <= entry.qsl_idx < n_features:
            raise DataError(
                f"{path}: {where} is outside the {n_features} SQuAD features", _FIX_FEATURES
            )
        values = decode_hex(entry.data, np_dtype, path=path, where=where)
        if values.size % 2:
            raise DataError(
                f"{path}: {where} holds {values.size} {np.dtype(np_dtype).name} values, "
                "not start/end pairs",
                "pass the dtype the SUT wrote (and --transposed if it wrote [2, seq])",
            )
        pairs = values.reshape(2, -1).T if transposed else values.reshape(-1, 2)
        if pairs.shape[0] > MAX_SEQ_LENGTH:
            raise DataError(
                f"{path}: {where} has {pairs.shape[0]} rows of logits, more than {MAX_SEQ_LENGTH}",
                "pass the dtype the SUT wrote; one response is at most 384 (start, end) pairs",
            )
        logits[entry.qsl_idx] = _pad(pairs)
    if entries == 0:
        raise DataError(
            f"accuracy log {path} has no entries",
            "run LoadGen in AccuracyOnly mode so every sample is logged",
        )
    stats = LogStats(entries=entries, unique=len(logits), duplicates=entries - len(logits))
    if stats.duplicates:
        log.info("%s: %d repeated qsl_idx; the last of each is used", path, stats.duplicates)
    return logits, stats


def logits_from_log(
    path: str | os.PathLike[str],
    n_features: int,
    *,
    dtype: str = "float32",
    transposed: bool = False,
) -> dict[int, np.ndarray]:
    """Like :func:`read_logits`, without the statistics."""
    return read_logits(path, n_features, dtype=dtype, transposed=transposed)[0]


# ---------------------------------------------------------------------------------------------
# write_predictions
# ---------------------------------------------------------------------------------------------


def _feature_tuple(features: SquadFeatures | Sequence[SquadFeature]) -> Sequence[SquadFeature]:
    return features.features if isinstance(features, SquadFeatures) else features


def _best_spans(
    feats: Sequence[SquadFeature],
    logits: Mapping[int, np.ndarray],
    n_best: int,
    max_answer_length: int,
) -> dict[int, tuple[float, int, int]]:
    """For each logged feature with a valid candidate: (score, start, end) of its first
    candidate in the official order (highest score; ties by start rank, then end rank)."""
    best: dict[int, tuple[float, int, int]] = {}
    k = min(n_best, MAX_SEQ_LENGTH)
    if k <= 0:
        return best
    order = sorted(logits)
    for lo in range(0, len(order), _CHUNK):
        chunk = order[lo : lo + _CHUNK]
        arr = np.stack([_pad(np.asarray(logits[i], dtype=np.float64)) for i in chunk])
        nan_rows = np.isnan(arr).any(axis=(1, 2))
        if nan_rows.any():
            bad = chunk[int(np.argmax(nan_rows))]
            raise DataError(
                f"the logits of feature {bad} (qsl_idx) contain NaN; the official sort would "
                "rank them arbitrarily",
                "fix the model/backend numerics (e.g. overflow in float16) and re-run",
            )
        starts, ends = arr[:, :, 0], arr[:, :, 1]
        s_idx = np.argsort(-starts, axis=1, kind="stable")[:, :k]
        e_idx = np.argsort(-ends, axis=1, kind="stable")[:, :k]
        s_val = np.take_along_axis(starts, s_idx, axis=1)
        e_val = np.take_along_axis(ends, e_idx, axis=1)
        s_ok = np.zeros(s_idx.shape, dtype=bool)
        e_ok = np.zeros(e_idx.shape, dtype=bool)
        for row, (fi, s_list, e_list) in enumerate(
            zip(chunk, s_idx.tolist(), e_idx.tolist(), strict=True)
        ):
            feat = feats[fi]
            n_tok = len(feat.tokens)
            to_orig = feat.token_to_orig_map
            max_ctx = feat.token_is_max_context
            s_ok[row] = [i < n_tok and i in to_orig and bool(max_ctx.get(i, False)) for i in s_list]
            e_ok[row] = [i < n_tok and i in to_orig for i in e_list]
        span = e_idx[:, None, :] - s_idx[:, :, None]  # end - start, (B, k, k)
        valid = s_ok[:, :, None] & e_ok[:, None, :] & (span >= 0) & (span < max_answer_length)
        with np.errstate(invalid="ignore"):  # inf + -inf: checked just below
            scores = s_val[:, :, None] + e_val[:, None, :]  # float64 = Python float addition
        nan_pairs = np.isnan(scores) & valid
        if nan_pairs.any():
            bad = chunk[int(np.argmax(nan_pairs.any(axis=(1, 2))))]
            raise DataError(
                f"feature {bad} (qsl_idx) has +inf and -inf logits whose sum is NaN",
                "fix the model/backend numerics (e.g. overflow in float16) and re-run",
            )
        flat_valid = valid.reshape(len(chunk), -1)
        flat_scores = np.where(flat_valid, scores.reshape(len(chunk), -1), -np.inf)
        pick = flat_scores.argmax(axis=1)
        for row in np.flatnonzero(flat_valid.any(axis=1)).tolist():
            j = int(pick[row])
            if not flat_valid[row, j]:  # every valid score is -inf: the first valid one wins
                j = int(np.argmax(flat_valid[row]))
            i_s, i_e = divmod(j, k)
            best[chunk[row]] = (
                float(flat_scores[row, j]),
                int(s_idx[row, i_s]),
                int(e_idx[row, i_e]),
            )
    return best


def _span_text(example: SquadExample, feat: SquadFeature, start: int, end: int) -> str:
    tok_text = " ".join(feat.tokens[start : end + 1])
    tok_text = tok_text.replace(" ##", "").replace("##", "")
    tok_text = " ".join(tok_text.strip().split())
    first, last = feat.token_to_orig_map[start], feat.token_to_orig_map[end]
    orig_text = " ".join(example.doc_tokens[first : last + 1])
    return get_final_text(tok_text, orig_text, True)


def _windows(examples: Sequence[SquadExample], feats: Sequence[SquadFeature]) -> list[list[int]]:
    """Feature indices of each example, in feature order."""
    windows: list[list[int]] = [[] for _ in examples]
    for fi, feat in enumerate(feats):
        if not 0 <= feat.example_index < len(examples):
            raise DataError(
                f"feature {fi} belongs to example {feat.example_index}, outside the "
                f"{len(examples)} examples",
                "generate the features from these examples",
            )
        windows[feat.example_index].append(fi)
    return windows


def predict(
    examples: Sequence[SquadExample],
    features: SquadFeatures | Sequence[SquadFeature],
    logits: Mapping[int, np.ndarray],
    *,
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_LENGTH,
) -> dict[str, str]:
    """The official ``write_predictions``: qas_id -> predicted text for every example.

    ``logits`` maps a feature index (qsl_idx) to its (n <= 384, 2) start/end logits; features
    without logits are skipped, and a question none of whose windows yields a valid span gets
    ``"empty"``."""
    feats = _feature_tuple(features)
    for idx, arr in logits.items():
        if not 0 <= idx < len(feats):
            raise DataError(
                f"logits for feature {idx}, outside the {len(feats)} features", _FIX_FEATURES
            )
        shape = np.shape(arr)
        if len(shape) != 2 or shape[1] != 2 or shape[0] > MAX_SEQ_LENGTH:
            raise DataError(
                f"logits of feature {idx} have shape {shape}, expected (n <= 384, 2)",
                "pass (start, end) logit pairs per token",
            )
    windows = _windows(examples, feats)
    best = _best_spans(feats, logits, n_best, max_answer_length)
    predictions: dict[str, str] = {}
    for example, window in zip(examples, windows, strict=True):
        choice: tuple[float, int, int, int] | None = None
        for fi in window:
            cand = best.get(fi)
            if cand is not None and (choice is None or cand[0] > choice[0]):
                choice = (*cand, fi)
        if choice is None:
            predictions[example.qas_id] = EMPTY_PREDICTION
        else:
            _, start, end, fi = choice
            predictions[example.qas_id] = _span_text(example, feats[fi], start, end)
    return predictions


def write_predictions_json(path: str | os.PathLike[str], predictions: Mapping[str, str]) -> None:
    """Write ``predictions.json`` like accuracy-squad.py (``indent=4`` plus a newline),
    atomically (temporary file in the same folder, then ``os.replace``)."""
    atomic_write_text(Path(path), json.dumps(dict(predictions), indent=4) + "\n")


# ---------------------------------------------------------------------------------------------
# accuracy-squad.py end to end
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadResult:
    """The score plus how much of the dataset the log covered.

    ``questions_covered``: questions all of whose features were logged; ``questions_partial``:
    some but not all. ``subset``: whether the score is over the covered questions only."""

    score: SquadScore
    entries: int
    features_logged: int
    duplicates: int
    questions_total: int
    questions_covered: int
    questions_partial: int
    subset: bool
    predictions: dict[str, str] = field(repr=False)

    def line(self) -> str:
        """The official output line (see :meth:`SquadScore.line`)."""
        return self.score.line()


def squad_from_log(
    path: str | os.PathLike[str],
    examples: Sequence[SquadExample],
    features: SquadFeatures | Sequence[SquadFeature],
    *,
    dtype: str = "float32",
    transposed: bool = False,
    subset: bool = False,
) -> SquadResult:
    """F1/EM of ``mlperf_log_accuracy.json`` over the SQuAD examples and their features.

    With ``subset`` (the run used only part of the features, e.g. the first N) only the fully
    covered questions are scored; the official script would count every other question as 0."""
    feats = _feature_tuple(features)
    logits, stats = read_logits(path, len(feats), dtype=dtype, transposed=transposed)
    predictions = predict(examples, feats, logits)
    covered: list[str] = []
    partial = 0
    for example, window in zip(examples, _windows(examples, feats), strict=True):
        logged = sum(fi in logits for fi in window)
        if window and logged == len(window):
            covered.append(example.qas_id)
        elif logged:
            partial += 1
    if subset and not covered:
        raise DataError(
            f"{path}: no question has all its features logged",
            "log every feature of at least one question (or evaluate without subset)",
        )
    if not subset and len(covered) < len(examples):
        log.warning(
            "%s: %d of %d questions are not fully logged (%d partially); the official script "
            "scores them from what was logged",
            path,
            len(examples) - len(covered),
            len(examples),
            partial,
        )
    score = evaluate(examples, predictions, only=covered if subset else None)
    result = SquadResult(
        score=score,
        entries=stats.entries,
        features_logged=stats.unique,
        duplicates=stats.duplicates,
        questions_total=len(examples),
        questions_covered=len(covered),
        questions_partial=partial,
        subset=subset,
        predictions=predictions,
    )
    log.info("%s (%d questions, %d duplicates)", result.line(), score.total, stats.duplicates)
    return result
