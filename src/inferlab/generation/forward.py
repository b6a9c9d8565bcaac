"""The model's forward pass against the engine's KV cache (Llama and GPT-J).

The layers' own modules do the work (embeddings, norms, projections, MLPs, rotary tables and the
architecture's rotary function from `transformers`), in the order `transformers` runs them;
only the attention is the engine's: it writes each new key/value into :class:`KVCache` and
attends with ``scaled_dot_product_attention``:

- **prefill**: one prompt, no padding, causal attention over itself (as ``generate`` on one
  unpadded prompt), its keys/values stored in the sequence's row;
- **decode**: one token for each of the rows ``0..n-1`` at its own position, attending over the
  cached views ``[:n, :, :longest]`` with a per-row length mask; grouped-query heads are packed
  (``[n, kv_heads, groups, dim]``) instead of repeating the keys.

Logits come back as float32 for the last position only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from inferlab.generation.cache import KVCache
from inferlab.generation.models import architecture

# (layer index, q [n, H, s, D], k [n, Hkv, s, D], v [n, Hkv, s, D]) -> [n, H, s, D]
Attend = Callable[[int, Tensor, Tensor, Tensor], Tensor]


class ModelRunner:
    """A Llama or GPT-J model's layers run against a :class:`KVCache`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.arch = architecture(model)
        config = model.config
        if self.arch == "llama":
            base = model.model
            self.embed, self.layers, self.norm = base.embed_tokens, base.layers, base.norm
            self.num_heads = int(config.num_attention_heads)
            self.kv_heads = int(config.num_key_value_heads)
            self.head_dim = int(
                getattr(config, "head_dim", None) or config.hidden_size // self.num_heads
            )
            self.scale = float(self.layers[0].self_attn.scaling)
        else:
            base = model.transformer
            self.embed, self.layers, self.norm = base.wte, base.h, base.ln_f
            self.num_heads = self.kv_heads = int(config.n_head)
            self.head_dim = int(config.n_embd) // self.num_heads
            self.scale = float(self.layers[0].attn.scaling)
        self.rotary = base.rotary_emb
        self.lm_head = model.lm_head
        self.groups = self.num_heads // self.kv_heads
        self.vocab_size = int(config.vocab_size)
        self.max_positions = int(
            getattr(config, "max_position_embeddings", None) or config.n_positions
        )
        param = next(model.parameters())
        self.dtype, self.device = param.dtype, param.device
        # On the CPU, MKL's GEMM against the [vocab, hidden] head weight is ~25-60 % slower (and
        # erratic for some batch sizes) than against its transpose: keep a [hidden, vocab] copy
        self._head_t: Tensor | None = None
        if self.device.type == "cpu":
            self._head_t = self.lm_head.weight.detach().t().contiguous()

    def new_cache(self, rows: int, max_len: int) -> KVCache:
        return KVCache(
            num_layers=len(self.layers),
            rows=rows,
            kv_heads=self.kv_heads,
            max_len=max_len,
            head_dim=self.head_dim,
            dtype=self.dtype,
            device=self.device,
        )

    # ---- the two passes ------------------------------------------------------------------

    def prefill(self, cache: KVCache, row: int, prompt: list[int]) -> Tensor:
        """Run ``prompt`` into ``row`` of the cache; float32 logits ``[1, vocab]`` of its last
        position."""
        ids = torch.tensor([prompt], dtype=torch.long, device=self.device)
        positions = torch.arange(len(prompt), device=self.device)[None, :]

        def attend(layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
            cache.write_prompt(layer, row, k, v)
            return F.scaled_dot_product_attention(
                q, k, v, is_causal=q.shape[2] > 1, scale=self.scale, enable_gqa=self.groups > 1
            )

        return self._run(ids, positions, attend)

    def decode(self, cache: KVCache, tokens: Tensor, positions: Tensor) -> Tensor:
        """One token per row ``0..n-1`` (``tokens``, ``positions``: ``[n]`` on the device);
        float32 logits ``[n, vocab]``."""
        n = tokens.shape[0]
        longest = int(positions.max()) + 1
        keep = torch.arange(longest, device=self.device)[None, :] <= positions[:, None]
        mask = keep[:, None, None, :]  # [n, 1, 1, longest]
        index = cache.step_index(positions)

        def attend(layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
            cache.write_step(layer, index, k, v)
            keys, values = cache.view(layer, n, longest)
            if self.groups > 1:  # [n, H, 1, D] -> [n, Hkv, groups, D]: one query row per head
                q = q.reshape(n, self.kv_heads, self.groups, self.head_dim)
                out = F.scaled_dot_product_attention(q, keys, values, mask, scale=self.scale)
                return out.reshape(n, self.num_heads, 1, self.head_dim)
            return F.scaled_dot_product_attention(q, keys, values, mask, scale=self.scale)

        return self._run(tokens[:, None], positions[:, None], attend)

    # ---- the layers ----------------------------------------------------------------------

    def _run(self, ids: Tensor, positions: Tensor, attend: Attend) -> Tensor:
        hidden = self.embed(ids)
        if self.arch == "llama":
            cos, sin = self.rotary(hidden, positions)
            for i, layer in enumerate(self.layers):
                hidden = self._llama_layer(i, layer, hidden, cos, sin, attend)
        else:
            sin, cos = self.rotary(hidden, positions)
            for i, layer in enumerate(self.layers):
                hidden = self._gptj_layer(i, layer, hidden, sin, cos, attend)
        hidden = self.norm(hidden[:, -1, :])
        if self._head_t is None:
            return self.lm_head(hidden).to(torch.float32)
        logits = torch.matmul(hidden, self._head_t)
        if self.lm_head.bias is not None:
            logits = logits + self.lm_head.bias
        return logits.to(torch.float32)

    def _llama_layer(
        self, i: int, layer: Any, hidden: Tensor, cos: Tensor, sin: Tensor, attend: Attend
    ) -> Tensor:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        attn = layer.self_attn
        x = layer.input_layernorm(hidden)
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = attn.q_proj(x).view(shape).transpose(1, 2)
        k = attn.k_proj(x).view(shape).transpose(1, 2)
        v = attn.v_proj(x).view(shape).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        out = attend(i, q, k, v).transpose(1, 2).reshape(*x.shape[:-1], -1)
        hidden = hidden + attn.o_proj(out)
        return hidden + layer.mlp(layer.post_attention_layernorm(hidden))

    def _gptj_layer(
        self, i: int, layer: Any, hidden: Tensor, sin: Tensor, cos: Tensor, attend: Attend
    ) -> Tensor:
        from transformers.models.gptj.modeling_gptj import apply_rotary_pos_emb

        attn = layer.attn
        x = layer.ln_1(hidden)
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = attn.q_proj(x).view(shape)
        k = attn.k_proj(x).view(shape)
        v = attn.v_proj(x).view(shape).transpose(1, 2)
        rot = attn.rotary_dim
        if rot is not None:
            k = torch.cat([apply_rotary_pos_emb(k[..., :rot], sin, cos), k[..., rot:]], dim=-1)
            q = torch.cat([apply_rotary_pos_emb(q[..., :rot], sin, cos), q[..., rot:]], dim=-1)
        else:
            k = apply_rotary_pos_emb(k, sin, cos)
            q = apply_rotary_pos_emb(q, sin, cos)
        out = attend(i, q.transpose(1, 2), k.transpose(1, 2), v)
        out = attn.out_proj(out.transpose(1, 2).reshape(*x.shape[:-1], -1))
        return out + layer.mlp(x) + hidden
