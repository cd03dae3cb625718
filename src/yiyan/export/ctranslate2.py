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

The positions must be given: CTranslate2's built-in sinusoids are laid out [sin…, cos…] with a
different frequency step, ours interleave sin/cos (Vaswani et al.). LayerNorm epsilon is ours
(1e-5; CTranslate2 defaults to 1e-6). The vocabularies are our SentencePiece pieces by id, with
"<unk>", "<s>" (the decoder start token) and "</s>" as CTranslate2 expects.

An export directory holds CTranslate2's model.bin, config.json and vocabulary JSON, our
SentencePiece model(s) and `yiyan_export.json` (languages, normalization, decoding defaults,
the run's resolved config, where it came from). `CT2Translator` reads it without importing
torch: the same normalization, SentencePiece, sorting/batching and decoding options as
`yiyan.translate.Translator`, with the same greedy output token for token (see
docs/deployment.md for what can differ in beam search).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from yiyan import __version__
from yiyan.config import Config, DecodingConfig, ModelConfig, config_from_dict
from yiyan.data.corpus import Normalization, normalize_text
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import CheckpointError, YiyanError
from yiyan.export import EXPORT_FILE
from yiyan.io import read_json, write_json
from yiyan.translation import Translation
from yiyan.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIAL_PIECES, UNK_ID

if TYPE_CHECKING:
    from types import ModuleType

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
]

EXPORT_FORMAT = "yiyan-ctranslate2/1"
QUANTIZATIONS = ("auto", "int8", "int8_float32", "int8_float16", "float16", "float32")
ACTIVATIONS = {"relu": "RELU", "gelu": "GELU", "swish": "SWISH"}  # ours → ctranslate2.specs.Activation
INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "avx512f")  # any of these: int8 beats float32
EOS_PIECE, PAD_PIECE, BOS_PIECE = SPECIAL_PIECES[EOS_ID], SPECIAL_PIECES[PAD_ID], SPECIAL_PIECES[BOS_ID]


def import_ctranslate2() -> ModuleType:
    try:
        import ctranslate2
    except ImportError:
        raise YiyanError(
            "the CTranslate2 engine needs the ctranslate2 package: pip install 'yiyan[ct2]'"
        ) from None
    return ctranslate2


def is_export_dir(path: str | Path) -> bool:
    return (Path(path) / EXPORT_FILE).is_file()


# ----------------------------------------------------------------------------- quantization


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cuda_available() -> bool:
    try:
        return bool(import_ctranslate2().get_cuda_device_count() > 0)
    except (YiyanError, RuntimeError):
        return False


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
        if tuple(vocab[:4]) != SPECIAL_PIECES:
            raise CheckpointError(
                f"the {side} vocabulary starts {vocab[:4]}, expected {list(SPECIAL_PIECES)}"
            )
    pre_norm = config.norm == "pre"
    spec = transformer_spec.TransformerSpec.from_config(
        (config.encoder_layers, config.decoder_layers),
        config.heads,
        pre_norm=pre_norm,
        activation=getattr(common_spec.Activation, ACTIVATIONS[config.activation]),
    )
    spec.config.unk_token = SPECIAL_PIECES[UNK_ID]
    spec.config.bos_token = BOS_PIECE
    spec.config.eos_token = EOS_PIECE
    spec.config.decoder_start_token = BOS_PIECE
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

    spec.register_source_vocabulary(tokenizer.src_vocab())
    spec.register_target_vocabulary(tokenizer.tgt_vocab())
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
    from yiyan.translate import load_run_config

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
        models = ["joint.model"] if tokenizer.joint else ["src.model", "tgt.model"]
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


# ----------------------------------------------------------------------------- translation


