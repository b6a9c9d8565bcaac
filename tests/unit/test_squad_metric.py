"""Tests for inferlab.benchmarks.bert.accuracy (SQuAD v1.1 F1/EM like accuracy-squad.py +
evaluate_v1.1.py).

Expected values are worked out by hand in the comments. A slow, literal re-statement of the
official post-processing loop (``_reference_predict``) cross-checks ``predict`` on random logits
with many ties. The comparison with the official scripts themselves lives in
test_squad_metric_official.py (skipped without a checkout).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from inferlab.benchmarks.bert.accuracy import (
    SquadScore,
    basic_tokenize,
    evaluate,
    exact_match_score,
    f1_score,
    get_final_text,
    logits_from_log,
    normalize_answer,
    predict,
    read_logits,
    squad_from_log,
    write_predictions_json,
)
from inferlab.benchmarks.bert.features import SquadExample, SquadFeature
from inferlab.core.errors import ConfigError, DataError
from inferlab.loadgen.accuracy_log import AccuracyEntry, write_accuracy_log

# The submission checker's pattern for the BERT accuracy line.
CHECKER = re.compile(r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}")

# ------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # lower -> drop punctuation -> articles become spaces -> collapse; "theater" keeps "the"
        ("The  Theater, of a CAT!", "theater of cat"),
        ("An apple", "apple"),
        ("another", "another"),  # "an" inside a word is not an article
        ("the-end", "theend"),  # punctuation goes before the article regex runs
        ("  Denver\tBroncos \n", "denver broncos"),
        # accents are NOT stripped; curly quotes and the em dash are not in string.punctuation
        ("Café “Quoted” — ‘x’", "café “quoted” — ‘x’"),
        ("$1,000.50", "100050"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_f1_partial_overlap_is_four_sevenths() -> None:
    # pred "big red dog" (3 tokens) vs truth "red dog barked loudly" (4): 2 common tokens,
    # precision 2/3, recall 1/2 -> F1 = 2*(1/3)/(7/6) = 4/7
    score = f1_score("The big red dog", "a red dog barked loudly")
    assert score == pytest.approx(4 / 7, abs=1e-15)
    assert score == (2 * (2 / 3) * 0.5) / ((2 / 3) + 0.5)  # the official arithmetic, bit for bit


def test_f1_zero_overlap_is_int_zero_and_counts_repeats() -> None:
    zero = f1_score("Paris", "London")
    assert zero == 0 and isinstance(zero, int)
    assert f1_score("", "London") == 0  # empty prediction: no division by zero
    # Counter intersection: "a a b" vs "b b": articles dropped -> ["b"] vs ["b","b"]: P=1, R=1/2
    assert f1_score("x x y", "y y") == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def test_exact_match() -> None:
    assert exact_match_score("the Denver Broncos!", "Denver Broncos")
    assert not exact_match_score("Café", "Cafe")
    assert not exact_match_score("“Broncos”", "Broncos")


def _ex(qas_id: str, *answers: str, doc: tuple[str, ...] = ()) -> SquadExample:
    return SquadExample(qas_id=qas_id, question_text="q?", doc_tokens=doc, answers=answers)


def test_evaluate_by_hand_and_official_line() -> None:
    examples = [
        _ex("q1", "Broncos", "Denver Broncos"),  # EM 1, F1 1.0 (max over two truths)
        _ex("q2", "red dog barked loudly", "cat"),  # EM 0, F1 max(4/7, 0)
        _ex("q3", "Paris"),  # no prediction: scores 0, still counts
        _ex("q4", "42"),  # EM 0, F1 0
    ]
    preds = {"q1": "the Denver Broncos", "q2": "big red dog", "q4": "forty two", "zz": "x"}
    score = evaluate(examples, preds)
    assert score.total == 4 and score.answered == 3
    assert score.exact_match == 25.0
    assert score.f1 == 100.0 * (1.0 + (2 * (2 / 3) * 0.5) / ((2 / 3) + 0.5)) / 4
    assert score.f1 == pytest.approx(275 / 7)  # (1 + 4/7) / 4 * 100
    assert score.line() == '{"exact_match": 25.0, "f1": 39.28571428571429}'
    assert CHECKER.match(score.line())

    sub = evaluate(examples, preds, only={"q1", "q3"})
    assert (sub.exact_match, sub.f1, sub.total, sub.answered) == (50.0, 50.0, 2, 1)


def test_evaluate_errors() -> None:
    with pytest.raises(DataError, match="not in the dataset"):
        evaluate([_ex("q1", "a")], {}, only={"nope"})
    with pytest.raises(DataError, match="no questions"):
        evaluate([], {})
    with pytest.raises(DataError, match="no ground-truth"):
        evaluate([_ex("q1")], {"q1": "x"})


def test_line_forms() -> None:
    # zero prints 0.0 (checker accepts it); a tiny positive score prints in exponent form exactly
    # like the official script, which the checker's regex rejects (documented, not reformatted).
    assert SquadScore(0.0, 0.0, 10, 10).line() == '{"exact_match": 0.0, "f1": 0.0}'
    assert CHECKER.match(SquadScore(0.0, 0.0, 10, 10).line())
    tiny = SquadScore(0.0, 1e-05, 10, 10).line()
    assert tiny == '{"exact_match": 0.0, "f1": 1e-05}'
    assert not CHECKER.match(tiny)
    assert CHECKER.match(SquadScore(100.0, 100.0, 1, 1).line())


# --------------------------------------------------------------------------- basic tokenizer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World! $5^2`x", ["hello", ",", "world", "!", "$", "5", "^", "2", "`", "x"]),
        ("don't", ["don", "'", "t"]),
        ("Café Über naïve", ["cafe", "uber", "naive"]),
        ("e\u0301tude", ["etude"]),  # combining accent (Mn) removed
        ("北京大学abc", ["北", "京", "大", "学", "abc"]),  # CJK ideographs isolated
        ("a\x00b\ufffdc\u200bd\x07e\ufeff", ["abcde"]),  # NUL, U+FFFD, Cf, Cc removed
        ("a\tb\nc\u00a0d\u3000e\u2028f", ["a", "b", "c", "d", "e", "f"]),  # whitespace
        ("“quoted”—‘x’…", ["“", "quoted", "”", "—", "‘", "x", "’", "…"]),  # P* punctuation
        ("a\ue000b", ["a\ue000b"]),  # private use is kept (unlike HF tokenizers' normaliser)
        ("A+B=<c>|~", ["a", "+", "b", "=", "<", "c", ">", "|", "~"]),  # ASCII symbols split
        ("", []),
        ("  \t ", []),
    ],
)
def test_basic_tokenize(text: str, expected: list[str]) -> None:
    assert basic_tokenize(text) == expected


def test_basic_tokenize_cased() -> None:
    assert basic_tokenize("Café, Ü", do_lower_case=False) == ["Café", ",", "Ü"]


@pytest.mark.parametrize(
    ("pred", "orig", "expected"),
    [
        ("steve smith", "Steve Smith's", "Steve Smith"),
        ("smith ' s", "Steve Smith's", "Smith's"),
        ("cafe", "Café!", "Café"),  # accent stripped by the tokenizer, aligned char by char
        ("1895", "(1895-1943).", "1895"),
        ("etude", "e\u0301tude", "e\u0301tude"),  # lengths differ (6 vs 5): fallback
        ("10", "10\u00a0km", "10\u00a0km"),  # NBSP becomes a space only in tok_text: fallback
        ("xyz", "Steve Smith", "Steve Smith"),  # not found: fallback
        ("", "abc", "abc"),  # empty prediction: end position -1 is unmapped
    ],
)
def test_get_final_text(pred: str, orig: str, expected: str) -> None:
    assert get_final_text(pred, orig) == expected


# ------------------------------------------------------------------------ post-processing

DOC = ("Steve", "Smith's", "team", "won", "the", "cup.")
QUESTION = ("[CLS]", "who", "won", "?", "[SEP]")
# window 0: every doc token; positions 5..13
TOKENS0 = (*QUESTION, "steve", "smith", "'", "s", "team", "won", "the", "cup", ".", "[SEP]")
MAP0 = {5: 0, 6: 1, 7: 1, 8: 1, 9: 2, 10: 3, 11: 4, 12: 5, 13: 5}
# window 1: "won the cup." at positions 5..8
TOKENS1 = (*QUESTION, "won", "the", "cup", ".", "[SEP]")
MAP1 = {5: 3, 6: 4, 7: 5, 8: 5}


def _feature(
    uid: int, example: int, span: int, tokens: tuple[str, ...], tmap: dict[int, int], **ctx: bool
) -> SquadFeature:
    max_ctx = {pos: True for pos in tmap}
    for key, value in ctx.items():
        max_ctx[int(key[1:])] = value  # keyword "p5=False" -> position 5
    return SquadFeature(uid, example, span, tokens, dict(tmap), max_ctx)


def _logits(n: int, starts: dict[int, float], ends: dict[int, float], base: float = 0.0):
    arr = np.full((n, 2), base, dtype=np.float32)
    for pos, value in starts.items():
        arr[pos, 0] = value
    for pos, value in ends.items():
        arr[pos, 1] = value
    return arr


EXAMPLE = SquadExample("q0", "who won?", DOC, ("Steve Smith", "Smith"))
FEAT0 = _feature(1_000_000_000, 0, 0, TOKENS0, MAP0)
FEAT1 = _feature(1_000_000_001, 0, 1, TOKENS1, MAP1)


def _pred(logits: dict[int, np.ndarray], feats=(FEAT0,), **kw) -> str:
    return predict([EXAMPLE], list(feats), logits, **kw)["q0"]


def test_best_span_and_final_text() -> None:
    # start peak "steve" (5), end peak "smith" (6): WordPieces "steve smith" inside
    # "Steve Smith's" -> "Steve Smith"
    assert _pred({0: _logits(15, {5: 5.0}, {6: 4.0})}) == "Steve Smith"
    # end on "s" (8): tok text "steve smith ' s" -> projected back to "Steve Smith's"
    assert _pred({0: _logits(15, {5: 5.0}, {8: 4.0})}) == "Steve Smith's"
    # "cup" + "." -> orig word "cup." both ways
    assert _pred({0: _logits(15, {12: 5.0}, {13: 4.0})}) == "cup."


def test_query_positions_end_before_start_and_length() -> None:
    # other logits -5: the best start is in the question (1, invalid), the best end (6) precedes
    # the next start (9): (9,6) end<start; (9,10) = 3+2 beats (5,6) = -5+9 -> "team won"
    logits = _logits(15, {1: 10.0, 9: 3.0}, {6: 9.0, 10: 2.0}, base=-5.0)
    assert _pred({0: logits}) == "team won"
    # max_answer_length: (5,13) has 9 tokens; with 8 allowed the next best is taken
    long_span = _logits(15, {5: 5.0}, {13: 5.0, 12: 1.0})
    assert _pred({0: long_span}) == "Steve Smith's team won the cup."
    assert _pred({0: long_span}, max_answer_length=8) == "Steve Smith's team won the cup"


def test_top_n_cut() -> None:
    # starts: 1 and 2 (query) outrank 9 ("team"); with n_best=2 no valid start survives
    logits = _logits(15, {1: 10.0, 2: 9.0, 9: 8.0}, {9: 8.0})
    assert _pred({0: logits}, n_best=2) == "empty"
    assert _pred({0: logits}, n_best=3) == "team"


def test_max_context_false_start_is_skipped_but_end_is_not() -> None:
    feat = _feature(1_000_000_000, 0, 0, TOKENS0, MAP0, p5=False, p6=False)
    logits = {0: _logits(15, {5: 5.0, 9: 1.0}, {6: 4.0})}
    # (5,6) = 9.0 is dropped (start 5 not max context); start 9 with end 6 is end<start; the
    # best left is start 9 (1.0) with any end >= 9 (0.0); end ranks are 6, then 0..14 in index
    # order, so (9,9) comes first -> "team". An end on a non-max-context position is allowed:
    assert predict([EXAMPLE], [feat], logits)["q0"] == "team"
    assert predict([EXAMPLE], [feat], {0: _logits(15, {5: 5.0, 9: 1.0}, {9: 4.0})})["q0"] == (
        "team"
    )
    # end on the "'" WordPiece (7, not max context): "steve smith '" aligns to "Steve Smith'"
    feat7 = _feature(1_000_000_000, 0, 0, TOKENS0, MAP0, p7=False)
    assert predict([EXAMPLE], [feat7], {0: _logits(15, {5: 5.0}, {7: 4.0})})["q0"] == (
        "Steve Smith'"
    )


def test_ties_keep_official_order() -> None:
    # starts 5 and 9 tie (3.0), ends 6 and 10 tie (3.0): append order (5,6),(5,10),(9,6)x,(9,10)
    # all 6.0 -> the first, (5,6)
    logits = _logits(15, {5: 3.0, 9: 3.0}, {6: 3.0, 10: 3.0})
    assert _pred({0: logits}) == "Steve Smith"


def test_windows_first_wins_ties_else_higher_score() -> None:
    w0 = _logits(15, {5: 3.0}, {6: 3.0})  # "Steve Smith", 6.0
    tie = _logits(10, {5: 3.0}, {5: 3.0})  # window 1: "won", 6.0
    higher = _logits(10, {5: 3.5}, {5: 3.0})  # 6.5
    both = [FEAT0, FEAT1]
    assert _pred({0: w0, 1: tie}, feats=both) == "Steve Smith"
    assert _pred({0: w0, 1: higher}, feats=both) == "won"
    assert _pred({1: higher}, feats=both) == "won"  # window 0 not logged: skipped


def test_empty_nonce() -> None:
    examples = [EXAMPLE, SquadExample("q1", "?", DOC, ("cup",))]
    feats = [FEAT0, _feature(1_000_000_001, 1, 0, TOKENS0, MAP0)]
    # q0: max_answer_length=0 leaves no valid pair; q1: its only feature was never logged
    preds = predict(examples, feats, {0: _logits(15, {5: 1.0}, {6: 1.0})}, max_answer_length=0)
    assert preds == {"q0": "empty", "q1": "empty"}


def test_predict_rejects_nan_and_bad_indices() -> None:
    bad = _logits(15, {5: 1.0}, {6: 1.0})
    bad[3, 0] = np.nan
    with pytest.raises(DataError, match="feature 0 .*NaN"):
        _pred({0: bad})
    # +inf start and -inf ends in the top 20: (5,5) = inf + -inf is a valid NaN score
    inf = np.full((384, 2), -np.inf)
    inf[5, 0] = np.inf
    with pytest.raises(DataError, match="feature 0 .*sum is NaN"):
        _pred({0: inf})
    with pytest.raises(DataError, match="outside the 1 features"):
        _pred({3: _logits(15, {}, {})})
    with pytest.raises(DataError, match="shape"):
        _pred({0: np.zeros((400, 2))})


def test_infinite_logits_follow_python_order() -> None:
    # +inf start with a finite end is a valid +inf score
    assert _pred({0: _logits(15, {9: np.inf}, {10: 1.0})}) == "team won"
    # 384 rows of -inf: ranks are 0..19 in index order, every score is -inf, the first valid
    # pair in append order is (5,5) -> "steve" -> "Steve"
    assert _pred({0: np.full((384, 2), -np.inf)}) == "Steve"
    # 15 rows of -inf: the -10000 padding outranks -inf, so the top 20 are padding -> "empty"
    assert _pred({0: np.full((15, 2), -np.inf)}) == "empty"


# ------------------------------------------------------------------------------ the log


def _write_log(path: Path, items: list[tuple[int, np.ndarray]]) -> Path:
    entries = [AccuracyEntry.from_array(seq, idx, arr) for seq, (idx, arr) in enumerate(items)]
    write_accuracy_log(path, entries)
    return path


def test_read_logits_pads_dtypes_transposed_and_last_duplicate_wins(tmp_path: Path) -> None:
    log = _write_log(
        tmp_path / "a.json",
        [
            (1, np.array([1, 2, 3, 4], dtype=np.int8)),  # rows (1,2),(3,4)
            (0, np.array([7, 7], dtype=np.int8)),
            (1, np.array([5, 6, -128, 127], dtype=np.int8)),  # repeat: this one wins
        ],
    )
    logits, stats = read_logits(log, 2, dtype="int8")
    assert (stats.entries, stats.unique, stats.duplicates) == (3, 2, 1)
    assert logits[1].dtype == np.float64 and logits[1].shape == (384, 2)
    assert logits[1][:2].tolist() == [[5.0, 6.0], [-128.0, 127.0]]
    assert (logits[1][2:] == -10000.0).all() and (logits[0][1:] == -10000.0).all()

    # transposed [start..., end...]: [1, 3, 2, 4] -> rows (1,2),(3,4)
    tlog = _write_log(tmp_path / "t.json", [(0, np.array([1, 3, 2, 4], dtype=np.float16))])
    assert logits_from_log(tlog, 1, dtype="float16", transposed=True)[0][:2].tolist() == [
        [1.0, 2.0],
        [3.0, 4.0],
    ]
    half = logits_from_log(tlog, 1, dtype="float16")
    assert half[0][:2].tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_read_logits_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    write_accuracy_log(empty, [])
    with pytest.raises(DataError, match="no entries"):
        read_logits(empty, 3)
    far = _write_log(tmp_path / "far.json", [(3, np.zeros(4, np.float32))])
    with pytest.raises(DataError, match="outside the 3 SQuAD features"):
        read_logits(far, 3)
    odd = _write_log(tmp_path / "odd.json", [(0, np.zeros(3, np.float32))])
    with pytest.raises(DataError, match="3 float32 values"):
        read_logits(odd, 3)
    long = _write_log(tmp_path / "long.json", [(0, np.zeros(385 * 2, np.float32))])
    with pytest.raises(DataError, match="385 rows"):
        read_logits(long, 3)
    six_bytes = _write_log(tmp_path / "b.json", [(0, np.zeros(3, np.int16))])
    with pytest.raises(DataError, match="not a multiple of 4"):
        read_logits(six_bytes, 3, dtype="float32")
    with pytest.raises(ConfigError, match="bfloat16"):
        read_logits(odd, 3, dtype="bfloat16")


def test_squad_from_log_subset_and_full(tmp_path: Path) -> None:
    examples = [EXAMPLE, SquadExample("q1", "what?", DOC, ("the cup",))]
    feats = [FEAT0, FEAT1, _feature(1_000_000_002, 1, 0, TOKENS0, MAP0)]
    wrong = _logits(15, {9: 5.0}, {9: 5.0})  # "team"
    right = _logits(15, {5: 5.0}, {6: 5.0})  # "Steve Smith"
    log = _write_log(
        tmp_path / "mlperf_log_accuracy.json",
        [(0, wrong), (1, _logits(10, {}, {}, base=-50.0)), (0, right)],  # q0 fully logged
    )
    full = squad_from_log(log, examples, feats)
    # q0 "Steve Smith" exact; q1 never logged -> "empty" -> 0; total 2
    assert full.predictions == {"q0": "Steve Smith", "q1": "empty"}
    assert (full.score.exact_match, full.score.f1, full.score.total) == (50.0, 50.0, 2)
    assert (full.entries, full.features_logged, full.duplicates) == (3, 2, 1)
    assert (full.questions_covered, full.questions_partial, full.questions_total) == (1, 0, 2)
    sub = squad_from_log(log, examples, feats, subset=True)
    assert (sub.score.exact_match, sub.score.f1, sub.score.total) == (100.0, 100.0, 1)
    assert sub.line() == '{"exact_match": 100.0, "f1": 100.0}'

    only_q1_part = _write_log(tmp_path / "p.json", [(2, right)])
    part = squad_from_log(only_q1_part, examples, [FEAT0, FEAT1, feats[2]])
    assert (part.questions_covered, part.questions_partial) == (1, 0)  # q1 has one feature
    partial = squad_from_log(_write_log(tmp_path / "q.json", [(1, right)]), examples, feats)
    assert (partial.questions_covered, partial.questions_partial) == (0, 1)
    with pytest.raises(DataError, match="no question has all its features"):
        squad_from_log(tmp_path / "q.json", examples, feats, subset=True)


def test_write_predictions_json(tmp_path: Path) -> None:
    preds = {"q0": "Steve Smith", "q1": "café “x”"}
    out = tmp_path / "predictions.json"
    write_predictions_json(out, preds)
    assert out.read_text(encoding="utf-8") == json.dumps(preds, indent=4) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.json"]


# ----------------------------------------------------- random cross-check vs a literal loop


def _reference_predict(examples, feats, logits, n_best=20, max_answer_length=30):
    """The official write_predictions restated literally (sorted(), nested loops)."""

    def best_indexes(values):
        ranked = sorted(enumerate(values), key=lambda x: x[1], reverse=True)
        return [i for i, _ in ranked[:n_best]]

    out = {}
    for ei, ex in enumerate(examples):
        prelim = []
        window = [(fi, f) for fi, f in enumerate(feats) if f.example_index == ei]
        for wi, (fi, feat) in enumerate(window):
            if fi not in logits:
                continue
            padded = np.full((384, 2), -10000.0)
            padded[: len(logits[fi])] = logits[fi]
            start, end = padded[:, 0].tolist(), padded[:, 1].tolist()
            for s in best_indexes(start):
                for e in best_indexes(end):
                    if s >= len(feat.tokens) or e >= len(feat.tokens):
                        continue
                    if s not in feat.token_to_orig_map or e not in feat.token_to_orig_map:
                        continue
                    if not feat.token_is_max_context.get(s, False) or e < s:
                        continue
                    if e - s + 1 > max_answer_length:
                        continue
                    prelim.append((wi, s, e, start[s], end[e]))
        prelim.sort(key=lambda p: p[3] + p[4], reverse=True)
        if not prelim:
            out[ex.qas_id] = "empty"
            continue
        wi, s, e = prelim[0][:3]
        feat = window[wi][1]
        tok = " ".join(feat.tokens[s : e + 1]).replace(" ##", "").replace("##", "")
        tok = " ".join(tok.strip().split())
        orig = " ".join(ex.doc_tokens[feat.token_to_orig_map[s] : feat.token_to_orig_map[e] + 1])
        out[ex.qas_id] = get_final_text(tok, orig)
    return out


def test_predict_matches_literal_loop_on_random_ties() -> None:
    rng = np.random.default_rng(7)
    examples, feats, logits = [], [], {}
    for ei in range(40):
        doc = tuple(f"w{ei}x{j}" for j in range(60))
        examples.append(SquadExample(f"q{ei}", "?", doc, (doc[3],)))
        for span in range(3):
            first = span * 20
            tokens = ["[CLS]", "q", "[SEP]"]
            tmap, ctx = {}, {}
            for j in range(first, min(first + 35, 60)):
                tmap[len(tokens)] = j
                ctx[len(tokens)] = bool(rng.integers(0, 4))  # some positions not max context
                tokens.append(doc[j])
            tokens.append("[SEP]")
            fi = len(feats)
            feats.append(SquadFeature(fi, ei, span, tuple(tokens), tmap, ctx))
            if rng.random() < 0.9:
                # few distinct int8 values -> many ties; sometimes a short payload
                rows = int(rng.integers(len(tokens) - 5, len(tokens) + 1))
                logits[fi] = rng.integers(-3, 3, size=(rows, 2)).astype(np.int8)
    for n_best, max_len in ((20, 30), (5, 4), (1, 30)):
        ours = predict(examples, feats, logits, n_best=n_best, max_answer_length=max_len)
        ref = _reference_predict(examples, feats, logits, n_best, max_len)
        assert ours == ref
