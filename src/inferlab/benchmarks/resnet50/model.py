"""ResNet-50 v1.5 with torchvision's module names, and strict loading of a state-dict file.

The network is the torchvision ``resnet50`` layout (stride 2 on the 3x3 conv of the bottleneck,
"v1.5"), so the MLPerf PyTorch reference checkpoint ``resnet50-19c8e357.pth`` (a torchvision
state dict) loads with ``strict=True``. torchvision itself is not needed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

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
_WHAT = "model file"  # how error messages name the checkpoint
_SAVE_FIX = "save the weights with torch.save(model.state_dict(), path)"


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride, v1.5) -> 1x1 bottleneck with an identity shortcut."""

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * EXPANSION, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision-compatible ResNet built from :class:`Bottleneck` blocks."""

    def __init__(
        self, layers: tuple[int, int, int, int], num_classes: int = 1000, width: int = 64
    ) -> None:
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * EXPANSION, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample: nn.Module | None = None
        if stride != 1 or self.inplanes != planes * EXPANSION:
            downsample = nn.Sequential(
                nn.Conv2d(
                    self.inplanes, planes * EXPANSION, kernel_size=1, stride=stride, bias=False
                ),
                nn.BatchNorm2d(planes * EXPANSION),
            )
        modules: list[nn.Module] = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * EXPANSION
        modules.extend(Bottleneck(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def build_resnet50(
    num_classes: int = 1000,
    *,
    width: int = 64,
    layers: tuple[int, int, int, int] = (3, 4, 6, 3),
) -> nn.Module:
    """ResNet-50 v1.5 (defaults) or a smaller variant of the same code for tests.

    Random init follows torchvision (kaiming normal, fan_out, for convs; BN weight 1, bias 0);
    seed it with ``torch.manual_seed`` before calling for reproducible weights.
    """
    if num_classes < 1 or width < 1 or len(layers) != 4 or min(layers) < 1:
        raise ModelError(
            f"bad ResNet shape: num_classes={num_classes}, width={width}, layers={layers}",
            "use positive sizes and four stage depths, e.g. layers=(3, 4, 6, 3)",
        )
    return ResNet(layers, num_classes=num_classes, width=width)


def _check_keys(model: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    expected = model.state_dict()
    # Checkpoints saved before PyTorch 0.4 (resnet50-19c8e357.pth among them) have no
    # BatchNorm num_batches_tracked; torch fills it in on load, so it is not "missing".
    missing = [k for k in expected if k not in state and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ModelError(
            f"model file {path} does not fit the network: " + key_mismatch(missing, unexpected),
            "use a torchvision-layout ResNet-50 state dict such as resnet50-19c8e357.pth",
        )
    for key, tensor in state.items():
        want = tuple(expected[key].shape)
        got = tuple(tensor.shape)
        if want != got:
            hint = ""
            if key.startswith("fc.") and got and got[0] == want[0] + 1 == 1001:
                hint = "; it looks like the TF/ONNX 1001-class variant (class 0 = background)"
            raise ModelError(
                f"model file {path}: tensor {key!r} has shape {got}, the network expects "
                f"{want}{hint}",
                "use the PyTorch checkpoint resnet50-19c8e357.pth (1000 classes)"
                if hint
                else "use a checkpoint made for this network (same classes and widths)",
            )


def load_state_dict_file(model: nn.Module, path: Path) -> dict[str, Any]:
    """Load a PyTorch state-dict file into ``model`` with strict keys.

    Accepts a plain state dict or one nested under "state_dict"/"model", with or without a
    "module." (DataParallel) prefix. Returns facts for result.json:
    ``{"path", "size_bytes", "sha256", "n_tensors"}``. Raises :class:`ModelError`.
    """
    path = Path(path)
    size = require_file(
        path, what=_WHAT, fix="download the checkpoint or pass the right path to it"
    )
    obj = torch_load(
        path,
        what=_WHAT,
        fix="check the download (size/sha256) or point to a PyTorch .pth state dict",
    )
    state = unwrap_state_dict(
        obj, path, what=_WHAT, fix=_SAVE_FIX, nest_keys=("state_dict", "model")
    )
    _check_keys(model, state, path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise ModelError(
            f"model file {path} could not be loaded into the network: {first}",
            "use a torchvision-layout state dict made for this network",
        ) from exc
    facts = file_facts(path, size, len(state))
    log.info("loaded %d tensors from %s (sha256 %s)", len(state), path, facts["sha256"][:12])
    return facts
