"""compare_logits / best_spans on hand-made QA logits with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inferlab.benchmarks.bert.logits import LogitAgreement, best_spans, compare_logits
from inferlab.core.errors import DataError


def logits(*rows: list[list[float]], width: int | None = None) -> np.ndarray:
    """(n, width, 2) from per-sample [[start, end], ...] rows, zero padded."""
    width = width or max(len(r) for r in rows)
    out = np.zeros((len(rows), width, 2), dtype=np.float32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def test_identical_logits() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(5, 16, 2)).astype(np.float32)
    lengths = np.array([16, 3, 9, 1, 12])
    got = compare_logits(ref, ref.copy(), lengths)
    assert got.n_samples == 5
    assert got.cosine_mean == pytest.approx(1.0) and got.cosine_min == pytest.approx(1.0)
    assert got.max_rel_error == 0 and got.mean_rel_error == 0 and got.max_abs_error == 0
    assert got.argmax_agreement == 1 and got.span_agreement == 1 and got.nonfinite == 0


def test_padding_positions_are_ignored() -> None:
    ref = logits([[1, 0], [0, 2], [3, 1]], width=6)
    other = ref.copy()
    other[0, 3:] = [[1e6, -1e6], [np.nan, np.inf], [-np.inf, 5e5]]  # past length 3
    got = compare_logits(ref, other, np.array([3]))
    assert got.cosine_min == pytest.approx(1.0) and got.max_abs_error == 0
    assert got.argmax_agreement == 1 and got.span_agreement == 1 and got.nonfinite == 0


def test_known_cosine_error_and_a_flipped_end_argmax() -> None:
    # real logits flattened: ref (1, 0, 0, 1), other (1, 1, 0, 1)
    ref = logits([[1, 0], [0, 1]])
    other = logits([[1, 1], [0, 1]])
    got = compare_logits(ref, other, np.array([2]))
    assert got.cosine_min == pytest.approx(2 / math.sqrt(6))
    assert got.max_rel_error == pytest.approx(1.0)  # |0 - 1| / max|ref| = 1
    assert got.mean_rel_error == pytest.approx(0.25)
    assert got.max_abs_error == pytest.approx(1.0)
    # end argmax: ref position 1, other ties at 0 and 1 -> first (0): disagree
    assert got.argmax_agreement == 0
    # best span: ref (0, 1) scores 2; other (0, 0) and (0, 1) both score 2 -> shortest first
    assert best_spans(ref, np.array([2])).tolist() == [[0, 1]]
    assert best_spans(other, np.array([2])).tolist() == [[0, 0]]
    assert got.span_agreement == 0


def test_argmax_and_span_agreement_fractions() -> None:
    base = [[0, 0], [5, 1], [1, 6], [0, 0]]
    flipped = [[5.5, 0], [5, 1], [1, 6], [0, 0]]  # start argmax moves 1 -> 0
    ref = logits(base, base, base, base)
    other = logits(base, flipped, base, base)
    got = compare_logits(ref, other, np.array([4, 4, 4, 4]))
    assert got.argmax_agreement == pytest.approx(0.75)
    # span (0, 2) scores 5.5 + 6 > (1, 2)'s 11: the span moves too
    assert got.span_agreement == pytest.approx(0.75)
    assert got.cosine_min_index == 1


def test_span_can_agree_when_argmax_does_not() -> None:
    # the end argmax (position 0) lies before the start argmax: not a valid span, so the best
    # valid span is decided elsewhere and may agree while the argmax does not
    ref = logits([[0, 9], [8, 0], [0, 3]])
    other = logits([[0, 2], [8, 0], [0, 3]])
    got = compare_logits(ref, other, np.array([3]))
    assert got.argmax_agreement == 0
    assert best_spans(ref, np.array([3])).tolist() == [[1, 2]]
    assert got.span_agreement == 1


def test_best_span_respects_length_limit_and_real_positions() -> None:
    width = 40
    row = np.zeros((width, 2))
    row[0, 0] = 10  # best start
    row[35, 1] = 10  # best end, 36 tokens away: too long
    row[20, 1] = 4
    row[38, 1] = 50  # a huge end logit in the padding (length 36)
    spans = best_spans(row[None], np.array([36]))
    assert spans.tolist() == [[0, 20]]
    assert best_spans(row[None], np.array([36]), max_answer_length=36).tolist() == [[0, 35]]


def test_relative_error_is_robust_to_near_zero_logits() -> None:
    ref = logits([[10.0, 1e-9], [-4.0, 2.0]])
    other = logits([[10.0, 2e-9], [-4.0, 2.0]])  # elementwise relative error would be 1.0
    got = compare_logits(ref, other, np.array([2]))
    assert got.max_rel_error == pytest.approx(1e-10)
    assert got.argmax_agreement == 1


def test_zero_vectors() -> None:
    zero = np.zeros((2, 3, 2))
    other = zero.copy()
    other[1, 0, 0] = 1.0
    got = compare_logits(zero, other, np.array([3, 3]))
    assert got.cosine_mean == pytest.approx(0.5)  # both zero -> 1, one zero -> 0
    assert got.cosine_min == 0 and got.cosine_min_index == 1


def test_nonfinite_other_is_loud() -> None:
    ref = logits([[1, 2], [3, 4]])
    other = ref.copy()
    other[0, 1, 0] = np.nan
    got = compare_logits(ref, other, np.array([2]))
    assert got.nonfinite == 1 and math.isnan(got.cosine_mean)
    assert "1 non-finite" in got.line()


def test_as_dict_and_line() -> None:
    got = compare_logits(logits([[1, 2], [3, 4]]), logits([[1, 2], [3, 4.5]]), np.array([2]))
    assert isinstance(got, LogitAgreement)
    d = got.as_dict()
    assert set(d) >= {"cosine_mean", "max_rel_error", "argmax_agreement", "span_agreement"}
    assert d["n_samples"] == 1
    line = got.line()
    assert "\n" not in line and "cosine mean" in line and "not an accuracy" in line


@pytest.mark.parametrize(
    ("ref", "other", "lengths", "match"),
    [
        (np.zeros((2, 4, 2)), np.zeros((2, 5, 2)), np.array([1, 1]), "shapes"),
        (np.zeros((2, 4)), np.zeros((2, 4)), np.array([1, 1]), "expected"),
        (np.zeros((2, 4, 2)), np.zeros((2, 4, 2)), np.array([1]), "lengths must be 2"),
        (np.zeros((2, 4, 2)), np.zeros((2, 4, 2)), np.array([1.0, 2.0]), "integers"),
        (np.zeros((2, 4, 2)), np.zeros((2, 4, 2)), np.array([0, 2]), r"in \[1, 4\]"),
        (np.zeros((2, 4, 2)), np.zeros((2, 4, 2)), np.array([1, 5]), r"in \[1, 4\]"),
        (np.full((1, 4, 2), np.nan), np.zeros((1, 4, 2)), np.array([2]), "reference logits"),
    ],
)
def test_bad_inputs(ref: np.ndarray, other: np.ndarray, lengths: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        compare_logits(ref, other, lengths)
