"""RetinaNet 800x800 (ResNeXt50-32x4d FPN, 264 classes) in plain torch, with the module names of
the MLPerf reference so its weights load with ``strict=True``.

The reference model is ``retinanet_resnext50_32x4d_fpn`` of mlcommons/training
(``single_stage_detector/ssd/model/``, torchvision's detection code of 2021), built by
``retinanet_from_backbone("resnext50_32x4d", 264, image_size=[800, 800])``
(inference ``tools/retinanet_pytorch_to_onnx.py``):

* ``backbone.body``: ResNeXt50-32x4d up to layer4 (torchvision ``IntermediateLayerGetter``),
  every norm a FrozenBatchNorm2d (buffers weight/bias/running_mean/running_var, eps 1e-5);
* ``backbone.fpn``: FPN over layer2-4 (``inner_blocks`` 1x1, ``layer_blocks`` 3x3, nearest
  upsampling) and ``extra_blocks.p6``/``p7`` (3x3 stride 2; P6 from P5, as in_channels ==
  out_channels there, P7 from relu(P6));
* ``head.classification_head`` / ``head.regression_head``: 4 x (3x3 conv + ReLU), no norm,
  then ``cls_logits`` (9 x 264 channels) / ``bbox_reg`` (9 x 4);
* the transform inside the model: ``(x - mean) / std`` with the ImageNet mean/std, then a
  bilinear resize to 800x800 (a no-op for the 800x800 inputs MLPerf feeds).

``forward`` also runs the detection step (:mod:`.postprocess`), so the torch backend gets one
tensor: [B, 300, 6] rows (xmin, ymin, xmax, ymax, score, label) in input pixels.
"""

from __future__ import annotations

import argparse
import logging
import math
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inferlab.benchmarks.retinanet.postprocess import (
    IMAGE_SIZE,
    DetectionParams,
    NmsImpl,
    anchors_for,
    detect,
)
from inferlab.core.errors import ModelError
from inferlab.models.checkpoint import (
    file_facts,
    key_mismatch,
    require_file,
    torch_load,
    unwrap_state_dict,
)

log = logging.getLogger(__name__)

EXPANSION = 4  # bottleneck output channels = planes * 4
HEAD_CONVS = 4  # 3x3 conv + ReLU pairs per head (retinanet.py: conv.0, conv.2, conv.4, conv.6)
_WHAT = "model file"
_FIX = (
    "use the MLPerf RetinaNet weights (resnext50_32x4d_fpn.pth, or the training checkpoint "
    "retinanet_model_10.pth) or a state dict saved from this network"
)


@dataclass(frozen=True)
class RetinaNetConfig:
    """Sizes of the network; the defaults are the MLPerf model's."""

    num_classes: int = 264
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    base_width: int = 64  # stem channels and the first stage's planes (64, 128, 256, 512)
    groups: int = 32
    width_per_group: int = 4
    fpn_channels: int = 256
    image_size: tuple[int, int] = IMAGE_SIZE  # (height, width) the transform resizes to
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    bn_eps: float = 1e-5  # torchvision FrozenBatchNorm2d default
    prior_probability: float = 0.01  # random init only: cls_logits bias = -log((1 - p) / p)
    head_init_std: float = 0.01  # random init only: normal std of the head convs
    detection: DetectionParams = field(default_factory=DetectionParams)


RETINANET_800 = RetinaNetConfig()
# The same code at tiny sizes (the synthetic default runs TINY_SYNTHETIC, below). Its init is
# tuned so that a random 800x800 image gives some detections (about 10-160 of 300 with seeds
# 0-2); with the reference init every score of a random tiny net sits near 0.01, under 0.05.
TINY = RetinaNetConfig(
    num_classes=8,
    layers=(1, 1, 1, 1),
    base_width=8,
    groups=2,
    width_per_group=32,
    fpn_channels=16,
    prior_probability=0.007,
    head_init_std=0.1,
)
# What the synthetic default runs (task.py): TINY with a wider head init. The generated images
# (flat colours, dataset.write_synthetic_openimages) move a random net's scores far less than
# noise does: with TINY's init no score passes 0.05 on them; with this one, seed 0 gives 0-300
# detections an image (about half the images none), and every seed of 0-4 gives some.
TINY_SYNTHETIC = replace(TINY, head_init_std=0.12)


