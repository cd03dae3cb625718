"""Ensembles: several runs that share a vocabulary decode as one model.

    translator = ensemble_translator("runs/a", ["runs/b", "runs/c"])   # yiyan translate A --ensemble B C

`EnsembleModel` implements the decoding half of the `Seq2SeqModel` interface (encode, init_state,
decode_step, reorder_state), so every search — greedy, beam, n-best, sampling, glossary — runs
on it unchanged. Each member keeps its own encoder output and decoder state (its own KV cache,
or GRU state), stored side by side: the ensemble's memory is the members' encoder outputs
concatenated on the last dimension, its state the members' state tensors under prefixed names.

Combination: at every step the ensemble's next-token scores are the *arithmetic mean of the
members' log-probabilities*, (1/M) Σₘ log pₘ(y | y<t, x) — the log of the geometric mean of the
distributions, unnormalised (OpenNMT-py and Marian do the same; fairseq instead averages the
probabilities, logsumexp − log M). Two reasons: it is a product of experts, so a token any member
finds very unlikely stays unlikely; and an ensemble of a model with itself is exactly that model,
bit for bit ((x + x) / 2 = x in floating point). Scores of ensemble hypotheses are therefore
sums of averaged log-probabilities. Attention weights, when asked for, are the first member's.

Members must share the vocabulary (the same pieces in the same order, source and target), the
special ids and the architecture type (all Transformers or all GRUs); their sizes may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from yiyan.checkpoint import load_model
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import CheckpointError
from yiyan.models.base import DecoderState, Seq2SeqModel
from yiyan.translator import Translator


class EnsembleModel(Seq2SeqModel):
    def __init__(self, members: Sequence[Seq2SeqModel], names: Sequence[str] | None = None) -> None:
        nn.Module.__init__(self)  # no embeddings of its own: the members hold every parameter
        if not members:
            raise CheckpointError("an ensemble needs at least one model")
        names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(members))]
        first = members[0]
        for member, name in zip(members[1:], names[1:], strict=True):
            _check_compatible(first, names[0], member, name)
        self.members = nn.ModuleList(members)
        self.config = first.config
        self.src_vocab_size, self.tgt_vocab_size = first.src_vocab_size, first.tgt_vocab_size
        self._memory_sizes: list[int] = []

    @property
    def models(self) -> list[Seq2SeqModel]:
        return [member for member in self.members if isinstance(member, Seq2SeqModel)]

    @property
    def max_output_length(self) -> int | None:
        limits = [m.max_output_length for m in self.models if m.max_output_length is not None]
        return min(limits) if limits else None

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        raise CheckpointError("an ensemble only decodes; train, fine-tune or score its runs one by one")

    def encode(self, src: Tensor, src_mask: Tensor) -> Tensor:
        memories = [model.encode(src, src_mask) for model in self.models]
        self._memory_sizes = [memory.size(-1) for memory in memories]
        return torch.cat(memories, dim=-1)

    def _memories(self, memory: Tensor) -> list[Tensor]:
        # contiguous copies: a member computes on them exactly as on its own encoder output
        return [part.contiguous() for part in memory.split(self._memory_sizes, dim=-1)]

    def _split(self, state: DecoderState) -> list[DecoderState]:
        parts = [DecoderState({}, {}, state.steps) for _ in self.members]
        for side, merged in (("source", state.source), ("history", state.history)):
            for key, tensor in merged.items():
                index, name = key.split(":", 1)
                getattr(parts[int(index)], side)[name] = tensor
        return parts

    @staticmethod
    def _merge(parts: Sequence[DecoderState]) -> DecoderState:
        return DecoderState(
            {f"{i}:{k}": v for i, part in enumerate(parts) for k, v in part.source.items()},
            {f"{i}:{k}": v for i, part in enumerate(parts) for k, v in part.history.items()},
            parts[0].steps,  # every member takes the same steps
        )

    def init_state(self, memory: Tensor, src_mask: Tensor) -> DecoderState:
        return self._merge(
            [model.init_state(part, src_mask) for model, part in zip(self.models, self._memories(memory))]
        )

    def decode_step(
        self,
        prev_tokens: Tensor,
        memory: Tensor,
        src_mask: Tensor,
        state: DecoderState,
        need_attention: bool = False,
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        log_probs, states, attention = [], [], None
        for i, (model, part, member_state) in enumerate(
            zip(self.models, self._memories(memory), self._split(state), strict=True)
        ):
            # every member computes attention when asked (the same code path as alone, so a model
            # ensembled with itself stays exact); the first member's is returned
            member_log_probs, new_state, member_attention = model.decode_step(
                prev_tokens, part, src_mask, member_state, need_attention
            )
            log_probs.append(member_log_probs)
            states.append(new_state)
            attention = member_attention if i == 0 else attention
        # arithmetic mean of the log-probabilities (module docstring)
        return torch.stack(log_probs).mean(0), self._merge(states), attention

    def reorder_state(
        self, state: DecoderState, indices: Tensor, *, within_sentences: bool = False
    ) -> DecoderState:
        return self._merge(
            [
                model.reorder_state(part, indices, within_sentences=within_sentences)
                for model, part in zip(self.models, self._split(state), strict=True)
            ]
        )


def _check_compatible(first: Seq2SeqModel, first_name: str, other: Seq2SeqModel, name: str) -> None:
    def refuse(what: str, a: object, b: object) -> CheckpointError:
        return CheckpointError(
            f"--ensemble: {first_name} and {name} have different {what} ({a} vs {b}); "
            "an ensemble needs runs that share one vocabulary and architecture type"
        )

    if first.config.type != other.config.type:
        raise refuse("architectures", first.config.type, other.config.type)
    sizes = (first.src_vocab_size, first.tgt_vocab_size)
    if sizes != (other.src_vocab_size, other.tgt_vocab_size):
        raise refuse("vocabulary sizes", sizes, (other.src_vocab_size, other.tgt_vocab_size))
    if first.special_ids != other.special_ids:
        raise refuse("special ids", first.special_ids, other.special_ids)


def check_same_vocabulary(first: Tokenizer, first_name: str, other: Tokenizer, name: str) -> None:
    """The same pieces in the same order on both sides (the files may differ in metadata)."""
    for side in ("src", "tgt"):
        a, b = first.vocab(side), other.vocab(side)
        if a != b:
            where = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            raise CheckpointError(
                f"--ensemble: {first_name} and {name} have different vocabularies ({len(a)} vs {len(b)} "
                f"{side} pieces, first difference at id {where}); an ensemble needs runs that share one "
                "tokenizer (train them from the same prepared data)"
            )


def ensemble_translator(
    run_dir: str | Path, others: Sequence[str | Path], *, device: str = "auto"
) -> Translator:
    """A Translator for `run_dir` (its tokenizer and decoding config) whose model is the ensemble
    of its model and those of `others`."""
    translator = Translator.load(run_dir, device=device)
    members, names = [translator.model], [str(run_dir)]
    for other in others:
        members.append(load_model(other, translator.device))
        tokenizer = Tokenizer.load(Path(other) / "tokenizer")
        check_same_vocabulary(translator.tokenizer, str(run_dir), tokenizer, str(other))
        names.append(str(other))
    translator.model = EnsembleModel(members, names)
    return translator
