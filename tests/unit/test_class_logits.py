"""compare_class_logits on hand-made logits, degenerate references from random-weight ResNets,
and BN recalibration that makes them non-degenerate."""

from __future__ import annotations

import numpy as np
import pytest

from inferlab.core.errors import DataError, ModelError
from inferlab.metrics.class_logits import (
    ClassLogitAgreement,
    compare_class_logits,
    degenerate_reason,
    topk_indices,
)

DIAG = "[diagnostic, not an accuracy result]"


def varied(n: int = 40, classes: int = 20, seed: int = 0) -> np.ndarray:
    """Logits whose argmax cycles through all classes (a non-degenerate reference)."""
    x = np.random.default_rng(seed).standard_normal((n, classes))
    x[np.arange(n), np.arange(n) % classes] += 10.0
    return x


# ---- hand-made logits ------------------------------------------------------------------------


def test_identical_logits() -> None:
    ref = varied()
    agree = compare_class_logits(ref, ref.astype(np.float32))
    assert agree.n_samples == 40 and agree.n_classes == 20 and agree.k == 5
    assert agree.cosine_mean == pytest.approx(1.0) and agree.cosine_min == pytest.approx(1.0)
    assert agree.max_rel_error < 1e-6 and agree.top1_agreement == 1.0
    assert agree.topk_overlap == 1.0 and agree.reference_top1_classes == 20
    assert not agree.degenerate and agree.degenerate_reason is None and agree.nonfinite == 0
    line = agree.line()
    assert line.endswith(DIAG) and "degenerate" not in line and "top-5 overlap 100.00%" in line


def test_scaled_logits_have_cosine_one_and_known_relative_error() -> None:
    ref = varied()
    agree = compare_class_logits(ref, 2 * ref)
    assert agree.cosine_min == pytest.approx(1.0)
    assert agree.max_rel_error == pytest.approx(1.0)  # |ref - 2 ref| / max|ref| = 1 at the max
    assert agree.max_abs_error == pytest.approx(np.abs(ref).max())
    assert agree.top1_agreement == 1.0 and agree.topk_overlap == 1.0


def test_orthogonal_and_opposite_rows() -> None:
    ref = np.eye(4)
    other = np.roll(np.eye(4), 1, axis=1)  # each row's one-hot moved to the next class
    agree = compare_class_logits(ref, other, k=1)
    assert agree.cosine_mean == pytest.approx(0.0) and agree.top1_agreement == 0.0
    agree = compare_class_logits(ref, -ref, k=1)
    assert agree.cosine_min == pytest.approx(-1.0) and agree.max_rel_error == pytest.approx(2.0)


def test_topk_overlap_known_values() -> None:
    ref = np.array([[6.0, 5, 4, 3, 2, 1], [1.0, 2, 3, 4, 5, 6]])
    other = np.array([[6.0, 5, 1, 2, 3, 4], [1.0, 2, 3, 4, 5, 6]])
    # row 0: top-3 {0, 1, 2} vs {0, 1, 5} -> 2/3; row 1: identical -> 1
    agree = compare_class_logits(ref, other, k=3)
    assert agree.topk_overlap == pytest.approx((2 / 3 + 1) / 2)
    assert agree.top1_agreement == 1.0
    assert compare_class_logits(ref, ref[:, ::-1].copy(), k=2).topk_overlap == 0.0
    np.testing.assert_array_equal(topk_indices(ref, 2), [[0, 1], [5, 4]])


def test_zero_rows_cosine_conventions() -> None:
    ref = np.zeros((2, 3))
    other = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    agree = compare_class_logits(ref, other, k=1)
    assert agree.cosine_min == 0.0 and agree.cosine_mean == pytest.approx(0.5)


def test_nonfinite_other_is_counted() -> None:
    ref = varied()
    other = ref.copy()
    other[3, 2] = np.nan
    other[5, 0] = np.inf
    agree = compare_class_logits(ref, other)
    assert agree.nonfinite == 2 and np.isnan(agree.cosine_min)
    assert "2 non-finite logit(s)" in agree.line()


def test_as_dict_round_trips() -> None:
    agree = compare_class_logits(varied(), varied(seed=1))
    facts = agree.as_dict()
    assert ClassLogitAgreement(**facts) == agree
    assert {"cosine_mean", "topk_overlap", "degenerate", "degenerate_reason"} <= set(facts)


@pytest.mark.parametrize(
    ("ref", "other", "k"),
    [
        (np.zeros((0, 5)), np.zeros((0, 5)), 1),
        (np.zeros((3, 0)), np.zeros((3, 0)), 1),
        (np.zeros(5), np.zeros(5), 1),
        (np.zeros((3, 5)), np.zeros((3, 4)), 1),
        (np.zeros((3, 5)), np.zeros((3, 5)), 6),
        (np.zeros((3, 5)), np.zeros((3, 5)), 0),
        (np.array([[1.0, np.nan]]), np.zeros((1, 2)), 1),
        (np.array([[1.0, np.inf]]), np.zeros((1, 2)), 1),
        (np.array([["a", "b"]]), np.zeros((1, 2)), 1),
    ],
    ids=["no-rows", "no-classes", "1d", "shape-mismatch", "k>C", "k0", "nan", "inf", "str"],
)
def test_bad_inputs(ref: np.ndarray, other: np.ndarray, k: int) -> None:
    with pytest.raises(DataError) as info:
        compare_class_logits(ref, other, k=k)
    assert info.value.fix and "\n" not in str(info.value)