class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.FrozenBatchNorm2d: fixed statistics and affine, all four as buffers
    (no num_batches_tracked); ``x * scale + shift`` with scale = weight / sqrt(var + eps)."""

    weight: Tensor
    bias: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.reshape(1, -1, 1, 1)
        b = self.bias.reshape(1, -1, 1, 1)
        rv = self.running_var.reshape(1, -1, 1, 1)
        rm = self.running_mean.reshape(1, -1, 1, 1)
        scale = w * (rv + self.eps).rsqrt()
        return x * scale + (b - rm * scale)


class Bottleneck(nn.Module):
    """ResNeXt bottleneck: 1x1 -> grouped 3x3 (carries the stride) -> 1x1, identity shortcut."""

    def __init__(self, inplanes: int, planes: int, cfg: RetinaNetConfig, stride: int = 1) -> None:
        super().__init__()
        width = int(planes * (cfg.width_per_group / 64.0)) * cfg.groups
        out = planes * EXPANSION
        eps = cfg.bn_eps
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(width, eps)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride=stride, padding=1, groups=cfg.groups, bias=False
        )
        self.bn2 = FrozenBatchNorm2d(width, eps)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(out, eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                FrozenBatchNorm2d(out, eps),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNetBody(nn.Module):
    """The ResNe(X)t trunk up to layer4; returns the outputs of layer2, layer3, layer4."""

    def __init__(self, cfg: RetinaNetConfig) -> None:
        super().__init__()
        w = cfg.base_width
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(w, cfg.bn_eps)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = w
        stages = []
        for k, blocks in enumerate(cfg.layers):
            planes = w * 2**k
            stride = 1 if k == 0 else 2
            stage = [Bottleneck(inplanes, planes, cfg, stride)]
            inplanes = planes * EXPANSION
            stage += [Bottleneck(inplanes, planes, cfg) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = [w * 2**k * EXPANSION for k in (1, 2, 3)]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c3 = self.layer2(self.layer1(x))
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


class LastLevelP6P7(nn.Module):
    """P6 = conv3x3/2(P5 if in == out channels else C5), P7 = conv3x3/2(relu(P6))."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        self.use_p5 = in_channels == out_channels

    def forward(self, p: list[Tensor], c: list[Tensor]) -> list[Tensor]:
        p6 = self.p6(p[-1] if self.use_p5 else c[-1])
        return [*p, p6, self.p7(F.relu(p6))]


class FeaturePyramidNetwork(nn.Module):
    """torchvision's FPN: lateral 1x1 convs, top-down nearest upsampling + add, 3x3 outputs."""

    def __init__(self, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.layer_blocks = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels
        )
        self.extra_blocks = LastLevelP6P7(out_channels, out_channels)

    def forward(self, c: list[Tensor]) -> list[Tensor]:
        last = self.inner_blocks[-1](c[-1])
        results = [self.layer_blocks[-1](last)]
        for idx in range(len(c) - 2, -1, -1):
            lateral = self.inner_blocks[idx](c[idx])
            last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[idx](last))
        return self.extra_blocks(results, c)


class BackboneWithFPN(nn.Module):
    def __init__(self, cfg: RetinaNetConfig) -> None:
        super().__init__()
        self.body = ResNetBody(cfg)
        self.fpn = FeaturePyramidNetwork(self.body.out_channels, cfg.fpn_channels)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.fpn(self.body(x))


