"""Typed configuration: YAML maps one to one onto these dataclasses.

A config file has the sections `data`, `tokenizer`, `model`, `training`, `decoding`
(and `finetune` for transfer learning). Every key is a field below; an unknown key or a
value of the wrong type is a `ConfigError` that names the key — nothing is silently
ignored. `Config.to_dict()` gives the resolved config with every default spelled out,
which is what a run directory stores as `config.yaml`. With `finetune.init_from` set,
`load_config` takes the model keys a config leaves out from the pretrained run's model.json.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from yiyan.errors import ConfigError
from yiyan.io import read_json
from yiyan.training.schedule import check_schedule


@dataclass
class CorpusEntry:
    """One corpus of a mixture, with a weight: each of its training pairs is written `weight`
    times (the fractional part sampled), so 2 doubles a corpus and 0.5 keeps half of it."""

    corpus: str | list[str]
    weight: float = 1.0


# A corpus is a path to a TSV or JSONL file, the name of an embedded corpus ("hsk", "tatoeba",
# "cedict"; see data/corpus.py), a list of two line-aligned plain-text files
# [source_file, target_file], or a list of corpora to mix: names, paths or {corpus, weight}.
CorpusSpec = str | list[str | CorpusEntry]


@dataclass
class DataConfig:
    src_lang: str = "en"
    tgt_lang: str = "zh"
    corpus: CorpusSpec | None = "hsk"  # one corpus, split deterministically into train/dev/test
    train: CorpusSpec | None = None  # or explicit splits (then `corpus` must be null)
    dev: CorpusSpec | None = None
    test: CorpusSpec | None = None
    format: Literal["auto", "tsv", "plain", "jsonl", "hsk", "tatoeba", "cedict"] = "auto"
    tsv_src_column: int = 0  # TSV columns (0-based) holding source and target
    tsv_tgt_column: int = 1
    jsonl_src_key: str | None = None  # JSONL keys; default: the language codes
    jsonl_tgt_key: str | None = None
    src_normalization: Literal["none", "NFC", "NFKC"] = "NFKC"
    tgt_normalization: Literal["none", "NFC", "NFKC"] = "NFC"  # NFKC would turn ，！？ into ASCII
    max_chars: int = 400  # drop pairs where either side is longer
    max_length_ratio: float = 9.0  # drop pairs whose char-length ratio exceeds this
    ratio_min_chars: int = 10  # ... only applied when the longer side has at least this many chars
    deduplicate: bool = True
    zh_script: Literal["simplified", "keep"] = "simplified"  # traditional → simplified (data/script.py)
    # Chinese targets: ASCII , ? ! : ; between Chinese characters → full-width ，？！：；
    # (yiyan.segment.normalize_zh_punctuation), counted in the prepare report
    zh_punctuation: bool = True
    decontaminate: bool = True  # drop training pairs whose source or target is in dev, test or exclude
    exclude: CorpusSpec | None = None  # corpora no training sentence may come from (e.g. a later test set)
    dev_size: int = 500  # sentences held out when one corpus is split
    test_size: int = 500
    split_seed: int = 1234
    score_filter_run: str | None = None  # a trained run whose forced scores rank the training pairs
    score_filter_drop_worst: float = 0.0  # drop this share of training pairs, the worst scored first
    # noisy-data filters of training pairs (data/filters.py), all off by default; each drop is counted
    drop_copies: bool = False  # target equals source (case and spaces ignored)
    drop_urls: bool = False  # a URL or e-mail address on either side
    max_digit_ratio: float = 1.0  # digits / non-space characters of a side; 1 = off
    max_repeat: int = 0  # longest run of one repeated character allowed; 0 = off
    min_script_ratio: float = 0.0  # share of a side's letters in its language's script; 0 = off
    langid: bool = False  # langid.py says a side is in another language (slow: ~2k sentences/s)


@dataclass
class TokenizerConfig:
    type: Literal["unigram", "bpe"] = "unigram"
    joint: bool = True  # one vocabulary for both sides (enables tied embeddings)
    vocab_size: int = 8000  # joint vocabulary, or the source vocabulary when not joint
    tgt_vocab_size: int | None = None  # target vocabulary when not joint (default: vocab_size)
    character_coverage: float = 1.0
    max_sentences: int = 2_000_000  # SentencePiece trains on a bounded random sample
    hard_vocab_limit: bool = False  # shrink the vocabulary on small corpora instead of failing
    seed: int = 1
    # a character outside the vocabulary becomes its UTF-8 bytes (<0xE4>…) instead of <unk>, so
    # any character can be read and produced; the 256 byte pieces come on top of vocab_size.
    # Runs trained without it still load (their tokenizer model says which they use)
    byte_fallback: bool = True
    # pieces never split, e.g. the source-side tag "<BT>" of back-translated pairs (configs/backtranslation*.yaml)
    user_symbols: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    type: Literal["transformer", "rnn"] = "transformer"
    d_model: int = 256  # embedding size (and the Transformer's width)
    encoder_layers: int = 3
    decoder_layers: int = 3
    heads: int = 4
    ff_size: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation: Literal["relu", "gelu", "swish"] = "relu"
    norm: Literal["pre", "post"] = "pre"
    # every weight matrix (embeddings included): Xavier-uniform (Joey NMT), or N(0, 0.02²)
    # (`normal`: Hugging Face Marian, BERT); Linear biases start at zero either way
    init: Literal["xavier_uniform", "normal"] = "xavier_uniform"
    scale_embeddings: bool = True  # multiply embeddings by sqrt(d_model)
    tie_embeddings: bool = True  # share source/target/output embeddings (needs a joint vocabulary)
    max_positions: int = 1024
    # sinusoidal position table: "interleaved" sin/cos (Vaswani et al.) or "halves" [sin…, cos…]
    # (Marian, fairseq); an output bias added to the logits (Marian's final_logits_bias)
    position_layout: Literal["interleaved", "halves"] = "interleaved"
    output_bias: bool = False
    # special ids (yiyan.vocab.SpecialIds); an imported model keeps its own. bos_id is the
    # decoder start token (Marian starts from PAD: bos_id == pad_id)
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3
    # GRU + Bahdanau attention (type: rnn)
    hidden_size: int = 256
    bidirectional: bool = True
    output_layer: Literal["maxout", "tanh", "none"] = "tanh"


@dataclass
class TrainingConfig:
    learning_rate: float = 5e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-9
    weight_decay: float = 0.0
    schedule: Literal["inverse_sqrt", "constant", "linear", "cosine"] = "inverse_sqrt"
    warmup_steps: int = 4000
    min_learning_rate: float = 0.0
    clip_norm: float = 1.0  # 0 disables gradient clipping
    label_smoothing: float = 0.1
    batch_tokens: int = 4096  # token budget per batch (max of source/target side, padding included)
    accumulation: int = 1  # gradient accumulation steps per update
    max_steps: int = 0  # 0 = no limit
    max_epochs: int = 0  # 0 = no limit
    max_time: float = 0.0  # wall-clock budget in seconds; 0 = no limit
    eval_every: int = 500  # validate (loss + BLEU) every N updates
    eval_bleu: bool = True
    eval_max_sentences: int = 0  # cap dev sentences decoded for BLEU; 0 = all
    eval_beam: int = 1
    patience: int = 0  # early stopping after N evaluations without BLEU gain; 0 = off
    log_every: int = 50
    seed: int = 1
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    num_threads: int = 0  # torch intra-op threads; 0 = torch's default
    max_length: int = 256  # drop training pairs longer than this many tokens (either side)
    ema_decay: float = 0.0  # EMA of the weights, used to evaluate and as the final model; 0 = off
    keep_checkpoints: int = 0  # keep the weights of the last N evaluations for `yiyan average`; 0 = off


@dataclass
class DecodingConfig:
    beam: int = 5
    length_penalty: float = 1.0  # score / length**alpha
    max_length_ratio: float = 1.5  # max output tokens = ratio * source tokens + max_length_offset
    max_length_offset: int = 10
    max_input_tokens: int = 250  # longer inputs are cut at clause boundaries and translated in parts
    no_repeat_ngram_size: int = 0  # 0 = off
    batch_size: int = 64  # sentences per decoding batch
    zh_punctuation: bool = False  # Chinese output: ASCII , ? ! : ; between Chinese characters → full-width


@dataclass
class FinetuneConfig:
    init_from: str | None = None  # pretrained run directory
    freeze: list[str] = field(default_factory=list)  # "embeddings", "encoder", "decoder"
    freeze_layers: int = 0  # freeze the first N layers of encoder and decoder
    mix_corpus: str | None = None  # run directory whose training pairs are mixed in
    mix_ratio: float = 0.0  # share of general-domain sentences in every batch
    min_char_coverage: float = 0.995  # warn when the pretrained vocabulary covers less


# --- ranges ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric config key: `low` ≤ value ≤ `high`; a bound that is None
    is absent, an open bound excludes its end (`low_open`: value > low)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # NaN
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        assert self.low is not None  # every range here has a lower bound
        return (
            f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        )


COUNT, POSITIVE = Range(0), Range(1)  # integers ≥ 0 and ≥ 1
FRACTION, PROBABILITY = Range(0, 1, high_open=True), Range(0, 1)  # [0, 1) and [0, 1]

# The allowed range of every numeric config value (for a list, of each item), checked by
# `check_ranges` when a config is loaded; `tests/test_config.py` fails for a numeric field
# without an entry here, so a new key must declare its range.
RANGES: dict[str, Range] = {
    "data.tsv_src_column": COUNT,
    "data.tsv_tgt_column": COUNT,
    "data.max_chars": POSITIVE,
    "data.max_length_ratio": Range(1),  # longer/shorter is never below 1
    "data.ratio_min_chars": COUNT,
    "data.dev_size": COUNT,
    "data.test_size": COUNT,
    "data.split_seed": COUNT,
    "data.score_filter_drop_worst": FRACTION,
    "data.max_digit_ratio": PROBABILITY,
    "data.max_repeat": COUNT,
    "data.min_script_ratio": PROBABILITY,
    "tokenizer.vocab_size": Range(16),
    "tokenizer.tgt_vocab_size": Range(16),
    "tokenizer.character_coverage": Range(0, 1, low_open=True),
    "tokenizer.max_sentences": POSITIVE,
    "tokenizer.seed": COUNT,
    "model.d_model": POSITIVE,
    "model.encoder_layers": POSITIVE,
    "model.decoder_layers": POSITIVE,
    "model.heads": POSITIVE,
    "model.ff_size": POSITIVE,
    "model.dropout": FRACTION,
    "model.attention_dropout": FRACTION,
    "model.max_positions": POSITIVE,
    "model.pad_id": COUNT,  # and below the vocabulary size: checked when the model is built
    "model.unk_id": COUNT,
    "model.bos_id": COUNT,
    "model.eos_id": COUNT,
    "model.hidden_size": POSITIVE,
    "training.learning_rate": PROBABILITY,  # 0 is allowed (a frozen run), negative is not
    "training.betas": FRACTION,
    "training.eps": Range(0, 1, low_open=True),
    "training.weight_decay": COUNT,
    "training.warmup_steps": COUNT,
    "training.min_learning_rate": PROBABILITY,
    "training.clip_norm": COUNT,
    "training.label_smoothing": FRACTION,
    "training.batch_tokens": POSITIVE,
    "training.accumulation": POSITIVE,
    "training.max_steps": COUNT,
    "training.max_epochs": COUNT,
    "training.max_time": COUNT,
    "training.eval_every": POSITIVE,
    "training.eval_max_sentences": COUNT,
    "training.eval_beam": POSITIVE,
    "training.patience": COUNT,
    "training.log_every": POSITIVE,
    "training.seed": COUNT,
    "training.num_threads": COUNT,
    "training.max_length": POSITIVE,
    "training.ema_decay": FRACTION,
    "training.keep_checkpoints": COUNT,
    "decoding.beam": POSITIVE,
    "decoding.length_penalty": COUNT,
    "decoding.max_length_ratio": Range(0, low_open=True),
    "decoding.max_length_offset": COUNT,
    "decoding.max_input_tokens": POSITIVE,
    "decoding.no_repeat_ngram_size": COUNT,
    "decoding.batch_size": POSITIVE,
    "finetune.freeze_layers": COUNT,
    "finetune.mix_ratio": FRACTION,
    "finetune.min_char_coverage": PROBABILITY,
}


def check_value(key: str, value: object) -> None:
    """A ConfigError unless `value` (or each item of a list) is in the range of config key `key`."""
    check_in_range(value, RANGES[key], f"config key '{key}'")


def check_in_range(value: object, allowed: Range, name: str) -> None:
    """A ConfigError naming `name` unless `value` (or each item of a list) is in `allowed`."""
    items = enumerate(value) if isinstance(value, list) else [(None, value)]
    for index, item in items:
        if item is not None and item not in allowed:
            where = name if index is None else f"{name}[{index}]"
            raise ConfigError(f"{where}: {item!r} is out of range (must be {allowed})")


def check_ranges(config: Any, prefix: str = "") -> None:
    """Check every numeric value of a config (dataclass) against RANGES."""
    for item in dataclasses.fields(config):
        value, key = getattr(config, item.name), f"{prefix}{item.name}"
        if dataclasses.is_dataclass(value):
            check_ranges(value, f"{key}.")
        elif key in RANGES:
            check_value(key, value)


CORPUS_WEIGHT = Range(0, 100, low_open=True)


def check_corpus_weights(data: DataConfig) -> None:
    """The weights of a corpus mixture (data.corpus / data.train) are in CORPUS_WEIGHT."""
    for key in ("corpus", "train"):
        spec = getattr(data, key)
        for index, entry in enumerate(spec if isinstance(spec, list) else []):
            if isinstance(entry, CorpusEntry) and entry.weight not in CORPUS_WEIGHT:
                raise ConfigError(
                    f"config key 'data.{key}[{index}].weight': {entry.weight!r} is out of range "
                    f"(must be {CORPUS_WEIGHT})"
                )


@dataclass
class Config:
    name: str = "run"
    run_dir: str | None = None  # default: runs/<name>
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) if self.run_dir else Path("runs") / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Value ranges (RANGES), then cross-field checks that a single type cannot express."""
        check_ranges(self)
        check_schedule(self.training)
        d, m, t = self.data, self.model, self.tokenizer
        if d.corpus is not None and (d.train or d.dev or d.test):
            raise ConfigError(
                "data: give either 'corpus' (split automatically) or 'train'/'dev'/'test', not both"
            )
        if d.corpus is None and not d.train:
            raise ConfigError("data: no corpus — set 'data.corpus' or 'data.train'")
        check_corpus_weights(d)
        if any(not symbol or symbol != "".join(symbol.split()) for symbol in t.user_symbols):
            raise ConfigError(f"tokenizer.user_symbols: each must be a non-empty word, got {t.user_symbols}")
        if m.tie_embeddings and not t.joint:
            raise ConfigError("model.tie_embeddings needs tokenizer.joint: true (one shared vocabulary)")
        if m.type == "transformer" and m.d_model % m.heads:
            raise ConfigError(f"model.d_model ({m.d_model}) must be divisible by model.heads ({m.heads})")
        unknown = set(self.finetune.freeze) - {"embeddings", "encoder", "decoder"}
        if unknown:
            raise ConfigError(
                f"finetune.freeze: unknown part(s) {sorted(unknown)}; use embeddings, encoder, decoder"
            )
        if d.score_filter_drop_worst > 0 and not d.score_filter_run:
            raise ConfigError("data.score_filter_drop_worst > 0 needs data.score_filter_run (a trained run)")
        if self.finetune.mix_ratio > 0 and not (self.finetune.mix_corpus or self.finetune.init_from):
            raise ConfigError("finetune.mix_ratio > 0 needs finetune.mix_corpus or finetune.init_from")
        if (self.finetune.freeze or self.finetune.freeze_layers) and not self.finetune.init_from:
            raise ConfigError("finetune.freeze / freeze_layers need finetune.init_from (a pretrained run)")


