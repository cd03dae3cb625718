"""Greedy and beam search against a slow reference that re-runs the full forward pass every step."""

from __future__ import annotations

import functools

import pytest
import torch

from model_helpers import random_sentences, sources, synthetic_pairs, tiny_model, train
from yiyan.models import Seq2SeqModel
from yiyan.search import (
    Hypothesis,
    beam_search,
    greedy_search,
    max_output_lengths,
    search,
    search_nbest,
)
from yiyan.vocab import BOS_ID, EOS_ID, PAD_ID

KINDS = ["transformer", "rnn"]
SENTENCES = random_sentences(6, seed=11)  # different lengths: the batch is padded


@functools.cache
def model(kind: str, trained: bool) -> Seq2SeqModel:
    """A briefly trained model (confident, ends sentences), or a random one whose EOS row is
    boosted so that sentences end at varied lengths."""
    if trained:
        return train(tiny_model(kind, seed=1), synthetic_pairs(20, seed=0), steps=60, lr=3e-3)
    untrained = tiny_model(kind, seed=3, tie_embeddings=False)
    with torch.no_grad():
        untrained.output_projection.weight[EOS_ID] *= 1.5
    return untrained


MODELS = [(kind, trained) for kind in KINDS for trained in (False, True)]
MODEL_IDS = [f"{kind}-{'trained' if trained else 'random'}" for kind, trained in MODELS]


def allowed(tokens: list[int], token: int, at_limit: bool, ngram: int) -> bool:
    """The search rules, spelled out for one hypothesis."""
    if token in (PAD_ID, BOS_ID) or (at_limit and token != EOS_ID):
        return False
    if ngram == 0 or token == EOS_ID or len(tokens) < ngram - 1:
        return True
    candidate = (*tokens[len(tokens) - ngram + 1 :], token)
    return candidate not in {tuple(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)}


@torch.no_grad()
def reference_search(
    model: Seq2SeqModel, words: list[int], beam: int, alpha: float, max_length: int, ngram: int = 0
) -> tuple[list[int], float]:
    """Beam search (greedy when beam == 1) for one sentence, re-decoding every prefix from scratch
    with the teacher-forced forward pass, in plain Python."""
    src, src_mask = sources([words])
    beams: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[tuple[float, list[int], float]] = []
    for step in range(max_length + 1):
        tgt_in = torch.tensor([[BOS_ID, *tokens] for tokens, _ in beams])
        n = len(beams)
        log_probs = model.log_probs(model(src.expand(n, -1), src_mask.expand(n, -1), tgt_in)[:, -1]).tolist()
        candidates = [
            (score + log_probs[b][token], b, token)
            for b, (tokens, score) in enumerate(beams)
            for token in range(len(log_probs[b]))
            if allowed(tokens, token, step >= max_length, ngram)
        ]
        candidates.sort(key=lambda c: -c[0])
        next_beams = []
        for rank, (score, b, token) in enumerate(candidates[: 2 * beam]):
            if token == EOS_ID:
                if rank < beam:
                    finished.append((score / (len(beams[b][0]) + 1) ** alpha, beams[b][0], score))
            elif len(next_beams) < beam:
                next_beams.append(([*beams[b][0], token], score))
        beams = next_beams
        if len(finished) >= beam or not beams:
            break
    _, tokens, score = max(finished, key=lambda f: f[0])
    return tokens, score


def decode(
    model: Seq2SeqModel,
    sentences: list[list[int]],
    beam: int,
    *,
    length_penalty: float = 1.0,
    max_lengths: torch.Tensor | None = None,
    no_repeat_ngram_size: int = 0,
    need_attention: bool = False,
) -> list[Hypothesis]:
    """Greedy search when beam == 1, else beam search; max lengths 1.5 · source + 4 by default."""
    src, src_mask = sources(sentences)
    max_lengths = max_output_lengths(src_mask, 1.5, 4) if max_lengths is None else max_lengths
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


@pytest.mark.parametrize(("kind", "trained"), MODELS, ids=MODEL_IDS)
@pytest.mark.parametrize(
    ("beam", "alpha", "ngram"), [(1, 0.0, 0), (1, 0.0, 2), (3, 0.0, 0), (3, 1.0, 0), (4, 1.0, 2)]
)
def test_incremental_search_equals_full_redecoding(
    kind: str, trained: bool, beam: int, alpha: float, ngram: int
) -> None:
    m = model(kind, trained)
    found = decode(m, SENTENCES, beam, length_penalty=alpha, no_repeat_ngram_size=ngram)
    lengths = max_output_lengths(sources(SENTENCES)[1], 1.5, 4).tolist()
    for words, hypothesis, max_length in zip(SENTENCES, found, lengths, strict=True):
        tokens, score = reference_search(m, words, beam, alpha, max_length, ngram)
        assert hypothesis.tokens == tokens
        assert hypothesis.score == pytest.approx(score, abs=1e-4)
    if trained:  # the trained models end sentences by themselves, at different lengths
        assert len({len(h.tokens) for h in found}) > 1
        assert all(len(h.tokens) < limit for h, limit in zip(found, lengths, strict=True))


@pytest.mark.parametrize(("kind", "trained"), MODELS, ids=MODEL_IDS)
@pytest.mark.parametrize("beam", [1, 3])
def test_batched_equals_alone(kind: str, trained: bool, beam: int) -> None:
    m = model(kind, trained)
    together = decode(m, SENTENCES, beam)
    for words, hypothesis in zip(SENTENCES, together, strict=True):
        (alone,) = decode(m, [words], beam)
        assert alone.tokens == hypothesis.tokens
        assert alone.score == pytest.approx(hypothesis.score, abs=1e-4)


