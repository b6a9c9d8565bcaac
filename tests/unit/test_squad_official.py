"""Fidelity: our SQuAD features equal the official reference's, on awkward generated text.

Runs only when ``INFERLAB_OFFICIAL_INFERENCE`` points at an mlcommons/inference checkout and
``transformers`` is importable, e.g.::

    INFERLAB_OFFICIAL_INFERENCE=/path/to/inference \\
        python -m pytest tests/unit/test_squad_official.py

The official ``language/bert/create_squad_data.py`` imports Google's ``tokenization`` module
(which needs TensorFlow) only for training-time helpers and logging, so a two-function stand-in
is put in ``sys.modules`` while it is imported and used.

The reference runs with ``transformers.BertTokenizer``: in transformers >= 5 that is the Rust
tokenizer we configure the same way; before 5 it was a Python tokenizer, which transformers 5
still ships as ``BertTokenizerLegacy``. Both are compared when available. The one difference
found on real-world characters is documented and asserted below: the Python tokenizer lower-cases
a word-final capital sigma to "ς" (``str.lower``), the Rust one to "σ".
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
import types
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferlab.benchmarks.bert.preprocess import (
    WordPieceTokenizer,
    convert_examples_to_features,
    read_examples,
)

OFFICIAL = os.environ.get("INFERLAB_OFFICIAL_INFERENCE", "")
BERT_DIR = Path(OFFICIAL) / "language" / "bert" if OFFICIAL else None

pytestmark = pytest.mark.skipif(
    BERT_DIR is None or not (BERT_DIR / "create_squad_data.py").is_file(),
    reason="set INFERLAB_OFFICIAL_INFERENCE to an mlcommons/inference checkout",
)

WORDS = """the of and in to a was is for on as by with he that at from his it an were are which
this also be has or had first one their its new after but who not they have her she two been other
when there all during into school time may years more most only over city some world would where
later up such used many can state about national out known university united then made river war
king century north south period power english french german paris london beijing tokyo moscow
cairo athens rome madrid lisbon berlin vienna prague warsaw café naïve résumé über straße façade
coöperate élite garçon señor año niño normans normandy rollo vikings danish norse frankish
carolingian duchy 10th 911 1066 bishop abbey cathedral monks scholars teaching science""".split()
PIECES = """##s ##es ##ed ##ing ##ly ##er ##est ##tion ##ment ##ness ##al ##ic ##ous ##ize ##a ##e
##i ##o ##u ##n ##t ##r ##l ##d ##1 ##0 ##9 ω ##μ ##ε ##γ ##α μ о ##д ##о ##с м ##к ##в ##а
cafe ##cafe naive elite strasse uber 1895 1943 u s a b x y zero width bell char tab here don t
##ll sep cl e ##e emoji word bom soft hyphen fine istanbul 1 3 50 10 narrow multi space line
break paragraph eee ##eee οδος οδοσ ο ##δ ##ο ##σ ##ς""".split()
PUNCT = list(".,;:!?'\"()[]{}-–—/\\@#$%^&*_+=<>|~`“”‘’«»…§")
CJK = list("中文字北京東京大学")
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Text that stresses the tokenizer: accents, case, Unicode spaces and controls, CJK, literal
# special tokens, over-long words, punctuation glued to words, combining marks, ligatures.
AWKWARD = [
    *"Café NAÏVE Straße ÜBER (1895–1943). “quoted” don't U.S.A. 中文字 北京大学".split(),
    *"[SEP] [cls] x[CLS]y [MASK]. Ωμέγα Москва emoji😀word ﬁne Ⅻ ²³ ‐‑".split(),
    *"İstanbul ... -- #1 $3.50 10%".split(),
    "e\u0301lite", "東京\u3000大学", "a\u00a0b", "x\u2009y", "zero\u200bwidth", "bell\x07char",
    "tab\there", "\ufeffbom", "soft\u00adhyphen", "\u202fnarrow", "multi   space",
    "line\r\nbreak", "\n\nparagraph", "a" * 101, "b" * 100, "cafe" * 30, "e" * 99,
]  # fmt: skip
FINAL_SIGMA = "ΟΔΟΣ"


def _vocab() -> list[str]:
    def strip(word: str) -> str:
        nfd = unicodedata.normalize("NFD", word.lower())
        return "".join(c for c in nfd if unicodedata.category(c) != "Mn")

    tokens = SPECIAL + [f"[unused{i}]" for i in range(5)]
    tokens += sorted({strip(w) for w in WORDS}) + PIECES + PUNCT + CJK
    return list(dict.fromkeys(tokens))  # first occurrence wins, order kept


def _text(rng: random.Random, n_words: int, awkward: list[str]) -> str:
    out = []
    for _ in range(n_words):
        r = rng.random()
        if r < 0.1:
            out.append(rng.choice(awkward))
        elif r < 0.2:
            out.append(rng.choice(WORDS).capitalize() + rng.choice(PUNCT))
        elif r < 0.25:
            out.append(rng.choice(WORDS) + rng.choice(["s", "ing", "ed", "ness", "zz"]))
        else:
            out.append(rng.choice(WORDS))
        out.append(rng.choice([" ", " ", " ", "  ", "\t", "\n", "\u202f", " \r\n "]))
    return "".join(out)


