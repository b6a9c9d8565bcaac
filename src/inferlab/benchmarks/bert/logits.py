"""Agreement of QA logits between two runs (e.g. bf16 against fp32), at the logit level.

This is a diagnostic for lower-precision or optimized runs, never an accuracy claim: only the
official SQuAD F1/EM over the whole dev set decides bert-99 / bert-99.9.

Inputs are (n, L, 2) start/end logits padded past each row's real length; only the first
``lengths[i]`` positions of row i count, so padding positions may hold anything. Per sample the
real positions' logits (start and end together) are flattened into a vector; then

* cosine similarity of the two vectors (1.0 when both are zero, 0.0 when only one is);
* relative error ``|ref - other| / scale_i`` with ``scale_i = max |ref|`` over the sample's real
  logits (at least 1e-12): a per-element ratio ``|a - b| / |a|`` explodes on logits near zero,
  which carry no meaning for the answer; scaling by the sample's largest logit does not;
* argmax agreement: the argmax start AND the argmax end position both agree;
* span agreement: the best valid span agrees, a span being ``start <= end``,
  ``end - start + 1 <= max_answer_length`` (30, the reference post-processing's limit), both
  within the real positions, scored by ``start_logit + end_logit`` (first best on ties).

Non-finite logits in ``other`` at real positions are counted; they make cosine and errors NaN or
inf, on purpose. Pure numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inferlab.core.errors import DataError

__all__ = ["LogitAgreement", "best_spans", "compare_logits"]

MAX_ANSWER_LENGTH = 30
_SCALE_FLOOR = 1e-12
_FIX = "pass (n, L, 2) logits of the same features in the same order and their real lengths"


@dataclass(frozen=True)
class LogitAgreement:
    """Summary of :func:`compare_logits`. Fractions are in [0, 1]."""

    n_samples: int
    cosine_mean: float
    cosine_min: float
    cosine_min_index: int  # the sample with the lowest cosine (to inspect it)
    max_rel_error: float  # of |ref - other| / max |ref| of the sample, over all real logits
    mean_rel_error: float  # the same, averaged over all real logits
    max_abs_error: float
    argmax_agreement: float  # argmax start and argmax end both equal
    span_agreement: float  # best valid span (start, end) equal
    nonfinite: int  # NaN/inf logits of ``other`` at real positions

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One console line, e.g. ``logits vs reference (n=10833): cosine mean 0.99998 ...``."""
        text = (
            f"logits vs reference (n={self.n_samples}): cosine mean {self.cosine_mean:.5f} "
            f"min {self.cosine_min:.5f} (sample {self.cosine_min_index}), rel. error max "
            f"{self.max_rel_error:.2e} mean {self.mean_rel_error:.2e} (of max |ref|), "
            f"argmax agree {100 * self.argmax_agreement:.2f}%, "
            f"span agree {100 * self.span_agreement:.2f}%"
        )
        if self.nonfinite:
            text += f", {self.nonfinite} non-finite logit(s)"
        return text + " [diagnostic, not an accuracy result]"


