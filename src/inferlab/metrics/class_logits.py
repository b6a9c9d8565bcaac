"""Agreement of classification logits between two runs (e.g. bf16 or a compiled model against
fp32 eager), at the logit level.

A diagnostic for lower-precision or optimized runs, never an accuracy claim: only top-1 over
the whole validation set decides an image classifier. Inputs are (n, C) logits of the same
samples in the same order. Per sample:

* cosine similarity of the two logit vectors (1.0 when both are zero, 0.0 when only one is);
* relative error ``|ref - other| / scale_i``, ``scale_i = max |ref|`` over the sample's logits
  (at least 1e-12), as in the span-logit comparison of the question-answering benchmark;
* top-1 agreement (argmax equal) and top-k overlap ``|topk(ref) & topk(other)| / k``.

The reference is *degenerate* when its predictions hardly depend on the input, so agreement
proves little: a random-weight CNN with untouched BatchNorm statistics puts every image
in the same class, and any "optimized" model that does the same agrees 100%. Two signs:

* fewer distinct top-1 classes than ``min(10, n // 2, (C + 1) // 2)``;
* (n >= 2) the median over classes of the logit's standard deviation across samples is below
  ``1e-4`` of ``max |ref|``: the logits barely change from one input to the next.

Non-finite logits in ``other`` are counted; they make cosine and errors NaN or inf, on
purpose. Pure numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inferlab.core.errors import DataError

__all__ = ["ClassLogitAgreement", "compare_class_logits", "degenerate_reason", "topk_indices"]

MAX_REQUIRED_CLASSES = 10
STD_RATIO_FLOOR = 1e-4
_SCALE_FLOOR = 1e-12
_FIX = "pass (n, C) logits of the same samples in the same order"


@dataclass(frozen=True)
class ClassLogitAgreement:
    """Summary of :func:`compare_class_logits`. Fractions are in [0, 1]."""

    n_samples: int
    n_classes: int
    k: int
    cosine_mean: float
    cosine_min: float
    cosine_min_index: int  # the sample with the lowest cosine (to inspect it)
    max_rel_error: float  # of |ref - other| / max |ref| of the sample, over all logits
    mean_rel_error: float
    max_abs_error: float
    top1_agreement: float
    topk_overlap: float  # mean |topk(ref) & topk(other)| / k
    reference_top1_classes: int  # distinct argmax classes of the reference
    reference_std_ratio: float  # median per-class std across samples / max |ref|
    nonfinite: int  # NaN/inf logits of ``other``
    degenerate: bool
    degenerate_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One console line, e.g. ``class logits vs reference (n=64, C=1000): cosine ...``."""
        text = (
            f"class logits vs reference (n={self.n_samples}, C={self.n_classes}): cosine mean "
            f"{self.cosine_mean:.5f} min {self.cosine_min:.5f} (sample {self.cosine_min_index}), "
            f"rel. error max {self.max_rel_error:.2e} mean {self.mean_rel_error:.2e} "
            f"(of max |ref|), top-1 agree {100 * self.top1_agreement:.2f}%, "
            f"top-{self.k} overlap {100 * self.topk_overlap:.2f}%, "
            f"reference top-1 over {self.reference_top1_classes} class(es)"
        )
        if self.nonfinite:
            text += f", {self.nonfinite} non-finite logit(s)"
        if self.degenerate:
            text += f" (degenerate reference: {self.degenerate_reason})"
        return text + " [diagnostic, not an accuracy result]"


def _validate(reference: Any, other: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference)
    oth = np.asarray(other)
    if ref.ndim != 2 or ref.shape[0] == 0 or ref.shape[1] == 0:
        raise DataError(f"reference logits have shape {ref.shape}, expected (n > 0, C > 0)", _FIX)
    if oth.shape != ref.shape:
        raise DataError(f"logits have shapes {ref.shape} and {oth.shape}, expected equal", _FIX)
    for name, arr in (("reference", ref), ("other", oth)):
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise DataError(f"{name} logits have dtype {arr.dtype}, expected numbers", _FIX)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= ref.shape[1]:
        raise DataError(
            f"k must be an integer in [1, {ref.shape[1]}] (the number of classes), got {k!r}",
            "use k=5 (top-5) or k=1",
        )
    ref = ref.astype(np.float64)
    if not np.isfinite(ref).all():
        raise DataError(
            "reference logits contain NaN or inf",
            "use a reference run (fp32 eager) that produced finite logits",
        )
    return ref, oth.astype(np.float64)


