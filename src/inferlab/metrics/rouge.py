"""ROUGE accuracy of generated summaries, computed like the official MLPerf CNN/DailyMail
evaluation scripts (``language/<model>/evaluation.py`` of mlcommons/inference; docs/llm-accuracy.md
lists which script does what).

What those scripts do, step by step, and where it happens here:

1. **Log** (:func:`decode_token_ids`): ``json.load`` of the accuracy log, then keep the FIRST
   element of every ``qsl_idx`` in log order; each ``data`` is
   ``np.frombuffer(bytes.fromhex(data), dtype)`` with ``dtype`` int64 (the scripts' default) or
   int32 (``--dtype int32``). The reference of an element is ``targets[qsl_idx]``.
2. **Text**: ``tokenizer.batch_decode(ids, skip_special_tokens=True)``: the caller's ``decode``.
3. **Post-processing** (:func:`postprocess`): every prediction and reference is ``strip()``-ed,
   split with ``nltk.sent_tokenize`` (English Punkt, :mod:`inferlab.metrics.punkt`) and the
   sentences joined with ``"\\n"`` (ROUGE-Lsum's sentence separator).
4. **Scores** (:func:`rouge_fmeasures`): ``evaluate.load("rouge").compute(predictions, references,
   use_stemmer=True, use_aggregator=False)``, which is ``rouge_score.rouge_scorer.RougeScorer(
   ["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True).score(reference, prediction)``
   per sample and its ``fmeasure``. We call ``rouge_score`` directly (``evaluate`` fetches the
   metric script from a hub at run time).
5. **Aggregation** (:func:`summarization_score`): per type ``round(np.mean(fmeasures) * 100, 4)``
   with numpy's float64 mean and numpy's rounding (kept, so the numbers are bit-identical);
   ``gen_len`` is the total number of CHARACTERS of the post-processed predictions (after strip
   and the newline join), ``gen_num`` the number of (de-duplicated) samples. Scripts that also
   count tokens add ``gen_tok_len`` (the decoded ids' total length, special tokens included) and
   ``tokens_per_sample = round(gen_tok_len / gen_num, 1)``.
6. **Output** (:meth:`SummarizationScore.result_dict`): the dict the script prints after a
   ``Results`` header. The current scripts print the ROUGE values as strings
   (``f"{value}"``), older ones as floats (``quote_scores=False``). ``gen_len`` is a numpy
   integer there, which numpy >= 2 prints as ``np.int64(N)``, a form the submission checker's
   ``'gen_len':\\s([\\d.]+)`` pattern does not read; we print the plain integer (numpy 1's form).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inferlab.core.errors import ConfigError, DataError
from inferlab.metrics import punkt

__all__ = [
    "ROUGE_TYPES",
    "TOKEN_DTYPES",
    "SummarizationScore",
    "decode_token_ids",
    "postprocess",
    "rouge_fmeasures",
    "summarization_score",
    "summarization_score_from_log",
]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
TOKEN_DTYPES = ("int32", "int64")
_ROUGE_PIN = "rouge-score==0.1.2"


def _scorer(rouge_types: Sequence[str], use_stemmer: bool) -> Any:
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise ConfigError(
            f"rouge_score is not installed ({exc}); the ROUGE accuracy needs it",
            f"pip install '{_ROUGE_PIN}' (or pip install -r requirements.txt)",
        ) from None
    return rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)


def decode_token_ids(
    entries: Iterable[tuple[int, str]], dtype: str = "int64"
) -> list[tuple[int, np.ndarray]]:
    """``(qsl_idx, token ids)`` of the accuracy log's ``(qsl_idx, hex data)`` pairs, in log
    order, keeping the first element of each ``qsl_idx`` (the official de-duplication).
    ``dtype`` is the one the evaluation script is told (``int64`` its default, ``int32``).
    :class:`DataError` on malformed hex or a payload that is not whole ids."""
    if dtype not in TOKEN_DTYPES:
        raise ConfigError(
            f"token id dtype {dtype!r} is not one the evaluation scripts accept",
            f"use one of {', '.join(TOKEN_DTYPES)}",
        )
    np_dtype = np.dtype(dtype)
    seen: set[int] = set()
    out: list[tuple[int, np.ndarray]] = []
    for qsl_idx, data in entries:
        if qsl_idx in seen:
            continue
        seen.add(qsl_idx)
        try:
            raw = bytes.fromhex(data)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"accuracy log element of qsl_idx {qsl_idx} has a malformed hex payload ({exc})",
                "re-run the accuracy test; LoadGen rewrites the file from scratch",
            ) from None
        if len(raw) % np_dtype.itemsize:
            raise DataError(
                f"accuracy log element of qsl_idx {qsl_idx} is {len(raw)} bytes, not a "
                f"multiple of {np_dtype.itemsize} ({dtype} token ids)",
                "pass the dtype the system wrote its token ids in (int32 or int64)",
            )
        out.append((qsl_idx, np.frombuffer(raw, dtype=np_dtype)))
    return out


def postprocess(
    texts: Iterable[str], split: Callable[[str], Sequence[str]] | None = None
) -> list[str]:
    """``"\\n".join(sent_tokenize(text.strip()))`` for each text. ``split`` defaults to
    NLTK's English Punkt (:func:`inferlab.metrics.punkt.sent_tokenize`, offline)."""
    if split is None:
        punkt.ensure_punkt()
        import nltk

        def split(text: str) -> Sequence[str]:
            return nltk.sent_tokenize(text, language="english")  # type: ignore[no-any-return]

    return ["\n".join(split(text.strip())) for text in texts]


