"""Transformer (Vaswani et al., 2017, "Attention Is All You Need").

    encoder:  x = Dropout(E[src]·√d + PE);  N × [self-attention, feed-forward]
    decoder:  y = Dropout(E[tgt]·√d + PE);  N × [causal self-attention, cross-attention over x, feed-forward]
    output:   log softmax(y·Eᵀ)

Every sublayer sits in a residual connection, normalised after (`norm: post`, the paper) or
before (`norm: pre`, which adds a final LayerNorm to each stack):

    post:  x = LayerNorm(x + Dropout(Sublayer(x)))
    pre:   x = x + Dropout(Sublayer(LayerNorm(x)))

Decoding is incremental: each decoder layer caches its self-attention keys/values in buffers
with room to grow (`attention.append_to_cache`), so a step feeds only the newest token (at
position t = `DecoderState.steps`, the tokens decoded so far); the cross-attention keys/values
are computed once per sentence in `init_state`.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn

from yiyan.config import ModelConfig
from yiyan.models.attention import CACHE_GROWTH, CrossAttention, KeyValue, SelfAttention
from yiyan.models.base import DecoderState, Seq2SeqModel, scaled_embedding
from yiyan.models.dropout import Dropout

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "swish": nn.SiLU}


def sinusoidal_positions(length: int, d_model: int, layout: str = "interleaved") -> Tensor:
    """[length, d] with ω_i = 1 / 10000^(2i/d), i < ⌈d/2⌉:

    interleaved (Vaswani et al.):   PE(pos, 2i) = sin(pos·ω_i),  PE(pos, 2i+1) = cos(pos·ω_i)
    halves (Marian, fairseq):       PE(pos, i) = sin(pos·ω_i),   PE(pos, ⌈d/2⌉ + i) = cos(pos·ω_i)
    """
    dtype = torch.float64 if layout == "halves" else torch.float32  # Marian computes its table in float64
    position = torch.arange(length, dtype=dtype).unsqueeze(1)
    inverse_frequency = torch.exp(torch.arange(0, d_model, 2, dtype=dtype) * (-math.log(10000.0) / d_model))
    angles = position * inverse_frequency  # [length, ⌈d/2⌉]
    table = torch.zeros(length, d_model, dtype=dtype)
    if layout == "halves":
        half = angles.size(1)
        table[:, :half] = torch.sin(angles)
        table[:, half:] = torch.cos(angles[:, : d_model - half])
    else:
        table[:, 0::2] = torch.sin(angles)
        table[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return table.float()


class FeedForward(nn.Sequential):
    """FFN(x) = W₂·act(W₁·x + b₁) + b₂  (no dropout inside, as in the paper: it would be the
    costliest dropout of all, on the widest activations)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(
            nn.Linear(config.d_model, config.ff_size),
            ACTIVATIONS[config.activation](),
            nn.Linear(config.ff_size, config.d_model),
        )


class Block(nn.Module):
    """The residual wiring every sublayer shares (pre- or post-LayerNorm)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.pre_norm = config.norm == "pre"
        self.dropout = Dropout(config.dropout)

    def pre(self, x: Tensor, norm: nn.LayerNorm) -> Tensor:
        """The sublayer's input: LayerNorm(x) (pre-norm) or x (post-norm)."""
        return norm(x) if self.pre_norm else x

    def post(self, x: Tensor, out: Tensor, norm: nn.LayerNorm) -> Tensor:
        """x + Dropout(out), then LayerNorm for post-norm."""
        x = x + self.dropout(out)
        return x if self.pre_norm else norm(x)


class EncoderLayer(Block):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.self_attention = SelfAttention(config.d_model, config.heads, config.attention_dropout)
        self.feed_forward = FeedForward(config)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h, _ = self.self_attention(self.pre(x, self.norm1), mask)
        x = self.post(x, h, self.norm1)
        return self.post(x, self.feed_forward(self.pre(x, self.norm2)), self.norm2)


