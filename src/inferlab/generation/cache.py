"""The engine's KV cache: static rows, one per running sequence (a greedy request or one beam).

Each layer holds a key and a value tensor of shape ``[rows, kv_heads, max_len, head_dim]``
allocated once. The rows in use are always ``0 .. used-1`` (compact): a sequence that leaves
gives its row to the last one, whose cache is copied over (one row, only the tokens it holds).
A decode step then attends over the views ``k[:used, :, :longest]`` with no gather, and the
rows of the step's batch are the rows of the cache, in order.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Row(Protocol):
    """What the cache needs of a sequence: its row and how many tokens it holds."""

    row: int
    length: int


class KVCache:
    """Static per-row key/value storage for every layer, with compact row bookkeeping."""

    def __init__(
        self,
        *,
        num_layers: int,
        rows: int,
        kv_heads: int,
        max_len: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        shape = (rows, kv_heads, max_len, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.capacity = rows
        self.max_len = max_len
        self.seqs: list[Row] = []

    @property
    def used(self) -> int:
        return len(self.seqs)

    @property
    def free(self) -> int:
        return self.capacity - len(self.seqs)

    def add(self, seq: Row) -> int:
        """Give ``seq`` the next row (its ``row`` is set) and return it."""
        if not self.free:
            raise RuntimeError("no free KV cache row")
        seq.row = len(self.seqs)
        self.seqs.append(seq)
        return seq.row

    def remove(self, seq: Row) -> None:
        """Free ``seq``'s row; the last sequence moves into it (its cache rows copied)."""
        row = seq.row
        if row >= len(self.seqs) or self.seqs[row] is not seq:
            raise RuntimeError("sequence does not hold the row it names")
        last = self.seqs.pop()
        if last is not seq:
            n = last.length
            for k, v in zip(self.keys, self.values, strict=True):
                k[row, :, :n] = k[last.row, :, :n]
                v[row, :, :n] = v[last.row, :, :n]
            last.row = row
            self.seqs[row] = last
        seq.row = -1

    def copy_rows(self, dst: list[int], src: list[int], length: int) -> None:
        """Rows ``dst[i]`` take the first ``length`` cached tokens of rows ``src[i]`` (all read
        before any is written, so a beam reorder may permute rows)."""
        pairs = [(d, s) for d, s in zip(dst, src, strict=True) if d != s]
        if not pairs or length == 0:
            return
        device = self.keys[0].device
        d_idx = torch.tensor([d for d, _ in pairs], device=device)
        s_idx = torch.tensor([s for _, s in pairs], device=device)
        for tensor in (*self.keys, *self.values):
            head = tensor[:, :, :length]
            head.index_copy_(0, d_idx, head.index_select(0, s_idx))

    def write_prompt(self, layer: int, row: int, key: Tensor, value: Tensor) -> None:
        """Store a prompt's keys/values ``[1, kv_heads, P, head_dim]`` at positions ``0..P-1``."""
        n = key.shape[2]
        self.keys[layer][row, :, :n] = key[0]
        self.values[layer][row, :, :n] = value[0]

    def step_index(self, positions: Tensor) -> Tensor:
        """Flat indices (into a layer's ``[rows * kv_heads * max_len, head_dim]`` view) of one new
        token per row ``0..n-1`` at ``positions[i]``: computed once per step, used by every
        layer (``index_copy_`` on them is far cheaper than advanced-index assignment)."""
        n = positions.shape[0]
        heads = self.keys[0].shape[1]
        rows = torch.arange(n, device=positions.device)[:, None] * heads
        slots = (rows + torch.arange(heads, device=positions.device)[None, :]) * self.max_len
        return (slots + positions[:, None]).reshape(-1)

    def write_step(self, layer: int, index: Tensor, key: Tensor, value: Tensor) -> None:
        """Store one new token per row (``key``: ``[n, kv_heads, 1, head_dim]``) at the flat
        ``index`` from :meth:`step_index`."""
        dim = key.shape[-1]
        self.keys[layer].view(-1, dim).index_copy_(0, index, key.reshape(-1, dim))
        self.values[layer].view(-1, dim).index_copy_(0, index, value.reshape(-1, dim))

    def view(self, layer: int, n: int, length: int) -> tuple[Tensor, Tensor]:
        """Keys and values of rows ``0..n-1``, positions ``0..length-1`` (views, no copy)."""
        return self.keys[layer][:n, :, :length], self.values[layer][:n, :, :length]
