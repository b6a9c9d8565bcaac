"""SQuAD v1.1 dev -> BERT input features, the way MLPerf's reference builds them.

The reference is ``language/bert/create_squad_data.py`` (``read_squad_examples`` and
``convert_examples_to_features`` in evaluation mode) driven by ``squad_QSL.py`` with
``transformers.BertTokenizer(vocab_file)``: lower-casing, accent stripping, BERT's basic
tokenizer and WordPiece (``[UNK]`` for words over 100 characters or with no split).

What this module reproduces, rule by rule:

* **Contexts -> doc tokens**: maximal runs of characters other than space, ``\\t``, ``\\r``,
  ``\\n`` and U+202F (the reference's own whitespace set; ``str.split`` would also split on
  U+00A0, U+2009, ...). A question gets its paragraph's doc tokens.
* **WordPiece**: :class:`WordPieceTokenizer` configures the ``tokenizers`` library exactly as
  ``BertTokenizer`` does (BertNormalizer with clean_text, Chinese-character spacing, accent
  stripping and lower-casing; BertPreTokenizer; WordPiece with ``##`` pieces). The special tokens
  found in the vocabulary (``[PAD] [UNK] [CLS] [SEP] [MASK]``) are registered as non-normalised
  special tokens, as BertTokenizer registers them: written literally, in upper case, inside a
  question or context they become that one token (``"x[SEP]y"`` -> ``x``, ``[SEP]``, ``y``),
  while ``"[sep]"`` is ordinary text (``[``, ``sep``, ``]``). Google's original
  ``tokenization.FullTokenizer`` would split both; transformers' BertTokenizer (4.x Python and 5.x
  Rust) behaves as here. (A vocabulary without ``[MASK]`` leaves "[MASK]" as plain text, where
  BertTokenizer would append it as a new id; the real vocabulary has it.)
* **Python vs Rust BertTokenizer**: before transformers 5, ``BertTokenizer`` was pure Python
  (``BertTokenizerLegacy`` in 5.x). It gives the same pieces except (1) a word-final capital
  sigma, which Python's ``str.lower`` makes ``ς`` and the Rust normaliser ``σ``; (2) code points
  unassigned in, or added to Unicode after, the Rust character tables (Python drops unassigned
  ones and knows newer punctuation and combining marks; Rust gives ``[UNK]``). Neither is
  expected in SQuAD v1.1 dev (2016 English Wikipedia); tests/unit/test_squad_official.py checks
  both tokenizers against the official converter.
* **Features**: query truncated to 64 pieces; ``max_tokens_for_doc = 384 - len(query) - 3``;
  windows start at 0 and advance by ``min(length, 128)`` until one reaches the end; each window
  is ``[CLS] query [SEP] window [SEP]`` with segment 0 then 1, zero padded; ``token_to_orig_map``
  maps a window position to its doc token; a position is "max context" in the window where
  ``min(left, right) + 0.01 * window_length`` is largest (the first such window on ties);
  ``unique_id`` counts features from 1,000,000,000. A question whose context yields no pieces
  gets no feature (the reference's loop never runs).

Speed: the reference tokenises each paragraph once per question; here each distinct doc token
of each distinct paragraph is tokenised once (one batched call; a doc token's pieces never depend
on its neighbours), the questions in another, and the max-context flags are computed once per
window layout with numpy, with the reference's float arithmetic.

:func:`load_features` caches the result in one ``.npz`` (no pickle) keyed by the content of the
JSON and vocabulary files, the three constants, :data:`TRANSFORM_VERSION` and the tokenizers
version; a damaged cache file is reported and rebuilt. The cache itself (key, path, file layout,
checks) and :func:`assemble_features` (flat arrays -> :class:`SquadFeatures`) live in
:mod:`inferlab.benchmarks.bert.features_cache`; :func:`cache_key`, :func:`cache_path` and
:data:`TRANSFORM_VERSION` are re-exported here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.bert.features import (
    DOC_STRIDE,
    FIRST_UNIQUE_ID,
    MAX_QUERY_LENGTH,
    MAX_SEQ_LENGTH,
    SquadExample,
    SquadFeatures,
)
from inferlab.benchmarks.bert.features_cache import TRANSFORM_VERSION as TRANSFORM_VERSION
from inferlab.benchmarks.bert.features_cache import (
    assemble_features,
    cache_key,
    cache_path,
    read_cache,
    write_cache,
)
from inferlab.config.text import decode_utf8
from inferlab.core.errors import DataError, UnsupportedError

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
REQUIRED_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]")
MAX_INPUT_CHARS_PER_WORD = 100

DATASET_FIX = "point --dataset-path at the directory holding the official SQuAD dev-v1.1.json"
VOCAB_FIX = (
    "use the vocab.txt of bert_tf_v1_1_large_fp32_384_v2 (one WordPiece token per line, "
    "uncased, 30522 lines)"
)

# The reference's whitespace: space, tab, CR, LF and U+202F (narrow no-break space).
_DOC_TOKEN = re.compile("[^ \t\r\n\u202f]+")


def split_context(text: str) -> tuple[str, ...]:
    """A context's doc tokens: maximal runs of non-whitespace in the reference's sense."""
    return tuple(_DOC_TOKEN.findall(text))


# ---------------------------------------------------------------------------------- examples


def read_examples(path: Path) -> list[SquadExample]:
    """Questions of a SQuAD v1.1 JSON file, in file order (articles, paragraphs, questions)."""
    return _parse_examples(_read_bytes(Path(path), "SQuAD dataset", DATASET_FIX), Path(path))


def _read_bytes(path: Path, what: str, fix: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} file {path} does not exist", fix) from None
    except IsADirectoryError:
        raise DataError(f"{what} path {path} is a directory, not a file", fix) from None
    except OSError as err:
        raise DataError(f"cannot read {what} file {path}: {err.strerror or err}", fix) from None


def _parse_examples(
    raw: bytes, path: Path, meta: dict[str, Any] | None = None
) -> list[SquadExample]:
    """``meta`` (optional) receives ``generator``: the ``synthetic`` marker inferlab's
    generator writes at the top of its files (None for any other file)."""

    def bad(where: str, problem: str) -> DataError:
        return DataError(f"{path} is not a SQuAD v1.1 file: {where}{problem}", DATASET_FIX)

    text = decode_utf8(raw, path, what="SQuAD dataset", error=DataError, fix=DATASET_FIX)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise bad("", f"not JSON ({err.msg} at line {err.lineno})") from None
    if meta is not None:
        meta["generator"] = doc.get("synthetic") if isinstance(doc, dict) else None

    def field(obj: Any, key: str, kind: type, where: str) -> Any:
        if not isinstance(obj, dict):
            raise bad(where, f": expected an object, got {type(obj).__name__}")
        if key not in obj:
            raise bad(where, f": missing key {key!r}")
        value = obj[key]
        if not isinstance(value, kind):
            raise bad(f"{where}.{key}", f": expected {kind.__name__}, got {type(value).__name__}")
        return value

    articles = field(doc, "data", list, "top level")
    if not articles:
        raise bad("", "'data' is empty")
    version = doc.get("version")
    if version != "1.1":
        log.warning("%s has version %r, not '1.1'; reading it anyway", path, version)

    examples: list[SquadExample] = []
    for a, article in enumerate(articles):
        paragraphs = field(article, "paragraphs", list, f"data[{a}]")
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            doc_tokens = split_context(field(paragraph, "context", str, where))
            for q, qa in enumerate(field(paragraph, "qas", list, where)):
                q_where = f"{where}.qas[{q}]"
                answers = field(qa, "answers", list, q_where)
                texts = tuple(
                    field(ans, "text", str, f"{q_where}.answers[{i}]")
                    for i, ans in enumerate(answers)
                )
                examples.append(
                    SquadExample(
                        qas_id=field(qa, "id", str, q_where),
                        question_text=field(qa, "question", str, q_where),
                        doc_tokens=doc_tokens,
                        answers=texts,
                    )
                )
    if not examples:
        raise bad("", "it contains no questions")
    return examples


# --------------------------------------------------------------------------------- tokenizer


def _tokenizers_module() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise UnsupportedError(
            "BERT preprocessing needs the 'tokenizers' package (an inferlab dependency)",
            "pip install 'tokenizers>=0.15,<1'",
        ) from None
    return tokenizers


class WordPieceTokenizer:
    """``transformers.BertTokenizer(vocab_file)`` (uncased) on the Rust ``tokenizers`` library.

    The vocabulary is read once, in the constructor: one token per line, id = line number (a
    token listed twice keeps its last id, as transformers' ``load_vocab`` does).
    """

    def __init__(self, vocab_file: Path) -> None:
        self.vocab_file = Path(vocab_file)
        raw = _read_bytes(self.vocab_file, "BERT vocabulary", VOCAB_FIX)
        self._sha256 = hashlib.sha256(raw).hexdigest()
        text = decode_utf8(raw, self.vocab_file, what="vocabulary", error=DataError, fix=VOCAB_FIX)
        # readlines() in text mode: universal newlines, a final newline ends the last line.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not lines:
            raise DataError(f"vocabulary {self.vocab_file} is empty", VOCAB_FIX)
        vocab = {token: index for index, token in enumerate(lines)}
        missing = [t for t in REQUIRED_TOKENS if t not in vocab]
        if missing:
            raise DataError(
                f"vocabulary {self.vocab_file} lacks the special token(s) {' '.join(missing)}",
                VOCAB_FIX,
            )
        self._vocab = vocab
        self._id_to_token = lines
        self.unk_id = vocab["[UNK]"]
        self.cls_id = vocab["[CLS]"]
        self.sep_id = vocab["[SEP]"]
        self.pad_id = vocab["[PAD]"]

        tk = _tokenizers_module()
        self._tokenizers_version = str(tk.__version__)
        tokenizer = tk.Tokenizer(
            tk.models.WordPiece(
                vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD
            )
        )
        tokenizer.normalizer = tk.normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
        )
        tokenizer.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
        tokenizer.add_special_tokens(
            [
                tk.AddedToken(t, special=True, normalized=False, lstrip=False, rstrip=False)
                for t in SPECIAL_TOKENS
                if t in vocab
            ]
        )
        self._tokenizer = tokenizer

    def __repr__(self) -> str:
        return f"WordPieceTokenizer({str(self.vocab_file)!r}, {self.vocab_size} tokens)"

    @property
    def vocab_size(self) -> int:
        """Lines in vocab.txt, i.e. one more than the largest id."""
        return len(self._id_to_token)

    @property
    def vocab_sha256(self) -> str:
        return self._sha256

    @property
    def tokenizers_version(self) -> str:
        return self._tokenizers_version

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of a text, no special tokens added (``BertTokenizer.tokenize``)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).tokens)

    def tokenize_words(self, words: Sequence[str]) -> list[list[str]]:
        """``[tokenize(w) for w in words]`` in one batched call (a word may give no tokens)."""
        table = self._id_to_token
        return [[table[i] for i in ids] for ids in self.encode_words(words)]

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; a token not in the vocabulary gets the ``[UNK]`` id."""
        get, unk = self._vocab.get, self.unk_id
        return [get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        table = self._id_to_token
        return [table[i] for i in ids]

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (as :meth:`tokenize` then ids), batched."""
        encs = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids for e in encs]

    def encode_words(self, words: Sequence[str], chunk: int = 2048) -> list[list[int]]:
        """Token ids of each word, every word tokenised on its own exactly as :meth:`tokenize`
        would do it; one ``encode_batch`` call over pre-tokenised chunks of ``chunk`` words."""
        chunks = [list(words[i : i + chunk]) for i in range(0, len(words), chunk)]
        out: list[list[int]] = [[] for _ in words]
        encs = self._tokenizer.encode_batch(chunks, is_pretokenized=True, add_special_tokens=False)
        for base, enc in zip(range(0, len(words), chunk), encs, strict=True):
            for token_id, word in zip(enc.ids, enc.word_ids, strict=True):
                out[base + word].append(token_id)
        return out


# ---------------------------------------------------------------------------------- features


def doc_spans(n_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """Windows ``(start, length)`` over ``n_tokens`` pieces, the reference's sliding loop."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n_tokens:
        length = min(n_tokens - start, max_tokens_for_doc)
        spans.append((start, length))
        if start + length == n_tokens:
            break
        start += min(length, doc_stride)
    return spans


def max_context_flags(spans: Sequence[tuple[int, int]], n_tokens: int) -> list[np.ndarray]:
    """Per window, a bool per position: is this window the token's max-context window?

    Score of a window for a position = ``min(left, right) + 0.01 * window_length`` in float64,
    the reference's expression; the first window with the highest score wins."""
    if len(spans) <= 1:
        return [np.ones(length, dtype=bool) for _, length in spans]
    scores = np.full((len(spans), n_tokens), -np.inf)
    for j, (start, length) in enumerate(spans):
        pos = np.arange(start, start + length)
        end = start + length - 1
        scores[j, start : start + length] = np.minimum(pos - start, end - pos) + 0.01 * length
    best = scores.argmax(axis=0)  # first maximum, like the reference's strict ">"
    return [best[s : s + n] == j for j, (s, n) in enumerate(spans)]


def convert_examples_to_features(
    examples: Sequence[SquadExample],
    tokenizer: WordPieceTokenizer,
    max_seq_length: int = MAX_SEQ_LENGTH,
    doc_stride: int = DOC_STRIDE,
    max_query_length: int = MAX_QUERY_LENGTH,
) -> SquadFeatures:
    """One feature per window of each question, as the reference's converter (eval mode)."""
    sizes = (max_seq_length, doc_stride, max_query_length)
    return _build(examples, tokenizer, *sizes)[1]


def _build(
    examples: Sequence[SquadExample], tokenizer: WordPieceTokenizer, *sizes: int
) -> tuple[dict[str, np.ndarray], SquadFeatures]:
    started = time.perf_counter()
    arrays = _build_arrays(examples, tokenizer, *sizes)
    features = assemble_features(arrays, tokenizer._id_to_token)
    elapsed = time.perf_counter() - started
    log.info("SQuAD: %d questions -> %d features in %.2f s", len(examples), len(features), elapsed)
    return arrays, features


def _build_arrays(
    examples: Sequence[SquadExample],
    tokenizer: WordPieceTokenizer,
    max_seq_length: int,
    doc_stride: int,
    max_query_length: int,
) -> dict[str, np.ndarray]:
    """The features as flat arrays (the cache's content), made objects by assemble_features."""
    if doc_stride < 1 or max_query_length < 0:
        raise ValueError(f"need doc_stride >= 1 and max_query_length >= 0, got {doc_stride=}")
    # Each distinct paragraph, and each distinct word in them, is tokenised once (a doc token is
    # tokenised on its own in the reference too, so its pieces never depend on its neighbours).
    paragraph_of: dict[tuple[str, ...], int] = {}
    example_paragraph = [
        paragraph_of.setdefault(ex.doc_tokens, len(paragraph_of)) for ex in examples
    ]
    paragraphs = _tokenize_paragraphs(list(paragraph_of), tokenizer)
    queries = tokenizer.encode_texts([ex.question_text for ex in examples])

    rows: list[tuple[int, int, int, int, int]] = []  # example, span index, start, length, query
    orig_parts: list[np.ndarray] = []
    flag_parts: list[np.ndarray] = []
    # Windows and flags depend only on (pieces in the paragraph, room for them).
    layouts: dict[tuple[int, int], tuple[list[tuple[int, int]], list[np.ndarray]]] = {}
    for ex_index, para in enumerate(example_paragraph):
        n_query = min(len(queries[ex_index]), max_query_length)
        n_doc = len(paragraphs[para][0])
        layout_key = (n_doc, max_seq_length - n_query - 3)
        if layout_key not in layouts:
            if layout_key[1] < 1 and n_doc:  # the reference would loop forever here
                raise ValueError(
                    f"max_seq_length {max_seq_length} leaves no room for the context after "
                    f"a {n_query}-piece question (example {ex_index})"
                )
            spans = doc_spans(n_doc, layout_key[1], doc_stride)
            layouts[layout_key] = (spans, max_context_flags(spans, n_doc))
        spans, flags = layouts[layout_key]
        doc_orig = paragraphs[para][1]
        for span_index, (start, length) in enumerate(spans):
            rows.append((ex_index, span_index, start, length, n_query))
            orig_parts.append(doc_orig[start : start + length])
            flag_parts.append(flags[span_index])

    n = len(rows)
    table = np.array(rows, dtype=np.int64).reshape(n, 5)
    input_ids = np.zeros((n, max_seq_length), dtype=np.int32)
    for r, (ex_index, _, start, length, n_query) in enumerate(rows):
        row = input_ids[r]
        row[0] = tokenizer.cls_id
        row[1 : 1 + n_query] = queries[ex_index][:n_query]
        row[1 + n_query] = tokenizer.sep_id
        offset = n_query + 2
        doc_ids = paragraphs[example_paragraph[ex_index]][0]
        row[offset : offset + length] = doc_ids[start : start + length]
        row[offset + length] = tokenizer.sep_id
    doc_offset = (table[:, 4] + 2).astype(np.int32)
    return {
        "input_ids": input_ids,
        "lengths": (doc_offset + table[:, 3] + 1).astype(np.int32),
        "doc_offset": doc_offset,
        "unique_id": FIRST_UNIQUE_ID + np.arange(n, dtype=np.int64),
        "example_index": table[:, 0].astype(np.int32),
        "doc_span_index": table[:, 1].astype(np.int32),
        "orig_index": _concat(orig_parts, np.int32),
        "max_context": _concat(flag_parts, np.bool_),
    }


def _tokenize_paragraphs(
    paragraphs: list[tuple[str, ...]], tokenizer: WordPieceTokenizer
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per paragraph: (piece ids, index of the doc token each piece comes from)."""
    vocab_of: dict[str, int] = {}
    word_index = [
        np.fromiter((vocab_of.setdefault(w, len(vocab_of)) for w in words), np.int64, len(words))
        for words in paragraphs
    ]
    pieces = tokenizer.encode_words(list(vocab_of))
    counts = np.fromiter(map(len, pieces), np.int64, len(pieces))
    flat = np.fromiter(itertools.chain.from_iterable(pieces), np.int32, int(counts.sum()))
    word_start = np.cumsum(counts) - counts  # where each distinct word's pieces start in flat
    out = []
    for words in word_index:
        n_pieces = counts[words]
        orig = np.repeat(np.arange(len(words), dtype=np.int32), n_pieces)
        first = np.cumsum(n_pieces) - n_pieces  # each doc token's first piece in the paragraph
        rank = np.arange(len(orig)) - first[orig]  # piece number within its doc token
        out.append((flat[word_start[words][orig] + rank], orig))
    return out


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def features_summary(features: SquadFeatures) -> dict[str, Any]:
    """Counts for result.json: features, questions, lengths, windows per question."""
    lengths = np.asarray(features.lengths)
    per_question = Counter(f.example_index for f in features.features)
    histogram = Counter(per_question.values())
    return {
        "count": len(features),
        "questions": len(per_question),
        "length_mean": round(float(lengths.mean()), 2) if len(lengths) else None,
        "length_min": int(lengths.min()) if len(lengths) else None,
        "length_max": int(lengths.max()) if len(lengths) else None,
        "windows_per_question": {str(k): histogram[k] for k in sorted(histogram)},
    }


# --------------------------------------------------------------------------- loading, cached


def load_features(
    dataset_json: Path,
    vocab_file: Path,
    *,
    cache_dir: Path | None,
    meta: dict[str, Any] | None = None,
) -> tuple[list[SquadExample], SquadFeatures]:
    """Examples and features of a SQuAD v1.1 file, from the on-disk cache when it holds them
    (``meta``: see :func:`_parse_examples`)."""
    dataset_json, vocab_file = Path(dataset_json), Path(vocab_file)
    raw = _read_bytes(dataset_json, "SQuAD dataset", DATASET_FIX)
    examples = _parse_examples(raw, dataset_json, meta)
    tokenizer = WordPieceTokenizer(vocab_file)
    if cache_dir is None:
        return examples, convert_examples_to_features(examples, tokenizer)

    key = cache_key(raw, tokenizer.vocab_sha256, tokenizer.tokenizers_version)
    path = cache_path(Path(cache_dir), key)
    arrays = read_cache(path, key, len(examples))
    if arrays is not None:
        log.info("SQuAD features from cache %s", path)
        return examples, assemble_features(arrays, tokenizer._id_to_token)

    arrays, features = _build(examples, tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH)
    write_cache(path, key, arrays)
    return examples, features
