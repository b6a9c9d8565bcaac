"""BERT-large for SQuAD question answering (MLPerf bert-99 / bert-99.9), Hugging Face key names.

The network is the post-LN BERT encoder of Hugging Face ``BertForQuestionAnswering`` (absolute
position embeddings, exact erf GELU, LayerNorm eps 1e-12, no pooler) written on
``torch.nn.functional.scaled_dot_product_attention``. Its ``state_dict()`` keys are exactly HF's,
so the MLPerf reference checkpoint ``model.pytorch`` (zenodo 3733896: ``torch.save`` of a HF
``BertForQuestionAnswering.state_dict()``, i.e. a plain state dict) loads strictly; transformers
itself is not needed. Inference only: there is no dropout.

``forward(x)`` takes ONE integer tensor ``(n, 3, L)``: ``x[:, 0]`` input_ids, ``x[:, 1]``
input_mask (1 real, 0 padding), ``x[:, 2]`` segment_ids; it returns ``(n, L, 2)`` logits (start,
end) in the model's dtype. ``L`` may be anything up to ``max_position_embeddings``: padding
positions are masked as keys, so the logits of real positions do not depend on how far a row is
padded (the runtime's trimmed, length-sorted batches rely on this).

Key padding mask and host syncs: when no row of a batch has padding, attention gets
``attn_mask=None`` so CUDA can use the flash kernel; otherwise an additive mask (0 / dtype min,
broadcast over heads and queries) selects the memory-efficient kernel. Knowing which case holds
means reading the mask:

* ``forward(x)`` (``always_mask=False``, default) checks ``x[:, 1].all()``. On CUDA this is one
  device-to-host sync per batch, taken before any kernel of the forward is queued, so it only
  waits for the input's host-to-device copy; with batch-at-a-time execution (the torch backend
  copies the logits back right after) it should cost only the sync latency (not yet measured on
  a GPU). Under ``torch.compile`` the check (a ``torch.compiler.disable``'d helper) is a graph
  break: the masked and unmasked encoders are two graphs, each compiled once.
* ``always_mask=True`` never looks at the values: always masked, no sync, one graph (for CUDA
  graphs / ``mode="reduce-overhead"`` or overlapped pipelines); same logits, no flash kernel.
* ``logits(x, has_padding=...)`` is the encoder without any check, for a caller that already
  knows from its host copy of the batch (the cheapest: no sync and flash when possible).
  ``has_padding=False`` on a padded batch gives wrong logits.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inferlab.config.text import decode_utf8, read_bytes
from inferlab.core.errors import ModelError
from inferlab.models.checkpoint import (
    file_facts,
    key_mismatch,
    names,
    require_file,
    torch_load,
    unwrap_state_dict,
)

__all__ = [
    "BertConfig",
    "BertForQuestionAnswering",
    "build_bert_qa",
    "load_bert_checkpoint",
]

log = logging.getLogger(__name__)

_WHAT = "BERT checkpoint"  # how error messages name the checkpoint
_CHECKPOINT_HINT = (
    "use the MLPerf BERT checkpoint model.pytorch (zenodo 3733896), a state dict with Hugging "
    "Face BertForQuestionAnswering key names"
)
#: Checkpoint entries the QA network does not use: HF's pooler (older BertForQuestionAnswering
#: kept it) and the position/token-type id buffers that older transformers saved.
_HARMLESS_PREFIXES = ("bert.pooler.",)
_HARMLESS_KEYS = ("bert.embeddings.position_ids", "bert.embeddings.token_type_ids")


# --------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class BertConfig:
    """The fields of the reference's ``bert_config.json`` plus HF's LayerNorm eps.

    Dropout probabilities are kept for the record only (inference has no dropout)."""

    vocab_size: int = 30522
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (type(value) is not int or value < 1):
                raise ModelError(
                    f"BERT config: {f.name} must be a positive integer, got {value!r}",
                    "check bert_config.json against the MLPerf one (BERT-large: hidden 1024)",
                )
            if f.type == "float" and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ModelError(
                    f"BERT config: {f.name} must be a non-negative number, got {value!r}",
                    "check bert_config.json against the MLPerf one",
                )
        if self.hidden_size % self.num_attention_heads:
            raise ModelError(
                f"BERT config: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}",
                "use a head count that divides the hidden size (BERT-large: 1024 / 16)",
            )
        if self.hidden_act != "gelu":
            raise ModelError(
                f"BERT config: hidden_act {self.hidden_act!r} is not supported",
                'use "gelu" (exact erf GELU) as in the MLPerf bert_config.json',
            )
        if self.layer_norm_eps <= 0:
            raise ModelError(
                f"BERT config: layer_norm_eps must be positive, got {self.layer_norm_eps!r}",
                "leave it out of bert_config.json (default 1e-12)",
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def large(cls) -> BertConfig:
        """BERT-large as in MLPerf's bert_config.json (24 layers, hidden 1024, 16 heads)."""
        return cls()

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        """Read a ``bert_config.json``. Keys other than the dataclass fields are ignored;
        ``layer_norm_eps`` is optional (1e-12). Raises :class:`ModelError`."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(
                f"BERT config {path} does not exist",
                "pass the bert_config.json that comes with the checkpoint",
            )
        fix = "pass the bert_config.json that comes with the checkpoint"
        raw = read_bytes(path, what="BERT config", error=ModelError, missing_fix=fix)
        text = decode_utf8(
            raw,
            path,
            what="BERT config",
            error=ModelError,
            bom=True,
            fix=f"save it as UTF-8 (e.g. iconv -f LATIN1 -t UTF-8), or {fix}",
        )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"BERT config {path} is not valid JSON ({exc})", fix) from exc
        if not isinstance(data, dict):
            raise ModelError(
                f"BERT config {path} holds a JSON {type(data).__name__}, not an object",
                "pass the bert_config.json that comes with the checkpoint",
            )
        kwargs: dict[str, Any] = {}
        missing: list[str] = []
        for f in fields(cls):
            if f.name not in data:
                if f.name != "layer_norm_eps":
                    missing.append(f.name)
                continue
            value = data[f.name]
            expected: tuple[type, ...] = {"int": (int,), "float": (int, float), "str": (str,)}[
                str(f.type)
            ]
            if isinstance(value, bool) or not isinstance(value, expected):
                want = "a string" if f.type == "str" else f"an {f.type}"
                want = "a number" if f.type == "float" else want
                raise ModelError(
                    f"BERT config {path}: {f.name} is {value!r}, expected {want}",
                    "check bert_config.json against the MLPerf one",
                )
            kwargs[f.name] = value
        if missing:
            raise ModelError(
                f"BERT config {path} lacks {len(missing)} key(s): {names(missing)}",
                "pass the bert_config.json that comes with the checkpoint",
            )
        extra = sorted(set(data) - set(kwargs))
        if extra:
            log.debug("BERT config %s: ignoring keys %s", path, extra)
        try:
            return cls(**kwargs)
        except ModelError as exc:
            raise ModelError(f"{path}: {exc.message}", exc.fix) from exc


# -------------------------------------------------------------------------------------- network


class BertEmbeddings(nn.Module):
    """word + position + token type embeddings, then LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: Tensor, segment_ids: Tensor) -> Tensor:
        length = input_ids.shape[1]
        positions = self.position_embeddings.weight[:length]  # absolute positions 0..L-1
        hidden = self.word_embeddings(input_ids) + self.token_type_embeddings(segment_ids)
        return self.LayerNorm(hidden + positions)


