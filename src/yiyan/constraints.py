"""Lexically constrained beam search: every finished hypothesis contains given token sequences.

A simplified dynamic beam allocation (Post & Vilar 2018, "Fast lexically constrained decoding
with dynamic beam allocation"). Each row tracks, for each constraint (a term's target tokens),
how many of its tokens it has matched in a row (`progress`) and whether it has produced the whole
term (`met`). At every step the candidates are

  * the 2k best (row, token) extensions, as in plain beam search,
  * for every row and every term it has not met, the term's next token (its first token when no
    match is under way): the extension that makes progress,
  * every row's single best token,

deduplicated, then spread over *banks* by the number of constraint tokens each extension has met
(Σ over terms: the term's length when met, else its progress). The next rows are taken round-robin
over the banks — the best of each bank (most tokens met first), then the second best of each…
— so hypotheses that have met few constraint tokens cannot crowd out those that have met more,
while the plain beam candidates keep the translation fluent. EOS is ruled out for a row until it
has met every term, so finished hypotheses contain all of them; only at the maximum length, when
EOS is forced, can a hypothesis end without — and those rank after every one that met its terms.

A term whose tokens do not fit in the sentence's maximum output length is a ConfigError.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from yiyan.errors import ConfigError
from yiyan.search import BeamRule


class ConstrainedBeamRule(BeamRule):
    one_row_first_step = False  # its per-row progress through the terms has k rows from the start

    def __init__(
        self,
        beam: int,
        constraints: Sequence[Sequence[Sequence[int]]],
        max_lengths: Tensor,
        eos: int,
        device: torch.device,
    ) -> None:
        super().__init__(beam)
        self.eos = eos
        for sentence_terms, limit in zip(constraints, max_lengths.tolist(), strict=True):
            needed = sum(len(term) for term in sentence_terms)
            if needed > limit:
                raise ConfigError(
                    f"glossary: a sentence calls for target terms of {needed} tokens in all, more than its "
                    f"maximum output length ({limit} tokens; raise decoding.max_length_ratio or "
                    "max_length_offset, or shorten the terms)"
                )
            if any(len(term) == 0 for term in sentence_terms):
                raise ConfigError("glossary: a target term has no tokens")
        count = max(len(terms) for terms in constraints)
        width = max((len(term) for terms in constraints for term in terms), default=1)
        terms = torch.zeros(len(constraints), count, width, dtype=torch.long)
        lengths = torch.zeros(len(constraints), count, dtype=torch.long)  # 0: no term (always met)
        for sentence, sentence_terms in enumerate(constraints):
            for c, term in enumerate(sentence_terms):
                terms[sentence, c, : len(term)] = torch.tensor(list(term))
                lengths[sentence, c] = len(term)
        # per row (sentence-major, k rows per sentence), like everything else the loop indexes
        self.terms = terms.to(device).repeat_interleave(beam, 0)  # [R, C, W]
        self.lengths = lengths.to(device).repeat_interleave(beam, 0)  # [R, C]
        self.progress = torch.zeros_like(self.lengths)  # tokens of each term matched in a row
        self.met = self.lengths == 0  # [R, C]

    def _next_term_tokens(self, progress: Tensor, terms: Tensor, lengths: Tensor) -> Tensor:
        """The token each term needs next [.., C] (its first when progress is 0)."""
        position = progress.clamp(max=(lengths - 1).clamp(min=0))
        return terms.gather(-1, position.unsqueeze(-1)).squeeze(-1)

    def _after(self, rows: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(progress, met) of rows `rows` after they produce `tokens` (any shape, same for both)."""
        terms, lengths = self.terms[rows], self.lengths[rows]  # [..., C, W], [..., C]
        progress, met = self.progress[rows], self.met[rows]
        token = tokens.unsqueeze(-1)
        continues = token == self._next_term_tokens(progress, terms, lengths)
        restarts = token == terms[..., 0]  # a mismatch may start the term afresh
        progress = torch.where(continues, progress + 1, restarts.long())
        met = met | (progress >= lengths)
        return progress.masked_fill(met, 0), met

    def _tokens_met(self, progress: Tensor, met: Tensor, lengths: Tensor) -> Tensor:
        return torch.where(met, lengths, progress).sum(-1)

    def restrict(self, log_probs: Tensor, at_limit: Tensor) -> None:
        unmet = ~self.met.all(1) & ~at_limit  # at the limit, EOS is the only choice left
        log_probs[unmet, self.eos] = float("-inf")

    def candidates(self, scores: Tensor, log_probs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n, k, vocab = log_probs.shape
        device = scores.device
        flat_scores = scores.unsqueeze(2) + log_probs  # [n, k, V]
        beam_scores, beam_rows, beam_tokens = super().candidates(scores, log_probs)  # [n, 2k]
        # each row's next token of every unmet term, and its own best token
        rows = torch.arange(n * k, device=device).view(n, k)
        forced = self._next_term_tokens(self.progress, self.terms, self.lengths).view(n, k, -1)  # [n, k, C]
        forced_scores = flat_scores.gather(2, forced).masked_fill(self.met.view(n, k, -1), float("-inf"))
        best_scores, best = flat_scores.max(dim=2)  # [n, k]
        within = torch.arange(k, device=device)
        all_scores = torch.cat([beam_scores, forced_scores.view(n, -1), best_scores], 1)
        all_rows = torch.cat(
            [beam_rows, within.view(1, k, 1).expand_as(forced).reshape(n, -1), within.expand(n, k)], 1
        )
        all_tokens = torch.cat([beam_tokens, forced.view(n, -1), best], 1)

        # duplicates (the same row and token proposed twice) keep one copy
        key = all_rows * vocab + all_tokens
        sorted_key, order = key.sort(dim=1, stable=True)
        duplicate = torch.zeros_like(sorted_key, dtype=torch.bool)
        duplicate[:, 1:] = sorted_key[:, 1:] == sorted_key[:, :-1]
        all_scores = all_scores.masked_fill(duplicate.scatter(1, order, duplicate), float("-inf"))

        # bank = constraint tokens met after the extension
        global_rows = rows.gather(1, all_rows)
        progress, met = self._after(global_rows, all_tokens)
        bank = self._tokens_met(progress, met, self.lengths[global_rows])  # [n, M]

        # best first within each bank, then round-robin over banks (most tokens met first)
        order = all_scores.argsort(dim=1, descending=True, stable=True)
        order = order.gather(1, bank.gather(1, order).argsort(dim=1, descending=True, stable=True))
        grouped_bank = bank.gather(1, order)
        position = torch.arange(order.size(1), device=device).expand_as(order)
        starts = torch.ones_like(grouped_bank, dtype=torch.bool)
        starts[:, 1:] = grouped_bank[:, 1:] != grouped_bank[:, :-1]
        rank_in_bank = position - torch.where(starts, position, 0).cummax(dim=1).values
        banks = int(self.lengths.sum(1).max()) + 1
        turn = rank_in_bank * banks + (banks - 1 - grouped_bank)
        turn = turn.masked_fill(~all_scores.gather(1, order).isfinite(), torch.iinfo(torch.long).max)
        order = order.gather(1, turn.argsort(dim=1, stable=True))
        return all_scores.gather(1, order), all_rows.gather(1, order), all_tokens.gather(1, order)

    def advance(self, origin: Tensor, tokens: Tensor) -> None:
        self.progress, self.met = self._after(origin, tokens)
        self.terms, self.lengths = self.terms[origin], self.lengths[origin]

    def keep(self, rows: Tensor) -> None:
        self.terms, self.lengths = self.terms[rows], self.lengths[rows]
        self.progress, self.met = self.progress[rows], self.met[rows]

    def satisfied(self, row: int) -> bool:
        return bool(self.met[row].all())
