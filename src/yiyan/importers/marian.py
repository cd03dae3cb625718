"""Import a Hugging Face MarianMT (OPUS-MT) model folder as a yiyan run directory.

    DIR/config.json              MarianConfig: sizes, activation, special ids, embedding sharing
    DIR/model.safetensors        weights (or pytorch_model.bin, read with torch.load(weights_only=True):
                                 tensors only, never arbitrary pickled objects)
    DIR/source.spm, target.spm   the two SentencePiece models, and vocab.json: one id space for both
    DIR/tokenizer_config.json    (optional) language pair, special pieces
    DIR/generation_config.json   (optional) num_beams, length_penalty
        ↓
    RUN/model.safetensors, model.json, config.yaml, tokenizer/ (SharedVocabTokenizer), import_report.json

Marian's Transformer is yiyan's with these switches (modeling_marian.py in `transformers`;
the same as CTranslate2's MarianMTLoader):

    post-norm (normalize_before false)             model.norm: post
    sinusoids [sin…, cos…], not interleaved        model.position_layout: halves
    lm_head(h) + final_logits_bias                 model.output_bias: true
    E[x]·√d (scale_embedding)                      model.scale_embeddings
    swish / gelu / relu (activation_function)      model.activation
    EOS 0, UNK 1, PAD last, decoder start = PAD    model.eos_id / unk_id / pad_id / bos_id
    shared embeddings, tied lm_head                model.tie_embeddings (untied lm_head: false)

Tensor names (HF → yiyan), layer i: self_attn.{q,k,v}_proj → self_attention.qkv (rows
concatenated Q, K, V: our fused projection); encoder_attn.q_proj → cross_attention.q,
encoder_attn.{k,v}_proj → cross_attention.kv; *.out_proj → *.out; fc1/fc2 → feed_forward.0/2;
self_attn_layer_norm/encoder_attn_layer_norm/final_layer_norm → norm1/norm2/norm(2|3).
Every tensor of the checkpoint is used or checked (the sinusoid tables against ours); one left
over is an error, like any config.json key that would change the network and that yiyan does
not implement.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from yiyan.checkpoint import save_model
from yiyan.config import Config, DataConfig, DecodingConfig, ModelConfig, TokenizerConfig
from yiyan.data.shared_vocab import (
    MARIAN_SPECIAL_PIECES,
    SOURCE_SPM,
    TARGET_SPM,
    VOCAB_JSON,
    SharedVocabTokenizer,
)
from yiyan.errors import CheckpointError, ConfigError, YiyanError
from yiyan.io import write_json, write_yaml
from yiyan.models import build_model
from yiyan.models.transformer import sinusoidal_positions

SAFETENSORS, PICKLED = "model.safetensors", "pytorch_model.bin"
IMPORT_REPORT = "import_report.json"
ACTIVATIONS = {"swish": "swish", "silu": "swish", "gelu": "gelu", "relu": "relu"}
# config.json keys that change the network, and the only value yiyan implements for each
# (absent means the same): anything else is an "unsupported config key" error.
REQUIRED_VALUES: dict[str, Any] = {
    "normalize_before": False,  # pre-norm Marian variants (mBART style)
    "normalize_embedding": False,  # LayerNorm on the embeddings
    "layernorm_embedding": False,
    "add_final_layer_norm": False,
    "static_position_embeddings": True,  # learned positions
    "add_bias_logits": False,
    "is_decoder": False,
    "is_encoder_decoder": True,
    "tie_encoder_decoder": False,
    "add_cross_attention": False,
}
# config.json keys read below
USED = {
    "model_type",
    "architectures",
    "d_model",
    "encoder_layers",
    "decoder_layers",
    "encoder_attention_heads",
    "decoder_attention_heads",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "vocab_size",
    "decoder_vocab_size",
    "max_position_embeddings",
    "activation_function",
    "scale_embedding",
    "share_encoder_decoder_embeddings",
    "tie_word_embeddings",
    "pad_token_id",
    "eos_token_id",
    "decoder_start_token_id",
    "dropout",
    "attention_dropout",
    "activation_dropout",  # dropout inside the feed-forward: yiyan has none (see the report)
    "num_beams",
    "length_penalty",
}
# config.json keys without effect on what the network computes (bookkeeping, training-time
# layer drop, initialisation, and generation options yiyan's decoding config replaces)
IGNORED = {
    "_name_or_path",
    "_num_labels",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "use_cache",
    "init_std",
    "encoder_layerdrop",
    "decoder_layerdrop",
    "gradient_checkpointing",
    "num_hidden_layers",
    "bos_token_id",
    "forced_eos_token_id",
    "bad_words_ids",
    "max_length",
    "min_length",
    "early_stopping",
    "no_repeat_ngram_size",
    "num_return_sequences",
    "classif_dropout",
    "classifier_dropout",
    "extra_pos_embeddings",
    "id2label",
    "label2id",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "problem_type",
    "pruned_heads",
    "chunk_size_feed_forward",
    "task_specific_params",
    "tokenizer_class",
    "prefix",
    "finetuning_task",
    "torchscript",
    "use_bfloat16",
    "tf_legacy_loss",
    "sep_token_id",
    "decoder_layers_to_keep",
}
LANGUAGE_CODES = {"eng": "en", "zho": "zh", "cmn": "zh", "chi": "zh", "deu": "de", "fra": "fr", "spa": "es"}
LANGUAGE_CODES |= {"jpn": "ja", "kor": "ko", "rus": "ru", "ara": "ar", "por": "pt", "ita": "it"}


@dataclass(frozen=True)
class ImportResult:
    path: Path
    report: dict[str, Any]


# ----------------------------------------------------------------------------- reading DIR


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (a MarianMT folder has {path.name})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def _optional_json(path: Path) -> dict[str, Any]:
    return _read_json(path) if path.is_file() else {}


def check_architecture(hf: dict[str, Any], path: Path) -> None:
    """A YiyanError "not supported: <architecture>" unless config.json describes a MarianMTModel."""
    architectures = hf.get("architectures") or []
    model_type = hf.get("model_type")
    name = architectures[0] if architectures else f"model_type {model_type!r}"
    if model_type != "marian" or any(a != "MarianMTModel" for a in architectures):
        raise YiyanError(
            f"{path}: not supported: {name} — yiyan imports MarianMTModel (OPUS-MT) checkpoints only"
        )


def check_keys(hf: dict[str, Any], path: Path) -> list[str]:
    """Refuse keys yiyan cannot honour; return notes on accepted keys that yiyan drops."""
    for key, value in hf.items():
        if key in REQUIRED_VALUES:
            if value is not None and value != REQUIRED_VALUES[key]:
                raise ConfigError(
                    f"{path}: unsupported config key '{key}': {value!r} (yiyan implements only "
                    f"{REQUIRED_VALUES[key]!r})"
                )
        elif key not in USED and key not in IGNORED:
            raise ConfigError(f"{path}: unsupported config key '{key}' (yiyan does not know what it changes)")
    notes = []
    if hf.get("activation_dropout"):
        notes.append(
            f"activation_dropout {hf['activation_dropout']} dropped: yiyan has no dropout inside the "
            "feed-forward (it only matters when fine-tuning)"
        )
    return notes


def _required(hf: dict[str, Any], key: str, path: Path) -> Any:
    if hf.get(key) is None:
        raise ConfigError(f"{path}: config key '{key}' is missing")
    return hf[key]


def _same(hf: dict[str, Any], path: Path, encoder_key: str, decoder_key: str) -> int:
    value = int(_required(hf, encoder_key, path))
    if int(hf.get(decoder_key, value)) != value:
        raise ConfigError(
            f"{path}: unsupported config: '{encoder_key}' ({value}) ≠ '{decoder_key}' ({hf[decoder_key]}); "
            "yiyan's encoder and decoder share these sizes"
        )
    return value


def _single_id(hf: dict[str, Any], key: str, path: Path) -> int:
    value = _required(hf, key, path)
    if isinstance(value, list):
        if len(value) != 1:
            raise ConfigError(f"{path}: config key '{key}' lists several ids {value}; yiyan needs one")
        value = value[0]
    return int(value)


def read_weights(directory: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The checkpoint's tensors (float32) and the file they came from; never unpickles."""
    if (directory / SAFETENSORS).is_file():
        path = directory / SAFETENSORS
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"{path}: corrupt safetensors file ({error})") from None
    elif (directory / PICKLED).is_file():
        path = directory / PICKLED
        try:  # weights_only: tensors and plain containers, no code runs
            tensors = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise CheckpointError(
                f"{path}: cannot be read safely as tensors only ({str(error).splitlines()[0]}); "
                f"convert it to {SAFETENSORS} (e.g. save_pretrained(..., safe_serialization=True))"
            ) from None
        if not isinstance(tensors, dict) or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
            raise CheckpointError(f"{path}: not a state dict of tensors; use {SAFETENSORS}")
    else:
        raise CheckpointError(f"{directory}: missing {SAFETENSORS} (or {PICKLED}): no weights to import")
    return {name.removeprefix("model."): t.float() for name, t in tensors.items()}, path.name


