"""Cheap deployment: CTranslate2 export and engine, parity with PyTorch, int8 on both engines."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import torch

from run_helpers import tiny_config
from yiyan.checkpoint import load_model, save_model
from yiyan.cli import main
from yiyan.config import Config, DecodingConfig, ModelConfig, TokenizerConfig
from yiyan.ct2_engine import max_lengths
from yiyan.data.tokenizer import Tokenizer
from yiyan.engines import detect_engine, load_translator
from yiyan.errors import CheckpointError, YiyanError
from yiyan.export import ctranslate2 as ct2
from yiyan.export import export_run
from yiyan.export.ctranslate2 import (
    CT2Translator,
    build_spec,
    check_exportable,
    choose_quantization,
    cpu_flags,
    export_ctranslate2,
)
from yiyan.io import read_json, write_yaml
from yiyan.models import build_model
from yiyan.models.transformer import Transformer, sinusoidal_positions
from yiyan.search import max_output_lengths
from yiyan.training.trainer import train
from yiyan.translator import Translator, load_run_config, quantize_int8

pytest.importorskip("ctranslate2")

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Transformer trained for 200 steps on HSK (2 + 2 layers, d 32): ~20 s of CPU."""
    run_dir = tmp_path_factory.mktemp("ct2") / "run"
    config = tiny_config(
        run_dir,
        "data.dev_size=100",
        "data.test_size=200",
        "tokenizer.vocab_size=2000",
        "tokenizer.character_coverage=1.0",
        "model.encoder_layers=2",
        "model.decoder_layers=2",
        "training.max_steps=200",
        "training.eval_every=200",
        "training.eval_bleu=false",
        "training.batch_tokens=768",
        "training.log_every=50",
        "decoding.max_length_ratio=1.5",
    )
    train(config, quiet=True)
    return run_dir


@pytest.fixture(scope="module")
def export(run: Path) -> Path:
    return export_ctranslate2(run, run.parent / "ct2-fp32", quantization="float32").path


@pytest.fixture(scope="module")
def sentences(run: Path) -> list[str]:
    """The 300 held-out sentences (test + dev) of the run."""
    data = run / "data"
    return [*(data / "test.en").read_text().splitlines(), *(data / "dev.en").read_text().splitlines()]


@pytest.fixture(scope="module")
def torch_translator(run: Path) -> Translator:
    return Translator.load(run, device="cpu")


@pytest.fixture(scope="module")
def ct2_translator(export: Path) -> CT2Translator:
    return CT2Translator.load(export, device="cpu", intra_threads=1)


def at_limit(translator: Translator, text: str, tokens: list[str], **options: Any) -> bool:
    """Whether the PyTorch output reached its length limit (EOS was forced)."""
    decoding = replace(translator.decoding, **options)
    n = len(translator.tokenizer.encode_src(text)) + 1
    limit = max_output_lengths(
        torch.ones(1, n, dtype=torch.bool), decoding.max_length_ratio, decoding.max_length_offset
    )
    return len(tokens) >= int(limit[0])