def rouge_fmeasures(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    use_stemmer: bool = True,
    rouge_types: Sequence[str] = ROUGE_TYPES,
) -> dict[str, list[float]]:
    """Per-sample F-measures, ``{type: [f, ...]}`` in ``rouge_types`` order: what
    ``evaluate``'s rouge ``compute(..., use_aggregator=False)`` returns. Texts as given (no
    post-processing); ROUGE-Lsum splits sentences at newlines."""
    if len(predictions) != len(references):
        raise DataError(
            f"{len(predictions)} predictions but {len(references)} references",
            "pass one reference per prediction, in the same order",
        )
    scorer = _scorer(rouge_types, use_stemmer)
    out: dict[str, list[float]] = {t: [] for t in rouge_types}
    for ref, pred in zip(references, predictions, strict=True):
        score = scorer.score(ref, pred)
        for t in rouge_types:
            out[t].append(score[t].fmeasure)
    return out


def _mean_percent(values: Sequence[float]) -> float:
    # numpy's float64 mean and numpy's round, exactly the scripts' round(np.mean(v) * 100, 4)
    return float(round(np.mean(np.asarray(values, dtype=np.float64)) * 100, 4))


@dataclass(frozen=True)
class SummarizationScore:
    """The evaluation script's numbers. ``rouge`` maps each type to its percentage (rounded to
    4 decimals as the script does); ``gen_len`` counts characters of the post-processed
    predictions; ``gen_tok_len``/``tokens_per_sample`` are set only when token counts were
    asked for."""

    rouge: Mapping[str, float]
    gen_len: int
    gen_num: int
    gen_tok_len: int | None = None
    tokens_per_sample: float | None = None

    def result_dict(self, *, quote_scores: bool = True) -> dict[str, Any]:
        """The dict the script prints: ROUGE values as strings (``quote_scores``, the current
        scripts) or floats (older ones), then ``gen_len``, ``gen_num`` (and the token counts
        when present), as plain Python numbers."""
        out: dict[str, Any] = {k: (f"{v}" if quote_scores else v) for k, v in self.rouge.items()}
        out["gen_len"] = self.gen_len
        out["gen_num"] = self.gen_num
        if self.gen_tok_len is not None:
            out["gen_tok_len"] = self.gen_tok_len
            out["tokens_per_sample"] = self.tokens_per_sample
        return out

    def line(self, *, quote_scores: bool = True) -> str:
        """The printed dict, e.g. ``{'rouge1': '38.7792', ..., 'gen_len': 8167644, ...}``."""
        return str(self.result_dict(quote_scores=quote_scores))

    def report_text(self, *, quote_scores: bool = True) -> str:
        """The script's whole result output (``print("\\nResults\\n")`` then the dict), the
        text an ``accuracy.txt`` carries."""
        return f"\nResults\n\n{self.line(quote_scores=quote_scores)}\n"

    def metric(self, name: str) -> float:
        """A value by the submission checker's metric name: ROUGE1, ROUGE2, ROUGEL,
        ROUGELSUM, GEN_LEN, GEN_NUM, TOKENS_PER_SAMPLE."""
        by_name: dict[str, float | int | None] = {k.upper(): v for k, v in self.rouge.items()}
        by_name.update(
            GEN_LEN=self.gen_len, GEN_NUM=self.gen_num, TOKENS_PER_SAMPLE=self.tokens_per_sample
        )
        value = by_name.get(name.upper())
        if value is None:
            raise DataError(
                f"no {name!r} in this accuracy result",
                f"use one of {', '.join(k for k, v in by_name.items() if v is not None)}",
            )
        return float(value)