def test_degenerate_one_class() -> None:
    ref = varied()
    ref[:, 7] += 100.0  # every sample's top-1 is class 7
    agree = compare_class_logits(ref, ref)
    assert agree.degenerate and agree.reference_top1_classes == 1
    assert agree.top1_agreement == 1.0  # agreement that proves nothing
    assert "1 class(es) over 40 samples, fewer than 10" in (agree.degenerate_reason or "")
    line = agree.line()
    assert line.endswith(f"(degenerate reference: {agree.degenerate_reason}) {DIAG}")


def test_degenerate_constant_logits() -> None:
    row = np.random.default_rng(0).standard_normal(8)
    ref = np.tile(row, (3, 1)) + 1e-9 * np.random.default_rng(1).standard_normal((3, 8))
    # n=3 needs only 1 distinct class: the variation test is what fires
    reason = degenerate_reason(ref)
    assert reason is not None and "barely vary" in reason


def test_required_classes_scale_with_n_and_c() -> None:
    assert degenerate_reason(np.array([[1.0, 0.0]])) is None  # n=1: nothing to require
    two = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.3]])
    assert degenerate_reason(two) is None  # n=2 needs 1 class
    few_classes = varied(n=40, classes=4)  # C=4 needs 2 classes, not 10
    assert degenerate_reason(few_classes) is None
    same = few_classes.copy()
    same[:, 0] += 100
    assert degenerate_reason(same) is not None


# ---- random-weight ResNets -------------------------------------------------------------------

pytest.importorskip("torch")

import torch  # noqa: E402

from inferlab.backends.torch.backend import TorchBackend  # noqa: E402
from inferlab.backends.torch.config import TorchBackendConfig  # noqa: E402
from inferlab.benchmarks.resnet50.model import build_resnet50  # noqa: E402
from inferlab.models.fuse import recalibrate_batchnorm  # noqa: E402


def tiny(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_resnet50(100, width=8, layers=(1, 1, 1, 1)).eval()


def images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def logits(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(x).numpy()


def test_random_tiny_resnet_is_degenerate() -> None:
    """Measured: 4 distinct top-1 classes of 100 over 64 random images (seed 0)."""
    ref = logits(tiny(), images(64, seed=2))
    agree = compare_class_logits(ref, ref)
    assert agree.degenerate and agree.reference_top1_classes < 10, agree.line()


def test_random_full_resnet50_puts_every_image_in_one_class() -> None:
    torch.manual_seed(0)
    ref = logits(build_resnet50(), images(20, seed=2, size=64))
    agree = compare_class_logits(ref, ref)
    assert agree.degenerate and agree.reference_top1_classes <= 2, agree.line()


def test_recalibrated_tiny_resnet_is_not_degenerate() -> None:
    model = recalibrate_batchnorm(tiny(), images(128, seed=1))
    assert not model.training
    bn = model.get_submodule("layer4.0.bn3")
    assert isinstance(bn, torch.nn.BatchNorm2d) and bn.num_batches_tracked is not None
    assert bn.momentum == 0.1 and int(bn.num_batches_tracked) == 4  # 128 / 32 batches
    ref = logits(model, images(64, seed=2))
    agree = compare_class_logits(ref, ref)
    assert not agree.degenerate and agree.reference_top1_classes >= 10, agree.line()


def test_recalibrate_accepts_batches_and_rejects_batch_size_one() -> None:
    model = recalibrate_batchnorm(tiny(), [images(8, seed=1), images(8, seed=3)])
    bn = model.get_submodule("bn1")
    assert isinstance(bn, torch.nn.BatchNorm2d) and bn.num_batches_tracked is not None
    assert int(bn.num_batches_tracked) == 2
    with pytest.raises(ModelError, match="batch_size >= 2"):
        recalibrate_batchnorm(tiny(), images(8, seed=1), batch_size=1)


def test_bf16_cpu_agrees_with_fp32_on_recalibrated_tiny_resnet() -> None:
    model = recalibrate_batchnorm(tiny(), images(128, seed=1))
    x = images(64, seed=2).numpy()
    ref = TorchBackend(model, TorchBackendConfig(max_batch=64), random_weights=True).predict(x)
    model = recalibrate_batchnorm(tiny(), images(128, seed=1))
    cfg = TorchBackendConfig(dtype="bf16", max_batch=64)
    out = TorchBackend(model, cfg, random_weights=True).predict(x)
    agree = compare_class_logits(ref, out)
    assert not agree.degenerate, agree.line()
    # measured: cosine min 0.997, top-5 overlap 0.95, top-1 agreement 0.98
    assert agree.cosine_min >= 0.99 and agree.topk_overlap >= 0.85, agree.line()
    assert agree.top1_agreement >= 0.85, agree.line()


def test_recalibrate_standardises_the_classifier() -> None:
    calibration = images(128, seed=1)
    model = recalibrate_batchnorm(tiny(), calibration, classifier="fc")
    z = torch.from_numpy(logits(model, calibration)).double()
    assert float(z.mean(dim=0).abs().max()) < 1e-4
    assert float((z.std(dim=0) - 1).abs().max()) < 1e-4
    ref = logits(model, images(64, seed=2))
    agree = compare_class_logits(ref, ref)
    assert not agree.degenerate and agree.reference_top1_classes >= 20, agree.line()
    for name in ("layer4", "nope"):
        with pytest.raises(ModelError, match="nn.Linear"):
            recalibrate_batchnorm(tiny(), calibration, classifier=name)
