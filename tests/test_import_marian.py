"""Importing Hugging Face MarianMT (OPUS-MT) folders, checked against `transformers` itself.

No download: each folder is a small *random* `MarianMTModel` (every weight, bias, LayerNorm and
the final logits bias drawn at random, so a wrongly mapped tensor cannot hide behind an
initial zero or one) saved with `save_pretrained`, beside two SentencePiece models trained
on a few lines and the shared vocab.json built from their pieces, as OPUS-MT folders are.
"""

from __future__ import annotations

import json
import math
import pickle
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sentencepiece as spm
import torch

from run_helpers import PHRASES
from yiyan.checkpoint import load_model
from yiyan.cli import main
from yiyan.config import load_config
from yiyan.data.batching import collate
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import CheckpointError, ConfigError, YiyanError
from yiyan.finetune import REPORT_JSON, finetune
from yiyan.importers.marian import import_marian
from yiyan.io import read_json
from yiyan.prepare import prepare
from yiyan.search import max_output_lengths, search
from yiyan.translator import Translator

transformers = pytest.importorskip("transformers")

SIZES = {"d_model": 32, "layers": 2, "heads": 4, "ffn": 64, "positions": 256}
FIT_STEPS = 60  # a random model either stops at once or loops to the length limit; a little
# training on the lines makes it end where sentences end, so beam search has real choices
RATIO, OFFSET = 2.5, 10  # output length limits, the same for both implementations


def sentences(side: int) -> list[str]:
    """39 sentences of one side (0 English, 1 Chinese) of different lengths: the phrases,
    pairs of them and triples of them."""
    texts = [pair[side] for pair in PHRASES]
    joiner = " " if side == 0 else ""
    pairs = [joiner.join((texts[i], texts[(i * 5 + 3) % 12])) for i in range(12)]
    triples = [joiner.join((texts[i], texts[(i + 4) % 12], texts[(i * 7 + 1) % 12])) for i in range(12)]
    extra = [["Tea?", "Tomorrow!", "You."], ["茶？", "明天！", "好"]][side]
    return [*texts, *pairs, *triples, *extra]


def train_spm(lines: list[str], path: Path, vocab_size: int) -> None:
    """A SentencePiece model as Marian ships them (its own ids do not matter: vocab.json's do)."""
    text = path.with_suffix(".txt")
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(path.with_suffix("")),
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
    )
    path.with_suffix(".model").rename(path)


