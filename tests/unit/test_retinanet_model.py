"""RetinaNet 800x800: the reference's state-dict layout, parameter counts, the tiny model's
forward, seeded init and strict checkpoint loading (state dict, training checkpoint,
TorchScript archive)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from inferlab.benchmarks.retinanet.model import (  # noqa: E402
    RETINANET_800,
    TINY,
    FrozenBatchNorm2d,
    RetinaNet,
    RetinaNetConfig,
    build_retinanet,
    load_state_dict_file,
)
from inferlab.core.errors import ModelError  # noqa: E402

Layout = list[tuple[str, tuple[int, ...]]]
GRIDS_800 = [(100, 100), (50, 50), (25, 25), (13, 13), (7, 7)]
ANCHORS_800 = 120_087  # (100² + 50² + 25² + 13² + 7²) * 9


def reference_layout(
    num_classes: int = 264,
    layers: tuple[int, ...] = (3, 4, 6, 3),
    groups: int = 32,
    width_per_group: int = 4,
    fpn: int = 256,
    anchors: int = 9,
) -> Layout:
    """The state dict of the reference model, in its registration order, written from its
    source (mlcommons/training single_stage_detector/ssd/model/): resnet.py Bottleneck
    (conv1 bn1 conv2 bn2 conv3 bn3 relu downsample; width = int(planes * wpg / 64) * groups),
    IntermediateLayerGetter up to layer4 (no avgpool/fc), FrozenBatchNorm2d's four buffers,
    feature_pyramid_network.py (inner_blocks, layer_blocks, extra_blocks.p6/p7 with
    LastLevelP6P7(256, 256)), retinanet.py heads (conv = 4 x [Conv2d, ReLU] -> indices 0, 2,
    4, 6; cls_logits A*K, bbox_reg A*4)."""
    out: Layout = []

    def conv(name: str, o: int, i: int, k: int, bias: bool = False) -> None:
        out.append((f"{name}.weight", (o, i, k, k)))
        if bias:
            out.append((f"{name}.bias", (o,)))

    def frozen_bn(name: str, c: int) -> None:
        out.extend((f"{name}.{b}", (c,)) for b in ("weight", "bias", "running_mean", "running_var"))

    body = "backbone.body"
    conv(f"{body}.conv1", 64, 3, 7)
    frozen_bn(f"{body}.bn1", 64)
    inplanes = 64
    for stage, blocks in enumerate(layers):
        planes = 64 * 2**stage
        width = int(planes * (width_per_group / 64.0)) * groups
        for b in range(blocks):
            p = f"{body}.layer{stage + 1}.{b}"
            conv(f"{p}.conv1", width, inplanes, 1)
            frozen_bn(f"{p}.bn1", width)
            conv(f"{p}.conv2", width, width // groups, 3)
            frozen_bn(f"{p}.bn2", width)
            conv(f"{p}.conv3", planes * 4, width, 1)
            frozen_bn(f"{p}.bn3", planes * 4)
            if b == 0:  # stride 2, or 64 -> 256 channels in layer1
                conv(f"{p}.downsample.0", planes * 4, inplanes, 1)
                frozen_bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    stage2 = inplanes // 8  # backbone_utils.py: in_channels_stage2 = backbone.inplanes // 8
    in_channels = [stage2 * 2 ** (i - 1) for i in (2, 3, 4)]
    for i, c in enumerate(in_channels):
        conv(f"backbone.fpn.inner_blocks.{i}", fpn, c, 1, bias=True)
    for i in range(3):
        conv(f"backbone.fpn.layer_blocks.{i}", fpn, fpn, 3, bias=True)
    conv("backbone.fpn.extra_blocks.p6", fpn, fpn, 3, bias=True)
    conv("backbone.fpn.extra_blocks.p7", fpn, fpn, 3, bias=True)
    for head, last, width in (
        ("classification_head", "cls_logits", anchors * num_classes),
        ("regression_head", "bbox_reg", anchors * 4),
    ):
        for i in (0, 2, 4, 6):
            conv(f"head.{head}.conv.{i}", fpn, fpn, 3, bias=True)
        conv(f"head.{head}.{last}", width, fpn, 3, bias=True)
    return out


@pytest.fixture(scope="module")
def full() -> RetinaNet:
    return build_retinanet(RETINANET_800, device="meta")


@pytest.fixture(scope="module")
def tiny() -> RetinaNet:
    return build_retinanet(TINY, seed=0)


def layout(model: nn.Module) -> Layout:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def test_full_model_has_the_reference_keys_in_order_and_shapes(full: RetinaNet) -> None:
    expected = reference_layout()
    assert len(expected) == 301
    got = layout(full)
    assert [k for k, _ in got] == [k for k, _ in expected]
    assert got == expected


def test_full_model_spot_shapes(full: RetinaNet) -> None:
    state = full.state_dict()
    assert tuple(state["head.classification_head.cls_logits.weight"].shape) == (2376, 256, 3, 3)
    assert tuple(state["head.regression_head.bbox_reg.weight"].shape) == (36, 256, 3, 3)
    assert tuple(state["backbone.body.layer1.0.conv2.weight"].shape) == (128, 4, 3, 3)  # 32 groups
    assert tuple(state["backbone.body.layer4.2.conv3.weight"].shape) == (2048, 1024, 1, 1)
    assert tuple(state["backbone.fpn.inner_blocks.2.weight"].shape) == (256, 2048, 1, 1)
    # P6 comes from P5 (256 channels), not from C5 (2048): LastLevelP6P7(256, 256)
    assert tuple(state["backbone.fpn.extra_blocks.p6.weight"].shape) == (256, 256, 3, 3)
    assert not any(k.endswith("num_batches_tracked") for k in state)
    assert not any(k.startswith(("backbone.body.fc", "backbone.body.avgpool")) for k in state)


def test_parameter_counts_match_published_torchvision_figures(full: RetinaNet) -> None:
    # frozen norms are buffers, as in torchvision: parameters() holds convs only
    assert sum(p.numel() for p in full.parameters()) == 37_060_652
    assert all(
        isinstance(m.weight, torch.Tensor)
        for m in full.modules()
        if isinstance(m, FrozenBatchNorm2d)
    )
    assert not any("bn" in n or "downsample.1" in n for n, _ in full.named_parameters())
    # the same code with torchvision's retinanet_resnet50_fpn sizes (ResNet-50, 91 classes)
    # has exactly the count torchvision publishes (RetinaNet_ResNet50_FPN_Weights: 34,014,999)
    r50 = build_retinanet(
        RetinaNetConfig(num_classes=91, groups=1, width_per_group=64), device="meta"
    )
    assert sum(p.numel() for p in r50.parameters()) == 34_014_999
    # the trunk is torchvision's resnext50_32x4d (25,028,904 with BN affine and the 1000-way fc)
    state = full.state_dict()
    body = {k: v for k, v in state.items() if k.startswith("backbone.body.")}
    convs = sum(v.numel() for v in body.values() if v.dim() == 4)
    bn_affine = sum(v.numel() for k, v in body.items() if v.dim() == 1 and "running" not in k)
    assert convs + bn_affine + (2048 * 1000 + 1000) == 25_028_904


def test_tiny_model_head_outputs_and_detections(tiny: RetinaNet) -> None:
    x = torch.rand(2, 3, 800, 800, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        cls, reg, grids = tiny.head_outputs(x)
        out = tiny(x)
    assert grids == GRIDS_800
    assert tuple(cls.shape) == (2, ANCHORS_800, TINY.num_classes)
    assert tuple(reg.shape) == (2, ANCHORS_800, 4)
    assert tuple(out.shape) == (2, 300, 6) and out.dtype == torch.float32
    for det in out:
        n = int((det[:, 4] > 0).sum())
        assert 0 < n < 300  # the tiny init gives some detections, not a full list
        assert torch.all(det[n:] == 0)
        scores = det[:n, 4]
        assert torch.all(scores > 0.05) and torch.all(scores[:-1] >= scores[1:])
        boxes = det[:n, :4]
        assert torch.all((boxes >= 0) & (boxes <= 800))
        labels = det[:n, 5]
        assert torch.all((labels >= 0) & (labels < TINY.num_classes) & (labels == labels.round()))


def test_transform_normalises_inside_and_resizes_other_sizes(tiny: RetinaNet) -> None:
    x = torch.rand(1, 3, 800, 800, generator=torch.Generator().manual_seed(2))
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    assert torch.equal(tiny.transform(x), (x - mean) / std)
    # the bilinear resize the reference applies to 800x800 inputs is the identity (skipped here)
    same = nn.functional.interpolate(x, size=(800, 800), mode="bilinear", align_corners=False)
    assert torch.equal(same, x)
    # another input size: resized to the config's size, boxes mapped back to the input's
    model = build_retinanet(
        dataclasses.replace(TINY, image_size=(128, 128), prior_probability=0.06), seed=0
    )
    small = torch.rand(1, 3, 40, 60, generator=torch.Generator().manual_seed(3))
    assert tuple(model.transform(small).shape) == (1, 3, 128, 128)
    with torch.inference_mode():
        out = model(small)[0]
    n = int((out[:, 4] > 0).sum())
    assert n > 0
    assert float(out[:n, 0:4:2].max()) <= 60 and float(out[:n, 1:4:2].max()) <= 40
    assert float(out[:n, 0:4:2].max()) > 40  # x is scaled by 60/128, y by 40/128
    with pytest.raises(ValueError, match="expected float images"):
        tiny.transform(torch.zeros(1, 1, 8, 8))


def test_frozen_batch_norm_is_eval_batch_norm() -> None:
    g = torch.Generator().manual_seed(4)
    bn = FrozenBatchNorm2d(5)
    for name in ("weight", "bias", "running_mean"):
        getattr(bn, name).copy_(torch.randn(5, generator=g))
    bn.running_var.copy_(torch.rand(5, generator=g) + 0.1)
    x = torch.randn(2, 5, 4, 4, generator=g)
    ref = nn.functional.batch_norm(
        x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, 1e-5
    )
    torch.testing.assert_close(bn(x), ref)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    assert list(bn.parameters()) == []


def test_random_weights_are_seeded_and_leave_the_global_rng_alone() -> None:
    before = torch.random.get_rng_state()
    a = build_retinanet(TINY, seed=5).state_dict()
    b = build_retinanet(TINY, seed=5).state_dict()
    c = build_retinanet(TINY, seed=6).state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["backbone.body.conv1.weight"], c["backbone.body.conv1.weight"])
    assert torch.all(
        a["head.classification_head.cls_logits.bias"]
        == a["head.classification_head.cls_logits.bias"][0]
    )


SMALL = dataclasses.replace(TINY, image_size=(64, 64))


@pytest.fixture(scope="module")
def small() -> RetinaNet:
    return build_retinanet(SMALL, seed=0)


def _same_outputs(a: RetinaNet, b: RetinaNet) -> bool:
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        return all(
            torch.equal(p, q)
            for p, q in zip(a.head_outputs(x)[:2], b.head_outputs(x)[:2], strict=True)
        )


def test_load_plain_and_training_checkpoints(small: RetinaNet, tmp_path: Path) -> None:
    state = small.state_dict()
    plain = tmp_path / "plain.pth"
    torch.save(state, plain)
    model = build_retinanet(SMALL, seed=None)
    facts = load_state_dict_file(model, plain)
    assert facts["format"] == "state_dict" and facts["n_tensors"] == len(state)
    assert _same_outputs(model, small)
    # mlcommons/training train.py: {"model", "optimizer", "epoch", "args"}, here also with the
    # "module." prefix of a DataParallel state dict
    ckpt = tmp_path / "model_10.pth"
    wrapped = {f"module.{k}": v for k, v in state.items()}
    args = argparse.Namespace(backbone="resnext50_32x4d", num_classes=8, lr=0.0001)
    torch.save({"model": wrapped, "optimizer": {}, "epoch": 10, "args": args}, ckpt)
    model = build_retinanet(SMALL, seed=None)
    load_state_dict_file(model, ckpt)
    assert _same_outputs(model, small)


class _Traced(nn.Module):
    """A module with the network's attribute names whose forward is traceable."""

    def __init__(self, net: RetinaNet) -> None:
        super().__init__()
        self.backbone = net.backbone
        self.head = net.head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.backbone(x)
        return self.head.classification_head(feats), self.head.regression_head(feats)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace, torch >= 2.10
def test_load_a_torchscript_archive(small: RetinaNet, tmp_path: Path) -> None:
    path = tmp_path / "traced.pth"
    with torch.inference_mode():
        traced = torch.jit.trace(_Traced(small), torch.rand(1, 3, 64, 64), check_trace=False)
    traced.save(str(path))
    model = build_retinanet(SMALL, seed=None)
    facts = load_state_dict_file(model, path)
    assert facts["format"] == "torchscript"
    assert _same_outputs(model, small)


def test_load_refuses_a_checkpoint_of_another_shape(small: RetinaNet, tmp_path: Path) -> None:
    state = small.state_dict()
    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if "p7" not in k}, missing)
    with pytest.raises(ModelError, match="2 missing key"):
        load_state_dict_file(build_retinanet(SMALL, seed=None), missing)
    other = build_retinanet(dataclasses.replace(SMALL, num_classes=5), seed=0)
    path = tmp_path / "five.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(ModelError, match="5 classes, the network has 8"):
        load_state_dict_file(build_retinanet(SMALL, seed=None), path)
    with pytest.raises(ModelError, match="does not exist"):
        load_state_dict_file(small, tmp_path / "absent.pth")