def topk_indices(logits: np.ndarray, k: int) -> np.ndarray:
    """(n, k) class indices of the k largest logits per row, largest first (NaN ranks last)."""
    arr = np.asarray(logits, dtype=np.float64)
    keyed = np.where(np.isnan(arr), -np.inf, arr)
    return np.argsort(-keyed, axis=1, kind="stable")[:, :k]


def degenerate_reason(reference: np.ndarray) -> str | None:
    """Why (n, C) reference logits are degenerate (module docstring), or None if they are not."""
    ref = np.asarray(reference, dtype=np.float64)
    n, classes = ref.shape
    distinct = len(np.unique(ref.argmax(axis=1)))
    required = min(MAX_REQUIRED_CLASSES, n // 2, (classes + 1) // 2)
    if distinct < required:
        return (
            f"its top-1 is one of {distinct} class(es) over {n} samples, fewer than {required}; "
            "with random weights recalibrate BatchNorm first"
        )
    if n >= 2:
        ratio = _std_ratio(ref)
        if ratio < STD_RATIO_FLOOR:
            return (
                f"its logits barely vary across samples (median per-class std {ratio:.1e} of "
                "max |logit|)"
            )
    return None


def _std_ratio(ref: np.ndarray) -> float:
    if ref.shape[0] < 2:
        return 0.0
    scale = max(float(np.abs(ref).max()), _SCALE_FLOOR)
    return float(np.median(ref.std(axis=0)) / scale)


def compare_class_logits(reference: Any, other: Any, k: int = 5) -> ClassLogitAgreement:
    """Compare ``other`` with ``reference`` classification logits, (n, C) each.

    Definitions in the module docstring. Raises :class:`DataError` on mismatched or empty
    shapes, ``k`` outside [1, C], or non-finite reference logits."""
    ref, oth = _validate(reference, other, k)
    n, classes = ref.shape
    k = int(k)

    dot = (ref * oth).sum(axis=1)
    norm_a = np.sqrt((ref * ref).sum(axis=1))
    norm_b = np.sqrt((oth * oth).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        cosine = dot / (norm_a * norm_b)
        cosine = np.where((norm_a == 0) & (norm_b == 0), 1.0, cosine)
        cosine = np.where((norm_a == 0) ^ (norm_b == 0), 0.0, cosine)
        diff = np.abs(ref - oth)
        scale = np.maximum(np.abs(ref).max(axis=1), _SCALE_FLOOR)
        rel = diff / scale[:, None]

    top_ref = topk_indices(ref, k)
    top_oth = topk_indices(oth, k)
    overlap = (top_ref[:, :, None] == top_oth[:, None, :]).any(axis=2).sum(axis=1) / k
    reason = degenerate_reason(ref)
    worst = int(np.argmin(np.where(np.isnan(cosine), -np.inf, cosine)))
    return ClassLogitAgreement(
        n_samples=int(n),
        n_classes=int(classes),
        k=k,
        cosine_mean=float(cosine.mean()),
        cosine_min=float(cosine.min()),
        cosine_min_index=worst,
        max_rel_error=float(rel.max()),
        mean_rel_error=float(rel.mean()),
        max_abs_error=float(diff.max()),
        top1_agreement=float((top_ref[:, 0] == top_oth[:, 0]).mean()),
        topk_overlap=float(overlap.mean()),
        reference_top1_classes=len(np.unique(ref.argmax(axis=1))),
        reference_std_ratio=_std_ratio(ref),
        nonfinite=int((~np.isfinite(oth)).sum()),
        degenerate=reason is not None,
        degenerate_reason=reason,
    )
