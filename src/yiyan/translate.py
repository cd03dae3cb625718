"""Translator: text in, text out, for a trained run.

    normalize → encode (SentencePiece) → sort by length → batch → search → decode → input order

`Translator.load(run_dir)` reads a run directory (config.yaml, tokenizer/, model.json,
model.safetensors); `Translator(model, tokenizer, ...)` wraps an in-memory model, which
is how the trainer scores the dev set.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import torch

from yiyan.checkpoint import load_model
from yiyan.config import Config, DecodingConfig, config_from_dict
from yiyan.data.corpus import Normalization, normalize_text
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import CheckpointError
from yiyan.io import read_yaml
from yiyan.models.base import Seq2SeqModel
from yiyan.runtime import resolve_device
from yiyan.search import search
from yiyan.translation import Translation
from yiyan.vocab import EOS_ID, PAD_ID

__all__ = ["Translation", "Translator", "load_run_config", "quantize_int8"]


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


class Translator:
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
        translator = cls(
            model,
            Tokenizer.load(run_dir / "tokenizer"),
            decoding=config.decoding,
            src_normalization=config.data.src_normalization,
            device=torch_device,
        )
        translator.config = config
        translator.run_dir = run_dir
        return translator

    def translate(self, texts: Sequence[str], **options: Any) -> list[str]:
        """Translate `texts`; options override the run's decoding config (beam=5, ...)."""
        return [t.text for t in self.translate_detailed(texts, **options)]

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: Any
    ) -> list[Translation]:
        decoding = replace(self.decoding, **{k: v for k, v in options.items() if v is not None})
        sources = [normalize_text(text, self.src_normalization) for text in texts]
        encoded = [self._encode(text, decoding.max_input_tokens) for text in sources]
        results: list[Translation | None] = [None] * len(texts)
        order = sorted((i for i, ids in enumerate(encoded) if len(ids) > 1), key=lambda i: len(encoded[i]))
        for i, ids in enumerate(encoded):
            if len(ids) <= 1:  # empty input → empty output, no model call
                results[i] = Translation(texts[i], "", [], [], 0.0, None)
        for start in range(0, len(order), max(decoding.batch_size, 1)):
            chunk = order[start : start + decoding.batch_size]
            for i, translation in zip(
                chunk, self._translate_batch([encoded[i] for i in chunk], decoding, attention)
            ):
                results[i] = replace(translation, source=texts[i])
        return [r for r in results if r is not None]

    def _encode(self, text: str, max_tokens: int) -> list[int]:
        if not text:
            return [EOS_ID]
        ids = self.tokenizer.encode_src(text)
        if len(ids) > max_tokens:
            warnings.warn(
                f"input of {len(ids)} tokens truncated to {max_tokens} (decoding.max_input_tokens): {text[:40]!r}…",
                stacklevel=3,
            )
            ids = ids[:max_tokens]
        return [*ids, EOS_ID]

    @torch.inference_mode()
    def _translate_batch(
        self, batch: list[list[int]], decoding: DecodingConfig, attention: bool
    ) -> list[Translation]:
        width = max(len(ids) for ids in batch)
        src = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
        for row, ids in enumerate(batch):
            src[row, : len(ids)] = torch.tensor(ids)
        src = src.to(self.device)
        src_mask = src != PAD_ID
        self.model.eval()
        hypotheses = search(
            self.model,
            src,
            src_mask,
            beam=decoding.beam,
            length_penalty=decoding.length_penalty,
            max_length_ratio=decoding.max_length_ratio,
            max_length_offset=decoding.max_length_offset,
            no_repeat_ngram_size=decoding.no_repeat_ngram_size,
            need_attention=attention,
        )
        translations = []
        for ids, hyp in zip(batch, hypotheses):
            tgt_ids = list(hyp.tokens)
            pieces = self.tokenizer.tgt_pieces(tgt_ids)
            matrix = None
            if attention and hyp.attention is not None:
                matrix = hyp.attention.float().cpu().numpy()
                if matrix.shape[0] > len(pieces):
                    pieces = [*pieces, "</s>"]
            translations.append(
                Translation(
                    source="",
                    text=self.tokenizer.decode_tgt(tgt_ids),
                    src_tokens=[*self.tokenizer.src_pieces(ids[:-1]), "</s>"],
                    tgt_tokens=pieces,
                    score=float(hyp.score),
                    attention=matrix,
                )
            )
        return translations
