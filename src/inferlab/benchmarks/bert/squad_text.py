"""The string-level helpers of the official SQuAD v1.1 scripts, used by
:mod:`inferlab.benchmarks.bert.accuracy`:

* **Google BERT's BasicTokenizer** (``tokenization.py``; :func:`basic_tokenize`): clean the text
  (drop NUL, U+FFFD and control characters, space out tabs/newlines and Zs), isolate CJK
  ideographs, split on whitespace, lower case and strip accents, split off punctuation.
* **get_final_text** (``accuracy-squad.py``; :func:`get_final_text`): project a de-tokenised
  WordPiece span back onto the original document words with Google's alignment heuristic,
  falling back to the original text whenever the alignment fails.
* **Answer normalisation and per-answer scores** (``evaluate_v1.1.py``; :func:`normalize_answer`,
  :func:`f1_score`, :func:`exact_match_score`): lower case, ``string.punctuation`` removed,
  ``\\b(a|an|the)\\b`` removed, whitespace collapsed; token-overlap F1 and exact match of the
  normalised texts, with the official Python arithmetic.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections import Counter

__all__ = [
    "basic_tokenize",
    "exact_match_score",
    "f1_score",
    "get_final_text",
    "normalize_answer",
]

# ---------------------------------------------------------------------------------------------
# evaluate_v1.1.py
# ---------------------------------------------------------------------------------------------

_DROP_PUNCT = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, drop ASCII punctuation, replace the articles a/an/the by a space, then
    collapse whitespace (the official order of the four steps)."""
    text = text.lower().translate(_DROP_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 of the normalised texts; ``0`` (an int, as official) without overlap."""
    pred_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    same = sum((Counter(pred_tokens) & Counter(truth_tokens)).values())
    if same == 0:
        return 0
    precision = 1.0 * same / len(pred_tokens)
    recall = 1.0 * same / len(truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """Whether the normalised texts are equal."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


# ---------------------------------------------------------------------------------------------
# Google's BasicTokenizer and get_final_text
# ---------------------------------------------------------------------------------------------

_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_ascii_punct(cp: int) -> bool:
    # All printable non-alphanumeric ASCII counts as punctuation ($ ^ ` < = > + | ~ too).
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126


@functools.lru_cache(maxsize=8192)
def _is_punct(ch: str) -> bool:
    return _is_ascii_punct(ord(ch)) or unicodedata.category(ch).startswith("P")


@functools.lru_cache(maxsize=8192)
def _cleaned(ch: str) -> str:
    """What the cleaning + CJK steps turn one character into ('' when dropped)."""
    if ch in "\t\n\r":
        return " "
    cp = ord(ch)
    if cp == 0 or cp == 0xFFFD:
        return ""
    category = unicodedata.category(ch)
    if category in ("Cc", "Cf"):
        return ""
    if category == "Zs":
        return " "
    return f" {ch} " if _is_cjk(cp) else ch


# ASCII text in one str.translate: control characters dropped, \t \n \r spaced, punctuation
# surrounded by spaces (nothing to lower-case-strip in ASCII but the case itself).
_ASCII_TABLE = {cp: _cleaned(chr(cp)) for cp in range(128)} | {
    cp: f" {chr(cp)} " for cp in range(128) if _is_ascii_punct(cp)
}


def _strip_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def basic_tokenize(text: str, do_lower_case: bool = True) -> list[str]:
    """Google BERT's ``BasicTokenizer(do_lower_case).tokenize``: drop NUL, U+FFFD and control
    (Cc/Cf) characters, map \\t \\n \\r and Zs to a space, isolate CJK ideographs, split on
    whitespace, lower case and strip accents (NFD minus Mn), then split off punctuation."""
    if text.isascii():
        cleaned = text.translate(_ASCII_TABLE)
        return (cleaned.lower() if do_lower_case else cleaned).split()
    pieces: list[str] = []
    for word in "".join(map(_cleaned, text)).split():
        if do_lower_case:
            word = _strip_accents(word.lower())
        run: list[str] = []
        for ch in word:
            if _is_punct(ch):
                if run:
                    pieces.append("".join(run))
                    run = []
                pieces.append(ch)
            else:
                run.append(ch)
        if run:
            pieces.append("".join(run))
    return " ".join(pieces).split()


def _drop_spaces(text: str) -> tuple[str, list[int]]:
    """``text`` without ' ' characters, and for each kept character its index in ``text``."""
    kept = [i for i, ch in enumerate(text) if ch != " "]
    return "".join(text[i] for i in kept), kept


def get_final_text(pred_text: str, orig_text: str, do_lower_case: bool = True) -> str:
    """Project the de-tokenised prediction back onto the original words: ``"steve smith"``
    inside ``"Steve Smith's"`` gives ``"Steve Smith"``. Falls back to ``orig_text`` whenever the
    character alignment fails (prediction not found in the basic-tokenised original, or the two
    texts differ in length once spaces are removed)."""
    tok_text = " ".join(basic_tokenize(orig_text, do_lower_case))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_index = _drop_spaces(orig_text)
    tok_ns, tok_index = _drop_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_to_ns = {pos: ns for ns, pos in enumerate(tok_index)}
    ns_start = tok_to_ns.get(start)
    ns_end = tok_to_ns.get(end)
    if ns_start is None or ns_end is None:
        return orig_text
    return orig_text[orig_index[ns_start] : orig_index[ns_end] + 1]
