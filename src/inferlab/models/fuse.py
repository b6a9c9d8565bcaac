"""Inference-time rewrites of ``nn.Module`` trees: BatchNorm folding and BN recalibration.

:func:`fold_batchnorm` merges every ``Conv2d`` that is directly followed by an eval-mode
``BatchNorm2d`` into one ``Conv2d`` with a bias, and replaces the BatchNorm by ``nn.Identity``.
Pairs are found by module names, the way torchvision-style networks spell them:

* a ``Conv2d`` attribute ``conv<X>`` with a sibling ``BatchNorm2d`` attribute ``bn<X>``
  (``conv1``/``bn1``, ``conv``/``bn``), the BatchNorm applied to the conv's output in forward();
* inside an ``nn.Sequential``, a ``Conv2d`` immediately followed by a ``BatchNorm2d``.

The name rule is an assumption about forward(), not checked: a network that names a conv
``convX`` and a BatchNorm ``bnX`` but applies them to different tensors must not be folded.

With ``s = gamma / sqrt(running_var + eps)`` the folded conv has weight ``W * s`` (per output
channel) and bias ``(b - running_mean) * s + beta``, computed in float64 and cast back to the
conv's dtype. A model without such pairs (a transformer) folds nothing.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from inferlab.core.errors import ModelError

__all__ = ["fold_batchnorm", "fold_batchnorm_pairs", "foldable_pairs", "recalibrate_batchnorm"]

log = logging.getLogger(__name__)

_CONV_NAME = re.compile(r"^conv(.*)$")
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _fits(conv: nn.Module, bn: nn.Module) -> bool:
    """``bn`` can be folded into ``conv``: matching channels and running statistics in use."""
    return (
        isinstance(conv, nn.Conv2d)
        and isinstance(bn, nn.BatchNorm2d)
        and bn.num_features == conv.out_channels
        and bn.track_running_stats
        and bn.running_mean is not None
        and bn.running_var is not None
    )


def foldable_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """Qualified names ``(conv, batchnorm)`` of the pairs :func:`fold_batchnorm` would fold.

    Reads ``module`` only. A conv or BatchNorm reachable under two names (a shared module)
    is folded at most once."""
    pairs: list[tuple[str, str]] = []
    seen: set[int] = set()

    def add(prefix: str, conv_name: str, bn_name: str, conv: nn.Module, bn: nn.Module) -> None:
        if id(conv) in seen or id(bn) in seen or not _fits(conv, bn):
            return
        seen.update((id(conv), id(bn)))
        pairs.append((_join(prefix, conv_name), _join(prefix, bn_name)))

    for prefix, parent in module.named_modules():
        children = dict(parent.named_children())
        if isinstance(parent, nn.Sequential):
            names = list(children)
            for first, second in zip(names, names[1:], strict=False):
                add(prefix, first, second, children[first], children[second])
            continue
        for name, child in children.items():
            match = _CONV_NAME.match(name)
            bn_name = f"bn{match.group(1)}" if match else ""
            if match and bn_name in children:
                add(prefix, name, bn_name, child, children[bn_name])
    return pairs


@torch.no_grad()
def _fold_pair(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    assert bn.running_mean is not None and bn.running_var is not None  # checked by _fits
    dtype = conv.weight.dtype
    weight = conv.weight.detach().to(torch.float64)
    channels = weight.shape[0]
    bias = (
        conv.bias.detach().to(torch.float64)
        if conv.bias is not None
        else torch.zeros(channels, dtype=torch.float64, device=weight.device)
    )
    gamma = bn.weight.detach().to(torch.float64) if bn.weight is not None else 1.0
    beta = bn.bias.detach().to(torch.float64) if bn.bias is not None else 0.0
    mean = bn.running_mean.detach().to(torch.float64)
    var = bn.running_var.detach().to(torch.float64)
    scale = gamma / torch.sqrt(var + bn.eps)
    new_weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    new_bias = (bias - mean) * scale + beta
    grad = conv.weight.requires_grad
    conv.weight = nn.Parameter(new_weight.to(dtype), requires_grad=grad)
    conv.bias = nn.Parameter(new_bias.to(dtype), requires_grad=grad)


def fold_batchnorm_pairs(module: nn.Module) -> tuple[nn.Module, list[tuple[str, str]]]:
    """A folded deep copy of ``module`` and the ``(conv, batchnorm)`` names it folded.

    ``module`` is not changed. Raises :class:`ModelError` if ``module`` or one of the
    BatchNorms to fold is in training mode (training-mode BN normalises with batch
    statistics, which no fixed bias reproduces)."""
    pairs = foldable_pairs(module)
    in_training = [bn for _, bn in pairs if module.get_submodule(bn).training]
    if module.training or in_training:
        where = f" (BatchNorm {in_training[0]!r})" if in_training else ""
        raise ModelError(
            f"cannot fold BatchNorm into convolutions of a model in training mode{where}",
            "call model.eval() before folding",
        )
    folded = copy.deepcopy(module)
    for conv_name, bn_name in pairs:
        conv = folded.get_submodule(conv_name)
        bn = folded.get_submodule(bn_name)
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        _fold_pair(conv, bn)
        parent_name, _, attr = bn_name.rpartition(".")
        setattr(folded.get_submodule(parent_name), attr, nn.Identity())
    log.info("folded %d conv+batchnorm pair(s) of %s", len(pairs), type(module).__name__)
    return folded, pairs


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with BatchNorms folded into their convs (module docstring).

    The count is in the log; :func:`fold_batchnorm_pairs` returns the folded names too."""
    return fold_batchnorm_pairs(module)[0]