def variant_run(base: Path, dest: Path, tokenizer: Tokenizer | None = None, **model: Any) -> Path:
    """A run beside `base` with other model options: the trained weights where they fit
    (a different function of them), random ones for a new vocabulary."""
    config: Config = load_run_config(base)
    config.model = replace(config.model, **model)
    if tokenizer is not None:
        config.tokenizer = replace(config.tokenizer, joint=tokenizer.joint)
    else:
        tokenizer = Tokenizer.load(base / "tokenizer")
    torch.manual_seed(0)
    model_ = build_model(config.model, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    trained = load_model(base).state_dict()
    own = model_.state_dict()
    model_.load_state_dict(
        {k: v for k, v in trained.items() if k in own and own[k].shape == v.shape}, strict=False
    )
    (dest / "tokenizer").mkdir(parents=True)
    tokenizer.save(dest / "tokenizer")
    write_yaml(dest / "config.yaml", config.to_dict())
    save_model(model_, dest)
    return dest


# ------------------------------------------------------------------------------------ export


def test_export_writes_a_loadable_ctranslate2_model(run: Path, export: Path) -> None:
    import ctranslate2

    for name in ("model.bin", "config.json", "shared_vocabulary.json", "joint.model", "yiyan_export.json"):
        assert (export / name).is_file(), name
    meta = read_json(export / "yiyan_export.json")
    assert meta["src_lang"] == "en" and meta["tgt_lang"] == "zh"
    assert meta["src_normalization"] == "NFKC" and meta["quantization"] == "float32"
    assert meta["decoding"]["beam"] == load_run_config(run).decoding.beam
    assert meta["source_run"] == str(run.resolve())
    ct2_config = json.loads((export / "config.json").read_text())
    assert ct2_config["layer_norm_epsilon"] == 1e-5
    assert ct2_config["decoder_start_token"] == "<s>" and ct2_config["eos_token"] == "</s>"
    assert ct2_config["add_source_eos"] is False
    vocab = json.loads((export / "shared_vocabulary.json").read_text())
    assert vocab == Tokenizer.load(run / "tokenizer").tgt_vocab()
    ctranslate2.Translator(str(export), device="cpu")  # loads


def test_spec_carries_our_exact_position_table_and_tied_weights(run: Path) -> None:
    model = load_model(run)
    assert isinstance(model, Transformer)
    spec = build_spec(model, Tokenizer.load(run / "tokenizer"))
    table = sinusoidal_positions(model.config.max_positions, model.config.d_model).numpy()
    assert np.array_equal(spec.encoder.position_encodings.encodings, table)
    assert np.array_equal(spec.decoder.position_encodings.encodings, table)
    assert spec.encoder.scale_embeddings is True
    assert np.array_equal(spec.decoder.projection.weight, spec.decoder.embeddings.weight)  # tied
    qkv = spec.encoder.layer[0].self_attention.linear[0].weight
    assert qkv.shape == (3 * model.config.d_model, model.config.d_model)  # fused Q, K, V


def test_export_refuses_to_replace_what_is_not_an_export(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(YiyanError, match="not a yiyan export"):
        export_run(run, other, quantization="float32")
    assert (other / "keep.txt").read_text() == "mine"
    out = export_run(run, tmp_path / "out", quantization="float32")
    with pytest.raises(YiyanError, match="--force"):
        export_run(run, out, quantization="float32")
    export_run(run, out, quantization="int8", force=True)
    assert read_json(out / "yiyan_export.json")["quantization"] == "int8"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_rnn_and_unsupported_options_are_clear_errors(run: Path, tmp_path: Path) -> None:
    rnn = variant_run(run, tmp_path / "rnn", type="rnn")
    with pytest.raises(YiyanError, match="the rnn architecture cannot be exported to CTranslate2"):
        export_ctranslate2(rnn, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(YiyanError, match="model.activation 'tanh' cannot be exported to CTranslate2"):
        check_exportable(ModelConfig(activation="tanh"))  # type: ignore[arg-type]
    check_exportable(ModelConfig(activation="gelu", norm="post"))


# ------------------------------------------------------------------------------------ quantization


@pytest.mark.parametrize(
    ("flags", "cuda", "expected"),
    [
        ({"avx", "avx2", "fma"}, False, "float32"),
        ({"avx2", "avx512f"}, False, "int8_float32"),
        ({"avx2", "avx_vnni"}, False, "int8_float32"),
        ({"avx2", "avx512f", "avx512_vnni"}, False, "int8_float32"),
        (set(), False, "float32"),
        ({"avx2"}, True, "float16"),
    ],
)
def test_auto_quantization_follows_the_hardware(flags: set[str], cuda: bool, expected: str) -> None:
    choice = choose_quantization("auto", flags=flags, cuda=cuda)
    assert choice.quantization == expected
    assert choice.reason.startswith("auto:")
    assert choose_quantization("int8", flags=flags, cuda=cuda).quantization == "int8"


def test_unknown_quantization_and_cpuinfo_parsing(tmp_path: Path) -> None:
    with pytest.raises(YiyanError, match="unknown quantization 'int4'"):
        choose_quantization("int4")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_vnni\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_vnni"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_export_auto_records_its_choice(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ct2, "cpu_flags", lambda: frozenset({"avx", "avx2"}))
    monkeypatch.setattr(ct2, "cuda_available", lambda: False)
    meta = read_json(export_ctranslate2(run, tmp_path / "auto").path / "yiyan_export.json")
    assert meta["quantization"] == "float32"
    assert "no VNNI or AVX-512" in meta["quantization_reason"]


def test_int8_export_is_smaller_and_close(
    run: Path, export: Path, tmp_path: Path, sentences: list[str], ct2_translator: CT2Translator
) -> None:
    int8 = export_ctranslate2(run, tmp_path / "int8", quantization="int8_float32")
    assert int8.size_bytes < 0.6 * ct2.directory_size(export)
    translator = CT2Translator.load(int8.path, device="cpu", intra_threads=1)
    assert translator.compute_type.startswith("int8")
    reference = ct2_translator.translate(sentences[:100], beam=1)
    same = sum(a == b for a, b in zip(reference, translator.translate(sentences[:100], beam=1)))
    assert same >= 85


# ------------------------------------------------------------------------------------ parity


def test_greedy_output_equals_pytorch_token_for_token(
    torch_translator: Translator, ct2_translator: CT2Translator, sentences: list[str]
) -> None:
    expected = torch_translator.translate_detailed(sentences, beam=1)
    actual = ct2_translator.translate_detailed(sentences, beam=1)
    assert len(sentences) == 300
    assert [t.tgt_tokens for t in actual] == [t.tgt_tokens for t in expected]
    assert [t.text for t in actual] == [t.text for t in expected]
    assert [t.src_tokens for t in actual] == [t.src_tokens for t in expected]
    for a, e in zip(actual, expected):  # summed log-probabilities incl. EOS; CTranslate2 renormalizes
        if not at_limit(torch_translator, e.source, e.tgt_tokens):  # after ruling out <pad> and <s>
            assert a.score == pytest.approx(e.score, abs=0.05)
        assert a.attention is None


def test_beam_output_matches_pytorch(
    torch_translator: Translator, ct2_translator: CT2Translator, sentences: list[str]
) -> None:
    expected = torch_translator.translate_detailed(sentences, beam=4)
    actual = ct2_translator.translate_detailed(sentences, beam=4)
    differ = [(a, e) for a, e in zip(actual, expected) if a.tgt_tokens != e.tgt_tokens]
    assert len(differ) <= 0.01 * len(sentences)
    for a, e in differ:  # the length limit forced EOS, or a near-tie (docs/deployment.md)
        normalized = [t.score / (len(t.tgt_tokens) + 1) for t in (a, e)]
        assert at_limit(torch_translator, e.source, e.tgt_tokens) or normalized[0] == pytest.approx(
            normalized[1], abs=0.01
        )


@pytest.mark.parametrize(
    "options",
    [
        {"beam": 1, "max_length_ratio": 0.3, "batch_size": 7},
        {"beam": 3, "length_penalty": 0.0},
        {"beam": 2, "length_penalty": 0.6, "batch_size": 16},
        {"beam": 1, "no_repeat_ngram_size": 2},
    ],
)
def test_decoding_options_carry_over(
    torch_translator: Translator, ct2_translator: CT2Translator, sentences: list[str], options: dict[str, Any]
) -> None:
    texts = ["", "   ", *sentences[:60]]
    expected = torch_translator.translate(texts, **options)
    actual = ct2_translator.translate(texts, **options)
    assert actual[:2] == ["", ""]
    same = sum(a == e for a, e in zip(actual, expected))
    assert same >= len(texts) - 1, (options, [(a, e) for a, e in zip(actual, expected) if a != e])


def test_long_inputs_are_cut_and_rejoined_like_pytorch(
    torch_translator: Translator, ct2_translator: CT2Translator
) -> None:
    text = "I like to drink tea with my good friends, " * 10
    [actual] = ct2_translator.translate_detailed([text], beam=1, max_input_tokens=20)
    [expected] = torch_translator.translate_detailed([text], beam=1, max_input_tokens=20)
    assert actual.parts == expected.parts > 1  # nothing truncated: every clause was translated
    assert actual.text == expected.text and actual.tgt_tokens == expected.tgt_tokens
    assert actual.src_tokens.count("</s>") == actual.parts
    assert "".join(actual.src_tokens).replace("</s>", "").replace("▁", " ").split() == text.split()


def test_length_limits_use_the_same_arithmetic_as_pytorch() -> None:
    lengths = list(range(1, 300))
    for ratio, offset in ((1.5, 10), (0.29, 0), (1.1, 3), (2.7, 5), (0.3, 1)):
        decoding = DecodingConfig(max_length_ratio=ratio, max_length_offset=offset)
        mask = torch.arange(301)[None, :] < torch.tensor(lengths)[:, None] + 1  # ids + EOS
        expected = max_output_lengths(mask, ratio, offset).clamp(max=127).tolist()
        assert max_lengths(lengths, decoding, max_positions=128) == expected


def test_attention_is_not_available(ct2_translator: CT2Translator) -> None:
    assert ct2_translator.supports_attention is False and ct2_translator.engine == "ctranslate2"
    with pytest.raises(YiyanError, match="attention weights are not available"):
        ct2_translator.translate_detailed(["Hello."], attention=True)


@pytest.mark.parametrize(
    "model",
    [
        {"norm": "post"},
        {"activation": "gelu"},
        {"activation": "swish", "scale_embeddings": False},
        {"tie_embeddings": False, "heads": 4},
    ],
    ids=["post-norm", "gelu", "swish-unscaled", "untied-separate-vocabularies"],
)
def test_architecture_variants_decode_exactly(
    run: Path, tmp_path: Path, sentences: list[str], model: dict[str, Any]
) -> None:
    tokenizer = None
    if not model.get("tie_embeddings", True):  # one SentencePiece model per side
        tokenizer = Tokenizer.train(
            run / "data" / "train.en",
            run / "data" / "train.zh",
            TokenizerConfig(
                joint=False,
                vocab_size=600,
                tgt_vocab_size=1400,
                character_coverage=0.98,
                hard_vocab_limit=False,
                # random weights over 256 more pieces give this variant a near-tie (one token of
                # 60 sentences, float rounding); byte-fallback vocabularies are covered by `run`
                byte_fallback=False,
            ),
            tmp_path / "tok",
        )
    variant = variant_run(run, tmp_path / "run", tokenizer, **model)
    out = export_ctranslate2(variant, tmp_path / "out", quantization="float32").path
    if tokenizer is not None:
        assert {"src.model", "tgt.model", "source_vocabulary.json", "target_vocabulary.json"} <= {
            p.name for p in out.iterdir()
        }
    texts = sentences[:60]
    expected = [
        t.tgt_tokens for t in Translator.load(variant, device="cpu").translate_detailed(texts, beam=1)
    ]
    actual = [
        t.tgt_tokens for t in CT2Translator.load(out, intra_threads=1).translate_detailed(texts, beam=1)
    ]
    assert actual == expected


# ------------------------------------------------------------------------------------ engines


def test_engine_is_detected_from_the_directory(run: Path, export: Path, tmp_path: Path) -> None:
    assert detect_engine(run) == "torch"
    assert detect_engine(export) == "ctranslate2"
    assert isinstance(load_translator(export, device="cpu"), CT2Translator)
    assert isinstance(load_translator(run, device="cpu"), Translator)
    translator = load_translator(export, "ctranslate2", int8=True, threads=1)
    assert isinstance(translator, CT2Translator) and translator.compute_type.startswith("int8")
    assert translator.config is not None and translator.config.data.tgt_lang == "zh"
    with pytest.raises(YiyanError, match="export it first"):
        load_translator(run, "ctranslate2")
    with pytest.raises(YiyanError, match="holds no PyTorch weights"):
        load_translator(export, "torch")
    with pytest.raises(CheckpointError, match="not found"):
        detect_engine(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="neither a trained run"):
        load_translator(tmp_path / "empty")


def test_cli_export_then_translate_with_ctranslate2(
    run: Path, tmp_path: Path, sentences: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli-export"
    assert main(["export", str(run), "--to", "ctranslate2", "--quantization", "float32", "-o", str(out)]) == 0
    assert "float32" in capsys.readouterr().out
    assert main(["export", str(run), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{s}\n" for s in sentences[:20]), encoding="utf-8")
    assert main(["translate", str(run), "-i", str(source), "--beam", "1"]) == 0
    expected = capsys.readouterr().out
    script = (
        "import sys; from yiyan.cli import main; "
        f"code = main(['translate', {str(out)!r}, '--engine', 'ctranslate2', '-i', {str(source)!r}, "
        "'--beam', '1', '--threads', '1']); "
        "assert 'torch' not in sys.modules, 'the CTranslate2 engine imported torch'; sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected


# ------------------------------------------------------------------------------------ PyTorch int8


@pytest.mark.parametrize("kind", ["transformer", "rnn"])
@pytest.mark.parametrize("tie", [True, False])
def test_pytorch_int8_quantizes_every_matrix_product(kind: Literal["transformer", "rnn"], tie: bool) -> None:
    torch.manual_seed(0)
    config = ModelConfig(type=kind, d_model=32, hidden_size=32, heads=2, ff_size=64, tie_embeddings=tie)
    model = build_model(config, 50, 50).eval()
    quantized = quantize_int8(model)
    modules = list(quantized.modules())
    assert not [m for m in modules if type(m) in (torch.nn.Linear, torch.nn.GRU)]  # all replaced
    assert isinstance(quantized.output_projection, torch.ao.nn.quantized.dynamic.Linear)
    src = torch.randint(4, 50, (3, 7))
    mask = torch.ones_like(src, dtype=torch.bool)
    tgt = torch.randint(4, 50, (3, 5))
    with torch.inference_mode():
        reference = model.log_probs(model(src, mask, tgt))
        approx = quantized.log_probs(quantized(src, mask, tgt))
    assert (reference - approx).abs().max() < 0.1
    assert isinstance(model.output_projection, torch.nn.Linear)  # the original is untouched


def test_pytorch_int8_translations_mostly_equal(
    run: Path, torch_translator: Translator, sentences: list[str]
) -> None:
    int8 = Translator.load(run, device="cpu", int8=True)
    texts = sentences[:100]
    same = sum(
        a == b for a, b in zip(torch_translator.translate(texts, beam=1), int8.translate(texts, beam=1))
    )
    assert same >= 85
