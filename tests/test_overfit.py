"""A tiny model of each architecture learns 20 synthetic pairs by heart: the whole training and
decoding path (loss, gradients, attention, search) works end to end."""

from __future__ import annotations

import pytest
import sacrebleu

from model_helpers import sources, synthetic_pairs, tiny_model, train
from yiyan.search import search

SIZES = {
    "transformer": dict(d_model=64, ff_size=128, heads=4),
    "rnn": dict(d_model=64, hidden_size=64, encoder_layers=1, decoder_layers=1),
}


@pytest.mark.parametrize("kind", ["transformer", "rnn"])
def test_tiny_model_overfits_twenty_pairs(kind: str) -> None:
    pairs = synthetic_pairs(20, seed=0)  # target = source reversed, every word mapped to another
    model = train(tiny_model(kind, seed=0, **SIZES[kind]), pairs, steps=200, lr=3e-3)
    src, src_mask = sources([source for source, _ in pairs])
    references = [" ".join(map(str, target)) for _, target in pairs]
    for beam in (1, 5):
        hypotheses = search(model, src, src_mask, beam=beam, length_penalty=1.0)
        bleu = sacrebleu.corpus_bleu([" ".join(map(str, h.tokens)) for h in hypotheses], [references])
        assert bleu.score > 90, (beam, bleu)
