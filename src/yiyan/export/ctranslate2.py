"""CTranslate2: export a Transformer run, and translate with the exported model.

Export maps every weight of `yiyan.models.transformer.Transformer` onto CTranslate2's
`TransformerSpec` (the Python model-spec API its own OpenNMT-py/fairseq/Marian converters use):

    ours                                         CTranslate2 spec
    src_embedding / tgt_embedding (·√d)          encoder.embeddings[0] / decoder.embeddings (scale_embeddings)
    sinusoidal_positions(max_positions, d)       {encoder,decoder}.position_encodings.encodings (our table, exactly)
    norm1 · self_attention.qkv · .out            self_attention.layer_norm · linear[0] (fused QKV) · linear[1]
    norm2 · cross_attention.q · .kv · .out       attention.layer_norm · linear[0] · linear[1] (fused KV) · linear[2]
    norm2/norm3 · feed_forward[0] · [2]          ffn.layer_norm · linear_0 · linear_1
    encoder_norm / decoder_norm (pre-norm only)  {encoder,decoder}.layer_norm
    output_projection (= tgt_embedding if tied)  decoder.projection (CTranslate2 stores equal tensors once)
      (+ its bias: model.output_bias, Marian)    decoder.projection.bias

The positions must be given: CTranslate2's built-in sinusoids are laid out [sin…, cos…] with a
different frequency step, ours interleave sin/cos (Vaswani et al.). LayerNorm epsilon is ours
(1e-5; CTranslate2 defaults to 1e-6). The vocabularies are the tokenizer's pieces by id; the
unknown, decoder start and end tokens are the pieces at the model's special ids (ours: "<unk>",
"<s>", "</s>"; an imported Marian model's: "<unk>", "<pad>", "</s>").

An export directory holds CTranslate2's model.bin, config.json and vocabulary JSON, our
SentencePiece model(s) and `yiyan_export.json` (languages, normalization, decoding defaults,
the run's resolved config, where it came from). The engine that translates with it,
`CT2Translator`, is `yiyan.ct2_engine` (re-exported here for the old import path).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from yiyan import __version__
from yiyan.config import Config, ModelConfig
from yiyan.ct2_engine import (
    EXPORT_FORMAT,
    CT2Translator,
    import_ctranslate2,
    is_export_dir,
    read_export_metadata,
)
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import CheckpointError, YiyanError
from yiyan.export import EXPORT_FILE
from yiyan.hardware import cpu_flags, cuda_available
from yiyan.io import write_json

if TYPE_CHECKING:
    from yiyan.models.transformer import EncoderLayer, Transformer

__all__ = [
    "EXPORT_FILE",
    "QUANTIZATIONS",
    "CT2Translator",
    "ExportResult",
    "QuantizationChoice",
    "check_exportable",
    "choose_quantization",
    "cpu_flags",
    "export_ctranslate2",
    "is_export_dir",
    "read_export_metadata",
]

QUANTIZATIONS = ("auto", "int8", "int8_float32", "int8_float16", "float16", "float32")
ACTIVATIONS = {"relu": "RELU", "gelu": "GELU", "swish": "SWISH"}  # ours → ctranslate2.specs.Activation
INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "avx512f")  # any of these: int8 beats float32


# ----------------------------------------------------------------------------- quantization


@dataclass(frozen=True)
class QuantizationChoice:
    quantization: str
    reason: str


def choose_quantization(
    requested: str = "auto", *, flags: Collection[str] | None = None, cuda: bool | None = None
) -> QuantizationChoice:
    """The weight type to export: `requested`, or for "auto" the fastest where this runs.

    GPU: float16. CPU: int8 only with VNNI (avx512_vnni, avx_vnni) or AVX-512 (avx512f), whose
    int8 dot products are wider than float32's; on AVX2 alone CTranslate2's int8 GEMM pays for
    quantizing activations without a faster multiply and loses to float32 (measured on the
    reference machine: 77.7 vs 126 sentences/s, beam 5; docs/deployment.md).
    """
    if requested not in QUANTIZATIONS:
        raise YiyanError(f"unknown quantization {requested!r}; choose one of {', '.join(QUANTIZATIONS)}")
    if requested != "auto":
        return QuantizationChoice(requested, "requested")
    if cuda is None:
        cuda = cuda_available()
    if cuda:
        return QuantizationChoice("float16", "auto: a CUDA GPU is present, where float16 is fastest")
    flags = cpu_flags() if flags is None else flags
    found = [flag for flag in INT8_CPU_FLAGS if flag in flags]
    if found:
        return QuantizationChoice(
            "int8_float32", f"auto: the CPU has {', '.join(found)}, so int8 matrix products beat float32"
        )
    return QuantizationChoice(
        "float32", "auto: the CPU has no VNNI or AVX-512, where CTranslate2 int8 is slower than float32"
    )


# ----------------------------------------------------------------------------- export


def check_exportable(config: ModelConfig) -> None:
    """A YiyanError naming the first option of `config` that CTranslate2 cannot express."""
    if config.type != "transformer":
        raise YiyanError(
            f"the {config.type} architecture cannot be exported to CTranslate2 (model.type: {config.type}); "
            "only model.type: transformer can — translate with the PyTorch engine instead"
        )
    if config.activation not in ACTIVATIONS:
        raise YiyanError(
            f"model.activation {config.activation!r} cannot be exported to CTranslate2 "
            f"(supported: {', '.join(ACTIVATIONS)})"
        )
    if config.norm not in ("pre", "post"):
        raise YiyanError(
            f"model.norm {config.norm!r} cannot be exported to CTranslate2 (supported: pre, post)"
        )
    if config.d_model % config.heads:
        raise YiyanError(f"model.d_model ({config.d_model}) is not divisible by model.heads ({config.heads})")


def _array(tensor: Any) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().float().cpu().numpy())


def _layer_norm(spec: Any, norm: Any) -> None:
    spec.gamma = _array(norm.weight)
    spec.beta = _array(norm.bias)


def _sublayer(spec: Any, norm: Any, *linears: Any) -> None:
    """An attention or feed-forward spec: its LayerNorm and its linear layers in order
    (attention: `linear` list; feed-forward: `linear_0`, `linear_1`)."""
    _layer_norm(spec.layer_norm, norm)
    targets = spec.linear if hasattr(spec, "linear") else [spec.linear_0, spec.linear_1]
    for target, linear in zip(targets, linears, strict=True):
        target.weight = _array(linear.weight)
        if linear.bias is not None:
            target.bias = _array(linear.bias)


def build_spec(model: Transformer, tokenizer: Tokenizer) -> Any:
    """The CTranslate2 `TransformerSpec` holding `model`'s weights and `tokenizer`'s vocabularies."""
    from ctranslate2.specs import common_spec, transformer_spec

    config = model.config
    check_exportable(config)
    encoder_layers = cast("list[EncoderLayer]", list(model.encoder_layers))
    for side, vocab, size in (
        ("source", tokenizer.src_vocab(), model.src_vocab_size),
        ("target", tokenizer.tgt_vocab(), model.tgt_vocab_size),
    ):
        if len(vocab) != size:
            raise CheckpointError(f"the {side} tokenizer has {len(vocab)} pieces but the model {size}")
    special = model.special_ids
    if tokenizer.special_ids != special:
        raise CheckpointError(
            f"the tokenizer's special ids {tokenizer.special_ids} differ from the model's {special}"
        )
    src_pieces, tgt_pieces = tokenizer.src_vocab(), tokenizer.tgt_vocab()
    pre_norm = config.norm == "pre"
    spec = transformer_spec.TransformerSpec.from_config(
        (config.encoder_layers, config.decoder_layers),
        config.heads,
        pre_norm=pre_norm,
        activation=getattr(common_spec.Activation, ACTIVATIONS[config.activation]),
    )
    spec.config.unk_token = src_pieces[special.unk]
    spec.config.bos_token = tgt_pieces[special.bos]
    spec.config.eos_token = tgt_pieces[special.eos]
    spec.config.decoder_start_token = tgt_pieces[special.bos]
    spec.config.add_source_bos = False
    spec.config.add_source_eos = False  # CT2Translator appends "</s>" itself, as the PyTorch Translator does
    spec.config.layer_norm_epsilon = float(encoder_layers[0].norm1.eps)

    positions = _array(model.positions)  # [max_positions, d_model]
    encoder, decoder = spec.encoder, spec.decoder
    for stack in (encoder, decoder):
        stack.scale_embeddings = config.scale_embeddings
        stack.position_encodings.encodings = positions
    encoder.embeddings[0].weight = _array(model.src_embedding.weight)
    decoder.embeddings.weight = _array(model.tgt_embedding.weight)
    decoder.projection.weight = _array(model.output_projection.weight)
    if model.output_projection.bias is not None:  # Marian's final_logits_bias
        decoder.projection.bias = _array(model.output_projection.bias)
    if pre_norm:
        _layer_norm(encoder.layer_norm, model.encoder_norm)
        _layer_norm(decoder.layer_norm, model.decoder_norm)

    for layer_spec, enc in zip(encoder.layer, encoder_layers, strict=True):
        _sublayer(layer_spec.self_attention, enc.norm1, enc.self_attention.qkv, enc.self_attention.out)
        _sublayer(layer_spec.ffn, enc.norm2, enc.feed_forward[0], enc.feed_forward[2])
    for layer_spec, dec in zip(decoder.layer, model.decoder, strict=True):
        _sublayer(layer_spec.self_attention, dec.norm1, dec.self_attention.qkv, dec.self_attention.out)
        cross = dec.cross_attention
        _sublayer(layer_spec.attention, dec.norm2, cross.q, cross.kv, cross.out)
        _sublayer(layer_spec.ffn, dec.norm3, dec.feed_forward[0], dec.feed_forward[2])

    spec.register_source_vocabulary(src_pieces)
    spec.register_target_vocabulary(tgt_pieces)
    return spec


@dataclass(frozen=True)
class ExportResult:
    path: Path
    quantization: str
    reason: str
    size_bytes: int


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def export_ctranslate2(
    run_dir: str | Path, out_dir: str | Path, *, quantization: str = "auto", force: bool = False
) -> ExportResult:
    """Convert the Transformer run in `run_dir` into a CTranslate2 model directory `out_dir`.

    The directory is built beside `out_dir` and renamed into place, so a failed export leaves
    nothing behind. An earlier export in `out_dir` is replaced only with `force`; any other
    non-empty `out_dir` is never touched.
    """
    import_ctranslate2()
    from yiyan.checkpoint import load_model, load_model_config
    from yiyan.models.transformer import Transformer
    from yiyan.translator import load_run_config

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if is_export_dir(run_dir):
        raise YiyanError(f"{run_dir} is already a CTranslate2 export; export the training run it came from")
    config = load_run_config(run_dir)
    model_config, _, _ = load_model_config(run_dir)
    check_exportable(model_config)  # before loading any weights
    if out_dir.resolve() == run_dir.resolve():
        raise YiyanError("the export directory must not be the run directory")
    if out_dir.exists() and not (out_dir.is_dir() and not any(out_dir.iterdir())):  # not an empty directory
        if not is_export_dir(out_dir):
            raise YiyanError(f"{out_dir} exists and is not a yiyan export; choose another -o")
        if not force:
            raise YiyanError(f"{out_dir} already holds an export; pass --force to replace it")
    choice = choose_quantization(quantization)

    model = load_model(run_dir, "cpu")
    if not isinstance(model, Transformer):  # pragma: no cover - check_exportable caught it
        raise YiyanError(f"{run_dir}: not a Transformer model")
    tokenizer = Tokenizer.load(run_dir / "tokenizer")
    spec = build_spec(model, tokenizer)
    try:
        spec.validate()
        spec.optimize(quantization=choice.quantization)
    except ValueError as error:
        raise YiyanError(f"CTranslate2 rejected the model: {error}") from None

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; an export is an ordinary directory
    try:
        spec.save(str(tmp))
        models = tokenizer.model_files
        for name in models:
            shutil.copyfile(run_dir / "tokenizer" / name, tmp / name)
        write_json(tmp / EXPORT_FILE, _metadata(config, run_dir, choice, models))
        if out_dir.exists():  # an empty directory, or an export replaced with --force
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(out_dir, choice.quantization, choice.reason, directory_size(out_dir))


def _metadata(
    config: Config, run_dir: Path, choice: QuantizationChoice, tokenizers: list[str]
) -> dict[str, Any]:
    import ctranslate2

    return {
        "format": EXPORT_FORMAT,
        "engine": "ctranslate2",
        "src_lang": config.data.src_lang,
        "tgt_lang": config.data.tgt_lang,
        "src_normalization": config.data.src_normalization,
        "tgt_normalization": config.data.tgt_normalization,
        "decoding": asdict(config.decoding),
        "quantization": choice.quantization,
        "quantization_reason": choice.reason,
        "tokenizer": tokenizers,
        "source_run": str(run_dir.resolve()),
        "yiyan_version": __version__,
        "ctranslate2_version": ctranslate2.__version__,
        "config": config.to_dict(),
    }
