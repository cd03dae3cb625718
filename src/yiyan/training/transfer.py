"""Starting a run from a pretrained one: compatibility checks, frozen parts, mixed-in data.

The trainer calls these when `finetune.init_from` names a pretrained run directory:

    check_pretrained      the config's architecture, the language pair and the run's tokenizer
                          must be the pretrained run's (a clear error names any mismatch)
    freeze_parameters     requires_grad=False on the chosen parts (the optimizer skips them)
    mixed_training_data   in-domain + general-domain pairs and a MixedBatchSampler over them

Parts, by parameter name (both architectures):

    embeddings   source/target embeddings and the output projection (one matrix when tied)
    encoder      Transformer: encoder layers + final encoder norm; GRU: the encoder GRU
    decoder      Transformer: decoder layers + final decoder norm; GRU: the decoder GRU,
                 the bridge (initial state), the attention and the output layer
    first N layers (freeze_layers): Transformer encoder_layers.{k} / decoder_layers.{k};
                 GRU weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (and _reverse)
                 of encoder and decoder, for k < N
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from yiyan.checkpoint import load_model_config
from yiyan.config import Config, DataConfig, ModelConfig
from yiyan.data.binarize import BinarizedDataset
from yiyan.data.mixing import ConcatPairs, MixedBatchSampler, Pairs
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import CheckpointError, ConfigError
from yiyan.io import read_yaml
from yiyan.models.base import Seq2SeqModel

# ModelConfig fields that must equal the pretrained model's (dropout may change).
ARCHITECTURE = {
    "transformer": (
        "d_model",
        "encoder_layers",
        "decoder_layers",
        "heads",
        "ff_size",
        "activation",
        "norm",
        "scale_embeddings",
        "tie_embeddings",
        "max_positions",
        "position_layout",
        "output_bias",
        "pad_id",
        "unk_id",
        "bos_id",
        "eos_id",
    ),
    "rnn": (
        "d_model",
        "encoder_layers",
        "decoder_layers",
        "hidden_size",
        "bidirectional",
        "output_layer",
        "scale_embeddings",
        "tie_embeddings",
    ),
}
EMBEDDINGS = ("src_embedding.", "tgt_embedding.", "output_projection.")
PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "transformer": {
        "embeddings": EMBEDDINGS,
        "encoder": ("encoder_layers.", "encoder_norm."),
        "decoder": ("decoder_layers.", "decoder_norm."),
    },
    "rnn": {
        "embeddings": EMBEDDINGS,
        "encoder": ("encoder.",),
        "decoder": ("decoder.", "bridge.", "attention.", "output_layer."),
    },
}
LAYER = {
    "transformer": re.compile(r"(?:encoder|decoder)_layers\.(\d+)\..*"),
    "rnn": re.compile(r"(?:encoder|decoder)\.(?:weight|bias)_(?:ih|hh)_l(\d+)(?:_reverse)?"),
}


def architecture_mismatches(config: ModelConfig, pretrained: ModelConfig) -> list[str]:
    """'field: config value ≠ pretrained value' for every architecture field that differs."""
    if config.type != pretrained.type:
        return [f"type: {config.type!r} ≠ {pretrained.type!r}"]
    return [
        f"{name}: {getattr(config, name)!r} ≠ {getattr(pretrained, name)!r}"
        for name in ARCHITECTURE[config.type]
        if getattr(config, name) != getattr(pretrained, name)
    ]


def same_vocabulary(a: Tokenizer, b: Tokenizer) -> bool:
    """Whether two tokenizers map every piece to the same id on both sides."""
    return a.joint == b.joint and a.src_vocab() == b.src_vocab() and a.tgt_vocab() == b.tgt_vocab()


def check_pretrained(pretrained: Path, config: Config, tokenizer: Tokenizer) -> None:
    """Raise a clear CheckpointError / ConfigError unless a model built from `config.model`
    with `tokenizer` (the run's) can take the weights of the run in `pretrained`."""
    model_config, src_vocab, tgt_vocab = load_model_config(pretrained)  # missing / corrupt model.json
    mismatches = architecture_mismatches(config.model, model_config)
    if mismatches:
        raise CheckpointError(
            f"the config's model section does not match the pretrained model in {pretrained} "
            f"(config ≠ pretrained): {'; '.join(mismatches)}. Fine-tuning keeps the pretrained architecture: "
            f"drop these keys from the model section (load_config fills it from {pretrained / 'model.json'} "
            "when finetune.init_from is set)"
        )
    _check_languages(pretrained, config.data)
    run_tokenizer = config.run_path / "tokenizer"
    if (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size) != (src_vocab, tgt_vocab):
        raise CheckpointError(
            f"vocabulary mismatch: {run_tokenizer} has {tokenizer.src_vocab_size} source / "
            f"{tokenizer.tgt_vocab_size} target pieces, but the pretrained model in {pretrained} has "
            f"{src_vocab} / {tgt_vocab}. Fine-tuning reuses the pretrained tokenizer: prepare the run again "
            f"(delete {config.run_path / 'prepare_report.json'}) and it takes {pretrained / 'tokenizer'}"
        )
    if (pretrained / "tokenizer").is_dir() and not same_vocabulary(
        tokenizer, Tokenizer.load(pretrained / "tokenizer")
    ):
        raise CheckpointError(
            f"{run_tokenizer} is not the pretrained tokenizer {pretrained / 'tokenizer'} (same sizes, other "
            f"pieces). Prepare the run again (delete {config.run_path / 'prepare_report.json'}) to reuse it"
        )


def _check_languages(pretrained: Path, data: DataConfig) -> None:
    try:
        raw: Any = read_yaml(pretrained / "config.yaml")
    except (OSError, yaml.YAMLError):
        raw = None
    pretrained_data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(pretrained_data, dict):
        return  # no readable config beside the weights: the vocabulary check still applies
    theirs = (pretrained_data.get("src_lang"), pretrained_data.get("tgt_lang"))
    if theirs != (data.src_lang, data.tgt_lang):
        raise ConfigError(
            f"language pair mismatch: the config is {data.src_lang}→{data.tgt_lang}, "
            f"the pretrained run {pretrained} is {theirs[0]}→{theirs[1]}"
        )


def part_of(name: str, model_type: str) -> str | None:
    """'embeddings', 'encoder' or 'decoder' for a parameter name (None: none of them)."""
    for part, prefixes in PARTS[model_type].items():
        if name.startswith(prefixes):
            return part
    return None


def layer_of(name: str, model_type: str) -> int | None:
    """The encoder/decoder layer number of a parameter name (None: not in a numbered layer)."""
    match = LAYER[model_type].fullmatch(name)
    return int(match.group(1)) if match else None


def freeze_parameters(model: Seq2SeqModel, freeze: list[str], freeze_layers: int = 0) -> list[str]:
    """Set requires_grad=False on the parts `freeze` (embeddings, encoder, decoder) and on the
    first `freeze_layers` layers of encoder and decoder; return the frozen parameter names."""
    config = model.config
    unknown = set(freeze) - set(PARTS[config.type])
    if unknown:
        raise ConfigError(
            f"finetune.freeze: unknown part(s) {sorted(unknown)}; use embeddings, encoder, decoder"
        )
    most = max(config.encoder_layers, config.decoder_layers)
    if not 0 <= freeze_layers <= most:
        raise ConfigError(
            f"finetune.freeze_layers is {freeze_layers}, but the model has {config.encoder_layers} encoder "
            f"and {config.decoder_layers} decoder layers"
        )
    frozen = []
    for name, parameter in model.named_parameters():
        layer = layer_of(name, config.type)
        if part_of(name, config.type) in freeze or (layer is not None and layer < freeze_layers):
            parameter.requires_grad_(False)
            frozen.append(name)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("finetune.freeze / freeze_layers leave no parameter to train")
    return frozen


def describe_frozen(model: nn.Module, frozen: list[str]) -> str:
    """'N of M parameters frozen (names…)' for the log."""
    sizes = dict(model.named_parameters())
    count = sum(sizes[name].numel() for name in frozen)
    total = sum(p.numel() for p in model.parameters())
    groups = sorted({re.sub(r"\.(weight|bias)\w*$", "", name) for name in frozen})
    shown = ", ".join(groups[:8]) + (", …" if len(groups) > 8 else "")
    return f"frozen: {count:,} of {total:,} parameters ({shown})"


def mixed_training_data(
    config: Config,
    in_domain: Pairs,
    tokenizer: Tokenizer,
    *,
    rank: int = 0,
    world_size: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[ConcatPairs, MixedBatchSampler]:
    """The in-domain training pairs plus the general-domain ones of `finetune.mix_corpus`
    (default: the pretrained run), and a sampler that mixes a share `mix_ratio` into every batch."""
    ft, training = config.finetune, config.training
    source = ft.mix_corpus or ft.init_from
    if source is None:
        raise ConfigError("finetune.mix_ratio > 0 needs finetune.mix_corpus or finetune.init_from")
    run = Path(source)
    if not (run / "data" / "bin" / "meta.json").is_file():
        raise ConfigError(
            f"finetune.mix_ratio: {run} has no prepared training data ({run / 'data' / 'bin' / 'meta.json'} "
            "is missing); set finetune.mix_corpus to a prepared run directory"
        )
    if not (run / "tokenizer").is_dir() or not same_vocabulary(tokenizer, Tokenizer.load(run / "tokenizer")):
        raise ConfigError(
            f"finetune.mix_corpus: the data in {run} was not tokenized with this run's tokenizer "
            f"({config.run_path / 'tokenizer'}); mix in a run prepared with the pretrained tokenizer"
        )
    general = BinarizedDataset(run / "data" / "bin", "train")
    try:
        sampler = MixedBatchSampler(
            (in_domain.src_lengths, in_domain.tgt_lengths),
            (general.src_lengths, general.tgt_lengths),
            training.batch_tokens,
            ft.mix_ratio,
            seed=training.seed,
            rank=rank,
            world_size=world_size,
            max_length=training.max_length,
        )
    except ValueError as error:
        raise ConfigError(f"finetune.mix_ratio: {error}") from None
    log(
        f"mixing general-domain pairs from {run} ({len(general)} pairs) into every batch: "
        f"share {ft.mix_ratio:.0%}, {sampler.n_extra} per epoch of {len(sampler.main_indices)} in-domain pairs"
    )
    return ConcatPairs(in_domain, general), sampler