def _max_lengths(source_lengths: Sequence[int], decoding: DecodingConfig, max_positions: int) -> list[int]:
    """Per sentence, the most tokens before EOS: the float32 arithmetic of
    `yiyan.search.max_output_lengths` (ratio · source tokens + offset), capped like
    `Transformer.max_output_length` (max_positions - 1)."""
    lengths = np.asarray(source_lengths, dtype=np.float32) * np.float32(decoding.max_length_ratio)
    limits = lengths.astype(np.int64) + decoding.max_length_offset
    return [int(limit) for limit in np.minimum(limits, max_positions - 1)]


class CT2Translator:
    """Text in, text out with an exported CTranslate2 model; the interface of `Translator`.

    `translate(texts, beam=, length_penalty=, max_length_ratio=, no_repeat_ngram_size=,
    batch_size=)` and `translate_detailed` take the same options (defaults: the run's decoding
    config); attention weights are not available.
    """

    engine = "ctranslate2"
    supports_attention = False

    def __init__(
        self,
        translator: Any,
        tokenizer: Tokenizer,
        *,
        decoding: DecodingConfig | None = None,
        src_normalization: Normalization = "NFKC",
        max_positions: int = ModelConfig.max_positions,
    ) -> None:
        self.translator = translator  # a ctranslate2.Translator
        self.tokenizer = tokenizer
        self.decoding = decoding or DecodingConfig()
        self.src_normalization = src_normalization
        self.max_positions = max_positions
        self.config: Config | None = None
        self.model_dir: Path | None = None
        self.run_dir: Path | None = None  # = model_dir: where `yiyan evaluate` writes eval/
        self.metadata: dict[str, Any] = {}
        self._tgt_ids = {piece: i for i, piece in enumerate(tokenizer.tgt_vocab())}

    @classmethod
    def load(
        cls,
        export_dir: str | Path,
        *,
        device: str = "auto",
        compute_type: str = "default",
        inter_threads: int = 1,
        intra_threads: int = 0,
    ) -> CT2Translator:
        """Load `yiyan export` output. `compute_type` "default" runs the exported weight type
        (CTranslate2 falls back where the device lacks it); `intra_threads` 0 = CTranslate2's default."""
        ctranslate2 = import_ctranslate2()
        export_dir = Path(export_dir)
        metadata = read_export_metadata(export_dir)
        config = config_from_dict(metadata["config"])
        try:
            translator = ctranslate2.Translator(
                str(export_dir),
                device=device,
                compute_type=compute_type,
                inter_threads=inter_threads,
                intra_threads=intra_threads,
            )
        except (RuntimeError, ValueError) as error:
            raise YiyanError(f"{export_dir}: CTranslate2 cannot load the model: {error}") from None
        ct2 = cls(
            translator,
            Tokenizer.load(export_dir),
            decoding=config.decoding,
            src_normalization=config.data.src_normalization,
            max_positions=config.model.max_positions,
        )
        ct2.config, ct2.model_dir, ct2.run_dir, ct2.metadata = config, export_dir, export_dir, metadata
        return ct2

    @property
    def compute_type(self) -> str:
        return str(self.translator.compute_type)

    def translate(self, texts: Sequence[str], **options: Any) -> list[str]:
        """Translate `texts`; options override the export's decoding config (beam=5, ...)."""
        return [t.text for t in self.translate_detailed(texts, **options)]

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: Any
    ) -> list[Translation]:
        if attention:
            raise YiyanError(
                "attention weights are not available with the CTranslate2 engine; use the training run "
                "with the PyTorch engine"
            )
        decoding = replace(self.decoding, **{k: v for k, v in options.items() if v is not None})
        encoded = self._encode([normalize_text(text, self.src_normalization) for text in texts], decoding)
        limits = _max_lengths([len(ids) for ids in encoded], decoding, self.max_positions)
        results = [Translation(text, "", [], [], 0.0, None) for text in texts]  # empty input → empty output
        order = sorted((i for i, ids in enumerate(encoded) if ids), key=lambda i: len(encoded[i]))
        size = max(decoding.batch_size, 1)
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            # CTranslate2 takes one length limit per call. Greedy search decodes the chunk to its
            # largest limit and cuts each output at its own (the same tokens). Beam search prunes
            # differently near the limit, so the chunk is split where the limit changes (limits
            # grow with the source length: each split is contiguous).
            groups = (
                [chunk]
                if decoding.beam == 1
                else [list(g) for _, g in itertools.groupby(chunk, limits.__getitem__)]
            )
            for rows in groups:
                batch = [encoded[i] for i in rows]
                for i, translation in zip(
                    rows, self._translate_batch(batch, [limits[i] for i in rows], decoding)
                ):
                    results[i] = replace(translation, source=texts[i])
        return results

    def _encode(self, texts: list[str], decoding: DecodingConfig) -> list[list[int]]:
        """Source ids without EOS ([] for empty input), truncated like `Translator`."""
        encoded = self.tokenizer.encode_batch(texts, "src")
        for text, ids in zip(texts, encoded):
            if len(ids) > decoding.max_input_tokens:
                warnings.warn(
                    f"input of {len(ids)} tokens truncated to {decoding.max_input_tokens} "
                    f"(decoding.max_input_tokens): {text[:40]!r}…",
                    stacklevel=4,
                )
                del ids[decoding.max_input_tokens :]
        return encoded

    def _translate_batch(
        self, batch: list[list[int]], limits: list[int], decoding: DecodingConfig
    ) -> list[Translation]:
        """Decode `batch`; sentence i may have `limits[i]` tokens before EOS.

        The PyTorch search allows only EOS once a hypothesis has its limit of tokens. CTranslate2
        cannot force EOS: it runs one step more, and an output longer than the limit is cut
        back to it — the same tokens for greedy search. Scores come back unnormalized (summed
        log-probabilities including EOS), as the PyTorch search reports them.
        """
        length_penalty = 0.0 if decoding.beam == 1 else decoding.length_penalty
        sources = [[*self.tokenizer.src_pieces(ids), EOS_PIECE] for ids in batch]
        try:
            outputs = self.translator.translate_batch(
                sources,
                beam_size=decoding.beam,
                length_penalty=length_penalty,  # score / |y|^α, |y| counting EOS (return_end_token)
                no_repeat_ngram_size=decoding.no_repeat_ngram_size,
                suppress_sequences=[[PAD_PIECE], [BOS_PIECE]],  # never produced, as in yiyan.search
                max_decoding_length=max(limits) + 1,
                min_decoding_length=0,  # EOS may come first (CTranslate2's default forbids it)
                max_input_length=0,  # truncated in _encode already
                return_end_token=True,
                return_scores=True,
            )
        except (RuntimeError, ValueError) as error:
            raise YiyanError(f"CTranslate2 failed to translate: {error}") from None
        hypotheses, scores = [], []
        for output, limit in zip(outputs, limits, strict=True):
            pieces: list[str] = list(output.hypotheses[0])
            scores.append(float(output.scores[0]) * len(pieces) ** length_penalty)
            hypotheses.append((pieces[:-1] if pieces[-1:] == [EOS_PIECE] else pieces)[:limit])
        # one SentencePiece call for the whole batch (each call starts a thread pool)
        texts = self.tokenizer.decode_batch([[self._tgt_ids[p] for p in h] for h in hypotheses], "tgt")
        return [
            Translation("", text, source, pieces, score, None)
            for source, pieces, score, text in zip(sources, hypotheses, scores, texts, strict=True)
        ]


def read_export_metadata(export_dir: str | Path) -> dict[str, Any]:
    path = Path(export_dir) / EXPORT_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path}: not found — is {export_dir} a CTranslate2 export? Create one with "
            "`yiyan export RUN_DIR --to ctranslate2 -o OUT`"
        )
    try:
        metadata: dict[str, Any] = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: corrupt ({error})") from None
    if metadata.get("format") != EXPORT_FORMAT or "config" not in metadata:
        raise CheckpointError(f"{path}: not a {EXPORT_FORMAT} export description")
    return metadata
