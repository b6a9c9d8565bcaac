"""RetinaNet post-processing: anchors (derived by hand), box coding, class-wise NMS against a
brute-force numpy greedy NMS, the detection step against a loop written like the reference's
``postprocess_detections``, and the accuracy-log rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from inferlab.benchmarks.retinanet.postprocess import (  # noqa: E402
    DetectionParams,
    anchor_sizes,
    anchors_for,
    batched_nms,
    batched_nms_torch,
    cell_anchors,
    clip_boxes,
    decode_boxes,
    detect,
    encode_boxes,
    have_torchvision,
    level_strides,
    payload_rows,
)

GRIDS_800 = [(100, 100), (50, 50), (25, 25), (13, 13), (7, 7)]


# ---- a brute-force reference NMS ----------------------------------------------------------


def np_batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, thr: float):
    """Greedy NMS per class, as torchvision's CPU kernel: visit by score descending (stable
    here), keep a box unless suppressed, suppress later same-class boxes with IoU > thr; IoU in
    float32 (inter / (area_i + area_j - inter)) compared with thr in float64."""
    boxes = np.asarray(boxes, dtype=np.float32)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1 :]
        rest = rest[~suppressed[rest] & (classes[rest] == classes[i])]
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(invalid="ignore"):  # 0 / 0 for two empty boxes: NaN, not > thr
            iou = inter / (area[i] + area[rest] - inter)
        suppressed[rest[iou.astype(np.float64) > thr]] = True
    return np.array(keep, dtype=np.int64)


def random_boxes(rng: np.random.Generator, n: int, ties: bool) -> tuple[np.ndarray, ...]:
    xy = rng.uniform(0, 60, size=(n, 2))
    wh = rng.uniform(2, 40, size=(n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    if n > 4:
        boxes[n // 2] = boxes[0]  # an exact duplicate
    if ties:
        scores = rng.choice(np.arange(1, 9, dtype=np.float32) / 10, size=n)
    else:
        scores = rng.uniform(0, 1, size=n).astype(np.float32)
    classes = rng.integers(0, 4, size=n)
    return boxes, scores, classes


def own(boxes, scores, classes, thr, **kw) -> np.ndarray:
    out = batched_nms_torch(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), thr, **kw
    )
    assert out.dtype == torch.int64
    return out.numpy()


@pytest.mark.parametrize("thr", [0.5, 0.3, 0.7, 0.1])
@pytest.mark.parametrize("ties", [False, True])
def test_own_batched_nms_equals_brute_force(thr: float, ties: bool) -> None:
    rng = np.random.default_rng(int(thr * 10) + 100 * ties)
    for n in (1, 2, 5, 37, 150, 400):
        boxes, scores, classes = random_boxes(rng, n, ties)
        want = np_batched_nms(boxes, scores, classes, thr)
        np.testing.assert_array_equal(own(boxes, scores, classes, thr), want)
        np.testing.assert_array_equal(own(boxes, scores, classes, thr, chunk=7), want)


def test_iou_exactly_at_the_threshold_is_kept() -> None:
    boxes = np.array([[0, 0, 4, 4], [0, 0, 4, 2], [0, 0, 4, 2.25]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    classes = np.zeros(3, dtype=np.int64)
    # IoU(0, 1) = 8 / 16 = 0.5 exactly: kept; IoU(0, 2) = 9 / 16 > 0.5: suppressed
    assert own(boxes, scores, classes, 0.5).tolist() == [0, 1]
    assert np_batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 1]


def test_greedy_semantics_a_suppressed_box_suppresses_nothing() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    classes = np.zeros(3, dtype=np.int64)
    # B overlaps A and C (IoU 1/3 > 0.3); A suppresses B, so C stays
    assert own(boxes, scores, classes, 0.3).tolist() == [0, 2]
    # a long chain (the fixed point needs many sweeps): every 4th box survives
    n = 200
    x = np.arange(n, dtype=np.float32)
    chain = np.stack([x, np.zeros(n), x + 10, np.full(n, 10)], axis=1).astype(np.float32)
    chain_scores = np.linspace(1, 0.1, n).astype(np.float32)
    got = own(chain, chain_scores, np.zeros(n, dtype=np.int64), 0.5)
    assert got.tolist() == list(range(0, n, 4))


def test_classes_never_suppress_each_other_and_order_is_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10]] * 3, dtype=np.float32)
    scores = np.array([0.2, 0.9, 0.5], dtype=np.float32)
    assert own(boxes, scores, np.array([0, 1, 2]), 0.5).tolist() == [1, 2, 0]
    assert own(boxes, scores, np.array([0, 0, 0]), 0.5).tolist() == [1]
    # equal scores: index order (stable)
    same = np.full(3, 0.5, dtype=np.float32)
    assert own(boxes, same, np.array([2, 1, 0]), 0.5).tolist() == [0, 1, 2]
    empty = own(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5)
    assert empty.shape == (0,)


@pytest.mark.skipif(not have_torchvision(), reason="torchvision does not import here")
def test_torchvision_batched_nms_agrees_without_ties() -> None:
    from torchvision.ops import batched_nms as tv_batched_nms

    rng = np.random.default_rng(7)
    for n in (10, 300, 1500):  # torchvision switches from the offset trick at 1000 boxes
        boxes, scores, classes = random_boxes(rng, n, ties=False)
        tb, ts, tc = map(torch.from_numpy, (boxes, scores, classes))
        want = tv_batched_nms(tb, ts, tc, 0.5).numpy()
        np.testing.assert_array_equal(own(boxes, scores, classes, 0.5), want)
        np.testing.assert_array_equal(batched_nms(tb, ts, tc, 0.5).numpy(), want)


def test_batched_nms_dispatch() -> None:
    b = torch.tensor([[0.0, 0, 1, 1]])
    s, c = torch.tensor([0.5]), torch.tensor([0])
    assert batched_nms(b, s, c, 0.5, impl="torch").tolist() == [0]
    if not have_torchvision():
        with pytest.raises(RuntimeError, match="torchvision"):
            batched_nms(b, s, c, 0.5, impl="torchvision")


# ---- anchors ---------------------------------------------------------------------------------


def test_anchor_sizes_and_count_for_800() -> None:
    assert anchor_sizes() == (
        (32, 40, 50),
        (64, 80, 101),
        (128, 161, 203),
        (256, 322, 406),
        (512, 645, 812),
    )
    assert level_strides((800, 800), GRIDS_800) == [
        (8, 8),
        (16, 16),
        (32, 32),
        (61, 61),
        (114, 114),
    ]
    anchors = anchors_for((800, 800), GRIDS_800)
    assert (100**2 + 50**2 + 25**2 + 13**2 + 7**2) * 9 == 120_087
    assert tuple(anchors.shape) == (120_087, 4) and anchors.dtype == torch.float32
    assert DetectionParams().anchors_per_location == 9


def test_cell_anchors_by_hand() -> None:
    # ratio 0.5: w = size * sqrt(2), h = size / sqrt(2); corners +-w/2, +-h/2 rounded
    # 32: 45.25/2 = 22.6 -> 23, 22.63/2 = 11.3 -> 11; 40: 28.3 -> 28, 14.1 -> 14;
    # 50: 35.4 -> 35, 17.7 -> 18; ratio 1: +-16, 20, 25; ratio 2: the transposes
    level0 = [
        [-23, -11, 23, 11],
        [-28, -14, 28, 14],
        [-35, -18, 35, 18],
        [-16, -16, 16, 16],
        [-20, -20, 20, 20],
        [-25, -25, 25, 25],
        [-11, -23, 11, 23],
        [-14, -28, 14, 28],
        [-18, -35, 18, 35],
    ]
    assert cell_anchors((32, 40, 50), (0.5, 1.0, 2.0), "cpu").tolist() == level0
    # ratio 1 rows: size / 2 rounded half to even (101 -> 50, 161 -> 80, 203 -> 102, 645 -> 322)
    halves = {1: [32, 40, 50], 2: [64, 80, 102], 3: [128, 161, 203], 4: [256, 322, 406]}
    for level, want in halves.items():
        cells = cell_anchors(anchor_sizes()[level], (0.5, 1.0, 2.0), "cpu")
        assert cells[3:6, 2].tolist() == want


def test_anchor_positions_and_order() -> None:
    anchors = anchors_for((800, 800), GRIDS_800)
    # position (y=0, x=0) of P3: the nine cell anchors; (0, 1): shifted by stride 8 in x
    assert anchors[0].tolist() == [-23, -11, 23, 11]
    assert anchors[9].tolist() == [-15, -11, 31, 11]
    assert anchors[100 * 9].tolist() == [-23, -3, 23, 19]  # (y=1, x=0)
    p6 = (100**2 + 50**2 + 25**2) * 9
    assert anchors[p6].tolist() == [-181, -91, 181, 91]  # level 3 sizes 256.., ratio 0.5
    assert anchors[p6 + 9].tolist() == [-181 + 61, -91, 181 + 61, 91]  # stride 800 // 13 = 61
    # the last: P7 position (6, 6), shift 6 * 114 = 684, ratio 2 size 812 (+-287, +-574)
    assert anchors[-1].tolist() == [684 - 287, 684 - 574, 684 + 287, 684 + 574]


# ---- box coding --------------------------------------------------------------------------------


def test_decode_inverts_encode_and_clamps() -> None:
    g = torch.Generator().manual_seed(3)
    anchors = torch.rand(50, 2, generator=g) * 500
    anchors = torch.cat([anchors, anchors + 10 + torch.rand(50, 2, generator=g) * 200], dim=1)
    boxes = torch.rand(50, 2, generator=g) * 500
    boxes = torch.cat([boxes, boxes + 5 + torch.rand(50, 2, generator=g) * 300], dim=1)
    codes = encode_boxes(boxes, anchors)
    torch.testing.assert_close(decode_boxes(codes, anchors), boxes, rtol=0, atol=1e-3)
    big = decode_boxes(torch.tensor([[0.0, 0.0, 20.0, 20.0]]), torch.tensor([[0.0, 0, 16, 16]]))
    # dw, dh clamped at log(1000 / 16): the box is at most 1000 wide, around the centre (8, 8)
    assert big[0].tolist() == pytest.approx([8 - 500, 8 - 500, 8 + 500, 8 + 500], abs=1e-3)
    assert math.isclose(math.log(1000 / 16), DetectionParams().bbox_xform_clip)
    clipped = clip_boxes(torch.tensor([[-5.0, 3.0, 900.0, 810.0]]), (800, 700))
    assert clipped.tolist() == [[0.0, 3.0, 700.0, 800.0]]


# ---- the detection step against a loop written like the reference's ---------------------------


def ref_decode(rel: torch.Tensor, boxes: torch.Tensor, clip: float) -> torch.Tensor:
    """BoxCoder.decode_single of utils.py, weights (1, 1, 1, 1)."""
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    dx, dy = rel[:, 0::4] / 1.0, rel[:, 1::4] / 1.0
    dw = torch.clamp(rel[:, 2::4] / 1.0, max=clip)
    dh = torch.clamp(rel[:, 3::4] / 1.0, max=clip)
    px = dx * widths[:, None] + ctr_x[:, None]
    py = dy * heights[:, None] + ctr_y[:, None]
    pw = torch.exp(dw) * widths[:, None]
    ph = torch.exp(dh) * heights[:, None]
    cw, ch = torch.tensor(0.5) * pw, torch.tensor(0.5) * ph
    return torch.stack((px - cw, py - ch, px + cw, py + ch), dim=2).flatten(1)


def ref_detect(cls, reg, anchors, levels, size, p: DetectionParams) -> list[np.ndarray]:
    """retinanet.py postprocess_detections, one image at a time, numpy NMS."""
    out = []
    for i in range(cls.shape[0]):
        boxes_l, scores_l, labels_l, start = [], [], [], 0
        for n in levels:
            logits, rel, anc = (
                cls[i, start : start + n],
                reg[i, start : start + n],
                anchors[start : start + n],
            )
            start += n
            k = logits.shape[-1]
            scores = torch.sigmoid(logits).flatten()
            keep = scores > p.score_thresh
            scores = scores[keep]
            idxs = torch.where(keep)[0]
            scores, top = scores.topk(min(p.topk_candidates, idxs.size(0)))
            idxs = idxs[top]
            anchor_idx = torch.div(idxs, k, rounding_mode="floor")
            boxes = ref_decode(rel[anchor_idx], anc[anchor_idx], p.bbox_xform_clip)
            bx = boxes[:, 0::2].clamp(min=0, max=size[1])
            by = boxes[:, 1::2].clamp(min=0, max=size[0])
            boxes_l.append(torch.stack((bx, by), dim=2).reshape(boxes.shape))
            scores_l.append(scores)
            labels_l.append(idxs % k)
        boxes, scores, labels = (torch.cat(t).numpy() for t in (boxes_l, scores_l, labels_l))
        keep = np_batched_nms(boxes, scores, labels, p.nms_thresh)[: p.detections_per_img]
        rows = np.concatenate([boxes[keep], scores[keep, None], labels[keep, None]], axis=1)
        out.append(rows.astype(np.float32))
    return out


@pytest.mark.parametrize("nms", ["torch", "auto"])
def test_detect_equals_the_reference_loop(nms: str) -> None:
    size, grids, k = (64, 64), [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)], 5
    p = DetectionParams(topk_candidates=60, detections_per_img=40)
    anchors = anchors_for(size, grids, p)
    levels = [h * w * 9 for h, w in grids]
    total = sum(levels)
    g = torch.Generator().manual_seed(11)
    batch = 3
    # distinct scores (no ties to break): a permutation of evenly spaced logits in [-6, 0]
    cls = torch.stack([torch.randperm(total * k, generator=g) for _ in range(batch)]).float()
    cls = (cls * (6.0 / (total * k)) - 6.0).reshape(batch, total, k)
    reg = torch.randn(batch, total, 4, generator=g) * 0.5
    got = detect(cls, reg, anchors, levels, size, p, nms=nms)  # type: ignore[arg-type]
    want = ref_detect(cls, reg, anchors, levels, size, p)
    assert tuple(got.shape) == (batch, 40, 6)
    for b in range(batch):
        n = len(want[b])
        assert n > 0
        np.testing.assert_array_equal(got[b, :n].numpy(), want[b])
        assert torch.all(got[b, n:] == 0)
    # one level's candidates capped at topk: with a cap of 1 at most 5 boxes reach the NMS
    few = detect(cls, reg, anchors, levels, size, DetectionParams(topk_candidates=1), nms=nms)  # type: ignore[arg-type]
    assert int((few[0, :, 4] > 0).sum()) <= 5


def test_detect_keeps_nothing_below_the_threshold() -> None:
    size, grids = (32, 32), [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]
    levels = [h * w * 9 for h, w in grids]
    cls = torch.full((2, sum(levels), 3), -4.0)  # sigmoid(-4) = 0.018
    cls[1, 0, 2] = 0.0  # one box of class 2, score 0.5
    reg = torch.zeros(2, sum(levels), 4)
    out = detect(cls, reg, anchors_for(size, grids), levels, size)
    assert torch.all(out[0] == 0)
    assert out[1, 0].tolist() == [0.0, 0.0, 23.0, 11.0, 0.5, 2.0]  # anchor 0 clipped to 32x32
    assert torch.all(out[1, 1:] == 0)


# ---- accuracy-log rows ------------------------------------------------------------------------


def test_payload_rows_layout() -> None:
    det = np.array(
        [
            [80.0, 40.0, 400.0, 800.0, 0.9, 3.0],
            [0.5, 1.5, 2.5, 3.5, 0.3, 263.0],
            [1.0, 1.0, 2.0, 2.0, 0.04, 1.0],  # below 0.05: the reference stops here
            [1.0, 1.0, 2.0, 2.0, 0.6, 1.0],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ],
        dtype=np.float32,
    )
    rows = payload_rows(17, det)
    assert rows.dtype == np.float32 and rows.shape == (2, 7)
    assert rows[0].tolist() == pytest.approx([17, 0.05, 0.1, 1.0, 0.5, 0.9, 3])
    f = np.float32
    assert rows[1, 1] == f(1.5) / f(800) and rows[1, 2] == f(0.5) / f(800)
    assert rows[1, 3] == f(3.5) / f(800) and rows[1, 4] == f(2.5) / f(800)
    assert rows[1, 6] == 263.0
    padded = np.zeros((300, 6), dtype=np.float32)
    assert payload_rows(3, padded).shape == (0, 7)
    assert payload_rows(3, padded).tobytes() == b""
    other = payload_rows(3, det[:1], height=400, width=200)[0, 1:5].tolist()
    assert other == pytest.approx([0.1, 0.4, 2.0, 2.0])