# ----------------------------------------------------------------------------- mapping


def model_config(hf: dict[str, Any], path: Path, vocab_size: int, has_bias: bool, unk_id: int) -> ModelConfig:
    """The yiyan ModelConfig of a MarianConfig (config.json)."""
    activation = str(hf.get("activation_function", "gelu"))
    if activation not in ACTIVATIONS:
        raise ConfigError(
            f"{path}: unknown activation '{activation}' (config key 'activation_function'); "
            f"supported: {', '.join(ACTIVATIONS)}"
        )
    if not hf.get("share_encoder_decoder_embeddings", True):
        raise ConfigError(
            f"{path}: unsupported config key 'share_encoder_decoder_embeddings': false — yiyan imports "
            "Marian models whose encoder and decoder share one embedding (and vocab.json)"
        )
    if int(hf.get("decoder_vocab_size") or vocab_size) != vocab_size:
        raise ConfigError(
            f"{path}: unsupported config key 'decoder_vocab_size': {hf['decoder_vocab_size']} ≠ "
            f"vocab_size {vocab_size} (a separate target vocabulary)"
        )
    return ModelConfig(
        type="transformer",
        d_model=int(_required(hf, "d_model", path)),
        encoder_layers=int(_required(hf, "encoder_layers", path)),
        decoder_layers=int(_required(hf, "decoder_layers", path)),
        heads=_same(hf, path, "encoder_attention_heads", "decoder_attention_heads"),
        ff_size=_same(hf, path, "encoder_ffn_dim", "decoder_ffn_dim"),
        dropout=float(hf.get("dropout", 0.1)),
        attention_dropout=float(hf.get("attention_dropout", 0.0)),
        activation=ACTIVATIONS[activation],  # type: ignore[arg-type]
        norm="post",
        scale_embeddings=bool(hf.get("scale_embedding", False)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
        max_positions=int(_required(hf, "max_position_embeddings", path)),
        position_layout="halves",
        output_bias=has_bias,
        pad_id=_single_id(hf, "pad_token_id", path),
        unk_id=unk_id,
        bos_id=_single_id(hf, "decoder_start_token_id", path),
        eos_id=_single_id(hf, "eos_token_id", path),
    )


class _Tensors:
    """The checkpoint's tensors, taken one by one; what is never taken is reported as unexpected."""

    def __init__(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        self.tensors, self.source = dict(tensors), source

    def take(self, name: str) -> torch.Tensor:
        if name not in self.tensors:
            raise CheckpointError(f"{self.source}: tensor '{name}' is missing")
        return self.tensors.pop(name)

    def take_optional(self, name: str) -> torch.Tensor | None:
        return self.tensors.pop(name, None)

    def linear(self, hf: str, ours: str, state: dict[str, torch.Tensor]) -> None:
        state[f"{ours}.weight"], state[f"{ours}.bias"] = self.take(f"{hf}.weight"), self.take(f"{hf}.bias")

    def fused(self, hf: str, parts: tuple[str, ...], ours: str, state: dict[str, torch.Tensor]) -> None:
        """Rows of the projections `parts` (q, k, v) stacked into one fused linear layer."""
        for kind in ("weight", "bias"):
            state[f"{ours}.{kind}"] = torch.cat([self.take(f"{hf}.{p}_proj.{kind}") for p in parts])


def map_state(tensors: _Tensors, config: ModelConfig) -> dict[str, torch.Tensor]:
    """HF Marian tensors → a state dict of yiyan's Transformer built from `config`."""
    state: dict[str, torch.Tensor] = {}
    for stack, count in (("encoder", config.encoder_layers), ("decoder", config.decoder_layers)):
        for i in range(count):
            hf, ours = f"{stack}.layers.{i}", f"{stack}_layers.{i}"
            tensors.fused(f"{hf}.self_attn", ("q", "k", "v"), f"{ours}.self_attention.qkv", state)
            tensors.linear(f"{hf}.self_attn.out_proj", f"{ours}.self_attention.out", state)
            tensors.linear(f"{hf}.self_attn_layer_norm", f"{ours}.norm1", state)
            tensors.linear(f"{hf}.fc1", f"{ours}.feed_forward.0", state)
            tensors.linear(f"{hf}.fc2", f"{ours}.feed_forward.2", state)
            if stack == "decoder":
                tensors.linear(f"{hf}.encoder_attn.q_proj", f"{ours}.cross_attention.q", state)
                tensors.fused(f"{hf}.encoder_attn", ("k", "v"), f"{ours}.cross_attention.kv", state)
                tensors.linear(f"{hf}.encoder_attn.out_proj", f"{ours}.cross_attention.out", state)
                tensors.linear(f"{hf}.encoder_attn_layer_norm", f"{ours}.norm2", state)
                tensors.linear(f"{hf}.final_layer_norm", f"{ours}.norm3", state)
            else:
                tensors.linear(f"{hf}.final_layer_norm", f"{ours}.norm2", state)
    return state


def map_embeddings(
    tensors: _Tensors, config: ModelConfig, vocab_size: int, state: dict[str, torch.Tensor]
) -> None:
    """Embeddings, output matrix and final_logits_bias; the sinusoid tables are checked.

    Tied (tie_word_embeddings): one matrix; every copy the checkpoint holds (shared, encoder and
    decoder embed_tokens, lm_head) must equal it. Untied: encoder and decoder embed_tokens (or
    shared) and lm_head, three matrices as in yiyan's untied model."""
    names = ("shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")
    found = {name: tensors.take_optional(name) for name in names}
    shared, encoder, decoder, lm_head = found.values()
    src = encoder if encoder is not None else shared
    tgt = decoder if decoder is not None else shared
    if src is None or tgt is None:
        raise CheckpointError(f"{tensors.source}: tensor 'shared.weight' (the embedding) is missing")
    if config.tie_embeddings:
        for name, tensor in found.items():
            if tensor is not None and not torch.equal(tensor, src):
                raise CheckpointError(
                    f"{tensors.source}: tied/untied mismatch: config.json says tie_word_embeddings: true, "
                    f"but '{name}' differs from the embedding"
                )
        lm_head = src
    elif lm_head is None:
        raise CheckpointError(
            f"{tensors.source}: tied/untied mismatch: config.json says tie_word_embeddings: false, but "
            "there is no 'lm_head.weight'"
        )
    for matrix in (src, tgt, lm_head):
        if tuple(matrix.shape) != (vocab_size, config.d_model):
            raise CheckpointError(
                f"{tensors.source}: an embedding is {tuple(matrix.shape)} but vocab_size × d_model is "
                f"({vocab_size}, {config.d_model})"
            )
    state["src_embedding.weight"], state["tgt_embedding.weight"] = src, tgt
    state["output_projection.weight"] = lm_head
    bias = tensors.take_optional("final_logits_bias")
    if bias is not None:
        state["output_projection.bias"] = bias.reshape(-1)
    table = sinusoidal_positions(config.max_positions, config.d_model, "halves")
    for stack in ("encoder", "decoder"):
        positions = tensors.take_optional(f"{stack}.embed_positions.weight")
        if positions is not None and not (
            positions.shape == table.shape and torch.allclose(positions, table, atol=1e-5)
        ):
            raise CheckpointError(
                f"{tensors.source}: '{stack}.embed_positions.weight' is not Marian's sinusoid table "
                "(learned positions are not supported)"
            )


def build_state(
    weights: dict[str, torch.Tensor], source: str, config: ModelConfig, vocab_size: int
) -> dict[str, torch.Tensor]:
    tensors = _Tensors(weights, source)
    state = map_state(tensors, config)
    map_embeddings(tensors, config, vocab_size, state)
    if tensors.tensors:
        raise CheckpointError(
            f"{source}: unexpected tensor(s) {sorted(tensors.tensors)[:5]} — not a Marian model yiyan can import"
        )
    return state


# ----------------------------------------------------------------------------- languages


def _language(code: Any) -> str | None:
    if not isinstance(code, str) or not code:
        return None
    code = code.split("_")[0].lower()
    return LANGUAGE_CODES.get(code, code)


def language_pair(
    directory: Path, tokenizer_config: dict[str, Any], src_lang: str | None, tgt_lang: str | None
) -> tuple[str, str]:
    """The options, else tokenizer_config.json's source_lang/target_lang, else the folder name
    (opus-mt-en-zh)."""
    src = src_lang or _language(tokenizer_config.get("source_lang"))
    tgt = tgt_lang or _language(tokenizer_config.get("target_lang"))
    match = re.search(r"opus-mt-(?:tc-\w+-)?([a-z]{2,3})-([a-z]{2,3})$", directory.resolve().name)
    if match:
        src, tgt = src or _language(match.group(1)), tgt or _language(match.group(2))
    if not src or not tgt or src == tgt:
        raise ConfigError(
            f"{directory}: cannot tell the language pair from the folder; pass --src-lang and --tgt-lang"
        )
    return src, tgt


# ----------------------------------------------------------------------------- the run


def run_config(
    source: Path,
    out: Path,
    languages: tuple[str, str],
    model: ModelConfig,
    vocab_size: int,
    generation: dict[str, Any],
) -> Config:
    """The run's config.yaml: the model, the language pair and the folder's decoding defaults
    (num_beams, length_penalty). Marian's SentencePiece models normalize text themselves
    (nmt_nfkc), so yiyan adds no normalization of its own."""
    decoding = DecodingConfig()
    beam, penalty = generation.get("num_beams"), generation.get("length_penalty")
    if isinstance(beam, int) and not isinstance(beam, bool) and beam >= 1:
        decoding = replace(decoding, beam=beam)
    if isinstance(penalty, (int, float)) and not isinstance(penalty, bool) and penalty >= 0:
        decoding = replace(decoding, length_penalty=float(penalty))
    return Config(
        name=out.name,
        run_dir=str(out),
        data=DataConfig(
            src_lang=languages[0],
            tgt_lang=languages[1],
            corpus=None,
            train=str(source.resolve()),  # where the model came from; a fine-tune config names its own data
            src_normalization="none",
            tgt_normalization="none",
        ),
        tokenizer=TokenizerConfig(joint=True, vocab_size=vocab_size, byte_fallback=False),
        model=model,
        decoding=decoding,
    )


def import_marian(
    directory: str | Path,
    out: str | Path,
    *,
    src_lang: str | None = None,
    tgt_lang: str | None = None,
    target_code: str | None = None,
    force: bool = False,
) -> ImportResult:
    """Convert the MarianMT folder `directory` into the run directory `out` (built beside it
    and renamed into place, so a failed import leaves nothing behind). `target_code` (e.g.
    ">>cmn_Hans<<"): the target-language token a multilingual-target model expects at the start
    of every source; the run's tokenizer adds it to every source that has none."""
    directory, out = Path(directory), Path(out)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a directory")
    hf = _read_json(directory / "config.json")
    check_architecture(hf, directory / "config.json")
    notes = check_keys(hf, directory / "config.json")
    generation = {**hf, **_optional_json(directory / "generation_config.json")}
    tokenizer_config = _optional_json(directory / "tokenizer_config.json")
    if tokenizer_config.get("separate_vocabs") or (directory / "target_vocab.json").is_file():
        raise YiyanError(
            f"{directory}: not supported: separate source and target vocabularies (target_vocab.json)"
        )
    languages = language_pair(directory, tokenizer_config, src_lang, tgt_lang)
    specials = special_pieces(tokenizer_config)
    tokenizer = SharedVocabTokenizer.from_files(directory, specials, target_code)
    if tokenizer.language_codes and target_code is None:
        notes.append(
            f"this model expects a target-language token at the start of each source "
            f"({', '.join(tokenizer.language_codes[:8])}…): import again with --target-code, or "
            "start every input with one"
        )
    vocab_size = int(_required(hf, "vocab_size", directory / "config.json"))
    if tokenizer.src_vocab_size != vocab_size:
        raise CheckpointError(
            f"{directory}: {VOCAB_JSON} has {tokenizer.src_vocab_size} pieces but config.json's vocab_size "
            f"(the embedding rows) is {vocab_size}"
        )
    weights, weights_file = read_weights(directory)
    config = model_config(
        hf, directory / "config.json", vocab_size, "final_logits_bias" in weights, tokenizer.special_ids.unk
    )
    ids = (config.pad_id, config.bos_id, config.eos_id)
    if ids != (tokenizer.special_ids.pad, tokenizer.special_ids.bos, tokenizer.special_ids.eos):
        raise CheckpointError(
            f"{directory}: config.json's pad/decoder start/eos ids {ids} are not those of "
            f"{specials['pad']!r}/{specials['bos']!r}/{specials['eos']!r} in {VOCAB_JSON}"
        )
    state = build_state(weights, f"{directory / weights_file}", config, vocab_size)
    model = build_model(config, vocab_size, vocab_size)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:  # pragma: no cover - map_state covers every parameter
        raise CheckpointError(f"internal: unmapped {missing[:5]} / {unexpected[:5]}")

    if out.exists() and any(out.iterdir()) and not force:
        raise YiyanError(f"{out} exists and is not empty; choose another -o or pass --force")
    report = {
        "format": "yiyan-import/1",
        "source": str(directory.resolve()),
        "architecture": "MarianMTModel",
        "weights": weights_file,
        "src_lang": languages[0],
        "tgt_lang": languages[1],
        "special_ids": asdict(tokenizer.special_ids),
        "special_pieces": specials,
        "target_code": target_code,
        "parameters": sum(p.numel() for p in model.parameters()),
        "notes": notes,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    try:
        save_model(model, tmp)
        tokenizer.save(tmp / "tokenizer")
        write_yaml(
            tmp / "config.yaml",
            run_config(directory, out, languages, config, vocab_size, generation).to_dict(),
        )
        write_json(tmp / IMPORT_REPORT, report)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ImportResult(out, report)


def special_pieces(tokenizer_config: dict[str, Any]) -> dict[str, str]:
    """Role → piece: tokenizer_config.json's pad/unk/eos tokens (default Marian's); the decoder
    start token is the pad piece (Marian starts decoding from PAD)."""
    pieces = dict(MARIAN_SPECIAL_PIECES)
    for role in ("pad", "unk", "eos"):
        token = tokenizer_config.get(f"{role}_token")
        token = token.get("content") if isinstance(token, dict) else token  # a serialized AddedToken
        if isinstance(token, str) and token:
            pieces[role] = token
    return {**pieces, "bos": pieces["pad"]}


def download_from_hub(repo_id: str, cache_dir: str | Path | None = None) -> Path:
    """A local copy of the Hugging Face Hub repository `repo_id` (needs huggingface_hub and a
    network; files already in the cache are not fetched again)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise YiyanError("--hub needs the huggingface_hub package: pip install huggingface_hub") from None
    patterns = ["*.json", "*.spm", SAFETENSORS, PICKLED, SOURCE_SPM, TARGET_SPM]
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache_dir, allow_patterns=patterns))
    except Exception as error:
        raise YiyanError(f"cannot download {repo_id} from the Hugging Face Hub: {error}") from None