def _validate(
    reference: np.ndarray, other: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ref = np.asarray(reference)
    oth = np.asarray(other)
    lens = np.asarray(lengths)
    if ref.ndim != 3 or ref.shape[-1] != 2 or ref.shape[0] == 0 or ref.shape[1] == 0:
        raise DataError(
            f"reference logits have shape {ref.shape}, expected (n > 0, L > 0, 2)", _FIX
        )
    if oth.shape != ref.shape:
        raise DataError(f"logits have shapes {ref.shape} and {oth.shape}, expected equal", _FIX)
    if lens.shape != (ref.shape[0],) or not np.issubdtype(lens.dtype, np.integer):
        raise DataError(
            f"lengths must be {ref.shape[0]} integers, got {lens.dtype} {lens.shape}", _FIX
        )
    if lens.min() < 1 or lens.max() > ref.shape[1]:
        raise DataError(
            f"lengths must be in [1, {ref.shape[1]}], got [{lens.min()}, {lens.max()}]", _FIX
        )
    ref = ref.astype(np.float64)
    lens = lens.astype(np.int64)
    real = np.arange(ref.shape[1])[None, :] < lens[:, None]
    if not np.isfinite(ref[real]).all():
        raise DataError(
            "reference logits contain NaN or inf at real positions",
            "use a reference run (fp32) that produced finite logits",
        )
    return ref, oth.astype(np.float64), lens


def best_spans(
    logits: np.ndarray, lengths: np.ndarray, max_answer_length: int = MAX_ANSWER_LENGTH
) -> np.ndarray:
    """(n, 2) int64 best (start, end) per row of (n, L, 2) logits over the real positions.

    Maximises ``start_logit[s] + end_logit[e]`` over ``s <= e < lengths[i]`` and
    ``e - s + 1 <= max_answer_length``; the first best in (span length, start) order wins."""
    arr = np.asarray(logits, dtype=np.float64)
    lens = np.asarray(lengths, dtype=np.int64)
    n, width, _ = arr.shape
    start, end = arr[..., 0], arr[..., 1]
    best = np.full(n, -np.inf)
    spans = np.zeros((n, 2), dtype=np.int64)
    positions = np.arange(width)
    for offset in range(min(max_answer_length, width)):
        score = start[:, : width - offset] + end[:, offset:]
        valid = positions[None, : width - offset] + offset < lens[:, None]
        score = np.where(valid & ~np.isnan(score), score, -np.inf)
        s = score.argmax(axis=1)
        value = score[np.arange(n), s]
        better = value > best
        best = np.where(better, value, best)
        spans[better] = np.stack([s[better], s[better] + offset], axis=1)
    return spans


def compare_logits(
    reference: np.ndarray,
    other: np.ndarray,
    lengths: np.ndarray,
    *,
    max_answer_length: int = MAX_ANSWER_LENGTH,
) -> LogitAgreement:
    """Compare ``other`` with ``reference`` QA logits, (n, L, 2) each, on real positions only.

    Definitions in the module docstring. Raises :class:`DataError` on mismatched shapes or
    lengths outside [1, L]."""
    ref, oth, lens = _validate(reference, other, lengths)
    n, width, _ = ref.shape
    real = np.arange(width)[None, :] < lens[:, None]  # (n, L)
    real2 = np.repeat(real[..., None], 2, axis=2)  # (n, L, 2)
    a = np.where(real2, ref, 0.0)
    b = np.where(real2, oth, 0.0)

    dot = (a * b).sum(axis=(1, 2))
    norm_a = np.sqrt((a * a).sum(axis=(1, 2)))
    norm_b = np.sqrt((b * b).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = dot / (norm_a * norm_b)
    cosine = np.where((norm_a == 0) & (norm_b == 0), 1.0, cosine)
    cosine = np.where((norm_a == 0) ^ (norm_b == 0), 0.0, cosine)

    scale = np.maximum(np.abs(a).max(axis=(1, 2)), _SCALE_FLOOR)  # (n,)
    rel = np.abs(a - b) / scale[:, None, None]
    rel_real = rel[real2]
    abs_real = np.abs(a - b)[real2]

    def argmax(x: np.ndarray) -> np.ndarray:  # over real positions
        return np.where(real, x, -np.inf).argmax(axis=1)

    start_ok = argmax(ref[..., 0]) == argmax(oth[..., 0])
    end_ok = argmax(ref[..., 1]) == argmax(oth[..., 1])
    span_ok = (
        best_spans(ref, lens, max_answer_length) == best_spans(oth, lens, max_answer_length)
    ).all(axis=1)

    worst = int(np.argmin(np.where(np.isnan(cosine), -np.inf, cosine)))
    return LogitAgreement(
        n_samples=int(n),
        cosine_mean=float(cosine.mean()),
        cosine_min=float(cosine.min()),
        cosine_min_index=worst,
        max_rel_error=float(rel_real.max()),
        mean_rel_error=float(rel_real.mean()),
        max_abs_error=float(abs_real.max()),
        argmax_agreement=float((start_ok & end_ok).mean()),
        span_agreement=float(span_ok.mean()),
        nonfinite=int((~np.isfinite(oth[real2])).sum()),
    )