def repeats(tokens: list[int], n: int) -> bool:
    ngrams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(ngrams) != len(set(ngrams))


def looping_model(kind: str) -> Seq2SeqModel:
    """An untrained model that, on SENTENCES, repeats itself and never ends within 30 tokens."""
    return tiny_model(kind, seed={"transformer": 6, "rnn": 7}[kind])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beam", [1, 3])
def test_no_repeat_ngram_size_blocks_repeats(kind: str, beam: int) -> None:
    m = looping_model(kind)
    long = torch.full((len(SENTENCES),), 30)
    unblocked = decode(m, SENTENCES, beam, max_lengths=long)
    assert all(len(h.tokens) == 30 and repeats(h.tokens, 3) for h in unblocked)
    for n in (1, 2, 3):
        for hypothesis in decode(m, SENTENCES, beam, max_lengths=long, no_repeat_ngram_size=n):
            assert not repeats(hypothesis.tokens, n), (n, hypothesis.tokens)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beam", [1, 3])
def test_max_lengths_are_respected_per_sentence(kind: str, beam: int) -> None:
    m = looping_model(kind)
    limits = torch.tensor([0, 1, 2, 7, 3, 5])
    found = decode(m, SENTENCES, beam, max_lengths=limits)
    assert [len(h.tokens) for h in found] == limits.tolist()
    src, src_mask = sources(SENTENCES[:1])
    with torch.no_grad():
        memory = m.encode(src, src_mask)
        first, _, _ = m.decode_step(torch.tensor([BOS_ID]), memory, src_mask, m.init_state(memory, src_mask))
    assert found[0].score == pytest.approx(first[0, EOS_ID].item(), abs=1e-5)  # the forced EOS


@pytest.mark.parametrize(("kind", "trained"), MODELS, ids=MODEL_IDS)
@pytest.mark.parametrize("beam", [1, 3])
def test_attention_follows_the_chosen_hypothesis(kind: str, trained: bool, beam: int) -> None:
    """Each hypothesis' attention is what decode_step gives when fed its own tokens."""
    m = model(kind, trained)
    layers_heads = (2, 4) if kind == "transformer" else (1, 1)
    for words, hypothesis in zip(SENTENCES, decode(m, SENTENCES, beam, need_attention=True), strict=True):
        attention = hypothesis.attention
        assert attention is not None
        assert attention.shape == (len(hypothesis.tokens) + 1, *layers_heads, len(words) + 1)
        torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:-1]))
        src, src_mask = sources([words])
        with torch.no_grad():
            memory = m.encode(src, src_mask)
            state = m.init_state(memory, src_mask)
            for t, token in enumerate([BOS_ID, *hypothesis.tokens]):
                _, state, expected = m.decode_step(torch.tensor([token]), memory, src_mask, state, True)
                assert expected is not None
                torch.testing.assert_close(attention[t], expected[0], atol=1e-5, rtol=1e-4)


def test_search_dispatches_and_computes_max_lengths() -> None:
    m = model("transformer", True)
    src, src_mask = sources(SENTENCES)
    limits = max_output_lengths(src_mask, 1.5, 4)
    assert limits.tolist() == [int(len(s) * 1.5) + 4 for s in SENTENCES]
    greedy = greedy_search(m, src, src_mask, limits)
    via_search = search(m, src, src_mask, beam=1, max_length_ratio=1.5, max_length_offset=4)
    assert [h.tokens for h in via_search] == [h.tokens for h in greedy]
    beam = search(m, src, src_mask, beam=3, length_penalty=0.5, max_length_ratio=1.5, max_length_offset=4)
    assert [h.tokens for h in beam] == [h.tokens for h in beam_search(m, src, src_mask, 3, 0.5, limits)]
    assert search(m, src[:0], src_mask[:0], beam=1) == search(m, src[:0], src_mask[:0], beam=3) == []


def test_search_leaves_the_training_mode_as_it_was() -> None:
    m = tiny_model("rnn", dropout=0.5).train()
    src, src_mask = sources(SENTENCES)
    first = search(m, src, src_mask, beam=2)
    assert m.training  # restored
    assert [h.tokens for h in search(m, src, src_mask, beam=2)] == [h.tokens for h in first]  # no dropout


@pytest.mark.parametrize("kind", KINDS)
def test_beam_search_runs_its_first_step_on_one_row_per_sentence(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A beam's k rows are equal before the first step: it runs on one row per sentence, then the
    k rows come from its candidates (the equality with the reference is tested above). Sampling
    draws k independent first tokens, so it runs k rows from the start."""
    m = model(kind, True)
    rows_per_step: list[int] = []
    decode_step = m.decode_step

    def counting(prev_tokens: torch.Tensor, *args: object, **kwargs: object) -> object:
        rows_per_step.append(prev_tokens.size(0))
        return decode_step(prev_tokens, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(m, "decode_step", counting)
    src, src_mask = sources(SENTENCES)
    search(m, src, src_mask, beam=3)
    assert rows_per_step[:2] == [len(SENTENCES), 3 * len(SENTENCES)]
    rows_per_step.clear()
    search_nbest(m, src, src_mask, nbest=3, sampling=True, generator=torch.Generator().manual_seed(0))
    assert rows_per_step[0] == 3 * len(SENTENCES)
