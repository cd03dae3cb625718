"""The one interface both architectures implement, so search, translation, attention plots
and serving never ask which model they hold.

Batches: `src` [B, S] (ids + EOS, right-padded with PAD), `src_mask` [B, S] bool (True = real
token), `tgt_in` [B, T] (BOS + ids). Training runs the whole target at once (teacher forcing):

    hidden = model(src, src_mask, tgt_in)      # [B, T, d_model], before the vocabulary projection
    logits = model.logits(hidden)              # [..., V]; call it on non-pad positions only

Decoding feeds one token per step and carries a `DecoderState` between steps:

    memory = model.encode(src, src_mask)       # encoder outputs [B, S, *]
    state = model.init_state(memory, src_mask)
    log_probs, state, attention = model.decode_step(prev_tokens, memory, src_mask, state)
    state = model.reorder_state(state, indices)

`log_probs` is [B, V] float32; `attention` is None unless asked for, else [B, L, H, S]
(Transformer: cross-attention of every decoder layer and head; GRU: [B, 1, 1, S]).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from yiyan.config import ModelConfig
from yiyan.errors import ConfigError
from yiyan.vocab import SpecialIds


@dataclass
class DecoderState:
    """What `decode_step` carries from one step to the next; every tensor has the batch on dim 0.

    A step may write into the history in place (the Transformer's key/value cache), so a state
    is used once: to decode two continuations of one state, copy it first (`select`).
    """

    source: dict[str, Tensor]  # fixed per sentence, computed once by init_state (cross-attention keys/values)
    history: dict[str, Tensor]  # changes every step (self-attention key/value cache, GRU state)
    steps: int = 0  # decoding steps taken: the position of the next input token

    def select(self, indices: Tensor, *, source: bool = True) -> DecoderState:
        """Rows `indices` of every tensor; with `source=False` the per-sentence part is kept as is."""

        def pick(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
            return {name: tensor.index_select(0, indices) for name, tensor in tensors.items()}

        return DecoderState(pick(self.source) if source else self.source, pick(self.history), self.steps)


class Seq2SeqModel(nn.Module, ABC):
    """An encoder-decoder model: embeddings and the output projection live here, shared by both types.

    With `tie_embeddings`, source embedding, target embedding and output projection are one matrix
    (the state_dict lists that one tensor under all three names).
    """

    def __init__(self, config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__()
        if config.tie_embeddings and src_vocab_size != tgt_vocab_size:
            raise ConfigError(
                f"model.tie_embeddings needs one shared vocabulary, but the source has {src_vocab_size} "
                f"pieces and the target {tgt_vocab_size}; set model.tie_embeddings: false or tokenizer.joint: true"
            )
        for name in ("pad_id", "unk_id", "bos_id", "eos_id"):
            if getattr(config, name) >= min(src_vocab_size, tgt_vocab_size):
                raise ConfigError(
                    f"model.{name} ({getattr(config, name)}) is not below the vocabulary size "
                    f"({src_vocab_size} source / {tgt_vocab_size} target pieces)"
                )
        self.config = config
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size
        self.src_embedding = nn.Embedding(src_vocab_size, config.d_model)
        self.tgt_embedding = (
            self.src_embedding if config.tie_embeddings else nn.Embedding(tgt_vocab_size, config.d_model)
        )
        # logits = h·Eᵀ (+ b with `output_bias`, Marian's final_logits_bias)
        self.output_projection = nn.Linear(config.d_model, tgt_vocab_size, bias=config.output_bias)
        if config.tie_embeddings:
            self.output_projection.weight = self.tgt_embedding.weight  # logits = h·Eᵀ

    def init_parameters(self) -> None:
        """Every matrix Xavier-uniform (`model.init: xavier_uniform`) or N(0, 0.02²) (`normal`),
        every Linear bias zero; subclasses call it last."""
        for module in self.modules():
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for parameter in self.parameters():
            if parameter.dim() > 1:
                if self.config.init == "normal":
                    nn.init.normal_(parameter, std=0.02)
                else:
                    nn.init.xavier_uniform_(parameter)

    @property
    def special_ids(self) -> SpecialIds:
        """PAD, UNK, decoder start (BOS) and EOS of this model (model.json: model.*_id)."""
        c = self.config
        return SpecialIds(pad=c.pad_id, unk=c.unk_id, bos=c.bos_id, eos=c.eos_id)

    def logits(self, hidden: Tensor) -> Tensor:
        """[..., d_model] decoder outputs → [..., V] unnormalised scores."""
        return self.output_projection(hidden)

    def log_probs(self, hidden: Tensor) -> Tensor:
        """[..., d_model] → [..., V] log-probabilities, in float32 whatever the compute dtype."""
        return torch.log_softmax(self.logits(hidden).float(), dim=-1)

    @property
    def max_output_length(self) -> int | None:
        """The most tokens (before EOS) one decoding can produce, or None for no limit."""
        return None

    @abstractmethod
    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: [B, T, d_model] decoder outputs for every target position."""

    @abstractmethod
    def encode(self, src: Tensor, src_mask: Tensor) -> Tensor:
        """Encoder outputs [B, S, *]."""

    @abstractmethod
    def init_state(self, memory: Tensor, src_mask: Tensor) -> DecoderState:
        """The state before the first decoding step (what depends on the source alone is precomputed)."""

    @abstractmethod
    def decode_step(
        self,
        prev_tokens: Tensor,
        memory: Tensor,
        src_mask: Tensor,
        state: DecoderState,
        need_attention: bool = False,
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step: (log_probs [B, V] float32, new state, attention [B, L, H, S] or None)."""

    def reorder_state(
        self, state: DecoderState, indices: Tensor, *, within_sentences: bool = False
    ) -> DecoderState:
        """Keep rows `indices` (beam search reorder, finished sentences dropped, beams expanded).

        `within_sentences`: the indices only move rows between beams of one source sentence, whose
        per-sentence part is identical, so that part is kept instead of copied.
        """
        return state.select(indices, source=not within_sentences)


def scaled_embedding(embedding: nn.Embedding, tokens: Tensor, scale: bool) -> Tensor:
    """E[tokens], multiplied by √d_model when `scale` (Vaswani et al. §3.4)."""
    x = embedding(tokens)
    return x * math.sqrt(embedding.embedding_dim) if scale else x
