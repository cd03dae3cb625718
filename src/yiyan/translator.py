"""Translator: text in, text out, for a trained run (the PyTorch engine).

The text side — normalize → encode → cut over-long → sort by length → batch → decode → input
order, and documents — is `yiyan.pipeline.TextPipeline`, shared with the CTranslate2 engine;
this module holds the search over the model (`search_ids`).

`Translator.load(run_dir)` reads a run directory (config.yaml, tokenizer/, model.json,
model.safetensors); `Translator(model, tokenizer, ...)` wraps an in-memory model, which
is how the trainer scores the dev set.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import torch

from yiyan.checkpoint import load_model
from yiyan.config import Config, DecodingConfig, config_from_dict
from yiyan.data.corpus import Normalization
from yiyan.data.tokenizer import Tokenizer
from yiyan.decoding_options import search_arguments
from yiyan.errors import CheckpointError
from yiyan.io import read_yaml
from yiyan.models.base import Seq2SeqModel
from yiyan.pipeline import Decoded, TextPipeline
from yiyan.results import DocumentTranslation, Translation
from yiyan.runtime import resolve_device
from yiyan.search import Hypothesis, search_nbest

__all__ = ["DocumentTranslation", "Translation", "Translator", "load_run_config", "quantize_int8"]


def load_run_config(run_dir: str | Path) -> Config:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise CheckpointError(f"{path}: not found — is {run_dir} a yiyan run directory?")
    return config_from_dict(read_yaml(path))


def quantize_int8(model: Seq2SeqModel) -> Seq2SeqModel:
    """A copy of `model` with PyTorch dynamic int8 quantization (CPU): the weights of every
    nn.Linear (attention projections, feed-forward, output projection, tied or not; one scale
    per output row, which keeps outputs closer to fp32 than one scale per matrix) and every
    nn.GRU become int8; activations are quantized on the fly, per batch.

    torch.ao.quantization is deprecated upstream (torchao replaces it); where a torch release
    has dropped it, this is a YiyanError pointing to the CTranslate2 engine.
    """
    try:
        from torch.ao.quantization import (
            default_dynamic_qconfig,
            per_channel_dynamic_qconfig,
            quantize_dynamic,
        )
    except ImportError:
        raise CheckpointError(
            f"--int8 needs torch.ao.quantization, which torch {torch.__version__} no longer has; "
            "export the run (yiyan export) and use the CTranslate2 engine's int8 instead"
        ) from None
    qconfig = {torch.nn.Linear: per_channel_dynamic_qconfig, torch.nn.GRU: default_dynamic_qconfig}
    with warnings.catch_warnings():  # the deprecation notices above, repeated for every layer
        warnings.filterwarnings("ignore", message=r".*quantize_per_(tensor|channel)", category=UserWarning)
        warnings.filterwarnings(
            "ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning
        )
        quantized = quantize_dynamic(model, qconfig, dtype=torch.qint8)
    return cast("Seq2SeqModel", quantized)


class Translator(TextPipeline):
    """The PyTorch engine: `yiyan.pipeline.TextPipeline` (text → ids → text, for every engine)
    over `yiyan.search` with this model."""

    def __init__(
        self,
        model: Seq2SeqModel,
        tokenizer: Tokenizer,
        *,
        decoding: DecodingConfig | None = None,
        src_normalization: Normalization = "NFKC",
        device: torch.device | str = "cpu",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.decoding = decoding or DecodingConfig()
        self.src_normalization = src_normalization
        self.device = torch.device(device)
        self.config: Config | None = None
        self.run_dir: Path | None = None

    @classmethod
    def load(cls, run_dir: str | Path, *, device: str = "auto", int8: bool = False) -> Translator:
        """Load a trained run; `int8` applies PyTorch dynamic quantization to linear layers (CPU)."""
        run_dir = Path(run_dir)
        config = load_run_config(run_dir)
        torch_device = resolve_device(device)
        model = load_model(run_dir, torch_device)
        if int8:
            if torch_device.type != "cpu":
                raise CheckpointError("--int8 (dynamic quantization) runs on CPU only")
            model = quantize_int8(model)
        tokenizer = Tokenizer.load(run_dir / "tokenizer")
        if tokenizer.special_ids != model.special_ids:
            raise CheckpointError(
                f"{run_dir}: the tokenizer's special ids {tokenizer.special_ids} differ from the model's "
                f"{model.special_ids} (model.json)"
            )
        translator = cls(
            model,
            tokenizer,
            decoding=config.decoding,
            src_normalization=config.data.src_normalization,
            device=torch_device,
        )
        translator.config = config
        translator.run_dir = run_dir
        return translator

    @torch.inference_mode()
    def search_ids(
        self, batch: list[list[int]], decoding: DecodingConfig, *, attention: bool, **options: Any
    ) -> list[Decoded]:
        """Pad the batch (EOS appended to each source), search, return output ids per sentence;
        options that are not DecodingConfig fields go to `yiyan.search.search_nbest`, the toolbox's
        (nbest, sampling, seed, glossary, ...) through `yiyan.decoding_options`."""
        special = self.model.special_ids  # the model's own (an imported model's may differ from ours)
        width = max(len(ids) for ids in batch) + 1
        src = torch.full((len(batch), width), special.pad, dtype=torch.long)
        for row, ids in enumerate(batch):
            src[row, : len(ids) + 1] = torch.tensor([*ids, special.eos])
        src = src.to(self.device)
        src_mask = src != special.pad
        self.model.eval()
        nbest_lists = search_nbest(
            self.model,
            src,
            src_mask,
            beam=decoding.beam,
            length_penalty=decoding.length_penalty,
            max_length_ratio=decoding.max_length_ratio,
            max_length_offset=decoding.max_length_offset,
            no_repeat_ngram_size=decoding.no_repeat_ngram_size,
            need_attention=attention,
            **search_arguments(options, batch, self.tokenizer, self.device),
        )
        decoded = [[self._decoded(hyp, attention) for hyp in hypotheses] for hypotheses in nbest_lists]
        if "nbest" in options:  # the n-best list was asked for
            return [replace(hypotheses[0], alternatives=hypotheses) for hypotheses in decoded]
        return [hypotheses[0] for hypotheses in decoded]

    @staticmethod
    def _decoded(hyp: Hypothesis, attention: bool) -> Decoded:
        matrix = hyp.attention.float().cpu().numpy() if attention and hyp.attention is not None else None
        return Decoded(list(hyp.tokens), float(hyp.score), matrix, hyp.normalised_score)
