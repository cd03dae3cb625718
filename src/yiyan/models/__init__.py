"""Models: one interface (`Seq2SeqModel`), two architectures, built from a `ModelConfig`."""

from __future__ import annotations

from yiyan.config import ModelConfig
from yiyan.models.base import DecoderState, Seq2SeqModel
from yiyan.models.rnn import RNNModel
from yiyan.models.transformer import Transformer

__all__ = ["DecoderState", "RNNModel", "Seq2SeqModel", "Transformer", "build_model"]

ARCHITECTURES: dict[str, type[Seq2SeqModel]] = {"transformer": Transformer, "rnn": RNNModel}


def build_model(config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2SeqModel:
    """The model `config.type` names, freshly initialised (ConfigError for a tied, non-shared vocabulary)."""
    return ARCHITECTURES[config.type](config, src_vocab_size, tgt_vocab_size)
