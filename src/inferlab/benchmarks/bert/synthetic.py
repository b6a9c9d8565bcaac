"""Synthetic SQuAD v1.1-format data and a matching WordPiece vocabulary.

Everything is derived from (seed, questions) alone: made-up words built from syllables, a
vocabulary holding most of them whole plus ``##`` syllable pieces (so WordPiece splits the
rest), paragraphs whose token lengths follow the length mix of the issue's benchmark (normal,
mean 182, sd 70, clipped to [64, 384] tokens per window; measured mean ~175) with about one
paragraph in thirty long enough to need two or three windows, questions built from words near
the answer, and answers that are spans of the paragraph with their character offsets. The
result goes through the SAME reader, tokenizer and feature code as the real dev set. Answers
are random, so F1 of any model on this data says nothing about the model; runs on it are
labelled SYNTHETIC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

GENERATOR_VERSION = 3
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SYLLABLES = tuple(
    c + v
    for c in ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
    for v in ("a", "e", "i", "o", "u")
)
_QUESTION_WORDS = ("what", "which", "who", "when", "where", "how", "why")
_PUNCT = (",", ".", ";", "(", ")", "-", "'", '"', "?")
LENGTH_MEAN = 182.0
LENGTH_SD = 70.0
LENGTH_MIN = 64
LENGTH_MAX = 384


def _word_list(rng: np.random.Generator, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        k = int(rng.integers(1, 4))
        words.add("".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), size=k)))
    return sorted(words)


def generate(
    seed: int, questions: int, *, short: bool = False, tag: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """(SQuAD v1.1 JSON document, vocabulary tokens in id order) for ``questions`` questions.

    The vocabulary depends on ``seed`` only. ``short=True`` makes paragraphs that always fit one
    window (fillers); ``tag`` keeps their question ids apart from the main document's."""
    if questions < 1:
        raise ValueError(f"questions must be >= 1, got {questions}")
    words = _word_list(np.random.default_rng([seed, 0x5A0AD]), 1500)
    in_vocab = words[:1200]  # the rest only exist as ## pieces: WordPiece splits them
    vocab = list(SPECIAL_TOKENS)
    vocab += [str(d) for d in range(10)] + list(_PUNCT) + list(_QUESTION_WORDS)
    vocab += list(_SYLLABLES) + ["##" + s for s in _SYLLABLES] + ["##" + d for d in "0123456789"]
    vocab += in_vocab
    vocab = list(dict.fromkeys(vocab))

    rng = np.random.default_rng([seed, 0x5A0AD, int(short)])
    articles: list[dict[str, Any]] = []
    made = 0
    article_index = 0
    while made < questions:
        paragraphs = []
        for _ in range(int(rng.integers(1, 4))):
            if made >= questions:
                break
            want = min(int(rng.integers(1, 4)), questions - made)
            paragraph, n_q = _paragraph(rng, words, want, short)
            paragraph["qas"] = [
                dict(q, id=f"synthetic-{seed}{tag}-{made + i:06d}")
                for i, q in enumerate(paragraph["qas"])
            ]
            made += n_q
            paragraphs.append(paragraph)
        title = f"synthetic_article{tag}_{article_index}"
        articles.append({"title": title, "paragraphs": paragraphs})
        article_index += 1
    doc = {"version": "1.1", "data": articles, "synthetic": {"generator": GENERATOR_VERSION}}
    return doc, vocab


def keep_questions(doc: dict[str, Any], keep: int) -> dict[str, Any]:
    """The document with only its first ``keep`` questions (dataset order)."""
    left = keep
    articles = []
    for art in doc["data"]:
        paragraphs = []
        for par in art["paragraphs"]:
            if left <= 0:
                break
            qas = par["qas"][:left]
            left -= len(qas)
            paragraphs.append({"context": par["context"], "qas": qas})
        if paragraphs:
            articles.append({"title": art["title"], "paragraphs": paragraphs})
    return {**doc, "data": articles}


def _paragraph(
    rng: np.random.Generator, words: list[str], n_questions: int, short: bool = False
) -> tuple[dict[str, Any], int]:
    if short:
        target = int(rng.integers(LENGTH_MIN, 200))  # always one window
    elif rng.random() < 1 / 30:
        target = int(rng.integers(400, 560))  # two or three windows
    else:
        target = int(np.clip(rng.normal(LENGTH_MEAN, LENGTH_SD), LENGTH_MIN, LENGTH_MAX))
    # a window holds [CLS] question [SEP] context [SEP]: ~14.5 question tokens, ~1.44 tokens
    # per context word (measured on this generator's output); rounded up so that the window
    # lengths come out near the mix's mean
    n_words = max(8, int((target - 24) / 1.5))
    tokens: list[str] = []
    for _ in range(n_words):
        w = words[int(rng.integers(0, len(words)))]
        r = rng.random()
        if r < 0.06:
            w = w.capitalize()
        elif r < 0.09:
            w = str(int(rng.integers(1, 3000)))
        if rng.random() < 0.08:
            w += _PUNCT[int(rng.integers(0, 3))]
        tokens.append(w)
    context = " ".join(tokens)
    starts = np.cumsum([0] + [len(t) + 1 for t in tokens[:-1]])
    qas = []
    for _ in range(n_questions):
        first = int(rng.integers(0, len(tokens)))
        span = int(rng.integers(1, 4))
        last = min(len(tokens), first + span)
        answer = " ".join(tokens[first:last])
        near = [tokens[i] for i in range(max(0, first - 6), first)] or [tokens[0]]
        q_len = int(rng.integers(4, 14))
        q_words = [_QUESTION_WORDS[int(rng.integers(0, len(_QUESTION_WORDS)))]]
        q_words += [near[int(rng.integers(0, len(near)))] for _ in range(q_len)]
        qas.append(
            {
                "question": " ".join(q_words) + "?",
                "answers": [{"text": answer, "answer_start": int(starts[first])}],
            }
        )
    return {"context": context, "qas": qas}, n_questions


def write(doc: dict[str, Any], vocab: list[str], directory: Path) -> dict[str, str]:
    """Write ``dev-v1.1.json`` and ``vocab.txt`` into ``directory``; returns names by role."""
    from inferlab.core.files import atomic_write_text

    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "dev-v1.1.json", json.dumps(doc))
    atomic_write_text(directory / "vocab.txt", "".join(t + "\n" for t in vocab))
    return {"dataset": "dev-v1.1.json", "vocab": "vocab.txt"}