class BertSelfAttention(nn.Module):
    """Multi-head self-attention on SDPA; ``bias`` is an additive key mask or None."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: Tensor, bias: Tensor | None) -> Tensor:
        n, length, width = hidden.shape

        def heads(t: Tensor) -> Tensor:  # (n, L, H*d) -> (n, H, L, d)
            return t.view(n, length, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.query(hidden)), heads(self.key(hidden)), heads(self.value(hidden))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return context.transpose(1, 2).reshape(n, length, width)


class BertSelfOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, context: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(context) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)  # HF's name: keys "attention.self.query..."
        self.output = BertSelfOutput(config)

    def forward(self, hidden: Tensor, bias: Tensor | None) -> Tensor:
        return self.output(self.self(hidden, bias), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, hidden: Tensor) -> Tensor:
        return F.gelu(self.dense(hidden))  # exact (erf) GELU, HF's "gelu"


class BertOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, inner: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(inner) + residual)


class BertLayer(nn.Module):
    """Post-LN transformer block: LN(x + attn(x)), then LN(h + ffn(h))."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden: Tensor, bias: Tensor | None) -> Tensor:
        hidden = self.attention(hidden, bias)
        return self.output(self.intermediate(hidden), hidden)


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden: Tensor, bias: Tensor | None) -> Tensor:
        for block in self.layer:
            hidden = block(hidden, bias)
        return hidden


