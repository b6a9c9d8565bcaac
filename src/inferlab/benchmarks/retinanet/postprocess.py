"""RetinaNet post-processing as the MLPerf reference runs it: anchors, box decoding, per-level
top-k, class-wise NMS, and the accuracy-log rows.

The reference network is the MLCommons training RetinaNet (``single_stage_detector/ssd/model/``
of mlcommons/training, a copy of torchvision's detection code of 2021); every constant below
names the line it comes from (``retinanet.py`` etc. mean that folder; docs/retinanet-model.md
lists them). The accuracy-log layout is ``PostProcessOpenImagesRetinanet`` in
``vision/classification_and_detection/python/openimages.py`` of mlcommons/inference.

Import is torch-free (the task hooks import :func:`payload_rows`); the tensor functions import
torch when called and keep everything on the tensors' device, vectorised over the batch up to
the NMS, which runs per image (``torchvision.ops.batched_nms`` when torchvision imports, else
:func:`batched_nms_torch`, the same semantics in plain torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

# retinanet.py RetinaNet.__init__ defaults (score_thresh=0.05, nms_thresh=0.5,
# detections_per_img=300, topk_candidates=1000); BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)) there;
# bbox_xform_clip=math.log(1000. / 16) in utils.py BoxCoder.__init__.
SCORE_THRESH = 0.05
NMS_THRESH = 0.5
DETECTIONS_PER_IMG = 300
TOPK_CANDIDATES = 1000
BOX_CODER_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
BBOX_XFORM_CLIP = math.log(1000.0 / 16)
# retinanet.py RetinaNet.__init__: sizes (x, int(x * 2 ** (1/3)), int(x * 2 ** (2/3))) for
# x in 32..512 (int() truncates: 40, 50; 80, 101; ...), aspect ratios (0.5, 1.0, 2.0) each level.
ANCHOR_BASE_SIZES = (32, 64, 128, 256, 512)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
IMAGE_SIZE = (800, 800)  # (height, width): GeneralizedRCNNTransform(image_size=[800, 800])

# One detection row of the network's output tensor (RetinaNet.forward in model.py).
DETECTION_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "score", "label")
PAYLOAD_COLUMNS = ("qsl_idx", "ymin", "xmin", "ymax", "xmax", "score", "label")

NmsImpl = Literal["auto", "torch", "torchvision"]


def anchor_sizes(base: tuple[int, ...] = ANCHOR_BASE_SIZES) -> tuple[tuple[int, int, int], ...]:
    """Three sizes per level, 2**(0, 1/3, 2/3) times the base, truncated to int as the
    reference does: ((32, 40, 50), (64, 80, 101), (128, 161, 203), (256, 322, 406),
    (512, 645, 812))."""
    return tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in base)


@dataclass(frozen=True)
class DetectionParams:
    """The detection constants (defaults: the reference's, module constants above)."""

    score_thresh: float = SCORE_THRESH
    nms_thresh: float = NMS_THRESH
    detections_per_img: int = DETECTIONS_PER_IMG
    topk_candidates: int = TOPK_CANDIDATES
    box_coder_weights: tuple[float, float, float, float] = BOX_CODER_WEIGHTS
    bbox_xform_clip: float = BBOX_XFORM_CLIP
    anchor_sizes: tuple[tuple[int, ...], ...] = anchor_sizes()
    aspect_ratios: tuple[float, ...] = ASPECT_RATIOS

    @property
    def anchors_per_location(self) -> int:
        """Anchors at each feature-map position (the same on every level): 9."""
        counts = {len(s) * len(self.aspect_ratios) for s in self.anchor_sizes}
        if len(counts) != 1:
            raise ValueError("every level needs the same number of anchor sizes")
        return counts.pop()


# ---- anchors (anchor_utils.py AnchorGenerator) ---------------------------------------------


def cell_anchors(sizes: tuple[int, ...], aspect_ratios: tuple[float, ...], device: Any) -> Tensor:
    """Zero-centred anchors of one level, [len(ratios) * len(sizes), 4] float32, ratio-major:
    h = sqrt(ratio) * size, w = size / sqrt(ratio) (ratio = height / width), corners +-w/2,
    +-h/2 rounded half to even (``generate_anchors``)."""
    import torch

    scales = torch.as_tensor(sizes, dtype=torch.float32, device=device)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32, device=device)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (h_ratios[:, None] * scales[None, :]).view(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def level_strides(
    image_size: tuple[int, int], grid_sizes: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """(stride_h, stride_w) per level: image size // grid size, floor division as the
    reference (800x800: 8, 16, 32, then 61 and 114 for the 13x13 and 7x7 levels, not 64/128)."""
    return [(image_size[0] // gh, image_size[1] // gw) for gh, gw in grid_sizes]


def anchors_for(
    image_size: tuple[int, int],
    grid_sizes: list[tuple[int, int]],
    params: DetectionParams | None = None,
    device: Any = "cpu",
) -> Tensor:
    """All anchors of one image, [sum(H*W*A), 4] float32 (x1, y1, x2, y2) in input pixels.

    Order as ``AnchorGenerator.grid_anchors``: level by level; inside a level row-major over
    positions (y outer), and at each position the level's cell anchors; a position's shift is
    (x * stride_w, y * stride_h), from 0 (no half-stride offset)."""
    import torch

    p = params or DetectionParams()
    if len(grid_sizes) != len(p.anchor_sizes):
        raise ValueError(f"{len(grid_sizes)} feature maps but {len(p.anchor_sizes)} anchor levels")
    out = []
    for (gh, gw), (sh, sw), sizes in zip(
        grid_sizes, level_strides(image_size, grid_sizes), p.anchor_sizes, strict=True
    ):
        base = cell_anchors(sizes, p.aspect_ratios, device)
        xs = torch.arange(0, gw, dtype=torch.float32, device=device) * sw
        ys = torch.arange(0, gh, dtype=torch.float32, device=device) * sh
        shift_y, shift_x = torch.meshgrid(ys, xs, indexing="ij")
        sx, sy = shift_x.reshape(-1), shift_y.reshape(-1)
        shifts = torch.stack((sx, sy, sx, sy), dim=1)
        out.append((shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4))
    return torch.cat(out)


# ---- boxes (utils.py BoxCoder, boxes.py) ----------------------------------------------------


def decode_boxes(
    rel_codes: Tensor,
    anchors: Tensor,
    weights: tuple[float, float, float, float] = BOX_CODER_WEIGHTS,
    clip: float = BBOX_XFORM_CLIP,
) -> Tensor:
    """(dx, dy, dw, dh) against anchors -> (x1, y1, x2, y2), [N, 4]; the float operations of
    ``BoxCoder.decode_single`` in their order (dw, dh clamped at ``clip`` before exp)."""
    anchors = anchors.to(rel_codes.dtype)
    widths = anchors[:, 2] - anchors[:, 0]
    heights = anchors[:, 3] - anchors[:, 1]
    ctr_x = anchors[:, 0] + 0.5 * widths
    ctr_y = anchors[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = rel_codes[:, 0] / wx
    dy = rel_codes[:, 1] / wy
    dw = (rel_codes[:, 2] / ww).clamp(max=clip)
    dh = (rel_codes[:, 3] / wh).clamp(max=clip)
    pred_ctr_x = dx * widths + ctr_x
    pred_ctr_y = dy * heights + ctr_y
    half_w = 0.5 * (dw.exp() * widths)
    half_h = 0.5 * (dh.exp() * heights)
    return _stack4(
        pred_ctr_x - half_w, pred_ctr_y - half_h, pred_ctr_x + half_w, pred_ctr_y + half_h
    )


def encode_boxes(
    boxes: Tensor, anchors: Tensor, weights: tuple[float, float, float, float] = BOX_CODER_WEIGHTS
) -> Tensor:
    """The inverse of :func:`decode_boxes` (``encode_boxes`` in utils.py; training only)."""
    aw = anchors[:, 2] - anchors[:, 0]
    ah = anchors[:, 3] - anchors[:, 1]
    ax = anchors[:, 0] + 0.5 * aw
    ay = anchors[:, 1] + 0.5 * ah
    bw = boxes[:, 2] - boxes[:, 0]
    bh = boxes[:, 3] - boxes[:, 1]
    bx = boxes[:, 0] + 0.5 * bw
    by = boxes[:, 1] + 0.5 * bh
    wx, wy, ww, wh = weights
    return _stack4(
        wx * (bx - ax) / aw, wy * (by - ay) / ah, ww * (bw / aw).log(), wh * (bh / ah).log()
    )


def _stack4(a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor:
    import torch

    return torch.stack((a, b, c, d), dim=-1)


def clip_boxes(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Clamp x to [0, width] and y to [0, height] (``clip_boxes_to_image``); any leading dims."""
    height, width = image_size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return _stack4(x[..., 0], y[..., 0], x[..., 1], y[..., 1])


# ---- NMS (boxes.py batched_nms; torchvision csrc/ops/cpu/nms_kernel.cpp) ---------------------


def _below_or_equal_f32(threshold: float) -> float:
    """The largest float32 <= ``threshold``: for a float32 x, ``x > t`` as the C++ kernel
    computes it (x widened to double) equals ``x > this`` in float32."""
    t32 = np.float32(threshold)
    if float(t32) > threshold:
        t32 = np.nextafter(t32, np.float32(-np.inf))
    return float(t32)


def batched_nms_torch(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, *, chunk: int = 512
) -> Tensor:
    """Class-wise greedy NMS in plain torch; int64 indices of the kept boxes, highest score
    first, as ``torchvision.ops.batched_nms``.

    Per class, boxes are visited by score descending (a stable sort: equal scores in index
    order; the torchvision kernels leave that order unspecified); a box is kept unless a kept
    box of its class visited before it overlaps it with IoU > ``iou_threshold`` (IoU exactly
    at the threshold is kept). IoU is computed as the torchvision CPU kernel does, on the boxes
    themselves (torchvision's "coordinate trick", offsetting each class by max + 1, means the
    same but rounds IoU on the shifted coordinates).

    Vectorised: boxes sorted by (class, score), the suppression pairs come from IoU blocks of
    ``chunk`` rows against the columns of their own classes only (one host sync per block);
    the greedy result is the fixed point of "kept = not suppressed by an earlier kept box",
    reached by iterating that rule over the pairs (as many sweeps as the longest chain of
    suppressions, usually a handful)."""
    import torch

    n = boxes.shape[0]
    if n == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    order = order[torch.sort(idxs[order], stable=True).indices]  # by class, then score
    b = boxes[order]
    c = idxs[order].contiguous()
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    thr = _below_or_equal_f32(iou_threshold) if b.dtype == torch.float32 else iou_threshold
    class_end = torch.searchsorted(c, c, right=True)  # one past the last box of each class
    rows: list[Tensor] = []
    cols: list[Tensor] = []
    for r0 in range(0, n, chunk):
        r1 = min(r0 + chunk, n)
        end = int(class_end[r1 - 1])  # the chunk's classes end here (c is sorted)
        r, k = slice(r0, r1), slice(r0, end)
        w = torch.minimum(x2[r, None], x2[None, k]) - torch.maximum(x1[r, None], x1[None, k])
        h = torch.minimum(y2[r, None], y2[None, k]) - torch.maximum(y1[r, None], y1[None, k])
        inter = w.clamp(min=0) * h.clamp(min=0)
        iou = inter / (area[r, None] + area[None, k] - inter)
        hit = (iou > thr) & (c[r, None] == c[None, k])
        i, j = torch.triu(hit, diagonal=1).nonzero(as_tuple=True)  # only later boxes (j > i)
        rows.append(i + r0)
        cols.append(j + r0)
    src, dst = torch.cat(rows), torch.cat(cols)
    keep = torch.ones(n, dtype=torch.bool, device=boxes.device)
    for _ in range(n + 1):  # the fixed point is reached within n sweeps
        suppressed = torch.zeros_like(keep)
        suppressed[dst[keep[src]]] = True
        new_keep = ~suppressed
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    kept = torch.sort(order[keep]).values  # back to index order, then by score, stable
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]


@cache
def _torchvision_batched_nms() -> Any:
    try:
        from torchvision.ops import batched_nms
    except Exception:  # not installed, or built for another torch (operator registration fails)
        return None
    return batched_nms


def have_torchvision() -> bool:
    """Whether ``torchvision.ops.batched_nms`` imports here."""
    return _torchvision_batched_nms() is not None


def batched_nms(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, impl: NmsImpl = "auto"
) -> Tensor:
    """``torchvision.ops.batched_nms`` when torchvision imports (``impl="auto"``), else
    :func:`batched_nms_torch`; ``impl`` forces one ("torchvision" raises without it)."""
    fn = _torchvision_batched_nms() if impl != "torch" else None
    if fn is None:
        if impl == "torchvision":
            raise RuntimeError("torchvision.ops.batched_nms does not import here")
        return batched_nms_torch(boxes, scores, idxs, iou_threshold)
    return fn(boxes, scores, idxs, iou_threshold)


# ---- the detection step (retinanet.py RetinaNet.postprocess_detections) ---------------------


def detect(
    cls_logits: Tensor,
    bbox_regression: Tensor,
    anchors: Tensor,
    level_sizes: list[int],
    image_size: tuple[int, int],
    params: DetectionParams | None = None,
    *,
    original_size: tuple[int, int] | None = None,
    nms: NmsImpl = "auto",
) -> Tensor:
    """Head outputs of a batch -> its detections, [B, detections_per_img, 6] float32, rows
    (xmin, ymin, xmax, ymax, score, label) by score descending, zero rows after the last one.

    ``cls_logits`` [B, sum(HWA), K], ``bbox_regression`` [B, sum(HWA), 4] (the head's layout:
    anchor-major, class-minor), ``anchors`` [sum(HWA), 4], ``level_sizes`` the H*W*A of each
    level. Per level and image: sigmoid scores over all (anchor, class) pairs, those
    > score_thresh, the best topk_candidates of them; boxes decoded from their anchors and
    clipped to ``image_size``; then class-wise NMS over all levels and the best
    detections_per_img kept. Boxes are rescaled to ``original_size`` when it differs (the
    reference's transform.postprocess). Computed in float32 whatever the head's dtype."""
    import torch

    p = params or DetectionParams()
    batch, total, num_classes = cls_logits.shape
    if sum(level_sizes) != total or bbox_regression.shape[:2] != cls_logits.shape[:2]:
        raise ValueError(
            f"head outputs {tuple(cls_logits.shape)} / {tuple(bbox_regression.shape)} do not "
            f"fit the levels {level_sizes}"
        )
    logits = cls_logits.float()
    cand_scores, cand_anchor, cand_label = [], [], []
    start = 0
    for size in level_sizes:
        scores = torch.sigmoid(logits[:, start : start + size].reshape(batch, -1))
        masked = scores.masked_fill(~(scores > p.score_thresh), -1.0)
        k = min(p.topk_candidates, masked.shape[1])
        top, flat = masked.topk(k, dim=1)  # sorted, best first; below threshold last
        cand_scores.append(top)
        cand_anchor.append(torch.div(flat, num_classes, rounding_mode="floor") + start)
        cand_label.append(flat % num_classes)
        start += size
    scores = torch.cat(cand_scores, dim=1)
    anchor_idx = torch.cat(cand_anchor, dim=1)
    labels = torch.cat(cand_label, dim=1)
    rel = bbox_regression.float().gather(1, anchor_idx[..., None].expand(-1, -1, 4))
    boxes = decode_boxes(
        rel.reshape(-1, 4),
        anchors.float()[anchor_idx.reshape(-1)],
        p.box_coder_weights,
        p.bbox_xform_clip,
    ).reshape(batch, -1, 4)
    boxes = clip_boxes(boxes, image_size)
    valid = scores > p.score_thresh

    out = torch.zeros(batch, p.detections_per_img, 6, dtype=torch.float32, device=boxes.device)
    for b in range(batch):
        sel = valid[b].nonzero().squeeze(1)
        keep = batched_nms(boxes[b, sel], scores[b, sel], labels[b, sel], p.nms_thresh, nms)
        keep = sel[keep[: p.detections_per_img]]
        n = keep.shape[0]
        out[b, :n, :4] = boxes[b, keep]
        out[b, :n, 4] = scores[b, keep]
        out[b, :n, 5] = labels[b, keep].float()
    if original_size is not None and tuple(original_size) != tuple(image_size):
        ratio_h = torch.tensor(original_size[0], dtype=torch.float32) / image_size[0]
        ratio_w = torch.tensor(original_size[1], dtype=torch.float32) / image_size[1]
        out[..., 0:4:2] *= ratio_w.to(out.device)
        out[..., 1:4:2] *= ratio_h.to(out.device)
    return out


# ---- the accuracy-log payload (openimages.py PostProcessOpenImagesRetinanet) -----------------


def payload_rows(
    qsl_index: int,
    detections: np.ndarray,
    *,
    height: int = IMAGE_SIZE[0],
    width: int = IMAGE_SIZE[1],
    score_threshold: float = SCORE_THRESH,
) -> np.ndarray:
    """One image's accuracy-log rows, float32 [n, 7]:
    ``[qsl_idx, ymin/height, xmin/width, ymax/height, xmax/width, score, label]``.

    ``detections``: rows (xmin, ymin, xmax, ymax, score, label) in input pixels, by score
    descending (the network's output for the image; zero padding rows are dropped). As the
    reference: rows up to the first score < ``score_threshold``, coordinates divided by the
    network input size in float32, the label written as the class index unchanged (the
    OpenImages-MLPerf category ids are 0..263 in the same order, no inverse map). No rows: an
    empty payload, which the accuracy script reads as "no detections"."""
    det = np.asarray(detections, dtype=np.float32).reshape(-1, 6)
    below = np.flatnonzero(det[:, 4] < np.float32(score_threshold))  # the reference's break
    det = det[: below[0]] if below.size else det
    rows = np.empty((det.shape[0], 7), dtype=np.float32)
    rows[:, 0] = np.float32(qsl_index)
    rows[:, 1] = det[:, 1] / np.float32(height)
    rows[:, 2] = det[:, 0] / np.float32(width)
    rows[:, 3] = det[:, 3] / np.float32(height)
    rows[:, 4] = det[:, 2] / np.float32(width)
    rows[:, 5] = det[:, 4]
    rows[:, 6] = det[:, 5]
    return rows