T = TypeVar("T")


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is list:
        return f"list[{_type_name(get_args(tp)[0])}]"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; return it (ints are accepted as floats)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        for option in get_args(tp):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"config key '{key}': expected one of {_type_name(tp)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        (item_type,) = get_args(tp)
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"config key '{key}': expected null, got {value!r}")
    if dataclasses.is_dataclass(tp):
        return from_dict(typing.cast(type, tp), value, prefix=f"{key}.")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ConfigError(f"config key '{key}': expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Any, prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types are errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config section '{prefix.rstrip('.') or '<top>'}': expected a mapping, got {data!r}"
        )
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(typing.cast(Any, cls))]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{prefix}{key}'{hint}")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def set_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply 'section.key=value' (value parsed as YAML) to a raw config mapping."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}' must look like section.key=value")
    dotted, text = assignment.split("=", 1)
    parts = dotted.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{assignment}': '{part}' is not a section")
    node[parts[-1]] = yaml.safe_load(text)


def inherit_pretrained_model(raw: dict[str, Any]) -> None:
    """Fine-tuning: the `model` keys a raw config leaves out come from the pretrained run's
    model.json (`finetune.init_from`), so a fine-tune config needs no model section. Keys it
    does give are kept; the trainer reports any that contradict the pretrained model."""
    finetune = raw.get("finetune")
    init_from = finetune.get("init_from") if isinstance(finetune, dict) else None
    model = raw.get("model") or {}
    meta_path = Path(str(init_from)) / "model.json"
    if not init_from or not isinstance(model, dict) or not meta_path.is_file():
        return  # nothing to inherit; a missing pretrained run is reported when training starts
    try:
        pretrained = read_json(meta_path)["model"]
    except (ValueError, KeyError, TypeError):
        return  # a corrupt model.json is reported when training starts
    if isinstance(pretrained, dict):
        known = {f.name for f in dataclasses.fields(ModelConfig)}
        raw["model"] = {**{k: v for k, v in pretrained.items() if k in known}, **model}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the defaults when `path` is None) and apply overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config must be a YAML mapping")
        raw = loaded or {}
    for assignment in overrides or []:
        set_override(raw, assignment)
    inherit_pretrained_model(raw)
    try:
        config = from_dict(Config, raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}" if path else str(error)) from None
    config.validate()
    return config


def config_from_dict(raw: dict[str, Any]) -> Config:
    config = from_dict(Config, raw)
    config.validate()
    return config