def _tower(channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(HEAD_CONVS):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def _per_anchor(t: Tensor, width: int) -> Tensor:
    """(N, A * width, H, W) -> (N, H * W * A, width), position-major then anchor."""
    n, _, h, w = t.shape
    return t.view(n, -1, width, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, width)


class ClassificationHead(nn.Module):
    def __init__(self, channels: int, anchors: int, num_classes: int) -> None:
        super().__init__()
        self.conv = _tower(channels)
        self.cls_logits = nn.Conv2d(channels, anchors * num_classes, 3, padding=1)
        self.num_classes = num_classes

    def forward(self, feats: list[Tensor]) -> Tensor:
        outs = [_per_anchor(self.cls_logits(self.conv(f)), self.num_classes) for f in feats]
        return torch.cat(outs, dim=1)


class RegressionHead(nn.Module):
    def __init__(self, channels: int, anchors: int) -> None:
        super().__init__()
        self.conv = _tower(channels)
        self.bbox_reg = nn.Conv2d(channels, anchors * 4, 3, padding=1)

    def forward(self, feats: list[Tensor]) -> Tensor:
        return torch.cat([_per_anchor(self.bbox_reg(self.conv(f)), 4) for f in feats], dim=1)


class RetinaNetHead(nn.Module):
    def __init__(self, channels: int, anchors: int, num_classes: int) -> None:
        super().__init__()
        self.classification_head = ClassificationHead(channels, anchors, num_classes)
        self.regression_head = RegressionHead(channels, anchors)


class RetinaNet(nn.Module):
    """The network (``backbone``, ``head``) and its transform and detection step.

    ``forward(x)``: x float [B, 3, H, W], RGB in [0, 1] (the MLPerf preprocessing: resized
    to 800x800, /255, no mean/std); returns float32 [B, detections_per_img, 6]."""

    def __init__(self, cfg: RetinaNetConfig) -> None:
        super().__init__()
        self.config = cfg
        self.backbone = BackboneWithFPN(cfg)
        anchors = cfg.detection.anchors_per_location
        self.head = RetinaNetHead(cfg.fpn_channels, anchors, cfg.num_classes)
        self.nms: NmsImpl = "auto"

    def transform(self, x: Tensor) -> Tensor:
        """GeneralizedRCNNTransform: normalise, then bilinear resize to the config's size."""
        if x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(f"expected float images [B, 3, H, W], got {x.dtype} {tuple(x.shape)}")
        mean = torch.as_tensor(self.config.image_mean, dtype=x.dtype, device=x.device)
        std = torch.as_tensor(self.config.image_std, dtype=x.dtype, device=x.device)
        x = (x - mean[:, None, None]) / std[:, None, None]
        if tuple(x.shape[-2:]) != tuple(self.config.image_size):
            x = F.interpolate(x, size=self.config.image_size, mode="bilinear", align_corners=False)
        return x

    def head_outputs(self, x: Tensor) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
        """(cls_logits [B, sum(HWA), K], bbox_regression [B, sum(HWA), 4], grid sizes)."""
        feats = self.backbone(self.transform(x))
        cls = self.head.classification_head(feats)
        reg = self.head.regression_head(feats)
        return cls, reg, [(int(f.shape[-2]), int(f.shape[-1])) for f in feats]

    def forward(self, x: Tensor) -> Tensor:
        original = (int(x.shape[-2]), int(x.shape[-1]))
        cls, reg, grids = self.head_outputs(x)
        size = self.config.image_size
        params = self.config.detection
        anchors = anchors_for(size, grids, params, device=cls.device)
        levels = [h * w * params.anchors_per_location for h, w in grids]
        return detect(cls, reg, anchors, levels, size, params, original_size=original, nms=self.nms)


def build_retinanet(
    config: RetinaNetConfig = RETINANET_800,
    *,
    seed: int | None = 0,
    device: str | torch.device = "cpu",
) -> RetinaNet:
    """The network in eval mode. ``seed``: random weights drawn with a generator of that seed
    (the global RNG is not touched; see :func:`init_random_weights`); None leaves the tensors
    uninitialised, for :func:`load_state_dict_file` to fill. ``device="meta"`` builds the
    layout only (no memory, for shapes and counts)."""
    if config.num_classes < 1 or min(config.layers) < 1 or config.fpn_channels < 1:
        raise ModelError(f"bad RetinaNet sizes: {config}", "use positive sizes")
    with torch.device("meta"):
        model = RetinaNet(config)
    if torch.device(device).type != "meta":
        model = model.to_empty(device=device)
        if seed is not None:
            init_random_weights(model, seed)
    return model.eval()


def init_random_weights(model: RetinaNet, seed: int) -> None:
    """Fill every parameter and buffer from ``torch.Generator().manual_seed(seed)`` (drawn on
    the CPU, then copied, so the values do not depend on the device), with the reference's init
    rules: backbone convs kaiming-normal (fan_out, relu), FPN convs kaiming-uniform (a=1) with
    zero bias, head convs normal(std) with zero bias and cls_logits bias -log((1 - p) / p);
    frozen norms the identity (weight 1, bias 0, mean 0, var 1)."""
    gen = torch.Generator().manual_seed(seed)
    cfg = model.config
    done: set[str] = set()
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                w = m.weight
                fan_in = w.shape[1] * w.shape[2] * w.shape[3]
                fan_out = w.shape[0] * w.shape[2] * w.shape[3]
                if name.startswith("head."):
                    val = torch.randn(w.shape, generator=gen) * cfg.head_init_std
                elif name.startswith("backbone.fpn."):
                    bound = math.sqrt(3.0 / fan_in)
                    val = (torch.rand(w.shape, generator=gen) * 2 - 1) * bound
                else:
                    val = torch.randn(w.shape, generator=gen) * math.sqrt(2.0 / fan_out)
                w.copy_(val)
                done.add(f"{name}.weight")
                if m.bias is not None:
                    p = cfg.prior_probability
                    prior = -math.log((1 - p) / p) if name.endswith("cls_logits") else 0.0
                    m.bias.fill_(prior)
                    done.add(f"{name}.bias")
            elif isinstance(m, FrozenBatchNorm2d):
                for buf, value in (("weight", 1), ("bias", 0), ("running_mean", 0)):
                    getattr(m, buf).fill_(value)
                m.running_var.fill_(1)
                done.update(
                    f"{name}.{b}" for b in ("weight", "bias", "running_mean", "running_var")
                )
    left = [k for k in model.state_dict() if k not in done]
    if left:  # a new module type the rules above do not cover
        raise ModelError(f"random init left {len(left)} tensor(s) unset: {left[:3]}", "add a rule")


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive (torch.jit.save): a zip with a constants.pkl record."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in zf.namelist())


def read_state_dict(path: Path) -> tuple[dict[str, Tensor], str]:
    """The tensors of a checkpoint file and its format ("state_dict" or "torchscript").

    * a state dict, or a training checkpoint holding one under "model" (mlcommons/training
      train.py saves {"model", "optimizer", "epoch", "args"}; its argparse.Namespace is allowed
      to the safe loader), with or without a "module." prefix;
    * a TorchScript archive (the form the reference's ``resnext50_32x4d_fpn.pth`` is read in by
      Intel's MLPerf code, ``torch.jit.load(...).state_dict()``): its module's state dict,
      read with ``torch.jit.load`` on the CPU (TorchScript code is compiled, never run here).
    """
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # torch >= 2.10 marks torch.jit.load deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ModelError(
                f"{_WHAT} {path} is not a loadable TorchScript archive: {first}", _FIX
            ) from exc
        state = {k: v for k, v in module.state_dict().items() if isinstance(v, Tensor)}
        return state, "torchscript"
    with torch.serialization.safe_globals([argparse.Namespace]):
        obj = torch_load(path, what=_WHAT, fix=_FIX)
    state = unwrap_state_dict(obj, path, what=_WHAT, fix=_FIX, nest_keys=("model", "state_dict"))
    return state, "state_dict"


