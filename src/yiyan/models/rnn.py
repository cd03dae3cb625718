"""GRU encoder-decoder with additive attention (Bahdanau et al., 2015) and input feeding (Luong et al., 2015).

    encoder:  h_1..h_S = (Bi)GRU(Dropout(E[src]))             padding is packed away, never enters the GRU
    start:    s_0 = tanh(W_s · mean_j h_j),  c_0 = 0           mean over real positions; one s_0 per layer
    step t:   s_t = GRU([E[y_{t-1}]; c_{t-1}], s_{t-1})       input feeding: the previous context goes in
              α_tj = softmax_j(vᵀ tanh(W₁·s_t + W₂·h_j))       exactly 0 on padding
              c_t = Σ_j α_tj·h_j
              o_t = Dropout(act(W_o·[s_t; c_t; E[y_{t-1}]]))   act: maxout (pool 2) / tanh / none; size d_model
              p(y_t) = softmax(W_y·o_t)                        W_y = E when tie_embeddings

E[·] is multiplied by √d_model when `scale_embeddings`, as in the Transformer. h_j has
2·hidden_size features when bidirectional (no projection: W₂ and W_o take them as they are).
Teacher forcing still steps through time in Python (input feeding makes each step depend on
the previous context); the embeddings and W₂·h are computed once for the whole sequence.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from yiyan.config import ModelConfig
from yiyan.models.attention import AdditiveAttention
from yiyan.models.base import DecoderState, Seq2SeqModel, scaled_embedding
from yiyan.models.dropout import Dropout


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of [B, S, E] over the positions where mask [B, S] is True → [B, E]."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(1) / weights.sum(1)


class RNNModel(Seq2SeqModel):
    def __init__(self, config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__(config, src_vocab_size, tgt_vocab_size)
        d, hidden = config.d_model, config.hidden_size
        memory_size = hidden * (2 if config.bidirectional else 1)
        self.dropout = Dropout(config.dropout)
        self.encoder = nn.GRU(
            d,
            hidden,
            config.encoder_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.encoder_layers > 1 else 0.0,  # between layers
        )
        self.bridge = nn.Linear(memory_size, config.decoder_layers * hidden)  # W_s
        self.decoder = nn.GRU(
            d + memory_size,
            hidden,
            config.decoder_layers,
            batch_first=True,
            dropout=config.dropout if config.decoder_layers > 1 else 0.0,
        )
        self.attention = AdditiveAttention(hidden, memory_size, hidden)
        maxout = config.output_layer == "maxout"
        self.output_layer = nn.Linear(hidden + memory_size + d, 2 * d if maxout else d)  # W_o
        self.init_parameters()

    def embed_target(self, tokens: Tensor) -> Tensor:
        return self.dropout(scaled_embedding(self.tgt_embedding, tokens, self.config.scale_embeddings))

    def encode(self, src: Tensor, src_mask: Tensor) -> Tensor:
        x = self.dropout(scaled_embedding(self.src_embedding, src, self.config.scale_embeddings))
        lengths = src_mask.sum(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        memory, _ = pad_packed_sequence(self.encoder(packed)[0], batch_first=True, total_length=src.size(1))
        return memory  # [B, S, E], zeros on padding

    def init_state(self, memory: Tensor, src_mask: Tensor) -> DecoderState:
        """keys W₂·h [B, S, H] (per sentence); hidden s_0 [B, layers, H] and context c_0 = 0 [B, E]."""
        s0 = torch.tanh(self.bridge(masked_mean(memory, src_mask)))  # s_0 = tanh(W_s · mean_j h_j)
        history = {
            "hidden": s0.unflatten(1, (self.config.decoder_layers, self.config.hidden_size)),
            "context": memory.new_zeros(memory.size(0), memory.size(2)),
        }
        return DecoderState({"keys": self.attention.project_memory(memory)}, history)

    def step(
        self,
        embedded: Tensor,
        hidden: Tensor,
        context: Tensor,
        memory: Tensor,
        keys: Tensor,
        src_mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One time step for E[y_{t-1}] [B, d], s_{t-1} [layers, B, H], c_{t-1} [B, E] → s_t, hidden, c_t, α_t."""
        x = torch.cat([embedded, context], dim=-1).unsqueeze(1)  # [E[y_{t-1}]; c_{t-1}]
        output, hidden = self.decoder(x, hidden)
        s = output.squeeze(1)  # top layer's s_t
        context, weights = self.attention(s, keys, memory, src_mask)
        return s, hidden, context, weights

    def output(self, s: Tensor, context: Tensor, embedded: Tensor) -> Tensor:
        """o = Dropout(act(W_o·[s; c; E[y_{t-1}]])), over any leading shape."""
        o = self.output_layer(torch.cat([s, context, embedded], dim=-1))
        if self.config.output_layer == "maxout":
            o = o.unflatten(-1, (-1, 2)).amax(-1)  # max over pairs of units
        elif self.config.output_layer == "tanh":
            o = torch.tanh(o)
        return self.dropout(o)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        memory = self.encode(src, src_mask)
        state = self.init_state(memory, src_mask)
        keys, context = state.source["keys"], state.history["context"]
        hidden = state.history["hidden"].transpose(0, 1).contiguous()  # [layers, B, H] for nn.GRU
        embedded = self.embed_target(tgt_in)  # [B, T, d]
        outputs, contexts = [], []
        for t in range(tgt_in.size(1)):
            s, hidden, context, _ = self.step(embedded[:, t], hidden, context, memory, keys, src_mask)
            outputs.append(s)
            contexts.append(context)
        return self.output(torch.stack(outputs, 1), torch.stack(contexts, 1), embedded)

    def decode_step(
        self,
        prev_tokens: Tensor,
        memory: Tensor,
        src_mask: Tensor,
        state: DecoderState,
        need_attention: bool = False,
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        embedded = self.embed_target(prev_tokens)
        hidden = state.history["hidden"].transpose(0, 1).contiguous()
        s, hidden, context, weights = self.step(
            embedded, hidden, state.history["context"], memory, state.source["keys"], src_mask
        )
        log_probs = self.log_probs(self.output(s, context, embedded))
        history = {"hidden": hidden.transpose(0, 1), "context": context}
        attention = weights[:, None, None, :] if need_attention else None  # [B, 1, 1, S]
        return log_probs, DecoderState(state.source, history, state.steps + 1), attention
