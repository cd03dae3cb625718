"""n-best lists, sampling and lexically constrained beam search (the step loop they share with
greedy and beam search is checked against a slow reference in test_search.py)."""

from __future__ import annotations

import functools
from collections import Counter

import pytest
import torch

from model_helpers import random_sentences, sources, synthetic_pairs, targets, tiny_model, train
from yiyan.errors import ConfigError
from yiyan.models import Seq2SeqModel
from yiyan.search import SamplingRule, beam_search, greedy_search, max_output_lengths, search, search_nbest
from yiyan.vocab import PAD_ID

KINDS = ["transformer", "rnn"]
SENTENCES = random_sentences(6, seed=11)


@functools.cache
def trained(kind: str) -> Seq2SeqModel:
    return train(tiny_model(kind, seed=1), synthetic_pairs(20, seed=0), steps=60, lr=3e-3)


def forced_score(model: Seq2SeqModel, words: list[int], output: list[int]) -> float:
    """Summed log-probability of `output` + EOS given `words`, by teacher forcing."""
    src, src_mask = sources([words])
    tgt_in, tgt_out = targets([output])
    with torch.no_grad():
        log_probs = model.log_probs(model(src, src_mask, tgt_in))
    return float(log_probs.gather(2, tgt_out.unsqueeze(2)).sum())


def contains(tokens: list[int], term: list[int]) -> bool:
    return any(tokens[i : i + len(term)] == term for i in range(len(tokens) - len(term) + 1))


# ----------------------------------------------------------------------------- n-best


@pytest.mark.parametrize("kind", KINDS)
def test_nbest_lists_are_ranked_distinct_and_start_with_the_beam_result(kind: str) -> None:
    m = trained(kind)
    src, src_mask = sources(SENTENCES)
    lists = search_nbest(m, src, src_mask, beam=4, nbest=4, length_penalty=1.0)
    best = beam_search(m, src, src_mask, 4, 1.0, max_output_lengths(src_mask, 1.5, 10))
    for words, hypotheses, one in zip(SENTENCES, lists, best, strict=True):
        assert len(hypotheses) == 4
        assert hypotheses[0].tokens == one.tokens
        normalised = [h.normalised_score for h in hypotheses]
        assert normalised == sorted(normalised, reverse=True)
        assert len({tuple(h.tokens) for h in hypotheses}) == 4
        for h in hypotheses:
            assert h.score == pytest.approx(forced_score(m, words, h.tokens), abs=1e-4)
            assert h.normalised_score == pytest.approx(h.score / (len(h.tokens) + 1))


def test_nbest_larger_than_the_beam_is_refused() -> None:
    src, src_mask = sources(SENTENCES)
    with pytest.raises(ConfigError, match=r"nbest \(5\) cannot exceed the beam size \(3\)"):
        search_nbest(trained("rnn"), src, src_mask, beam=3, nbest=5)


# ----------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("kind", KINDS)
def test_sampling_is_reproducible_for_a_seed_and_scores_are_model_log_probs(kind: str) -> None:
    m = tiny_model(kind, seed=3)  # untrained: flat distributions, so samples differ

    def sample(seed: int) -> list[list[list[int]]]:
        src, src_mask = sources(SENTENCES)
        found = search_nbest(
            m, src, src_mask, sampling=True, nbest=3, generator=torch.Generator().manual_seed(seed)
        )
        for words, hypotheses in zip(SENTENCES, found, strict=True):
            assert len(hypotheses) == 3
            for h in hypotheses:
                assert h.score == pytest.approx(forced_score(m, words, h.tokens), abs=1e-4)
        return [[h.tokens for h in hypotheses] for hypotheses in found]

    assert sample(5) == sample(5)
    assert sample(5) != sample(6)


