"""Validation during training: dev loss (teacher forcing) and dev BLEU/chrF (decoding).

Both score the model as it is; the trainer decides which weights (trained or EMA) it holds and
what the scores mean for the best checkpoint and early stopping.
"""

from __future__ import annotations

from typing import Any

import torch

from yiyan.config import Config
from yiyan.data.batching import collate
from yiyan.data.binarize import BinarizedDataset
from yiyan.data.tokenizer import Tokenizer
from yiyan.metrics import score
from yiyan.models.base import Seq2SeqModel
from yiyan.training.batches import dev_sampler, to_device
from yiyan.training.loss import batch_loss
from yiyan.translator import Translator


@torch.no_grad()
def dev_loss(
    model: Seq2SeqModel,
    dev_data: BinarizedDataset,
    batch_tokens: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
) -> float:
    """Mean NLL per target token on the dev set (no label smoothing)."""
    model.eval()
    sampler = dev_sampler(dev_data, batch_tokens, model.max_output_length)
    sampler.set_epoch(0)
    nll_sum, tokens = 0.0, 0
    for indices in sampler:
        batch = to_device(collate(dev_data, indices, model.special_ids), device)
        _, nll = batch_loss(model, batch, 0.0, device, amp_dtype)
        nll_sum += nll.item()
        tokens += batch.n_tgt_tokens
    return nll_sum / max(tokens, 1)


def dev_bleu(
    model: Seq2SeqModel, tokenizer: Tokenizer, config: Config, device: torch.device
) -> dict[str, Any]:
    """Decode the dev sources and score them against the untouched references."""
    cfg, data = config.training, config.data
    prepared = config.run_path / "data"
    sources = (prepared / f"dev.{data.src_lang}").read_text(encoding="utf-8").splitlines()
    refs = (prepared / f"dev.ref.{data.tgt_lang}").read_text(encoding="utf-8").splitlines()
    if cfg.eval_max_sentences:
        sources, refs = sources[: cfg.eval_max_sentences], refs[: cfg.eval_max_sentences]
    translator = Translator(
        model,
        tokenizer,
        decoding=config.decoding,
        src_normalization="none",  # dev text is already normalized by prepare
        device=device,
    )
    hyps = translator.translate(sources, beam=cfg.eval_beam)
    return {**score(hyps, refs, data.tgt_lang), "examples": list(zip(sources[:3], hyps[:3]))}