def summarization_score(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    use_stemmer: bool = True,
    rouge_types: Sequence[str] = ROUGE_TYPES,
    token_counts: Sequence[int] | None = None,
    split: Callable[[str], Sequence[str]] | None = None,
) -> SummarizationScore:
    """The script's result from decoded predictions and their references (same order, after
    de-duplication): :func:`postprocess` both, :func:`rouge_fmeasures`, then the aggregation of
    the module docstring. ``token_counts`` (ids per prediction) adds ``gen_tok_len`` and
    ``tokens_per_sample``. :class:`DataError` when there is no prediction (the scripts crash)."""
    if not predictions:
        raise DataError(
            "no predictions to score (empty accuracy log?)",
            "run the accuracy test so that the log holds the samples",
        )
    preds = postprocess(predictions, split)
    refs = postprocess(references, split)
    scores = rouge_fmeasures(preds, refs, use_stemmer=use_stemmer, rouge_types=rouge_types)
    gen_tok_len = tokens_per_sample = None
    if token_counts is not None:
        if len(token_counts) != len(preds):
            raise DataError(
                f"{len(token_counts)} token counts for {len(preds)} predictions",
                "pass one token count per prediction",
            )
        gen_tok_len = int(sum(int(n) for n in token_counts))
        tokens_per_sample = round(gen_tok_len / len(preds), 1)
    return SummarizationScore(
        rouge={t: _mean_percent(v) for t, v in scores.items()},
        gen_len=sum(len(p) for p in preds),
        gen_num=len(preds),
        gen_tok_len=gen_tok_len,
        tokens_per_sample=tokens_per_sample,
    )


def summarization_score_from_log(
    entries: Iterable[tuple[int, str]],
    references: Sequence[str],
    decode: Callable[[np.ndarray], str],
    *,
    dtype: str = "int64",
    use_stemmer: bool = True,
    count_tokens: bool = False,
    split: Callable[[str], Sequence[str]] | None = None,
) -> SummarizationScore:
    """The whole script: :func:`decode_token_ids` (first element per ``qsl_idx``), ``decode``
    each (it must decode like ``batch_decode(ids, skip_special_tokens=True)`` of the model's
    tokenizer), ``references[qsl_idx]`` as the reference, then :func:`summarization_score`.
    ``count_tokens`` adds ``gen_tok_len`` / ``tokens_per_sample``."""
    decoded = decode_token_ids(entries, dtype)
    refs = []
    for qsl_idx, _ in decoded:
        if not 0 <= qsl_idx < len(references):
            raise DataError(
                f"accuracy log names qsl_idx {qsl_idx}, but the dataset has "
                f"{len(references)} references",
                "score the log against the dataset file it was produced with",
            )
        refs.append(references[qsl_idx])
    return summarization_score(
        [decode(ids) for _, ids in decoded],
        refs,
        use_stemmer=use_stemmer,
        token_counts=[len(ids) for _, ids in decoded] if count_tokens else None,
        split=split,
    )
