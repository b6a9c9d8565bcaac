"""SQuAD v1.1 -> BERT features: splitting, WordPiece, windows, max context, layout, cache, errors.

Expected values are worked out by hand from the reference's rules (create_squad_data.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferlab.benchmarks.bert import preprocess as squad
from inferlab.benchmarks.bert.features import SquadExample
from inferlab.benchmarks.bert.preprocess import (
    DATASET_FIX,
    VOCAB_FIX,
    WordPieceTokenizer,
    cache_path,
    convert_examples_to_features,
    doc_spans,
    features_summary,
    load_features,
    read_examples,
    split_context,
)
from inferlab.core.errors import DataError

# id = position in this list
VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # 0..4
    + ["the", "cat", "sat", "on", "mat", ".", ",", "?", "what", "did"]  # 5..14
    + ["un", "##aff", "##able", "cafe", "a", "##a", "x", "y", "[", "]", "sep", "中", "文"]  # 15..27
    + [f"w{i}" for i in range(500)]  # 28..527
    + [f"q{i}" for i in range(100)]  # 528..627
)
ID = {t: i for i, t in enumerate(VOCAB)}


def _write_vocab(path: Path, tokens: list[str] = VOCAB) -> Path:
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def vocab_file(tmp_path: Path) -> Path:
    return _write_vocab(tmp_path / "vocab.txt")


@pytest.fixture()
def tok(vocab_file: Path) -> WordPieceTokenizer:
    return WordPieceTokenizer(vocab_file)


def _squad(*paragraphs: tuple[str, list[str]], version: str = "1.1") -> dict[str, Any]:
    paras = []
    for p, (context, questions) in enumerate(paragraphs):
        qas = [
            {"id": f"id{p}-{q}", "question": text, "answers": [{"text": "x", "answer_start": 0}]}
            for q, text in enumerate(questions)
        ]
        paras.append({"context": context, "qas": qas})
    return {"version": version, "data": [{"title": "T", "paragraphs": paras}]}


def _write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _example(context: str, question: str, qas_id: str = "q") -> SquadExample:
    return SquadExample(qas_id, question, split_context(context), ("x",))


def _words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


# ----------------------------------------------------------------------------- doc tokens


def test_split_context_uses_the_reference_whitespace() -> None:
    text = "  The\tcat\u202fsat \n\non   the\u00a0mat.\r\nend "
    assert split_context(text) == ("The", "cat", "sat", "on", "the\u00a0mat.", "end")
    assert text.split() != list(split_context(text))  # str.split also splits U+00A0
    assert split_context(" \t\u202f\n") == ()


def test_read_examples_order_answers_and_shared_doc_tokens(tmp_path: Path) -> None:
    doc = {
        "version": "1.1",
        "data": [
            {
                "title": "A",
                "paragraphs": [
                    {
                        "context": "The cat  sat.",
                        "qas": [
                            {
                                "id": "a1",
                                "question": "Who?",
                                "answers": [
                                    {"text": "The cat", "answer_start": 0},
                                    {"text": "cat", "answer_start": 4},
                                ],
                            },
                            {"id": "a2", "question": "What?", "answers": []},
                        ],
                    }
                ],
            },
            {
                "title": "B",
                "paragraphs": [
                    {
                        "context": "x\u202fy",
                        "qas": [
                            {
                                "id": "b1",
                                "question": "Q",
                                "answers": [{"text": "y", "answer_start": 2}],
                            }
                        ],
                    }
                ],
            },
        ],
    }
    examples = read_examples(_write_json(tmp_path / "d.json", doc))
    assert [e.qas_id for e in examples] == ["a1", "a2", "b1"]
    assert examples[0].doc_tokens == ("The", "cat", "sat.")
    assert examples[0].doc_tokens is examples[1].doc_tokens
    assert examples[0].answers == ("The cat", "cat") and examples[1].answers == ()
    assert examples[2].doc_tokens == ("x", "y") and examples[2].question_text == "Q"


def test_other_version_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write_json(tmp_path / "d.json", _squad(("the cat", ["q"]), version="2.0"))
    with caplog.at_level(logging.WARNING, logger="inferlab.benchmarks.bert.preprocess"):
        assert len(read_examples(path)) == 1
    assert "'2.0'" in caplog.text and "d.json" in caplog.text


def _good() -> dict[str, Any]:
    return _squad(("the cat", ["q"]))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("dir", "is a directory"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        ([], "top level: expected an object, got list"),
        ({"version": "1.1"}, "top level: missing key 'data'"),
        ({"data": {}}, "top level.data: expected list, got dict"),
        ({"data": []}, "'data' is empty"),
        ({"data": [{"title": "t"}]}, "data[0]: missing key 'paragraphs'"),
        ({"data": [{"paragraphs": [{"qas": []}]}]}, "data[0].paragraphs[0]: missing key 'context'"),
        ({"data": [{"paragraphs": [{"context": 3, "qas": []}]}]}, "context: expected str, got int"),
        ({"data": [{"paragraphs": [{"context": "c", "qas": []}]}]}, "contains no questions"),
        ("no-id", "qas[0]: missing key 'id'"),
        ("answer-no-text", "qas[0].answers[0]: missing key 'text'"),
    ],
)
def test_bad_dataset_files(tmp_path: Path, content: Any, expected: str) -> None:
    path = tmp_path / "dev-v1.1.json"
    if content == "dir":
        path.mkdir()
    elif content == "no-id":
        doc = _good()
        del doc["data"][0]["paragraphs"][0]["qas"][0]["id"]
        _write_json(path, doc)
    elif content == "answer-no-text":
        doc = _good()
        doc["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [{"answer_start": 0}]
        _write_json(path, doc)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        _write_json(path, content)
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert expected in info.value.message and str(path) in info.value.message
    assert info.value.fix == DATASET_FIX and "dev-v1.1.json" in info.value.fix


# ------------------------------------------------------------------------------ tokenizer


def test_wordpiece_lowercase_accents_unk(tok: WordPieceTokenizer) -> None:
    assert tok.tokenize("The CAT sat, on the mat.") == [
        "the",
        "cat",
        "sat",
        ",",
        "on",
        "the",
        "mat",
        ".",
    ]
    assert tok.tokenize("unaffable Unaffable") == ["un", "##aff", "##able"] * 2
    assert tok.tokenize("Café CAFÉ cafe\u0301") == ["cafe"] * 3  # accents stripped
    assert tok.tokenize("dog unaffx") == ["[UNK]", "[UNK]"]  # one failed piece -> whole word
    assert tok.tokenize("中文") == ["中", "文"]  # Chinese characters split apart
    assert tok.tokenize("ca\u200bt \x07") == ["cat"]  # zero-width/control characters dropped
    assert tok.tokenize("") == [] and tok.tokenize(" \t ") == []


def test_wordpiece_100_character_limit(tok: WordPieceTokenizer) -> None:
    assert tok.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.tokenize("a" * 101) == ["[UNK]"]


def test_literal_special_tokens_behave_like_bert_tokenizer(tok: WordPieceTokenizer) -> None:
    # Upper-case special tokens written in the text are matched before normalisation, as
    # transformers' BertTokenizer does; lower-case ones are ordinary text.
    assert tok.tokenize("x[SEP]y") == ["x", "[SEP]", "y"]
    assert tok.tokenize("[CLS] the [MASK]") == ["[CLS]", "the", "[MASK]"]
    assert tok.tokenize("[sep]") == ["[", "sep", "]"]
    assert tok.tokenize("[Sep]") == ["[", "sep", "]"]


def test_tokenize_words_matches_tokenize(tok: WordPieceTokenizer) -> None:
    words = ["The", "\u200b", "unaffable,", "dog", "x[SEP]y", "a" * 101, "Café"]
    expected = [
        ["the"],
        [],
        ["un", "##aff", "##able", ","],
        ["[UNK]"],
        ["x", "[SEP]", "y"],
        ["[UNK]"],
        ["cafe"],
    ]
    assert tok.tokenize_words(words) == expected
    assert [tok.tokenize(w) for w in words] == expected
    assert tok.tokenize_words([]) == []
    ids = [tok.convert_tokens_to_ids(t) for t in expected]
    assert tok.encode_words(words, chunk=2) == ids  # several pre-tokenised chunks in one batch


def test_ids_and_vocab_facts(tok: WordPieceTokenizer, vocab_file: Path) -> None:
    assert tok.convert_tokens_to_ids(["[CLS]", "the", "##able", "nope", "[SEP]"]) == [
        2,
        5,
        17,
        1,
        3,
    ]
    assert tok.convert_ids_to_tokens([0, 16, 28]) == ["[PAD]", "##aff", "w0"]
    assert tok.vocab_size == len(VOCAB) == 628
    assert tok.vocab_sha256 == hashlib.sha256(vocab_file.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (None, "does not exist"),
        ([], "is empty"),
        (["[PAD]", "[UNK]", "[SEP]", "the"], "lacks the special token(s) [CLS]"),
        (["the", "cat"], "lacks the special token(s) [UNK] [CLS] [SEP] [PAD]"),
    ],
)
def test_bad_vocab_files(tmp_path: Path, lines: list[str] | None, expected: str) -> None:
    path = tmp_path / "vocab.txt"
    if lines is not None:
        path.write_text("".join(f"{t}\n" for t in lines), encoding="utf-8")
    with pytest.raises(DataError) as info:
        WordPieceTokenizer(path)
    assert expected in info.value.message and str(path) in info.value.message
    assert info.value.fix == VOCAB_FIX


# ------------------------------------------------------------------------------- features


def test_single_window_layout(tok: WordPieceTokenizer) -> None:
    ex = _example("The cat sat on the mat.", "What did the cat sit on?")
    out = convert_examples_to_features([ex], tok, max_seq_length=24)
    (f,) = out.features
    assert f.tokens == (
        "[CLS]",
        "what",
        "did",
        "the",
        "cat",
        "[UNK]",
        "on",
        "?",
        "[SEP]",
        "the",
        "cat",
        "sat",
        "on",
        "the",
        "mat",
        ".",
        "[SEP]",
    )
    assert (f.unique_id, f.example_index, f.doc_span_index, f.length) == (1_000_000_000, 0, 0, 17)
    assert f.token_to_orig_map == {9: 0, 10: 1, 11: 2, 12: 3, 13: 4, 14: 5, 15: 5}
    assert f.token_is_max_context == dict.fromkeys(range(9, 16), True)
    ids = [2, 13, 14, 5, 6, 1, 8, 12, 3, 5, 6, 7, 8, 5, 9, 10, 3]
    assert out.input_ids.tolist() == [ids + [0] * 7]
    assert out.input_mask.tolist() == [[1] * 17 + [0] * 7]
    assert out.segment_ids.tolist() == [[0] * 9 + [1] * 8 + [0] * 7]
    assert out.lengths.tolist() == [17]
    for a in (out.input_ids, out.input_mask, out.segment_ids, out.lengths):
        assert a.dtype == np.int32


def test_doc_spans_rule() -> None:
    assert doc_spans(30, 11, 4) == [(0, 11), (4, 11), (8, 11), (12, 11), (16, 11), (20, 10)]
    assert doc_spans(12, 8, 4) == [(0, 8), (4, 8)]
    assert doc_spans(5, 8, 4) == [(0, 5)]
    assert doc_spans(20, 5, 8) == [(0, 5), (5, 5), (10, 5), (15, 5)]  # stride > room: min()
    assert doc_spans(0, 8, 4) == []


def test_six_windows_with_small_sizes(tok: WordPieceTokenizer) -> None:
    # 2 query pieces, max_seq_length 16 -> 16 - 2 - 3 = 11 doc pieces per window, stride 4.
    out = convert_examples_to_features([_example(_words(30), "q0 q1")], tok, 16, 4, 64)
    starts = [f.token_to_orig_map[4] for f in out.features]
    assert starts == [0, 4, 8, 12, 16, 20]
    assert [f.doc_span_index for f in out.features] == [0, 1, 2, 3, 4, 5]
    assert out.lengths.tolist() == [16] * 5 + [15]
    last = out.features[-1]
    assert last.tokens == ("[CLS]", "q0", "q1", "[SEP]", *(f"w{i}" for i in range(20, 30)), "[SEP]")


def test_max_context_two_windows(tok: WordPieceTokenizer) -> None:
    # 12 pieces, room 8, stride 4: windows [0, 8) and [4, 12). Scores (+0.08 both):
    # p4: min(4,3)=3 vs min(0,7)=0; p5: 2 vs 1 -> first; p6: 1 vs 2; p7: 0 vs 3 -> second.
    out = convert_examples_to_features([_example(_words(12), "q0 q1 q2")], tok, 14, 4, 64)
    f0, f1 = out.features
    assert f0.token_to_orig_map == {5 + i: i for i in range(8)}
    assert f1.token_to_orig_map == {5 + i: 4 + i for i in range(8)}
    assert list(f0.token_is_max_context.values()) == [True] * 6 + [False] * 2
    assert list(f1.token_is_max_context.values()) == [False] * 2 + [True] * 6
    assert out.lengths.tolist() == [14, 14]


def test_max_context_tie_goes_to_the_first_window(tok: WordPieceTokenizer) -> None:
    # 11 pieces, room 8, stride 3: windows [0, 8) and [3, 11); p5 scores min(5,2) = min(2,5).
    out = convert_examples_to_features([_example(_words(11), "q0 q1 q2")], tok, 14, 3, 64)
    f0, f1 = out.features
    assert list(f0.token_is_max_context.values()) == [True] * 6 + [False] * 2
    assert list(f1.token_is_max_context.values()) == [False] * 3 + [True] * 5


def test_answer_split_over_two_windows(tok: WordPieceTokenizer) -> None:
    # pieces: w0 w1 w2 un ##aff ##able w3 w4 w5 w6 (10); room 10 - 1 - 3 = 6, stride 3:
    # windows [0,6) [3,9) [6,10). The answer "unaffable w3" (doc words 3 and 4) is owned by
    # window 0 for "un" and "##aff" (tie at ##aff: min(4,1) = min(1,4)), window 1 for the rest.
    ex = _example("w0 w1 w2 unaffable w3 w4 w5 w6", "q0")
    out = convert_examples_to_features([ex], tok, 10, 3, 64)
    f0, f1, f2 = out.features
    assert f0.tokens == ("[CLS]", "q0", "[SEP]", "w0", "w1", "w2", "un", "##aff", "##able", "[SEP]")
    assert f0.token_to_orig_map == {3: 0, 4: 1, 5: 2, 6: 3, 7: 3, 8: 3}
    assert f0.token_is_max_context == {3: True, 4: True, 5: True, 6: True, 7: True, 8: False}
    assert f1.tokens[3:9] == ("un", "##aff", "##able", "w3", "w4", "w5")
    assert f1.token_to_orig_map == {3: 3, 4: 3, 5: 3, 6: 4, 7: 5, 8: 6}
    assert f1.token_is_max_context == {3: False, 4: False, 5: True, 6: True, 7: True, 8: False}
    assert f2.tokens == ("[CLS]", "q0", "[SEP]", "w3", "w4", "w5", "w6", "[SEP]")
    assert f2.token_to_orig_map == {3: 4, 4: 5, 5: 6, 6: 7}
    assert f2.token_is_max_context == {3: False, 4: False, 5: True, 6: True}
    owners = {
        (f.doc_span_index, f.tokens[p])
        for f in out.features
        for p, word in f.token_to_orig_map.items()
        if word in (3, 4) and f.token_is_max_context[p]
    }
    assert owners == {(0, "un"), (0, "##aff"), (1, "##able"), (1, "w3")}
    assert out.input_ids[2].tolist() == [2, 528, 3, 31, 32, 33, 34, 3, 0, 0]  # w3 = 28 + 3
    assert out.segment_ids[2].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]
    assert out.input_mask[2].tolist() == [1] * 8 + [0] * 2


def test_query_truncated_to_64_pieces_with_default_sizes(tok: WordPieceTokenizer) -> None:
    # 63 x "the" + "unaffable" = 66 pieces -> first 64 kept, cutting the word after "un".
    # Room for the doc: 384 - 64 - 3 = 317; 400 pieces -> windows [0, 317) and [128, 400).
    ex = _example(_words(400), "the " * 63 + "unaffable")
    out = convert_examples_to_features([ex], tok)
    f0, f1 = out.features
    assert f0.tokens[:66] == ("[CLS]", *["the"] * 63, "un", "[SEP]")
    assert f0.token_to_orig_map[66] == 0 and f1.token_to_orig_map[66] == 128
    assert max(f0.token_to_orig_map) == 382 and f0.token_to_orig_map[382] == 316
    assert out.lengths.tolist() == [384, 66 + 272 + 1]
    assert out.input_ids.shape == (2, 384)
    assert out.segment_ids[1].tolist() == [0] * 66 + [1] * 273 + [0] * 45
    # exactly 64 pieces: nothing cut
    (g,) = convert_examples_to_features([_example("w0", "the " * 64)], tok).features
    assert g.tokens == ("[CLS]", *["the"] * 64, "[SEP]", "w0", "[SEP]")


def test_unique_ids_examples_and_shared_paragraphs(tok: WordPieceTokenizer) -> None:
    examples = [
        _example(_words(12), "q0 q1 q2", "a"),  # 2 windows (room 8, stride 4)
        _example("\u200b \x07", "q5", "b"),  # no pieces: no feature, like the reference
        _example(_words(12), "q3", "c"),  # room 10: windows [0,10) [4,12)
        _example("w7 cat", "q4", "d"),
    ]
    out = convert_examples_to_features(examples, tok, 14, 4, 64)
    assert [f.unique_id for f in out.features] == [1_000_000_000 + i for i in range(5)]
    assert [f.example_index for f in out.features] == [0, 0, 2, 2, 3]
    assert [f.doc_span_index for f in out.features] == [0, 1, 0, 1, 0]
    assert out.features[2].tokens[3:13] == tuple(f"w{i}" for i in range(10))
    assert out.features[4].tokens == ("[CLS]", "q4", "[SEP]", "w7", "cat", "[SEP]")
    assert features_summary(out) == {
        "count": 5,
        "questions": 3,
        "length_mean": round((14 + 14 + 14 + 12 + 6) / 5, 2),
        "length_min": 6,
        "length_max": 14,
        "windows_per_question": {"1": 1, "2": 2},
    }


def test_bad_sizes_rejected(tok: WordPieceTokenizer) -> None:
    with pytest.raises(ValueError):
        convert_examples_to_features([_example("w0", "q0 q1")], tok, 5, 4, 64)  # no room
    with pytest.raises(ValueError):
        convert_examples_to_features([_example("w0", "q0")], tok, 384, 0, 64)


# ---------------------------------------------------------------------------------- cache


def _files(tmp_path: Path) -> tuple[Path, Path]:
    doc = _squad(
        (_words(450), ["q0 q1", "what did the cat sit on?"]),
        ("The cat sat on the mat.", ["q2"]),
    )
    return _write_json(tmp_path / "dev-v1.1.json", doc), _write_vocab(tmp_path / "vocab.txt")


def _same(a: Any, b: Any) -> None:
    assert a.features == b.features
    for name in ("input_ids", "input_mask", "segment_ids", "lengths"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype


def test_cache_miss_then_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, vocab = _files(tmp_path)
    cache = tmp_path / "cache"
    examples, first = load_features(dataset, vocab, cache_dir=cache)
    # 450 pieces: 2 windows for each of the first two questions (room 379 and 374), then 1
    assert len(examples) == 3 and len(first) == 5
    files = list(cache.rglob("*"))
    assert [p.suffix for p in files if p.is_file()] == [".npz"]

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("rebuilt despite a cache hit")

    monkeypatch.setattr(squad, "_build_arrays", fail)
    again_examples, again = load_features(dataset, vocab, cache_dir=cache)
    assert again_examples == examples
    _same(again, first)


def test_cache_matches_uncached_and_keys_on_vocab(tmp_path: Path) -> None:
    dataset, vocab = _files(tmp_path)
    _, plain = load_features(dataset, vocab, cache_dir=None)
    _, cached = load_features(dataset, vocab, cache_dir=tmp_path / "c")
    _, hit = load_features(dataset, vocab, cache_dir=tmp_path / "c")
    _same(plain, cached)
    _same(plain, hit)
    _write_vocab(vocab, VOCAB + ["extra"])  # another vocabulary -> another entry
    load_features(dataset, vocab, cache_dir=tmp_path / "c")
    assert len(list((tmp_path / "c").rglob("*.npz"))) == 2


def _entry(cache: Path) -> Path:
    (path,) = cache.rglob("*.npz")
    return path


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "tampered", "wrong-key"])
def test_corrupt_cache_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    dataset, vocab = _files(tmp_path)
    cache = tmp_path / "cache"
    _, good = load_features(dataset, vocab, cache_dir=cache)
    path = _entry(cache)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if damage == "tampered":  # valid zip, valid arrays, data no longer matching its digest
            arrays["input_ids"] = arrays["input_ids"].copy()
            arrays["input_ids"][0, 1] += 1
        else:
            meta = json.loads(arrays["meta"].tobytes())
            meta["key"] = "0" * 64
            arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING, logger="inferlab.benchmarks.bert.preprocess"):
        _, rebuilt = load_features(dataset, vocab, cache_dir=cache)
    assert "damaged" in caplog.text and str(path) in caplog.text
    _same(rebuilt, good)
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="inferlab.benchmarks.bert.preprocess"):
        _, hit = load_features(dataset, vocab, cache_dir=cache)  # the rewritten entry is good
    assert caplog.text == ""
    _same(hit, good)


def test_unwritable_cache_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dataset, vocab = _files(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="inferlab.benchmarks.bert.preprocess"):
        _, features = load_features(dataset, vocab, cache_dir=blocker)
    assert len(features) == 5 and "cannot write the SQuAD feature cache" in caplog.text


def test_cache_path_layout(tmp_path: Path) -> None:
    key = hashlib.sha256(b"k").hexdigest()
    assert cache_path(tmp_path, key) == tmp_path / "squad" / f"features-{key[:32]}.npz"


def test_load_features_errors_name_the_file(tmp_path: Path) -> None:
    _, vocab = _files(tmp_path)
    with pytest.raises(DataError) as info:
        load_features(tmp_path / "missing.json", vocab, cache_dir=None)
    assert "missing.json" in info.value.message and info.value.fix == DATASET_FIX