def load_state_dict_file(model: RetinaNet, path: Path) -> dict[str, Any]:
    """Load a checkpoint (:func:`read_state_dict`) into ``model`` with strict keys and shapes.

    Returns facts for result.json: ``{"path", "size_bytes", "sha256", "n_tensors", "format"}``.
    Raises :class:`ModelError` naming the missing/unexpected keys or the first wrong shape."""
    path = Path(path)
    size = require_file(path, what=_WHAT, fix="download the checkpoint or pass the right path")
    state, fmt = read_state_dict(path)
    # torchvision's FrozenBatchNorm2d drops these too (a checkpoint from nn.BatchNorm2d)
    state = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ModelError(
            f"{_WHAT} {path} does not fit the network: {key_mismatch(missing, unexpected)}", _FIX
        )
    for key, tensor in state.items():
        want, got = tuple(expected[key].shape), tuple(tensor.shape)
        if want != got:
            hint = ""
            if key.startswith("head.classification_head.cls_logits") and got:
                anchors = model.config.detection.anchors_per_location
                hint = f" ({got[0] / anchors:g} classes, the network has {want[0] // anchors})"
            raise ModelError(
                f"{_WHAT} {path}: tensor {key!r} has shape {got}, the network expects {want}"
                + hint,
                "build the network with the checkpoint's sizes (RetinaNetConfig)",
            )
    model.load_state_dict(state, strict=True)
    facts = file_facts(path, size, len(state))
    facts["format"] = fmt
    log.info("loaded %d tensors (%s) from %s", len(state), fmt, path)
    return facts