def _dataset(seed: int, awkward: list[str]) -> dict[str, Any]:
    rng = random.Random(seed)
    articles = []
    for a in range(4):
        paragraphs = []
        for p in range(3):
            context = _text(rng, rng.choice([5, 40, 150, 420, 900]), awkward)
            qas = []
            for q in range(rng.randint(1, 3)):
                question = _text(rng, rng.choice([3, 8, 30, 80]), awkward) + "?"
                answer = " ".join(context.split()[: rng.randint(1, 3)])
                qas.append({"id": f"q{a}-{p}-{q}", "question": question,
                            "answers": [{"text": answer, "answer_start": 0}]})  # fmt: skip
            paragraphs.append({"context": context, "qas": qas})
        # a context with no WordPiece token at all: the reference emits no feature for it
        qa = {"id": f"empty{a}", "question": "What?", "answers": []}
        paragraphs.append({"context": "\u200b \x07 ", "qas": [qa]})
        articles.append({"title": f"T{a}", "paragraphs": paragraphs})
    return {"version": "1.1", "data": articles}


def _hf_tokenizer(kind: str, vocab: Path) -> Any:
    if kind == "fast":
        from transformers import BertTokenizer

        return BertTokenizer(str(vocab))
    legacy = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")
    return legacy.BertTokenizerLegacy(str(vocab))


@pytest.fixture()
def official(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    pytest.importorskip("transformers")
    shim = types.ModuleType("tokenization")
    shim.whitespace_tokenize = lambda text: text.split()  # type: ignore[attr-defined]
    shim.printable_text = lambda text: text  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tokenization", shim)
    try:
        import six  # noqa: F401
    except ImportError:
        six_shim = types.ModuleType("six")
        six_shim.iteritems = lambda d: iter(d.items())  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "six", six_shim)
    assert BERT_DIR is not None
    spec = importlib.util.spec_from_file_location(
        "official_create_squad_data", BERT_DIR / "create_squad_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(_vocab()) + "\n", encoding="utf-8")
    awkward = AWKWARD + [FINAL_SIGMA] if kind == "fast" else AWKWARD
    dataset = tmp_path / "dev-v1.1.json"
    dataset.write_text(json.dumps(_dataset(7, awkward)), encoding="utf-8")
    return dataset, vocab


@pytest.mark.parametrize("kind", ["fast", "legacy"])
@pytest.mark.parametrize(
    ("max_seq_length", "doc_stride", "max_query_length"),
    [(384, 128, 64), (64, 16, 12), (40, 50, 8)],
)
def test_features_equal_official(
    official: types.ModuleType,
    tmp_path: Path,
    kind: str,
    max_seq_length: int,
    doc_stride: int,
    max_query_length: int,
) -> None:
    dataset, vocab = _files(tmp_path, kind)
    ref_examples = official.read_squad_examples(str(dataset), is_training=False)
    ref: list[Any] = []
    official.convert_examples_to_features(
        examples=ref_examples,
        tokenizer=_hf_tokenizer(kind, vocab),
        max_seq_length=max_seq_length,
        doc_stride=doc_stride,
        max_query_length=max_query_length,
        is_training=False,
        output_fn=ref.append,
    )

    examples = read_examples(dataset)
    assert [(e.qas_id, e.question_text, list(e.doc_tokens)) for e in examples] == [
        (e.qas_id, e.question_text, e.doc_tokens) for e in ref_examples
    ]
    ours = convert_examples_to_features(
        examples, WordPieceTokenizer(vocab), max_seq_length, doc_stride, max_query_length
    )
    assert len(ours) == len(ref)
    for mine, theirs in zip(ours.features, ref, strict=True):
        assert mine.unique_id == theirs.unique_id
        assert mine.example_index == theirs.example_index
        assert mine.doc_span_index == theirs.doc_span_index
        assert list(mine.tokens) == theirs.tokens
        assert mine.token_to_orig_map == theirs.token_to_orig_map
        assert mine.token_is_max_context == theirs.token_is_max_context
    for name in ("input_ids", "input_mask", "segment_ids"):
        expected = np.array([getattr(f, name) for f in ref], dtype=np.int32)
        np.testing.assert_array_equal(getattr(ours, name), expected, err_msg=name)
    # The generated set does exercise the awkward paths.
    assert any(f.doc_span_index >= 2 for f in ours.features)
    assert any("[UNK]" in f.tokens for f in ours.features)
    assert any(f.length == max_seq_length for f in ours.features)
    assert len({f.example_index for f in ours.features}) < len(examples)  # empty contexts


@pytest.mark.parametrize("kind", ["fast", "legacy"])
def test_tokenizer_equals_bert_tokenizer(tmp_path: Path, kind: str) -> None:
    pytest.importorskip("transformers")
    dataset, vocab = _files(tmp_path, kind)
    hf = _hf_tokenizer(kind, vocab)
    ours = WordPieceTokenizer(vocab)
    words = sorted({w for e in read_examples(dataset) for w in e.doc_tokens}) + AWKWARD + [""]
    expected = [hf.tokenize(w) for w in words]
    assert ours.tokenize_words(words) == expected
    assert [ours.tokenize(w) for w in words] == expected
    sentence = " ".join(AWKWARD)
    assert ours.tokenize(sentence) == hf.tokenize(sentence)
    tokens = ours.tokenize(sentence) + ["not-in-vocab"]
    assert ours.convert_tokens_to_ids(tokens) == hf.convert_tokens_to_ids(tokens)
    # the known difference between the Python and the Rust lower-casing
    expected_sigma = ["οδοσ"] if kind == "fast" else ["οδος"]
    assert hf.tokenize(FINAL_SIGMA) == expected_sigma
    assert ours.tokenize(FINAL_SIGMA) == ["οδοσ"]