def randomize(model: Any, seed: int) -> None:
    """Every parameter and buffer drawn at random (the sinusoid tables stay)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if "embed_positions" in name:
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("layer_norm.weight"):
                tensor.copy_(1.0 + 0.2 * noise)
            elif name.endswith("shared.weight"):
                tensor.copy_(0.4 * noise)
            elif tensor.dim() == 2 and name != "final_logits_bias":  # a linear layer: keep activations sane
                tensor.copy_(noise / math.sqrt(tensor.size(1)))
            else:  # biases, LayerNorm shifts and the final logits bias
                tensor.copy_(0.2 * noise)


def fit(model: Any, tokenizer: Any, source_lines: list[str], target_lines: list[str], steps: int) -> None:
    """A few Adam steps on the lines themselves (from the random weights), then eval mode."""
    batch = tokenizer(source_lines, text_target=target_lines, padding=True, return_tensors="pt")
    labels = batch["labels"].masked_fill(batch["labels"] == model.config.pad_token_id, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
        ).loss.backward()
        optimizer.step()
    model.eval()


def build_folder(
    directory: Path,
    source_lines: list[str],
    target_lines: list[str],
    *,
    seed: int = 0,
    steps: int = FIT_STEPS,
    codes: tuple[str, ...] = (),
    **config: Any,
) -> Path:
    """A MarianMT folder: config.json + model.safetensors (+ generation_config.json),
    source.spm, target.spm and the vocab.json both map onto."""
    directory.mkdir(parents=True)
    train_spm(source_lines, directory / "source.spm", 60)
    train_spm(target_lines, directory / "target.spm", 60)
    pieces: list[str] = []
    for name in ("source.spm", "target.spm"):
        processor = spm.SentencePieceProcessor(model_file=str(directory / name))
        for i in range(processor.get_piece_size()):
            piece = processor.id_to_piece(i)
            if not processor.is_control(i) and not processor.is_unknown(i) and piece not in pieces:
                pieces.append(piece)
    vocab = ["</s>", "<unk>", *codes, *pieces, "<pad>"]  # Marian: EOS 0, UNK 1, PAD last
    (directory / "vocab.json").write_text(json.dumps({p: i for i, p in enumerate(vocab)}), encoding="utf-8")
    pad = len(vocab) - 1
    settings = {
        "vocab_size": len(vocab),
        "d_model": SIZES["d_model"],
        "encoder_layers": SIZES["layers"],
        "decoder_layers": SIZES["layers"],
        "encoder_attention_heads": SIZES["heads"],
        "decoder_attention_heads": SIZES["heads"],
        "encoder_ffn_dim": SIZES["ffn"],
        "decoder_ffn_dim": SIZES["ffn"],
        "max_position_embeddings": SIZES["positions"],
        "pad_token_id": pad,
        "decoder_start_token_id": pad,
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "scale_embedding": True,
        "activation_function": "swish",
        **config,
    }
    model = transformers.MarianMTModel(transformers.MarianConfig(**settings))
    randomize(model, seed)
    fit(model, transformers.MarianTokenizer.from_pretrained(directory), source_lines, target_lines, steps)
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def en_zh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An English→Chinese folder; the language pair comes from tokenizer_config.json."""
    folder = build_folder(tmp_path_factory.mktemp("hf") / "tiny-marian", sentences(0), sentences(1))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"source_lang": "eng", "target_lang": "zho", "model_max_length": 512}), encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def zh_en(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Chinese→English folder; the language pair comes from its name, as OPUS-MT folders are named."""
    return build_folder(tmp_path_factory.mktemp("hf") / "opus-mt-zh-en", sentences(1), sentences(0), seed=1)


@pytest.fixture(scope="module")
def imported(en_zh: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_marian(en_zh, tmp_path_factory.mktemp("runs") / "opus-en-zh").path


def hf_model(folder: Path) -> Any:
    return transformers.MarianMTModel.from_pretrained(folder).eval()


def hf_tokenizer(folder: Path) -> Any:
    return transformers.MarianTokenizer.from_pretrained(folder)


def padded_sources(tokenizer: Tokenizer, texts: list[str], special: Any) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [[*ids, special.eos] for ids in tokenizer.encode_batch(texts, "src")]
    src = torch.full((len(rows), max(map(len, rows))), special.pad)
    for i, ids in enumerate(rows):
        src[i, : len(ids)] = torch.tensor(ids)
    return src, src != special.pad


def hf_generate(hf: Any, src: torch.Tensor, mask: torch.Tensor, beam: int) -> list[list[int]]:
    """Hugging Face's output tokens per sentence (decoder start and EOS removed), one call per
    sentence with max_new_tokens = yiyan's limit + 1: the forced EOS comes where yiyan's does.
    `bad_words_ids` [[pad]] as published OPUS-MT configs set it (yiyan never produces PAD)."""
    limits = max_output_lengths(mask, RATIO, OFFSET)
    outputs = []
    for row, limit in zip(range(src.size(0)), limits.tolist()):
        ids = src[row, : int(mask[row].sum())].unsqueeze(0)
        with torch.no_grad():
            out = hf.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                num_beams=beam,
                do_sample=False,
                early_stopping=True,
                length_penalty=1.0,
                max_new_tokens=limit + 1,
                bad_words_ids=[[hf.config.pad_token_id]],
            )[0].tolist()
        eos = hf.config.eos_token_id
        outputs.append(out[1 : out.index(eos, 1)] if eos in out[1:] else out[1:])
    return outputs


def yiyan_generate(model: Any, src: torch.Tensor, mask: torch.Tensor, beam: int) -> list[list[int]]:
    hypotheses = search(
        model, src, mask, beam=beam, length_penalty=1.0, max_length_ratio=RATIO, max_length_offset=OFFSET
    )
    return [h.tokens for h in hypotheses]


# ------------------------------------------------------------------------------- the run


def test_import_writes_an_ordinary_run(imported: Path, en_zh: Path) -> None:
    for name in ("model.safetensors", "model.json", "config.yaml", "import_report.json"):
        assert (imported / name).is_file(), name
    meta = read_json(imported / "model.json")["model"]
    vocab = json.loads((en_zh / "vocab.json").read_text(encoding="utf-8"))
    pad = len(vocab) - 1
    assert (meta["pad_id"], meta["unk_id"], meta["bos_id"], meta["eos_id"]) == (pad, 1, pad, 0)
    assert (meta["norm"], meta["position_layout"], meta["output_bias"]) == ("post", "halves", True)
    assert (meta["activation"], meta["tie_embeddings"], meta["scale_embeddings"]) == ("swish", True, True)
    report = read_json(imported / "import_report.json")
    assert (report["src_lang"], report["tgt_lang"]) == ("en", "zh")  # eng/zho in tokenizer_config.json
    tokenizer = Tokenizer.load(imported / "tokenizer")
    assert tokenizer.special_ids == load_model(imported).special_ids
    assert tokenizer.src_vocab() == list(vocab)


def test_tokenizer_matches_marian_tokenizer(imported: Path, en_zh: Path) -> None:
    ours, theirs = Tokenizer.load(imported / "tokenizer"), hf_tokenizer(en_zh)
    english, chinese = sentences(0), sentences(1)
    batch = theirs(english, text_target=chinese)
    eos = ours.special_ids.eos
    assert [[*ids, eos] for ids in ours.encode_batch(english, "src")] == batch["input_ids"]
    assert [[*ids, eos] for ids in ours.encode_batch(chinese, "tgt")] == batch["labels"]
    labels = [ids[:-1] for ids in batch["labels"]]
    assert ours.decode_batch(labels, "tgt") == theirs.batch_decode(labels, skip_special_tokens=True)
    # the pieces cover every character; Marian's SentencePiece models normalize (nmt_nfkc: ？ → ?)
    assert ours.decode_batch(labels, "tgt") == [unicodedata.normalize("NFKC", text) for text in chinese]


def test_the_shared_vocab_tokenizer_survives_pickling(imported: Path) -> None:
    """Data-loading workers receive the tokenizer pickled (its state: the two models + vocab.json)."""
    ours = Tokenizer.load(imported / "tokenizer")
    copy = pickle.loads(pickle.dumps(ours))
    assert type(copy) is type(ours)
    english = sentences(0)
    assert copy.encode_batch(english, "src") == ours.encode_batch(english, "src")
    assert copy.special_ids == ours.special_ids


def test_logits_equal_hugging_face_on_a_padded_batch(imported: Path, en_zh: Path) -> None:
    hf, tokenizer = hf_model(en_zh), hf_tokenizer(en_zh)
    batch = tokenizer(sentences(0)[10:26], text_target=sentences(1)[10:26], padding=True, return_tensors="pt")
    pad = hf.config.pad_token_id
    decoder_input = transformers.models.marian.modeling_marian.shift_tokens_right(batch["labels"], pad, pad)
    with torch.no_grad():
        expected = hf(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            decoder_input_ids=decoder_input,
        ).logits
        model = load_model(imported)
        hidden = model(batch["input_ids"], batch["attention_mask"].bool(), decoder_input)
        logits = model.logits(hidden)
    real = batch["labels"] != pad
    assert (batch["attention_mask"] == 0).any() and (~real).any()  # both sides padded
    assert torch.allclose(logits[real], expected[real], atol=1e-4, rtol=0)


def test_greedy_is_token_identical_to_generate(imported: Path, en_zh: Path) -> None:
    model = load_model(imported)
    src, mask = padded_sources(Tokenizer.load(imported / "tokenizer"), sentences(0), model.special_ids)
    ours, theirs = yiyan_generate(model, src, mask, 1), hf_generate(hf_model(en_zh), src, mask, 1)
    assert ours == theirs
    assert len({len(tokens) for tokens in ours}) > 3  # not all cut at the limit: EOS matters


def test_beam_matches_generate_num_beams_4(imported: Path, en_zh: Path) -> None:
    """Both rank finished hypotheses by score / |y|^α with |y| counting the EOS (Hugging Face:
    cur_len + 1 - prompt, the decoder start excluded) and α = 1, and (early_stopping=True, as
    yiyan does) stop a sentence once it has num_beams finished hypotheses. One convention
    differs: a hypothesis cut at the length limit ends with an EOS that Hugging Face's
    ForcedEOSTokenLogitsProcessor scores log 1 = 0, while yiyan adds the model's own log p(EOS)
    (the score it reports is the model's probability of the output). They disagree only
    where hypotheses reach the limit, which the fitted model's sentences do not."""
    model = load_model(imported)
    src, mask = padded_sources(Tokenizer.load(imported / "tokenizer"), sentences(0), model.special_ids)
    ours, theirs = yiyan_generate(model, src, mask, 4), hf_generate(hf_model(en_zh), src, mask, 4)
    same = sum(a == b for a, b in zip(ours, theirs))
    assert same >= 0.95 * len(ours), f"{same} of {len(ours)} equal"
    assert ours != yiyan_generate(model, src, mask, 1)  # the beam did search


def test_forced_scores_equal_hugging_face_loss(imported: Path, en_zh: Path) -> None:
    """`yiyan score`: Σ log p(target + EOS | source) is minus Hugging Face's summed cross-entropy."""
    from yiyan.scoring import score_pairs

    english, chinese = sentences(0)[:8], sentences(1)[:8]
    hf, tokenizer = hf_model(en_zh), hf_tokenizer(en_zh)
    expected = []
    for source, target in zip(english, chinese):
        batch = tokenizer([source], text_target=[target], return_tensors="pt")
        with torch.no_grad():
            loss = hf(**batch).loss  # mean over the target tokens and EOS
        expected.append(-float(loss) * batch["labels"].size(1))
    scores = score_pairs(imported, list(zip(english, chinese)), device="cpu")
    assert [s.log_prob for s in scores] == pytest.approx(expected, abs=1e-3)


def test_ctranslate2_export_decodes_like_pytorch(imported: Path, tmp_path: Path) -> None:
    pytest.importorskip("ctranslate2")
    from yiyan.export.ctranslate2 import CT2Translator, export_ctranslate2

    export_ctranslate2(imported, tmp_path / "ct2", quantization="float32")
    texts = sentences(0)
    torch_out = Translator.load(imported, device="cpu").translate_detailed(texts, beam=1)
    ct2_out = CT2Translator.load(tmp_path / "ct2", device="cpu").translate_detailed(texts, beam=1)
    assert [t.tgt_tokens for t in ct2_out] == [t.tgt_tokens for t in torch_out]
    assert [t.text for t in ct2_out] == [t.text for t in torch_out]
    assert any(t.text for t in torch_out)


def test_translator_and_attention_work_on_the_import(imported: Path) -> None:
    [result] = Translator.load(imported, device="cpu").translate_detailed(
        ["I love you."], attention=True, beam=2
    )
    assert result.attention is not None
    assert result.src_tokens[-1] == "</s>" and result.attention.shape[-1] == len(result.src_tokens)


def test_the_server_translates_with_the_import(imported: Path) -> None:
    pytest.importorskip("fastapi")
    import warnings

    with warnings.catch_warnings():  # starlette's notice that its TestClient moves to httpx2
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from yiyan.serve.app import create_app

    translator = Translator.load(imported, device="cpu")
    expected = translator.translate(["I love you."], beam=1)
    with TestClient(create_app(translator)) as client:
        response = client.post("/translate", json={"text": "I love you.", "beam": 1})
    assert response.status_code == 200, response.text
    [translation] = response.json()["translations"]
    assert expected[0] and translation["text"] == expected[0] and translation["src_tokens"][-1] == "</s>"


def test_batches_use_the_models_special_ids(imported: Path) -> None:
    """Fine-tuning batches: Marian's decoder starts from PAD (the last id), targets end with EOS 0."""

    class Pairs:
        def src(self, i: int) -> list[int]:
            return [5, 6, 7][: i + 1]

        def tgt(self, i: int) -> list[int]:
            return [8, 9][: i + 1]

    special = load_model(imported).special_ids
    batch = collate(Pairs(), [0, 1], special)  # type: ignore[arg-type]
    assert batch.tgt_in.tolist() == [[special.pad, 8, special.pad], [special.pad, 8, 9]]
    assert batch.tgt_out.tolist() == [[8, 0, special.pad], [8, 9, 0]]
    assert batch.src_mask.tolist() == [[True, True, False], [True, True, True]]
    assert batch.n_tgt_tokens == 5  # EOS (id 0) is a real target


# ------------------------------------------------------------------------------- zh → en


def test_zh_en_import_matches_hugging_face(zh_en: Path, tmp_path: Path) -> None:
    run = import_marian(zh_en, tmp_path / "zh-en").path
    report = read_json(run / "import_report.json")
    assert (report["src_lang"], report["tgt_lang"]) == ("zh", "en")  # from the folder name
    model, texts = load_model(run), sentences(1)
    src, mask = padded_sources(Tokenizer.load(run / "tokenizer"), texts, model.special_ids)
    expected = hf_generate(hf_model(zh_en), src, mask, 1)
    assert yiyan_generate(model, src, mask, 1) == expected
    # text in, text out: the Translator says what MarianTokenizer decodes from generate's tokens
    translator = Translator.load(run, device="cpu")
    ours = translator.translate(texts, beam=1, max_length_ratio=RATIO, max_length_offset=OFFSET)
    assert ours == hf_tokenizer(zh_en).batch_decode(expected, skip_special_tokens=True)
    assert sum(bool(text) for text in ours) > len(ours) // 2


def test_a_multilingual_target_model_gets_its_language_code(tmp_path: Path) -> None:
    """opus-mt-en-zh wants '>>cmn_Hans<<' (or another Chinese variant) in front of every source."""
    codes = (">>cmn_Hans<<", ">>yue_Hant<<")
    folder = build_folder(tmp_path / "opus-mt-en-zh", sentences(0), sentences(1), steps=5, codes=codes)
    plain = import_marian(folder, tmp_path / "plain")
    assert any("--target-code" in note for note in plain.report["notes"])
    run = import_marian(folder, tmp_path / "run", target_code=">>cmn_Hans<<").path
    ours, theirs = Tokenizer.load(run / "tokenizer"), hf_tokenizer(folder)
    texts = ["I love you.", ">>yue_Hant<< I love you."]  # an explicit code is kept
    expected = theirs([f">>cmn_Hans<< {texts[0]}", texts[1]])["input_ids"]
    assert [[*ids, ours.special_ids.eos] for ids in ours.encode_batch(texts, "src")] == expected
    assert ours.encode_batch(["我爱你。"], "tgt") == Tokenizer.load(plain.path / "tokenizer").encode_batch(
        ["我爱你。"], "tgt"
    )
    [translation] = Translator.load(run, device="cpu").translate_detailed(["I love you."], beam=1)
    assert translation.src_tokens[0] == ">>cmn_Hans<<" and translation.src_tokens[-1] == "</s>"
    with pytest.raises(YiyanError, match="'>>fra<<' is not a language code of vocab.json"):
        import_marian(folder, tmp_path / "bad", target_code=">>fra<<")


# ------------------------------------------------------------------------------- fine-tuning


def in_domain_tsv(path: Path, count: int, start: int) -> Path:
    """`count` pairs of two phrases each (characters the tiny vocabulary covers)."""
    lines = []
    for i in range(start, start + count):
        a, b = PHRASES[i % 12], PHRASES[(i * 7 + i // 12) % 12]
        lines.append(f"{a[0]} {b[0]}\t{a[1]}{b[1]}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_finetune_an_imported_run_with_freezing_mixing_and_the_report(imported: Path, tmp_path: Path) -> None:
    common = [
        "data.dev_size=8",
        "data.test_size=8",
        "data.src_normalization=none",
        "data.deduplicate=false",
        "tokenizer.vocab_size=120",  # the scratch baseline trains its own
        "training.batch_tokens=300",
        "training.max_steps=6",
        "training.eval_every=6",
        "training.eval_bleu=false",
        "training.warmup_steps=2",
        "training.learning_rate=0.01",
        "decoding.beam=2",
        f"finetune.init_from={imported}",
    ]
    general = tmp_path / "general"  # general-domain pairs prepared with the imported tokenizer
    prepare(
        load_config(
            None, [*common, f"data.corpus={in_domain_tsv(tmp_path / 'g.tsv', 60, 100)}", f"run_dir={general}"]
        ),
        log=lambda _: None,
    )
    config = load_config(
        None,
        [
            *common,
            f"data.corpus={in_domain_tsv(tmp_path / 'in.tsv', 60, 0)}",
            "finetune.freeze=[embeddings, encoder]",
            f"finetune.mix_corpus={general}",
            "finetune.mix_ratio=0.3",
            f"run_dir={tmp_path / 'ft'}",
        ],
    )
    assert config.model.pad_id == load_model(imported).special_ids.pad  # inherited from model.json
    report = finetune(imported, config, scratch=True, quiet=True, log=lambda _: None)
    ft = tmp_path / "ft"
    assert (ft / REPORT_JSON).is_file() and (ft / "finetune_report.md").is_file()
    assert set(report["in_domain_test"]) >= {"pretrained", "finetuned", "scratch"}
    assert report["data"]["mix_corpus"] == str(general) and report["settings"]["freeze"] == [
        "embeddings",
        "encoder",
    ]
    for name in ("vocab.json", "source.spm", "target.spm"):  # the vocabulary travelled
        assert (ft / "tokenizer" / name).read_bytes() == (imported / "tokenizer" / name).read_bytes()
    before, after = load_model(imported).state_dict(), load_model(ft).state_dict()
    assert torch.equal(before["src_embedding.weight"], after["src_embedding.weight"])  # frozen
    assert torch.equal(
        before["encoder_layers.0.self_attention.qkv.weight"],
        after["encoder_layers.0.self_attention.qkv.weight"],
    )
    assert not torch.equal(
        before["decoder_layers.0.self_attention.qkv.weight"],
        after["decoder_layers.0.self_attention.qkv.weight"],
    )
    assert load_model(tmp_path / "ft-scratch").special_ids.pad == 0  # the baseline has its own tokenizer
    assert Translator.load(ft, device="cpu").translate(["I love you."], beam=1)


# ------------------------------------------------------------------------------- bad input


@pytest.fixture()
def folder(en_zh: Path, tmp_path: Path) -> Path:
    """A copy of the English→Chinese folder to damage."""
    return Path(shutil.copytree(en_zh, tmp_path / "copy"))


def edit_config(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    change(config)
    path.write_text(json.dumps(config), encoding="utf-8")


@pytest.mark.parametrize(
    ("model_type", "architecture"),
    [
        ("m2m_100", "M2M100ForConditionalGeneration"),
        ("mbart", "MBartForConditionalGeneration"),
        ("t5", "T5ForConditionalGeneration"),
    ],
)
def test_other_architectures_are_not_supported(
    folder: Path, tmp_path: Path, model_type: str, architecture: str
) -> None:
    edit_config(folder, lambda c: c.update(model_type=model_type, architectures=[architecture]))
    with pytest.raises(YiyanError, match=f"not supported: {architecture}"):
        import_marian(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name", ["config.json", "vocab.json", "source.spm", "target.spm", "model.safetensors"]
)
def test_a_missing_file_is_named(folder: Path, tmp_path: Path, name: str) -> None:
    (folder / name).unlink()
    with pytest.raises(YiyanError, match=name.replace(".", r"\.")):
        import_marian(folder, tmp_path / "out")


def test_vocab_and_embedding_size_mismatch(folder: Path, tmp_path: Path) -> None:
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    vocab["▁extra"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    with pytest.raises(CheckpointError, match="vocab.json has .* pieces but config.json's vocab_size"):
        import_marian(folder, tmp_path / "out")


def test_untied_config_without_an_output_matrix(folder: Path, tmp_path: Path) -> None:
    edit_config(folder, lambda c: c.update(tie_word_embeddings=False))
    with pytest.raises(CheckpointError, match="tied/untied mismatch.*lm_head.weight"):
        import_marian(folder, tmp_path / "out")


def test_an_untied_model_imports_with_parity(tmp_path: Path) -> None:
    folder = build_folder(tmp_path / "untied", sentences(0), sentences(1), seed=2, tie_word_embeddings=False)
    run = import_marian(folder, tmp_path / "run", src_lang="en", tgt_lang="zh").path
    model = load_model(run)
    assert not model.config.tie_embeddings
    src, mask = padded_sources(Tokenizer.load(run / "tokenizer"), sentences(0)[:12], model.special_ids)
    assert yiyan_generate(model, src, mask, 1) == hf_generate(hf_model(folder), src, mask, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"activation_function": "gelu_new"}, "unknown activation 'gelu_new'"),
        ({"normalize_before": True}, "unsupported config key 'normalize_before'"),
        ({"layernorm_embedding": True}, "unsupported config key 'layernorm_embedding'"),
        ({"rotary_embeddings": True}, "unsupported config key 'rotary_embeddings'"),
        ({"decoder_ffn_dim": 48}, "'encoder_ffn_dim' \\(64\\) ≠ 'decoder_ffn_dim'"),
    ],
)
def test_config_keys_yiyan_cannot_honour(
    folder: Path, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    edit_config(folder, lambda c: c.update(change))
    with pytest.raises(ConfigError, match=message):
        import_marian(folder, tmp_path / "out")


def test_pytorch_bin_is_read_as_tensors_only(folder: Path, tmp_path: Path) -> None:
    """The whole state dict, as older OPUS-MT uploads hold it: tied copies, sinusoid tables."""
    state = hf_model(folder).state_dict()
    assert "model.encoder.embed_positions.weight" in state and "lm_head.weight" in state
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    run = import_marian(folder, tmp_path / "from-bin").path
    assert read_json(run / "import_report.json")["weights"] == "pytorch_model.bin"
    torch.save({**state, "note": Path("not a tensor")}, folder / "pytorch_model.bin")  # needs unpickling
    with pytest.raises(CheckpointError, match="convert it to model.safetensors"):
        import_marian(folder, tmp_path / "refused")
    state["model.decoder.embed_positions.weight"] = torch.randn_like(
        state["model.decoder.embed_positions.weight"]
    )
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="learned positions are not supported"):
        import_marian(folder, tmp_path / "learned")


def test_cli_import_and_its_one_line_errors(
    en_zh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(en_zh), "-o", str(tmp_path / "run")]) == 0
    assert "MarianMTModel, en→zh" in capsys.readouterr().out
    assert main(["import", str(en_zh), "-o", str(tmp_path / "run")]) == 2  # not empty
    assert main(["import", str(tmp_path / "nowhere"), "-o", str(tmp_path / "other")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("yiyan: error: ") for line in errors)
    assert (
        main(
            ["translate", str(tmp_path / "run"), "-i", str(_lines(tmp_path, ["I love you."])), "--beam", "1"]
        )
        == 0
    )


def _lines(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "input.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
