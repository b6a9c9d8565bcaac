"""A small ResNet trained in the test on a synthetic 10-class task: a network whose logits mean
something, for checking quantized paths by task accuracy and not only by logit distance.

Random-weight networks are no good for this: their predictions hang on a few features that any
rounding disturbs (bf16 alone drops a random ResNet-50's top-5 overlap to about one half), so
limits set on them say little. Each class here is a smoothed random pattern; a sample is its
class pattern at a random contrast plus strong noise. Trained for 80 Adam steps (about 6 s on
2 CPU cores) the network reaches about 96% on held-out samples.
"""

from __future__ import annotations

import torch
from torch import nn

from inferlab.benchmarks.resnet50.model import build_resnet50

CLASSES = 10
SIZE = 32
ARCH = {"width": 16, "layers": (1, 1, 1, 1)}  # every pointwise conv's channels a multiple of 16


def _prototypes() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(CLASSES, 3, SIZE, SIZE, generator=g)
    return nn.functional.avg_pool2d(raw, 5, 1, 2)


def samples(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (float32 NCHW) and their labels, the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    contrast = 0.5 + torch.rand(n, 1, 1, 1, generator=g)
    noise = 0.8 * torch.randn(n, 3, SIZE, SIZE, generator=g)
    return _prototypes()[labels] * contrast + noise, labels


def trained(steps: int = 80) -> nn.Module:
    """The trained network, in eval mode, on the CPU, fp32 (BatchNorm not folded)."""
    torch.manual_seed(0)
    model = build_resnet50(num_classes=CLASSES, **ARCH)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps):
        x, y = samples(64, seed=1000 + step)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.float().argmax(dim=1) == labels).float().mean())