def recalibrate_batchnorm(
    model: nn.Module,
    inputs: torch.Tensor | Iterable[torch.Tensor],
    *,
    batch_size: int = 32,
    classifier: str | None = None,
) -> nn.Module:
    """Recompute every BatchNorm's running statistics over ``inputs``; returns ``model``
    (changed in place) in eval mode.

    Running stats are reset and accumulated as a cumulative average (momentum None) by
    forward passes in training mode, without gradients; momentum is restored afterwards.
    With random weights this gives BN statistics that fit the inputs, so a random CNN's
    predictions differ between random images instead of collapsing onto one class.
    ``inputs`` is one tensor (run in slices of ``batch_size``; each slice needs more than one
    sample) or an iterable of batches, on the model's device.

    ``classifier``: the name of a final ``nn.Linear`` (e.g. ``"fc"``) whose outputs
    are then standardised per class over ``inputs`` (mean 0, std 1, by a second, eval-mode
    pass). Needed for a random 50-layer bottleneck CNN at 224 px: its logits share a large
    input-independent part, and recalibrated BNs alone still put 64 random images into only
    4-5 classes (measured); with standardised logits the top-1 classes spread out."""
    if batch_size < 2:
        raise ModelError(
            f"recalibrate_batchnorm needs batch_size >= 2, got {batch_size}",
            "use batches of at least 2 samples (training-mode BN needs a batch statistic)",
        )
    head: nn.Linear | None = None
    if classifier is not None:
        try:
            layer = model.get_submodule(classifier)
        except AttributeError:
            layer = None
        if not isinstance(layer, nn.Linear):
            raise ModelError(
                f"classifier {classifier!r} is "
                + (f"a {type(layer).__name__}" if layer is not None else "not in the model")
                + ", expected an nn.Linear",
                "name the model's final nn.Linear layer (e.g. 'fc'), or leave classifier unset",
            )
        head = layer
    norms = [m for m in model.modules() if isinstance(m, _BN_TYPES)]
    batches = list(torch.split(inputs, batch_size) if isinstance(inputs, torch.Tensor) else inputs)
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    try:
        model.train()
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        for bn, momentum in zip(norms, momenta, strict=True):
            bn.momentum = momentum
        model.eval()
    count = sum(int(b.shape[0]) for b in batches)
    log.info("recalibrated %d BatchNorm layer(s) over %d sample(s)", len(norms), count)
    if head is not None:
        _standardise_outputs(model, head, batches)
    return model


@torch.no_grad()
def _standardise_outputs(model: nn.Module, head: nn.Linear, batches: list[torch.Tensor]) -> None:
    outputs: list[torch.Tensor] = []

    def keep(_module: nn.Module, _args: Any, output: torch.Tensor) -> None:
        outputs.append(output.detach().to(torch.float64))

    handle = head.register_forward_hook(keep)
    try:
        for batch in batches:
            model(batch)
    finally:
        handle.remove()
    z = torch.cat(outputs)
    if z.shape[0] < 2:
        raise ModelError(
            "standardising the classifier needs at least 2 samples", "pass more inputs"
        )
    mean, std = z.mean(dim=0), z.std(dim=0).clamp_min(1e-12)
    dtype = head.weight.dtype
    weight = head.weight.detach().to(torch.float64) / std[:, None]
    bias = head.bias.detach().to(torch.float64) if head.bias is not None else torch.zeros_like(mean)
    head.weight = nn.Parameter(weight.to(dtype), requires_grad=head.weight.requires_grad)
    head.bias = nn.Parameter(
        ((bias - mean) / std).to(dtype), requires_grad=head.weight.requires_grad
    )
