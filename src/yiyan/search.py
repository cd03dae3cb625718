"""Greedy and beam search over the `Seq2SeqModel` incremental interface.

Both decode a batch of sentences at once and share the step rules:
  * PAD and BOS are never produced;
  * a sentence that has produced `max_lengths` tokens may only produce EOS next, so every
    output has at most max_length tokens and every score includes an EOS;
  * with `no_repeat_ngram_size` n, a token that would repeat an n-gram already in the output
    is ruled out (EOS never is);
  * sentences that are finished leave the batch (memory and decoder state shrink with them).

Beam search keeps `beam_size` rows per sentence and picks the 2k best (beam, token) extensions
of all k·V at once; those ending in EOS among the k best are finished hypotheses, the k best
others form the next beam. A sentence is done when it has k finished hypotheses (or reaches its
maximum length). Finished hypotheses are ranked by score / |y|^α (|y| counts EOS; α = 0 ranks
by the summed log-probability), the simple form fairseq uses. With beam_size 1 it makes
exactly the choices greedy search makes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from yiyan.config import DecodingConfig
from yiyan.models.base import DecoderState, Seq2SeqModel
from yiyan.vocab import BOS_ID, EOS_ID, PAD_ID

NEVER_PRODUCED = [PAD_ID, BOS_ID]


@dataclass
class Hypothesis:
    tokens: list[int]  # the output, without BOS or EOS
    score: float  # summed log-probability of the tokens and the EOS
    attention: Tensor | None = None  # [len(tokens) + 1, L, H, S_real]: one row per output token and the EOS


@contextmanager
def _decoding(model: Seq2SeqModel) -> Iterator[None]:
    """inference mode, and eval mode for the duration (the caller's mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _block_repeated_ngrams(log_probs: Tensor, history: Tensor, n: int) -> None:
    """Rule out every token that would complete an n-gram already in `history` [R, t]."""
    if history.size(1) < n:
        return
    ngrams = history.unfold(1, n, 1)  # [R, t - n + 1, n]
    prefix = history[:, history.size(1) - n + 1 :]  # the last n - 1 tokens
    seen = (ngrams[:, :, :-1] == prefix.unsqueeze(1)).all(-1)  # n-grams that start like the next one
    rows, which = seen.nonzero(as_tuple=True)
    log_probs[rows, ngrams[rows, which, -1]] = float("-inf")


def _constrain(log_probs: Tensor, tokens: Tensor, at_limit: Tensor, no_repeat_ngram_size: int) -> None:
    """Apply the step rules in place to log_probs [R, V]; tokens [R, 1 + t] starts with BOS."""
    log_probs[:, NEVER_PRODUCED] = float("-inf")
    if no_repeat_ngram_size > 0:
        _block_repeated_ngrams(log_probs, tokens[:, 1:], no_repeat_ngram_size)
    if at_limit.any():  # only EOS left
        eos = log_probs[:, EOS_ID].clone()
        log_probs.masked_fill_(at_limit.unsqueeze(1), float("-inf"))
        log_probs[:, EOS_ID] = eos


@dataclass
class _Rows:
    """The rows still decoding and everything indexed by them (one row per sentence or per beam)."""

    memory: Tensor
    src_mask: Tensor
    state: DecoderState
    tokens: Tensor  # [R, 1 + t]: BOS and the tokens chosen so far
    attention: Tensor | None  # [R, t, L, H, S] when asked for

    def step(self, model: Seq2SeqModel, need_attention: bool) -> Tensor:
        """Log-probabilities [R, V] of the next token (the step's attention joins the history)."""
        log_probs, self.state, attention = model.decode_step(
            self.tokens[:, -1], self.memory, self.src_mask, self.state, need_attention
        )
        if attention is not None:
            attention = attention.unsqueeze(1)
            self.attention = (
                attention if self.attention is None else torch.cat([self.attention, attention], 1)
            )
        return log_probs

    def extend(self, model: Seq2SeqModel, next_tokens: Tensor, origin: Tensor | None = None) -> None:
        """Append `next_tokens`; with `origin`, row i first continues row origin[i] of the same sentence."""
        tokens = self.tokens
        if origin is not None:
            tokens = tokens[origin]
            self.state = model.reorder_state(self.state, origin, within_sentences=True)
            if self.attention is not None:
                self.attention = self.attention[origin]
        self.tokens = torch.cat([tokens, next_tokens.unsqueeze(1)], dim=1)

    def keep(self, model: Seq2SeqModel, rows: Tensor) -> None:
        """Drop every row not in `rows` (finished sentences)."""
        self.memory, self.src_mask = self.memory[rows], self.src_mask[rows]
        self.state = model.reorder_state(self.state, rows)
        self.tokens = self.tokens[rows]
        if self.attention is not None:
            self.attention = self.attention[rows]

    def hypothesis(self, row: int, score: float) -> Hypothesis:
        """`row` ends with EOS at this step."""
        attention = self.attention
        if attention is not None:  # the real source positions only; a copy, so the history can go
            attention = attention[row, ..., : int(self.src_mask[row].sum())].clone()
        return Hypothesis(self.tokens[row, 1:].tolist(), score, attention)


def _start(model: Seq2SeqModel, src: Tensor, src_mask: Tensor, rows_per_sentence: int) -> _Rows:
    memory = model.encode(src, src_mask)
    state = model.init_state(memory, src_mask)
    if rows_per_sentence > 1:  # the source side is computed once, then copied to every beam
        expand = torch.arange(src.size(0), device=src.device).repeat_interleave(rows_per_sentence)
        memory, src_mask, state = memory[expand], src_mask[expand], model.reorder_state(state, expand)
    tokens = torch.full((memory.size(0), 1), BOS_ID, dtype=torch.long, device=src.device)
    return _Rows(memory, src_mask, state, tokens, None)


def _limit(model: Seq2SeqModel, max_lengths: Tensor) -> Tensor:
    limit = model.max_output_length
    return max_lengths if limit is None else max_lengths.clamp(max=limit)


def greedy_search(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    max_lengths: Tensor,
    *,
    no_repeat_ngram_size: int = 0,
    need_attention: bool = False,
) -> list[Hypothesis]:
    """The most probable next token at every step, for each sentence of the batch."""
    results: list[Hypothesis | None] = [None] * src.size(0)
    if not results:
        return []
    with _decoding(model):
        rows = _start(model, src, src_mask, 1)
        sentences = torch.arange(src.size(0), device=src.device)  # sentence of each row
        max_lengths = _limit(model, max_lengths.to(src.device))
        scores = torch.zeros(src.size(0), device=src.device)
        for step in range(int(max_lengths.max()) + 1):
            log_probs = rows.step(model, need_attention)
            _constrain(log_probs, rows.tokens, step >= max_lengths, no_repeat_ngram_size)
            best, next_tokens = log_probs.max(dim=-1)
            scores += best
            finished = next_tokens == EOS_ID
            if finished.any():
                for row in finished.nonzero().flatten().tolist():
                    results[int(sentences[row])] = rows.hypothesis(row, float(scores[row]))
                alive = (~finished).nonzero().flatten()
                if len(alive) == 0:
                    break
                rows.keep(model, alive)
                sentences, scores, max_lengths, next_tokens = (
                    t[alive] for t in (sentences, scores, max_lengths, next_tokens)
                )
            rows.extend(model, next_tokens)
    return _complete(results)


def beam_search(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    beam_size: int,
    length_penalty: float,
    max_lengths: Tensor,
    no_repeat_ngram_size: int = 0,
    need_attention: bool = False,
) -> list[Hypothesis]:
    """The best finished hypothesis (by score / |y|^length_penalty) of a beam search per sentence."""
    k = beam_size
    finished: list[list[tuple[float, Hypothesis]]] = [[] for _ in range(src.size(0))]
    if not finished:
        return []
    with _decoding(model):
        rows = _start(model, src, src_mask, k)
        device = src.device
        sentences = torch.arange(src.size(0), device=device)  # alive sentences; rows are sentence-major
        max_lengths = _limit(model, max_lengths.to(device))
        scores = torch.full((src.size(0), k), float("-inf"), device=device)
        scores[:, 0] = 0.0  # one live beam to start with: the others would only duplicate it
        finished_count = torch.zeros(src.size(0), dtype=torch.long, device=device)
        for step in range(int(max_lengths.max()) + 1):
            n = len(sentences)
            log_probs = rows.step(model, need_attention)
            at_limit = step >= max_lengths
            _constrain(log_probs, rows.tokens, at_limit.repeat_interleave(k), no_repeat_ngram_size)
            vocab = log_probs.size(1)
            candidates = (scores.unsqueeze(2) + log_probs.view(n, k, vocab)).view(n, k * vocab)
            top_scores, top = candidates.topk(2 * k, dim=1)  # [n, 2k], best first
            origin = top.div(vocab, rounding_mode="floor") + torch.arange(n, device=device).unsqueeze(1) * k
            top_tokens = top % vocab
            is_eos = top_tokens == EOS_ID

            # EOS among the k best extensions: finished hypotheses
            ends = is_eos[:, :k] & top_scores[:, :k].isfinite()
            if ends.any():
                for sentence, rank in ends.nonzero().tolist():
                    row, score = int(origin[sentence, rank]), float(top_scores[sentence, rank])
                    hypothesis = rows.hypothesis(row, score)
                    normalised = length_normalised(score, len(hypothesis.tokens) + 1, length_penalty)
                    finished[int(sentences[sentence])].append((normalised, hypothesis))
                finished_count += ends.sum(1)

            # the k best extensions that do not end: the next beams
            eos_last = torch.arange(2 * k, device=device) + is_eos * 2 * k  # rank, EOS pushed behind
            keep = eos_last.topk(k, dim=1, largest=False).indices
            scores = top_scores.gather(1, keep)
            rows.extend(model, top_tokens.gather(1, keep).flatten(), origin.gather(1, keep).flatten())

            done = (finished_count >= k) | at_limit | ~scores.isfinite().any(1)
            if done.any():
                alive = (~done).nonzero().flatten()
                if len(alive) == 0:
                    break
                rows.keep(model, (alive.unsqueeze(1) * k + torch.arange(k, device=device)).flatten())
                sentences, scores = sentences[alive], scores[alive]
                max_lengths, finished_count = max_lengths[alive], finished_count[alive]
    return _complete([max(hyps, key=lambda h: h[0])[1] if hyps else None for hyps in finished])


def _complete(results: list[Hypothesis | None]) -> list[Hypothesis]:
    missing = [i for i, hypothesis in enumerate(results) if hypothesis is None]
    if missing:  # cannot happen: EOS is always allowed, and forced at the maximum length
        raise RuntimeError(f"search finished without a hypothesis for sentences {missing}")
    return [hypothesis for hypothesis in results if hypothesis is not None]


def length_normalised(score: float, length: int, length_penalty: float) -> float:
    """score / length^α, the ranking score of a finished hypothesis (`length` counts EOS)."""
    return score / length**length_penalty


def max_output_lengths(src_mask: Tensor, ratio: float, offset: int) -> Tensor:
    """ratio · source tokens (EOS not counted) + offset, per sentence [B]."""
    return ((src_mask.sum(1) - 1) * ratio).long() + offset


def search(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    *,
    beam: int = DecodingConfig.beam,
    length_penalty: float = DecodingConfig.length_penalty,
    max_length_ratio: float = DecodingConfig.max_length_ratio,
    max_length_offset: int = DecodingConfig.max_length_offset,
    no_repeat_ngram_size: int = DecodingConfig.no_repeat_ngram_size,
    need_attention: bool = False,
) -> list[Hypothesis]:
    """Greedy search when beam == 1, beam search otherwise; one hypothesis per sentence."""
    max_lengths = max_output_lengths(src_mask, max_length_ratio, max_length_offset)
    if beam == 1:
        return greedy_search(
            model,
            src,
            src_mask,
            max_lengths,
            no_repeat_ngram_size=no_repeat_ngram_size,
            need_attention=need_attention,
        )
    return beam_search(
        model, src, src_mask, beam, length_penalty, max_lengths, no_repeat_ngram_size, need_attention
    )
