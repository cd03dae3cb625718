"""Ensembles: the mean of the members' log-probabilities at every step, each member with its own
decoder state; a model ensembled with itself decodes exactly as the model alone."""

from __future__ import annotations

import copy

import pytest
import torch

from model_helpers import random_sentences, sources, synthetic_pairs, tiny_model, train
from yiyan.ensemble import EnsembleModel
from yiyan.errors import CheckpointError
from yiyan.search import search, search_nbest

KINDS = ["transformer", "rnn"]
SENTENCES = random_sentences(6, seed=11)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beam", [1, 4])
def test_a_model_ensembled_with_itself_is_that_model(kind: str, beam: int) -> None:
    m = train(tiny_model(kind, seed=1), synthetic_pairs(20, seed=0), steps=40, lr=3e-3)
    src, src_mask = sources(SENTENCES)
    alone = search_nbest(m, src, src_mask, beam=beam, nbest=beam, need_attention=True)
    together = search_nbest(EnsembleModel([m, m]), src, src_mask, beam=beam, nbest=beam, need_attention=True)
    for a, b in zip(alone, together, strict=True):
        assert [h.tokens for h in a] == [h.tokens for h in b]
        assert [h.score for h in a] == [h.score for h in b]  # exactly: (x + x) / 2 == x
        assert all(torch.equal(x.attention, y.attention) for x, y in zip(a, b))  # type: ignore[arg-type]
    # three copies, each with its own state: (x + x + x) / 3 may round in the last bit
    together = search_nbest(EnsembleModel([m, copy.deepcopy(m), m]), src, src_mask, beam=beam, nbest=beam)
    for a, b in zip(alone, together, strict=True):
        assert [h.tokens for h in a] == [h.tokens for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_ensemble_steps_average_the_members_log_probs(kind: str) -> None:
    members = [tiny_model(kind, seed=seed) for seed in (1, 2)]
    if kind == "transformer":  # members may differ in size
        members.append(tiny_model(kind, seed=3, d_model=16, ff_size=32, encoder_layers=1))
    ensemble = EnsembleModel(members)
    src, src_mask = sources(SENTENCES)
    tokens = torch.tensor(random_sentences(1, seed=4, lengths=(5, 5))[0])
    with torch.no_grad():
        memory = ensemble.encode(src, src_mask)
        state = ensemble.init_state(memory, src_mask)
        alone = []
        for m in members:
            m_memory = m.encode(src, src_mask)
            alone.append((m_memory, m.init_state(m_memory, src_mask)))
        prev = torch.full((len(SENTENCES),), 2)
        for token in tokens:
            log_probs, state, _ = ensemble.decode_step(prev, memory, src_mask, state)
            expected = []
            for i, (m, (m_memory, m_state)) in enumerate(zip(members, alone)):
                m_log_probs, m_state, _ = m.decode_step(prev, m_memory, src_mask, m_state)
                alone[i] = (m_memory, m_state)
                expected.append(m_log_probs)
            torch.testing.assert_close(log_probs, torch.stack(expected).mean(0))
            prev = torch.full((len(SENTENCES),), int(token))
    # and beam search over the ensemble differs from each member's (it is a different model)
    found = [h.tokens for h in search(ensemble, src, src_mask, beam=3)]
    assert all(found != [h.tokens for h in search(m, src, src_mask, beam=3)] for m in members)


def test_members_must_share_vocabulary_and_architecture() -> None:
    with pytest.raises(CheckpointError, match="different architectures"):
        EnsembleModel([tiny_model("transformer"), tiny_model("rnn")])
    with pytest.raises(CheckpointError, match="different vocabulary sizes"):
        EnsembleModel([tiny_model("rnn"), tiny_model("rnn", vocab=30)], ["a", "b"])
    with pytest.raises(CheckpointError, match="only decodes"):
        src, src_mask = sources(SENTENCES)
        EnsembleModel([tiny_model("rnn")])(src, src_mask, src)