class BertModel(nn.Module):
    """Embeddings + encoder (no pooler: the QA head reads every position)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)


class BertForQuestionAnswering(nn.Module):
    """BERT encoder + a (hidden -> 2) span head; ``forward(x (n,3,L)) -> (n,L,2)`` logits.

    See the module docstring for the key padding mask and ``always_mask``."""

    def __init__(self, config: BertConfig, *, always_mask: bool = False) -> None:
        super().__init__()
        self.config = config
        self.always_mask = always_mask
        self.bert = BertModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        if self.always_mask:
            has_padding = True
        else:
            has_padding = _has_padding(x[:, 1])
        return self._logits(x, has_padding)

    def logits(self, x: Tensor, *, has_padding: bool) -> Tensor:
        """The forward without looking at the mask's values: the caller says whether any
        input_mask entry is 0. Traceable by ``torch.compile(fullgraph=True)``."""
        self._check_input(x)
        return self._logits(x, has_padding)

    def _logits(self, x: Tensor, has_padding: bool) -> Tensor:
        input_ids, input_mask, segment_ids = x.unbind(1)
        hidden = self.bert.embeddings(input_ids, segment_ids)
        bias: Tensor | None = None
        if has_padding:
            # (n, 1, 1, L): 0 for real keys, dtype min for padding keys (a row with no real key
            # at all, e.g. an all-zero filler row, then gets finite garbage, not NaN).
            pad = (input_mask == 0).to(hidden.dtype)
            bias = (pad * torch.finfo(hidden.dtype).min)[:, None, None, :]
        hidden = self.bert.encoder(hidden, bias)
        return self.qa_outputs(hidden)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != 3 or x.is_floating_point() or x.is_complex():
            raise ModelError(
                f"BERT input must be an integer tensor (n, 3, L), got {x.dtype} {tuple(x.shape)}",
                "stack input_ids, input_mask and segment_ids on axis 1",
            )
        if x.shape[2] > self.config.max_position_embeddings:
            raise ModelError(
                f"BERT input has {x.shape[2]} positions, the model has "
                f"{self.config.max_position_embeddings} position embeddings",
                "use sequences of at most max_position_embeddings tokens (MLPerf: 384)",
            )


@torch.compiler.disable  # deliberately outside compiled graphs: it reads a value (CUDA: a sync)
def _has_padding(input_mask: Tensor) -> bool:
    return not bool(input_mask.all())


def build_bert_qa(
    config: BertConfig | None = None, *, always_mask: bool = False, random_init: bool = True
) -> BertForQuestionAnswering:
    """BERT QA network (BERT-large by default).

    ``random_init=True``: HF-style init: Linear and embedding weights ~ normal(0,
    initializer_range), biases 0, the padding token's (id 0) word embedding 0, LayerNorm weight 1
    and bias 0; seed with ``torch.manual_seed`` before calling for reproducible weights.
    ``random_init=False``: parameters on the meta device (no memory, no init: BERT-large's init
    takes seconds); only :func:`load_bert_checkpoint` can fill such a model."""
    config = BertConfig.large() if config is None else config
    if not random_init:
        with torch.device("meta"):
            return BertForQuestionAnswering(config, always_mask=always_mask)
    model = BertForQuestionAnswering(config, always_mask=always_mask)
    std = config.initializer_range
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, std)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.Embedding):
                module.weight.normal_(0.0, std)
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        model.bert.embeddings.word_embeddings.weight[0].zero_()  # HF: padding_idx = 0
    return model


# ----------------------------------------------------------------------------------- checkpoint


def _harmless(key: str) -> bool:
    return key in _HARMLESS_KEYS or key.startswith(_HARMLESS_PREFIXES)


def load_bert_checkpoint(model: BertForQuestionAnswering, path: str | Path) -> dict[str, Any]:
    """Load a HF-named BERT QA state dict file into ``model``, refusing anything partial.

    Assumed format (what the reference's conversion script writes): ``torch.save`` of a HF
    ``BertForQuestionAnswering.state_dict()``; a dict nesting it under "model"/"state_dict" and a
    "module." prefix are accepted too. Pooler weights and id buffers are ignored (listed in the
    facts); missing keys, other unexpected keys and shape mismatches raise :class:`ModelError`
    (the reference's ``strict=False`` would silently keep random weights).

    A model built with ``random_init=False`` takes the checkpoint's tensors (and dtype) as its
    parameters; otherwise they are copied (and cast) into the existing ones.

    Returns facts for result.json: ``{"path", "size_bytes", "sha256", "n_tensors",
    "ignored_keys"}``.
    """
    path = Path(path)
    size = require_file(
        path, what=_WHAT, fix="download model.pytorch (zenodo 3733896) or pass the right path to it"
    )
    obj = torch_load(path, what=_WHAT, fix="check the download (size/sha256); " + _CHECKPOINT_HINT)
    state = unwrap_state_dict(
        obj, path, what=_WHAT, fix=_CHECKPOINT_HINT, nest_keys=("model", "state_dict")
    )
    expected = model.state_dict()
    ignored = sorted(k for k in state if k not in expected and _harmless(k))
    unexpected = [k for k in state if k not in expected and not _harmless(k)]
    missing = [k for k in expected if k not in state]
    if missing or unexpected:
        raise ModelError(
            f"BERT checkpoint {path} does not fit the network: "
            + key_mismatch(missing, unexpected),
            _CHECKPOINT_HINT,
        )
    for key, want_tensor in expected.items():
        want, got = tuple(want_tensor.shape), tuple(state[key].shape)
        if want != got:
            raise ModelError(
                f"BERT checkpoint {path}: tensor {key!r} has shape {got}, the network expects "
                f"{want}",
                "use the bert_config.json that belongs to this checkpoint (BERT-large: "
                "hidden 1024, 24 layers, vocab 30522)",
            )
    for key in ignored:
        del state[key]
    if any(t.is_meta for t in expected.values()):  # built with random_init=False
        state = {k: v.contiguous() for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
    else:
        model.load_state_dict(state, strict=True)
    facts = file_facts(path, size, len(state))
    facts["ignored_keys"] = ignored
    log.info(
        "loaded %d tensors from %s (sha256 %s), ignored %d",
        len(state),
        path,
        facts["sha256"][:12],
        len(ignored),
    )
    return facts
