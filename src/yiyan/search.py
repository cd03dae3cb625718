"""Greedy, beam, sampling and lexically constrained beam search over the `Seq2SeqModel`
incremental interface.

One step loop (`_decode`) decodes a batch of sentences with k rows per sentence; what differs is
the selection rule (`SelectionRule`) that turns the k rows' next-token distributions into
candidate extensions, best first:
  * beam (`BeamRule`): the 2k best (row, token) extensions of all k·V at once. With k = 1 it
    is greedy search (the most probable token);
  * sampling (`SamplingRule`): every row draws its own next token from its distribution,
    reshaped by temperature, top-k and top-p (nucleus), with a seeded torch.Generator; k rows
    are k independent samples;
  * constrained beam (`yiyan.constraints.ConstrainedBeamRule`): beam candidates plus every
    row's next token of each target term it has not produced yet, spread over banks by the
    number of term tokens met (Post & Vilar 2018).
The loop then treats every rule alike: the candidates ending in EOS among the first k are
finished hypotheses, the first k others form the next rows (so a sampled row that ends is
replaced by a dead one, score −inf). A sentence is done when it has k finished hypotheses (or
reaches its maximum length); its n best are returned.

Step rules shared by every rule:
  * PAD and BOS (the decoder start token) are never produced; the special ids are the model's
    own (`model.special_ids`: yiyan's 0-3, or an imported model's);
  * a sentence that has produced `max_lengths` tokens may only produce EOS next, so every
    output has at most max_length tokens and every score includes an EOS;
  * with `no_repeat_ngram_size` n, a token that would repeat an n-gram already in the output
    is ruled out (EOS never is);
  * sentences that are finished leave the batch (memory and decoder state shrink with them).

A beam search's first step has one live row per sentence (the others would only duplicate it),
so it runs on one row per sentence and the k rows are made from its candidates (as CTranslate2
does on CPU): the first step costs 1/k of a full one.

A hypothesis' `score` is the summed log-probability of its tokens and EOS under the model (for
sampling too: temperature, top-k and top-p shape the draw, not the score); finished hypotheses
are ranked by `normalised_score` = score / |y|^α (|y| counts EOS; α = 0 ranks by the summed
log-probability), the simple form fairseq uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from yiyan.config import DecodingConfig
from yiyan.errors import ConfigError
from yiyan.models.base import DecoderState, Seq2SeqModel
from yiyan.vocab import SpecialIds


@dataclass
class Hypothesis:
    tokens: list[int]  # the output, without BOS or EOS
    score: float  # summed log-probability of the tokens and the EOS
    normalised_score: float  # score / (len(tokens) + 1) ** length_penalty: the ranking score
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


def _constrain(
    log_probs: Tensor, tokens: Tensor, at_limit: Tensor, no_repeat_ngram_size: int, special: SpecialIds
) -> None:
    """Apply the step rules in place to log_probs [R, V]; tokens [R, 1 + t] starts with BOS."""
    log_probs[:, special.never_produced] = float("-inf")
    if no_repeat_ngram_size > 0:
        _block_repeated_ngrams(log_probs, tokens[:, 1:], no_repeat_ngram_size)
    if at_limit.any():  # only EOS left
        eos = log_probs[:, special.eos].clone()
        log_probs.masked_fill_(at_limit.unsqueeze(1), float("-inf"))
        log_probs[:, special.eos] = eos


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

    def extend(
        self, model: Seq2SeqModel, next_tokens: Tensor, origin: Tensor, *, expand: bool = False
    ) -> None:
        """Append `next_tokens`; row i first continues row origin[i] of the same sentence.
        `expand`: there are more new rows than old (one row per sentence becomes k), so the
        per-sentence part (memory, mask, source state) is copied too."""
        if expand:
            self.keep(model, origin)
        elif not torch.equal(origin, torch.arange(len(origin), device=origin.device)):  # greedy: never
            self.tokens = self.tokens[origin]
            self.state = model.reorder_state(self.state, origin, within_sentences=True)
            if self.attention is not None:
                self.attention = self.attention[origin]
        self.tokens = torch.cat([self.tokens, next_tokens.unsqueeze(1)], dim=1)

    def keep(self, model: Seq2SeqModel, rows: Tensor) -> None:
        """Keep rows `rows`, in that order: finished sentences leave, or (`extend(expand=True)`)
        one row per sentence becomes k."""
        self.memory, self.src_mask = self.memory[rows], self.src_mask[rows]
        self.state = model.reorder_state(self.state, rows)
        self.tokens = self.tokens[rows]
        if self.attention is not None:
            self.attention = self.attention[rows]

    def hypothesis(self, row: int, score: float, length_penalty: float) -> Hypothesis:
        """`row` ends with EOS at this step."""
        attention = self.attention
        if attention is not None:  # the real source positions only; a copy, so the history can go
            attention = attention[row, ..., : int(self.src_mask[row].sum())].clone()
        tokens = self.tokens[row, 1:].tolist()
        return Hypothesis(tokens, score, length_normalised(score, len(tokens) + 1, length_penalty), attention)


def _start(model: Seq2SeqModel, src: Tensor, src_mask: Tensor, rows_per_sentence: int) -> _Rows:
    memory = model.encode(src, src_mask)
    state = model.init_state(memory, src_mask)
    if rows_per_sentence > 1:  # the source side is computed once, then copied to every beam
        expand = torch.arange(src.size(0), device=src.device).repeat_interleave(rows_per_sentence)
        memory, src_mask, state = memory[expand], src_mask[expand], model.reorder_state(state, expand)
    tokens = torch.full((memory.size(0), 1), model.special_ids.bos, dtype=torch.long, device=src.device)
    return _Rows(memory, src_mask, state, tokens, None)


def _limit(model: Seq2SeqModel, max_lengths: Tensor) -> Tensor:
    limit = model.max_output_length
    return max_lengths if limit is None else max_lengths.clamp(max=limit)


class SelectionRule:
    """How the k rows of each sentence propose their extensions (the part of a search that
    differs between beam, sampling and constrained beam). The hooks other than `candidates`
    let a rule carry per-row state (a constrained beam's progress through its terms)."""

    one_row_first_step = False  # True: the first step runs on one row per sentence (its k rows are equal)

    def __init__(self, rows_per_sentence: int) -> None:
        self.rows_per_sentence = rows_per_sentence

    def initial_scores(self, sentences: int, device: torch.device) -> Tensor:
        """Scores [n, k] of the rows before the first step; −inf marks a row that is not live."""
        scores = torch.full((sentences, self.rows_per_sentence), float("-inf"), device=device)
        scores[:, 0] = 0.0  # one live beam to start with: the others would only duplicate it
        return scores

    def restrict(self, log_probs: Tensor, at_limit: Tensor) -> None:
        """Rule out tokens in place in log_probs [R, V] beyond the shared step rules."""

    def candidates(self, scores: Tensor, log_probs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """From row scores [n, k] and next-token log-probs [n, k, V]: extensions (score [n, c],
        row within the sentence [n, c], token [n, c]), c ≥ 2k, in order of preference."""
        raise NotImplementedError

    def advance(self, origin: Tensor, tokens: Tensor) -> None:
        """Row i of the next step continues row origin[i] with tokens[i] (R rows)."""

    def keep(self, rows: Tensor) -> None:
        """Only `rows` go on (finished sentences leave)."""

    def satisfied(self, row: int) -> bool:
        """Whether a hypothesis that ends in `row` meets the rule's requirements (ranked first)."""
        return True


class BeamRule(SelectionRule):
    """The 2k best (row, token) extensions of all k·V."""

    one_row_first_step = True

    def candidates(self, scores: Tensor, log_probs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n, rows, vocab = log_probs.shape
        c = 2 * self.rows_per_sentence
        # the best c of a sentence's rows·V extensions are among each row's c best tokens: pick
        # those first ([n·rows, V] → [n·rows, c]), then the best c of the rows·c
        row_best, row_tokens = log_probs.reshape(n * rows, vocab).topk(min(c, vocab), dim=1)
        extended = (scores.reshape(n * rows, 1) + row_best).view(n, -1)
        top_scores, top = extended.topk(min(c, extended.size(1)), dim=1)
        return (
            top_scores,
            top.div(row_best.size(1), rounding_mode="floor"),
            row_tokens.view(n, -1).gather(1, top),
        )


class SamplingRule(SelectionRule):
    """Each row draws one token from softmax(log p / T), restricted to the `top_k` most probable
    tokens (0: all) and to the smallest set whose probability reaches `top_p` (1: all)."""

    def __init__(
        self,
        samples: int,
        temperature: float,
        top_k: int,
        top_p: float,
        generator: torch.Generator | None,
        filler: int,
    ) -> None:
        super().__init__(samples)
        self.temperature, self.top_k, self.top_p, self.generator = temperature, top_k, top_p, generator
        self.filler = filler  # the (never finishing) token of the dead rows that replace ended samples

    def initial_scores(self, sentences: int, device: torch.device) -> Tensor:
        return torch.zeros(sentences, self.rows_per_sentence, device=device)  # k independent samples

    def shaped(self, log_probs: Tensor) -> Tensor:
        """[R, V] log-probabilities → the logits the sample is drawn from."""
        logits = log_probs / self.temperature
        if 0 < self.top_k < logits.size(1):
            kth_best = logits.topk(self.top_k, dim=1).values[:, -1:]
            logits = logits.masked_fill(logits < kth_best, float("-inf"))
        if self.top_p < 1.0:
            ordered, order = logits.sort(dim=1, descending=True)
            probs = ordered.softmax(dim=1)
            better_mass = probs.cumsum(dim=1) - probs  # mass of the tokens ranked above each one
            ordered = ordered.masked_fill(better_mass >= self.top_p, float("-inf"))  # the best stays
            logits = torch.empty_like(logits).scatter_(1, order, ordered)
        return logits

    def candidates(self, scores: Tensor, log_probs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n, k, vocab = log_probs.shape
        flat = log_probs.view(n * k, vocab)
        probs = self.shaped(flat).softmax(dim=1)
        tokens = torch.multinomial(probs, 1, generator=self.generator)  # [n·k, 1]
        sample_scores = scores + flat.gather(1, tokens).view(n, k)
        rows = torch.arange(k, device=scores.device).expand(n, k)
        dead = torch.full_like(sample_scores, float("-inf"))  # replace the rows whose sample ends
        return (
            torch.cat([sample_scores, dead], 1),
            torch.cat([rows, rows], 1),
            torch.cat([tokens.view(n, k), torch.full_like(rows, self.filler)], 1),
        )


def _decode(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    max_lengths: Tensor,
    rule: SelectionRule,
    *,
    nbest: int,
    length_penalty: float,
    no_repeat_ngram_size: int,
    need_attention: bool,
) -> list[list[Hypothesis]]:
    """The step loop every search shares; the n best finished hypotheses per sentence."""
    k = rule.rows_per_sentence
    rows_now = 1 if rule.one_row_first_step else k  # rows per sentence in this step
    finished: list[list[tuple[bool, Hypothesis]]] = [[] for _ in range(src.size(0))]
    if not finished:
        return []
    special = model.special_ids
    with _decoding(model):
        rows = _start(model, src, src_mask, rows_now)
        device = src.device
        sentences = torch.arange(src.size(0), device=device)  # alive sentences; rows are sentence-major
        max_lengths = _limit(model, max_lengths.to(device))
        scores = rule.initial_scores(src.size(0), device)[:, :rows_now]
        finished_count = torch.zeros(src.size(0), dtype=torch.long, device=device)
        within = torch.arange(k, device=device)
        for step in range(int(max_lengths.max()) + 1):
            n = len(sentences)
            log_probs = rows.step(model, need_attention)
            at_limit = step >= max_lengths
            row_at_limit = at_limit.repeat_interleave(rows_now)
            _constrain(log_probs, rows.tokens, row_at_limit, no_repeat_ngram_size, special)
            rule.restrict(log_probs, row_at_limit)
            top_scores, top_rows, top_tokens = rule.candidates(scores, log_probs.view(n, rows_now, -1))
            origin = top_rows + torch.arange(n, device=device).unsqueeze(1) * rows_now
            is_eos = top_tokens == special.eos

            # EOS among the first k candidates: finished hypotheses
            ends = is_eos[:, :k] & top_scores[:, :k].isfinite()
            if ends.any():
                for sentence, rank in ends.nonzero().tolist():
                    row, score = int(origin[sentence, rank]), float(top_scores[sentence, rank])
                    hypothesis = rows.hypothesis(row, score, length_penalty)
                    finished[int(sentences[sentence])].append((rule.satisfied(row), hypothesis))
                finished_count += ends.sum(1)

            # the first k candidates that do not end: the next rows
            candidates = top_scores.size(1)
            eos_last = torch.arange(candidates, device=device) + is_eos * candidates  # EOS pushed behind
            keep = eos_last.topk(k, dim=1, largest=False).indices
            scores = top_scores.gather(1, keep)
            next_origin, next_tokens = origin.gather(1, keep).flatten(), top_tokens.gather(1, keep).flatten()
            rows.extend(model, next_tokens, next_origin, expand=rows_now < k)
            rule.advance(next_origin, next_tokens)
            rows_now = k

            done = (finished_count >= k) | at_limit | ~scores.isfinite().any(1)
            if done.any():
                alive = (~done).nonzero().flatten()
                if len(alive) == 0:
                    break
                kept_rows = (alive.unsqueeze(1) * k + within).flatten()
                rows.keep(model, kept_rows)
                rule.keep(kept_rows)
                sentences, scores = sentences[alive], scores[alive]
                max_lengths, finished_count = max_lengths[alive], finished_count[alive]
    return [_nbest(hypotheses, nbest, i) for i, hypotheses in enumerate(finished)]


def _nbest(finished: list[tuple[bool, Hypothesis]], n: int, sentence: int) -> list[Hypothesis]:
    """The n best by normalised score, those that meet the rule's requirements first."""
    if not finished:  # cannot happen: EOS is always allowed, and forced at the maximum length
        raise RuntimeError(f"search finished without a hypothesis for sentence {sentence}")
    ranked = sorted(finished, key=lambda f: (f[0], f[1].normalised_score), reverse=True)
    return [hypothesis for _, hypothesis in ranked[:n]]


def greedy_search(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    max_lengths: Tensor,
    *,
    no_repeat_ngram_size: int = 0,
    need_attention: bool = False,
    length_penalty: float = DecodingConfig.length_penalty,
) -> list[Hypothesis]:
    """The most probable next token at every step, for each sentence of the batch (a beam of one)."""
    return beam_search(
        model, src, src_mask, 1, length_penalty, max_lengths, no_repeat_ngram_size, need_attention
    )


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
    found = _decode(
        model,
        src,
        src_mask,
        max_lengths,
        BeamRule(beam_size),
        nbest=1,
        length_penalty=length_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size,
        need_attention=need_attention,
    )
    return [hypotheses[0] for hypotheses in found]


def length_normalised(score: float, length: int, length_penalty: float) -> float:
    """score / length^α, the ranking score of a finished hypothesis (`length` counts EOS)."""
    return score / length**length_penalty


def max_output_lengths(src_mask: Tensor, ratio: float, offset: int) -> Tensor:
    """ratio · source tokens (EOS not counted) + offset, per sentence [B]."""
    return ((src_mask.sum(1) - 1) * ratio).long() + offset


def check_search_options(
    *, beam: int, nbest: int, sampling: bool, temperature: float, top_k: int, top_p: float
) -> None:
    """One-line ConfigErrors for option combinations no search can honour."""
    if beam < 1:
        raise ConfigError(f"beam must be >= 1, got {beam}")
    if nbest < 1:
        raise ConfigError(f"nbest must be >= 1, got {nbest}")
    if not sampling and nbest > beam:
        raise ConfigError(f"nbest ({nbest}) cannot exceed the beam size ({beam}): use --beam {nbest} or more")
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if top_k < 0:
        raise ConfigError(f"top_k must be >= 0 (0 = no limit), got {top_k}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top_p must be in (0, 1], got {top_p}")


def search_nbest(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    *,
    beam: int = DecodingConfig.beam,
    nbest: int = 1,
    length_penalty: float = DecodingConfig.length_penalty,
    max_length_ratio: float = DecodingConfig.max_length_ratio,
    max_length_offset: int = DecodingConfig.max_length_offset,
    no_repeat_ngram_size: int = DecodingConfig.no_repeat_ngram_size,
    sampling: bool = False,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    constraints: Sequence[Sequence[Sequence[int]]] | None = None,
    need_attention: bool = False,
) -> list[list[Hypothesis]]:
    """The `nbest` best hypotheses per sentence, best first (by normalised score).

    Beam search with `beam` rows (greedy when 1); with `sampling`, `nbest` independent samples
    (`beam` is not used); with `constraints` (per sentence, the token sequences its output must
    contain: glossary target terms), constrained beam search.
    """
    check_search_options(
        beam=beam, nbest=nbest, sampling=sampling, temperature=temperature, top_k=top_k, top_p=top_p
    )
    max_lengths = max_output_lengths(src_mask, max_length_ratio, max_length_offset)
    rule: SelectionRule
    if sampling:
        if constraints is not None and any(constraints):
            raise ConfigError("a glossary needs beam search: it cannot be combined with sampling")
        rule = SamplingRule(nbest, temperature, top_k, top_p, generator, model.special_ids.pad)
    elif constraints is not None and any(constraints):
        from yiyan.constraints import ConstrainedBeamRule

        rule = ConstrainedBeamRule(
            beam, constraints, _limit(model, max_lengths), model.special_ids.eos, src.device
        )
    else:
        rule = BeamRule(beam)
    return _decode(
        model,
        src,
        src_mask,
        max_lengths,
        rule,
        nbest=nbest,
        length_penalty=length_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size,
        need_attention=need_attention,
    )


def search(model: Seq2SeqModel, src: Tensor, src_mask: Tensor, **options: Any) -> list[Hypothesis]:
    """The best hypothesis per sentence: `search_nbest` with the same options and nbest=1."""
    return [hypotheses[0] for hypotheses in search_nbest(model, src, src_mask, **options)]