@pytest.mark.parametrize("kind", KINDS)
def test_sampling_restricted_to_the_best_token_is_greedy(kind: str) -> None:
    m = trained(kind)
    src, src_mask = sources(SENTENCES)
    greedy = greedy_search(m, src, src_mask, max_output_lengths(src_mask, 1.5, 10))
    for options in ({"top_k": 1}, {"top_p": 1e-6}, {"temperature": 1e-4}):
        sampled = search(m, src, src_mask, sampling=True, nbest=1, **options)
        assert [h.tokens for h in sampled] == [h.tokens for h in greedy], options
        assert [h.score for h in sampled] == pytest.approx([h.score for h in greedy], abs=1e-5)


def test_sampling_follows_the_shaped_distribution() -> None:
    """First tokens of many samples: frequencies match softmax(log p / T) restricted by top-k/top-p."""
    m = tiny_model("transformer", seed=3)
    src, src_mask = sources(SENTENCES[:1])
    with torch.no_grad():
        memory = m.encode(src, src_mask)
        start = torch.tensor([m.special_ids.bos])
        first, _, _ = m.decode_step(start, memory, src_mask, m.init_state(memory, src_mask))
    first[:, m.special_ids.never_produced] = float("-inf")
    for temperature, top_k, top_p in [(1.0, 0, 1.0), (0.5, 5, 1.0), (2.0, 0, 0.6)]:
        rule = SamplingRule(1, temperature, top_k, top_p, None, PAD_ID)
        expected = rule.shaped(first).softmax(1)[0]
        draws = 4000
        found = search_nbest(
            m,
            src,
            src_mask,
            sampling=True,
            nbest=draws,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            max_length_ratio=0.0,
            max_length_offset=1,
            generator=torch.Generator().manual_seed(1),
        )[0]
        counts = Counter(h.tokens[0] if h.tokens else m.special_ids.eos for h in found)
        observed = torch.tensor([counts[t] / draws for t in range(expected.numel())])
        assert set(counts) <= set(expected.nonzero().flatten().tolist())  # never outside top-k / top-p
        assert (observed - expected).abs().max() < 0.03, (temperature, top_k, top_p)
        if top_k:
            assert len(expected.nonzero()) == top_k
        if top_p < 1:
            kept = expected.nonzero().flatten()
            full = (first[0] / temperature).softmax(0)
            assert full[kept].sum() >= top_p and full[kept].sum() - full[kept].min() < top_p


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"top_k": -1}, "top_k must be >= 0"),
        ({"nbest": 0}, "nbest must be >= 1"),
    ],
)
def test_bad_sampling_options_are_refused(options: dict[str, float], message: str) -> None:
    src, src_mask = sources(SENTENCES)
    with pytest.raises(ConfigError, match=message):
        search_nbest(trained("rnn"), src, src_mask, sampling=True, **options)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- constraints


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beam", [1, 4])
def test_constrained_outputs_contain_every_term(kind: str, beam: int) -> None:
    m = trained(kind)
    src, src_mask = sources(SENTENCES)
    plain = search(m, src, src_mask, beam=beam)
    # terms the unconstrained search does not produce: one or two per sentence, one sentence without
    terms = [
        [[w for w in (5, 9, 13, 17, 21) if w not in h.tokens][:2]] if i % 3 else []
        for i, h in enumerate(plain)
    ]
    terms[1].append([7, 8])
    found = search(m, src, src_mask, beam=beam, constraints=terms)
    for hypothesis, before, sentence_terms in zip(found, plain, terms, strict=True):
        for term in sentence_terms:
            assert contains(hypothesis.tokens, term), (hypothesis.tokens, term)
        if not sentence_terms:  # no term: the plain result
            assert hypothesis.tokens == before.tokens


def test_a_term_longer_than_the_maximum_output_is_refused() -> None:
    src, src_mask = sources(SENTENCES[:1])
    limit = int(max_output_lengths(src_mask, 1.5, 10)[0])
    with pytest.raises(ConfigError, match="glossary: a sentence calls for target terms of"):
        search(trained("rnn"), src, src_mask, beam=4, constraints=[[[5] * (limit + 1)]])
    with pytest.raises(ConfigError, match="cannot be combined with sampling"):
        search(trained("rnn"), src, src_mask, sampling=True, constraints=[[[5]]])
