"""Attention: multi-head scaled dot-product (Transformer) and additive (Bahdanau, GRU model).

Shapes: B batch, H heads, T query positions, S key positions, d_k = d_model / H.
Masks are bool and broadcastable to the scores [B, H, T, S]: True = may be attended to.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KeyValue = tuple[Tensor, Tensor]  # keys and values, each [B, H, S, d_k]


def scaled_dot_product(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    causal: bool = False,
    dropout: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Attention(Q, K, V) = softmax(QKᵀ/√d_k)·V, over [B, H, T, d_k] queries and [B, H, S, d_k] keys/values.

    The fused kernel does the work unless the weights are asked for; then the same math runs
    explicitly and also returns softmax(QKᵀ/√d_k) [B, H, T, S] (exactly 0 where masked).
    """
    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal)
        return out, None
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # QKᵀ/√d_k  [B, H, T, S]
    if causal:  # position i sees keys 0..i
        mask = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return F.dropout(weights, dropout, training=dropout > 0) @ v, weights


def split_heads(x: Tensor, heads: int) -> Tensor:
    """[B, T, H·d_k] → [B, H, T, d_k] (a view)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """[B, H, T, d_k] → [B, T, H·d_k]: Concat(head_1, ..., head_H)."""
    return x.transpose(1, 2).flatten(2)


CACHE_GROWTH = 8  # positions a full key/value cache grows by (zeros, never attended to)


def append_to_cache(cache: KeyValue, k: Tensor, v: Tensor, length: int) -> KeyValue:
    """Write the newest position's keys/values [B, H, 1, d_k] at position `length` of the cache
    buffers [B, H, capacity, d_k], in place; a full cache first grows by CACHE_GROWTH positions.

    Buffers with room to spare cost no copy per step (a concatenation copies the whole history
    every step), and a beam reorder copies at most CACHE_GROWTH − 1 unused positions.
    """
    keys, values = cache
    if length == keys.size(2):
        grow = (0, 0, 0, CACHE_GROWTH)  # F.pad pads the last dim first: d_k by (0, 0), positions by (0, 8)
        keys, values = F.pad(keys, grow), F.pad(values, grow)
    keys[:, :, length : length + 1] = k
    values[:, :, length : length + 1] = v
    return keys, values


class SelfAttention(nn.Module):
    """MultiHead(X, X, X) = Concat(head_1..head_H)·W^O with one fused projection X·[W^Q W^K W^V].

    Incremental decoding passes `cache`, key/value buffers whose first `cached` positions are
    the earlier positions, and feeds only the newest position: its keys/values are written at
    `cached` (`append_to_cache`) and the buffers are returned. Without a cache, None is.
    """

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)  # [W^Q W^K W^V] for all heads at once
        self.out = nn.Linear(d_model, d_model)  # W^O

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        *,
        causal: bool = False,
        cache: KeyValue | None = None,
        cached: int = 0,
    ) -> tuple[Tensor, KeyValue | None]:
        q, k, v = split_heads(self.qkv(x), 3 * self.heads).chunk(3, dim=1)  # each [B, H, T, d_k]
        if cache is not None:  # keys/values of positions < t, then position t = `cached`
            cache = append_to_cache(cache, k, v, cached)
            k, v = cache[0][:, :, : cached + 1], cache[1][:, :, : cached + 1]
        dropout = self.dropout if self.training else 0.0
        out, _ = scaled_dot_product(q, k, v, mask, causal=causal, dropout=dropout)
        return self.out(merge_heads(out)), cache


class CrossAttention(nn.Module):
    """MultiHead(X, M, M): decoder queries X over encoder outputs M; K/V = M·[W^K W^V], fused.

    `project_memory` computes K/V once per sentence; decoding reuses them at every step.
    """

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(d_model, d_model)  # W^Q
        self.kv = nn.Linear(d_model, 2 * d_model)  # [W^K W^V]
        self.out = nn.Linear(d_model, d_model)  # W^O

    def project_memory(self, memory: Tensor) -> KeyValue:
        """[B, S, d_model] encoder outputs → keys, values [B, H, S, d_k]."""
        k, v = split_heads(self.kv(memory), 2 * self.heads).chunk(2, dim=1)
        return k, v

    def forward(
        self, x: Tensor, memory_kv: KeyValue, mask: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        q = split_heads(self.q(x), self.heads)
        dropout = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product(q, *memory_kv, mask, dropout=dropout, need_weights=need_weights)
        return self.out(merge_heads(out)), weights


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015): e_j = vᵀ tanh(W₁·s + W₂·h_j), α = softmax(e), context = Σ_j α_j·h_j."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, attention_size, bias=False)  # W₁
        self.key = nn.Linear(memory_size, attention_size)  # W₂ (and the bias inside the tanh)
        self.score = nn.Linear(attention_size, 1, bias=False)  # v

    def project_memory(self, memory: Tensor) -> Tensor:
        """W₂·h_j for every source position, once per sentence: [B, S, E] → [B, S, A]."""
        return self.key(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query s [B, Q], keys W₂·h [B, S, A], memory h [B, S, E], mask [B, S] → context [B, E], α [B, S]."""
        scores = self.score(torch.tanh(self.query(query).unsqueeze(1) + keys)).squeeze(-1)  # e_j  [B, S]
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # α_j, exactly 0 on padding
        context = (weights.unsqueeze(1) @ memory).squeeze(1)  # Σ_j α_j·h_j
        return context, weights
