"""Forced scoring: how probable a trained model finds given (source, target) pairs.

    scores = score_pairs("runs/demo", [("I love you.", "我爱你。")])
    scores[0].log_prob, scores[0].mean_log_prob, scores[0].normalised_score

One teacher-forced pass per batch (the training forward pass, no search): the target is
tokenized like training data, fed as BOS + y₁…yₙ, and the model's log-probabilities of
y₁…yₙ, EOS are summed. For a pair with n target pieces (n + 1 scored tokens, EOS included):

    log_prob          = Σ log p(yᵢ | y<ᵢ, x)            over the n + 1 tokens
    mean_log_prob     = log_prob / (n + 1)
    normalised_score  = log_prob / (n + 1)^α           α = decoding.length_penalty

`normalised_score` is exactly the score beam search ranks its finished hypotheses by
(`yiyan.search.length_normalised`), so a translation's score and the score of the same pair
forced here agree. Corpus filtering (drop the worst X %) ranks pairs by `normalised_score`
or `mean_log_prob`; `yiyan score RUN --tsv pairs.tsv -o scores.tsv` writes all three.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from yiyan.data.corpus import normalize_text, read_tsv
from yiyan.errors import YiyanError
from yiyan.io import atomic_write
from yiyan.search import length_normalised

if TYPE_CHECKING:
    from yiyan.translator import Translator

SCORE_COLUMNS = ("log_prob", "mean_log_prob", "normalised_score", "target_tokens")


@dataclass(frozen=True)
class PairScore:
    log_prob: float  # summed log-probability of the target pieces and the EOS
    target_tokens: int  # scored tokens: target pieces + EOS
    mean_log_prob: float  # log_prob / target_tokens
    normalised_score: float  # log_prob / target_tokens ** length_penalty (beam search's ranking score)


def score_pairs(
    run: str | Path | Translator,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 64,
    length_penalty: float | None = None,
    device: str = "auto",
) -> list[PairScore]:
    """Scores of `pairs` (source, target) under the model of `run` (a run directory or a loaded
    Translator), in input order. `length_penalty` defaults to the run's decoding.length_penalty."""
    if batch_size < 1:
        raise YiyanError(f"batch_size must be >= 1, got {batch_size}")
    translator = _load(run, device)
    alpha = translator.decoding.length_penalty if length_penalty is None else length_penalty
    encoded = [_encode_pair(translator, src, tgt) for src, tgt in pairs]
    results: list[PairScore | None] = [None] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][1]))  # similar lengths batch together
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for i, log_prob in zip(chunk, _forced_log_probs(translator, [encoded[i] for i in chunk])):
            tokens = len(encoded[i][1]) + 1
            results[i] = PairScore(
                log_prob, tokens, log_prob / tokens, length_normalised(log_prob, tokens, alpha)
            )
    return [score for score in results if score is not None]


def score_tsv(
    run: str | Path | Translator,
    tsv: str | Path,
    output: str | Path,
    *,
    batch_size: int = 64,
    length_penalty: float | None = None,
    device: str = "auto",
) -> int:
    """`yiyan score`: score every line of `tsv` (source<TAB>target), write one line of scores per
    input line (after a header naming the columns) to `output`; returns the number of pairs."""
    pairs = [(pair.src, pair.tgt) for pair in read_tsv(tsv)]
    scores = score_pairs(run, pairs, batch_size=batch_size, length_penalty=length_penalty, device=device)
    lines = ["\t".join(SCORE_COLUMNS)]
    lines += [
        f"{s.log_prob:.4f}\t{s.mean_log_prob:.4f}\t{s.normalised_score:.4f}\t{s.target_tokens}"
        for s in scores
    ]
    with atomic_write(output) as handle:
        handle.writelines(f"{line}\n" for line in lines)
    return len(scores)


def _load(run: str | Path | Translator, device: str) -> Translator:
    from yiyan.translator import Translator

    return run if isinstance(run, Translator) else Translator.load(run, device=device)


def _truncated(ids: list[int], limit: int, side: str, text: str) -> list[int]:
    if len(ids) <= limit:
        return ids
    warnings.warn(
        f"{side} of {len(ids)} tokens truncated to {limit} for scoring: {text[:40]!r}…", stacklevel=4
    )
    return ids[:limit]


def _encode_pair(translator: Translator, src: str, tgt: str) -> tuple[list[int], list[int]]:
    """Source ids + EOS; target ids (no BOS/EOS), normalised and tokenized as in training."""
    config = translator.config
    tgt_form = config.data.tgt_normalization if config is not None else "NFC"
    source = normalize_text(src, translator.src_normalization)
    target = normalize_text(tgt, tgt_form)
    src_ids = translator.tokenizer.encode_src(source) if source else []
    tgt_ids = translator.tokenizer.encode_tgt(target) if target else []
    src_ids = _truncated(src_ids, translator.decoding.max_input_tokens, "source", source)
    limit = translator.model.max_output_length
    if limit is not None:
        tgt_ids = _truncated(tgt_ids, limit, "target", target)
    return [*src_ids, translator.model.special_ids.eos], tgt_ids


@torch.inference_mode()
def _forced_log_probs(translator: Translator, batch: list[tuple[list[int], list[int]]]) -> list[float]:
    """Σ log p(y_t | y_<t, x) over target + EOS for each pair: one teacher-forced forward pass."""
    model, device = translator.model, translator.device
    special = model.special_ids  # the model's own (an imported Marian model's differ from ours)
    src = _padded([src for src, _ in batch], device, special.pad)
    tgt_in = _padded([[special.bos, *tgt] for _, tgt in batch], device, special.pad)
    tgt_out = _padded([[*tgt, special.eos] for _, tgt in batch], device, special.pad)
    was_training = model.training
    model.eval()
    try:
        log_probs = model.log_probs(model(src, src != special.pad, tgt_in))  # [B, T, V] float32
    finally:
        model.train(was_training)
    token_log_probs = log_probs.gather(2, tgt_out.unsqueeze(2)).squeeze(2)  # [B, T]
    return token_log_probs.masked_fill(tgt_out == special.pad, 0.0).sum(1).tolist()


def _padded(sequences: list[list[int]], device: torch.device, pad: int) -> torch.Tensor:
    width = max(len(ids) for ids in sequences)
    ids = torch.full((len(sequences), width), pad, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return ids.to(device)