class DecoderLayer(Block):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.self_attention = SelfAttention(config.d_model, config.heads, config.attention_dropout)
        self.cross_attention = CrossAttention(config.d_model, config.heads, config.attention_dropout)
        self.feed_forward = FeedForward(config)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.norm3 = nn.LayerNorm(config.d_model)

    def forward(
        self,
        y: Tensor,
        memory_kv: KeyValue,
        src_mask: Tensor,
        cache: KeyValue | None = None,
        cached: int = 0,
        need_attention: bool = False,
    ) -> tuple[Tensor, KeyValue | None, Tensor | None]:
        """Whole target (cache None: causal mask) or one new position after `cached` cached ones.

        Returns the outputs, this layer's self-attention key/value cache (None without one),
        and the cross-attention weights [B, H, T, S] when asked for.
        """
        h, self_kv = self.self_attention(
            self.pre(y, self.norm1), causal=cache is None, cache=cache, cached=cached
        )
        y = self.post(y, h, self.norm1)
        h, weights = self.cross_attention(self.pre(y, self.norm2), memory_kv, src_mask, need_attention)
        y = self.post(y, h, self.norm2)
        return self.post(y, self.feed_forward(self.pre(y, self.norm3)), self.norm3), self_kv, weights


class Transformer(Seq2SeqModel):
    def __init__(self, config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__(config, src_vocab_size, tgt_vocab_size)
        self.register_buffer(
            "positions",
            sinusoidal_positions(config.max_positions, config.d_model, config.position_layout),
            persistent=False,
        )
        self.positions: Tensor
        self.dropout = Dropout(config.dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        pre_norm = config.norm == "pre"
        self.encoder_norm = nn.LayerNorm(config.d_model) if pre_norm else nn.Identity()
        self.decoder_norm = nn.LayerNorm(config.d_model) if pre_norm else nn.Identity()
        self.init_parameters()

    @property
    def max_output_length(self) -> int:
        return self.config.max_positions - 1  # BOS takes position 0; the EOS step the last one

    @property
    def decoder(self) -> list[DecoderLayer]:
        return cast("list[DecoderLayer]", list(self.decoder_layers))

    def embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        """Dropout(E[tokens]·√d + PE[offset : offset + T])  [B, T, d]."""
        end = offset + tokens.size(1)
        if end > self.config.max_positions:
            raise ValueError(f"{end} positions exceed model.max_positions ({self.config.max_positions})")
        x = scaled_embedding(embedding, tokens, self.config.scale_embeddings)
        return self.dropout(x + self.positions[offset:end])

    def encode(self, src: Tensor, src_mask: Tensor) -> Tensor:
        mask = src_mask[:, None, None, :]  # [B, 1, 1, S]: every query sees the real source tokens
        x = self.embed(self.src_embedding, src)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return self.encoder_norm(x)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        memory = self.encode(src, src_mask)
        mask = src_mask[:, None, None, :]
        y = self.embed(self.tgt_embedding, tgt_in)
        for layer in self.decoder:
            y, _, _ = layer(y, layer.cross_attention.project_memory(memory), mask)
        return self.decoder_norm(y)

    def init_state(self, memory: Tensor, src_mask: Tensor) -> DecoderState:
        """Cross-attention K/V of every layer; empty self-attention caches [B, H, 8, d_k] (room for 8)."""
        source, history = {}, {}
        shape = (memory.size(0), self.config.heads, CACHE_GROWTH, self.config.d_model // self.config.heads)
        for i, layer in enumerate(self.decoder):
            source[f"cross_k{i}"], source[f"cross_v{i}"] = layer.cross_attention.project_memory(memory)
            history[f"self_k{i}"], history[f"self_v{i}"] = memory.new_zeros(shape), memory.new_zeros(shape)
        return DecoderState(source, history)

    def decode_step(
        self,
        prev_tokens: Tensor,
        memory: Tensor,
        src_mask: Tensor,
        state: DecoderState,
        need_attention: bool = False,
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        step = state.steps  # positions decoded so far = position of prev_tokens
        y = self.embed(self.tgt_embedding, prev_tokens.unsqueeze(1), offset=step)
        mask = src_mask[:, None, None, :]
        history: dict[str, Tensor] = {}
        weights: list[Tensor] = []
        for i, layer in enumerate(self.decoder):
            cache = (state.history[f"self_k{i}"], state.history[f"self_v{i}"])
            memory_kv = (state.source[f"cross_k{i}"], state.source[f"cross_v{i}"])
            y, self_kv, w = layer(y, memory_kv, mask, cache, step, need_attention)
            history[f"self_k{i}"], history[f"self_v{i}"] = cast("KeyValue", self_kv)
            if w is not None:
                weights.append(w.squeeze(2))  # [B, H, S]
        log_probs = self.log_probs(self.decoder_norm(y).squeeze(1))
        attention = torch.stack(weights, dim=1) if need_attention else None  # [B, L, H, S]
        return log_probs, DecoderState(state.source, history, step + 1), attention
