"""Fidelity of inferlab.benchmarks.bert.accuracy against the official accuracy-squad.py +
evaluate_v1.1.py.

Skipped unless INFERLAB_OFFICIAL_INFERENCE points at a checkout of mlcommons/inference whose
``language/bert`` holds accuracy-squad.py, create_squad_data.py, evaluate_v1.1.py and Google's
``tokenization.py`` (there or under DeepLearningExamples), and ``transformers`` is importable.
The official files are copied to a temporary folder (``import tensorflow`` removed from the
tokenizer copy; the checkout is never modified) and imported from there.

A generated SQuAD-format dataset (accents, CJK, curly quotes, NBSP inside words, zero-width and
private-use characters, words outside the vocabulary) goes through the official
read_squad_examples + convert_examples_to_features with a small generated WordPiece vocabulary
(hundreds of features, several windows per question); random logits (biased towards the answers,
quantised for ties, some features missing, some repeated with different values) are written as a
LoadGen accuracy log; the official load_loadgen_log + write_predictions + evaluate and our
squad_from_log must agree on every prediction, the predictions.json bytes and the printed line.

Run: INFERLAB_OFFICIAL_INFERENCE=/path/to/inference python -m pytest \
tests/unit/test_squad_metric_official.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferlab.benchmarks.bert.accuracy import (
    basic_tokenize,
    get_final_text,
    squad_from_log,
    write_predictions_json,
)
from inferlab.benchmarks.bert.features import SquadExample, SquadFeature
from inferlab.loadgen.accuracy_log import AccuracyEntry, write_accuracy_log

CHECKOUT = os.environ.get("INFERLAB_OFFICIAL_INFERENCE", "")
pytestmark = pytest.mark.skipif(not CHECKOUT, reason="INFERLAB_OFFICIAL_INFERENCE not set")

_TOKENIZATION = (
    "tokenization.py",
    "DeepLearningExamples/TensorFlow/LanguageModeling/BERT/tokenization.py",
)


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Iterator[types.SimpleNamespace]:
    pytest.importorskip("transformers")
    pytest.importorskip("six")
    bert = Path(CHECKOUT) / "language" / "bert"
    needed = ("accuracy-squad.py", "create_squad_data.py", "evaluate_v1.1.py")
    if not all((bert / name).is_file() for name in needed):
        pytest.skip(f"{bert} lacks one of {needed}")
    tokenization = next((bert / p for p in _TOKENIZATION if (bert / p).is_file()), None)
    if tokenization is None:
        pytest.skip(f"no Google tokenization.py under {bert}")
    work = tmp_path_factory.mktemp("official_bert")
    for name in needed:
        shutil.copy(bert / name, work / name)
    source = tokenization.read_text(encoding="utf-8").splitlines(keepends=True)
    (work / "tokenization.py").write_text(
        "".join(line for line in source if not line.startswith("import tensorflow")),
        encoding="utf-8",
    )
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    # accuracy-squad.py asks pkg_resources whether tensorflow/torch is installed only to add
    # DeepLearningExamples paths and import them; an empty working set skips that.
    stub = types.ModuleType("pkg_resources")
    stub.working_set = []  # type: ignore[attr-defined]
    old_stub = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = stub
    try:
        sys.path.insert(0, str(work))
        acc = _load("official_accuracy_squad", work / "accuracy-squad.py")
        ev = _load("official_evaluate_v11", work / "evaluate_v1.1.py")
        yield types.SimpleNamespace(acc=acc, ev=ev, tok=sys.modules["tokenization"])
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            del sys.modules[name]
        if old_stub is not None:
            sys.modules["pkg_resources"] = old_stub
        else:
            sys.modules.pop("pkg_resources", None)


# ------------------------------------------------------------------------ generated data

_WORDS = (
    "the a an of river Denver Broncos Smith's team won cup. (1895-1943). U.S. $5 50% "
    "Café Zürich naïve déjà-vu “quoted” ‘single’ — … 北京 東京大学 São Paulo's "
    "e\u0301tude 10\u00a0km zero\u200bwidth a\ue000b Ω≈ç x^2 `tick` <tag> & "
    "Saint-Étienne über-cool ŁÓDŹ İstanbul ﬁne Straße"
).split(" ")


def _vocab(rng: np.random.Generator, texts: list[str], path: Path) -> None:
    """Whole words for most basic tokens, single characters (also as ##c) for the rest, some
    characters left out so that a few words become [UNK]."""
    tokens: set[str] = set()
    for text in texts:
        tokens.update(basic_tokenize(text))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({ch for tok in tokens for ch in tok})
    dropped = set(rng.choice(chars, size=max(1, len(chars) // 15), replace=False).tolist())
    for ch in chars:
        if ch not in dropped:
            vocab += [ch, "##" + ch]
    for tok in sorted(tokens):
        if len(tok) > 1 and rng.random() < 0.6:
            vocab.append(tok)
        if len(tok) > 3 and rng.random() < 0.5:
            vocab += [tok[:2], "##" + tok[2:]]
    path.write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")


def _dataset(rng: np.random.Generator, n_paragraphs: int) -> dict[str, Any]:
    paragraphs = []
    for p in range(n_paragraphs):
        words = [str(rng.choice(_WORDS)) for _ in range(int(rng.integers(60, 420)))]
        seps = rng.choice([" ", " ", " ", "  ", "\n", "\t"], size=len(words))
        context = "".join(w + s for w, s in zip(words, seps.tolist(), strict=True)).strip()
        qas = []
        for q in range(3):
            a = int(rng.integers(0, len(words) - 4))
            b = a + int(rng.integers(0, 4))
            answers = [" ".join(words[a : b + 1])]
            if rng.random() < 0.5:
                answers.append(words[a])
            if rng.random() < 0.3:
                answers.append("the " + words[b].upper())
            question = " ".join(str(rng.choice(_WORDS)) for _ in range(int(rng.integers(3, 12))))
            qas.append(
                {
                    "id": f"p{p}q{q}",
                    "question": question + "?",
                    "answers": [{"text": t, "answer_start": 0} for t in answers],
                    "span": [a, b],  # doc-token span of the first answer (words = doc tokens)
                }
            )
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "1.1", "data": [{"title": "generated", "paragraphs": paragraphs}]}


def _logits(rng, feature, answers_at, seq, mode):
    """(seq, 2) logits: noise, a bump on a plausible answer span, quantised when asked."""
    out = rng.standard_normal((seq, 2)) * 2.0
    span = answers_at.get(feature.example_index)
    if span is not None and rng.random() < 0.7:
        a, b = span
        starts = [pos for pos, w in feature.token_to_orig_map.items() if w == a]
        ends = [pos for pos, w in feature.token_to_orig_map.items() if w == b]
        if starts and ends:
            out[starts[0], 0] += 6.0 + rng.random()
            out[ends[-1], 1] += 6.0 + rng.random()
    if mode == "ties":
        out = np.round(out)
    return out


def _write_log(rng, path, n_features, make, dtype, transposed, unlogged) -> None:
    order = [
        i for i in rng.permutation(n_features).tolist() if i not in unlogged and rng.random() > 0.05
    ]
    entries = []
    for idx in order:
        if rng.random() < 0.1:  # an earlier, different payload for the same sample
            entries.append((idx, make(idx)))
        entries.append((idx, make(idx)))
    log_entries = []
    for seq, (idx, arr) in enumerate(entries):
        payload = arr.T if transposed else arr  # (2, seq) layout when transposed
        log_entries.append(AccuracyEntry.from_array(seq, idx, payload.astype(dtype)))
    write_accuracy_log(path, log_entries)


@pytest.mark.parametrize(
    ("max_seq", "stride", "dtype", "transposed", "mode"),
    [
        (384, 128, "float32", False, "noise"),
        (96, 32, "float16", False, "ties"),
        (128, 48, "int8", True, "ties"),
        (160, 64, "float64", True, "noise"),
    ],
)
def test_matches_official_scripts(
    official, tmp_path: Path, capsys, max_seq, stride, dtype, transposed, mode
) -> None:
    from transformers import BertTokenizer

    rng = np.random.default_rng(max_seq + stride)
    data = _dataset(rng, 24)
    data_file = tmp_path / "dev-v1.1.json"
    data_file.write_text(json.dumps(data), encoding="utf-8")
    texts = [par["context"] for par in data["data"][0]["paragraphs"]]
    texts += [qa["question"] for par in data["data"][0]["paragraphs"] for qa in par["qas"]]
    _vocab(rng, texts, tmp_path / "vocab.txt")

    csd = sys.modules["create_squad_data"]
    examples = csd.read_squad_examples(str(data_file), False, False)
    features: list[Any] = []
    csd.convert_examples_to_features(
        examples,
        BertTokenizer(str(tmp_path / "vocab.txt")),
        max_seq,
        stride,
        64,
        False,
        features.append,
    )
    windows = np.bincount([f.example_index for f in features])
    assert len(features) >= 150 and windows.max() >= 3, (len(features), windows.max())

    by_id = {qa["id"]: qa for par in data["data"][0]["paragraphs"] for qa in par["qas"]}
    answers_at = {ei: tuple(by_id[ex.qas_id]["span"]) for ei, ex in enumerate(examples)}
    logits = {i: _logits(rng, f, answers_at, max_seq, mode) for i, f in enumerate(features)}
    log_path = tmp_path / "mlperf_log_accuracy.json"
    unlogged = {i for i, f in enumerate(features) if f.example_index % 11 == 3}  # -> "empty"
    _write_log(rng, log_path, len(features), logits.__getitem__, dtype, transposed, unlogged)

    # official
    results = official.acc.load_loadgen_log(
        str(log_path), features, official.acc.dtype_map[dtype], transposed
    )
    official_file = tmp_path / "official_predictions.json"
    official.acc.write_predictions(examples, features, results, 20, 30, True, str(official_file))
    official_preds = json.loads(official_file.read_text())
    official_line = json.dumps(official.ev.evaluate(data["data"], official_preds))

    # ours
    ours_examples = [
        SquadExample(
            ex.qas_id,
            ex.question_text,
            tuple(ex.doc_tokens),
            tuple(a["text"] for a in by_id[ex.qas_id]["answers"]),
        )
        for ex in examples
    ]
    ours_features = [
        SquadFeature(
            f.unique_id,
            f.example_index,
            f.doc_span_index,
            tuple(f.tokens),
            dict(f.token_to_orig_map),
            dict(f.token_is_max_context),
        )
        for f in features
    ]
    result = squad_from_log(
        log_path, ours_examples, ours_features, dtype=dtype, transposed=transposed
    )
    ours_file = tmp_path / "predictions.json"
    write_predictions_json(ours_file, result.predictions)
    capsys.readouterr()

    assert list(result.predictions.items()) == list(official_preds.items())
    assert ours_file.read_bytes() == official_file.read_bytes()
    assert result.line() == official_line
    assert result.duplicates > 0 and result.questions_partial > 0
    empties = sum(v == "empty" for v in official_preds.values())
    assert empties > 0
    print(f"{len(features)} features, {len(examples)} questions, {empties} empty: {official_line}")


def _random_text(rng: np.random.Generator, n: int) -> str:
    pools = [
        (0x20, 0x7F),
        (0x00, 0x20),
        (0xA0, 0x250),
        (0x300, 0x370),
        (0x370, 0x400),
        (0x2000, 0x2070),
        (0x3000, 0x3040),
        (0x4E00, 0x4E40),
        (0xE000, 0xE010),
        (0xFB00, 0xFB10),
        (0xFFF0, 0x10000),
        (0x1D400, 0x1D420),
        (0x20000, 0x20010),
    ]
    chars = []
    for _ in range(n):
        lo, hi = pools[int(rng.integers(0, len(pools)))] if rng.random() < 0.9 else (0, 0x30000)
        cp = int(rng.integers(lo, hi))
        chars.append(chr(cp) if not 0xD800 <= cp < 0xE000 else "?")
    return "".join(chars)


def test_basic_tokenizer_and_final_text_match_google(official) -> None:
    rng = np.random.default_rng(3)
    google = official.tok.BasicTokenizer(do_lower_case=True)
    cased = official.tok.BasicTokenizer(do_lower_case=False)
    for _ in range(3000):
        text = _random_text(rng, int(rng.integers(0, 40)))
        assert basic_tokenize(text) == google.tokenize(text), repr(text)
        assert basic_tokenize(text, False) == cased.tokenize(text), repr(text)
        tokens = google.tokenize(text)
        if tokens:
            a = int(rng.integers(0, len(tokens)))
            pred = " ".join(tokens[a : a + int(rng.integers(1, 4))])
            if rng.random() < 0.2:
                pred = pred[: max(0, len(pred) - 1)]
            orig = text.replace("\n", " ")
            assert get_final_text(pred, orig) == official.acc.get_final_text(pred, orig, True)
