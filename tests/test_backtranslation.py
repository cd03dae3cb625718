"""Back-translation data: the monolingual sample never holds a test sentence, synthetic sources
are tagged, and the tag is one SentencePiece piece (tokenizer.user_symbols)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentencepiece as spm

from yiyan.backtranslation import TAG, monolingual_sample, sentence_key, tagged_pairs
from yiyan.config import TokenizerConfig, load_config
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import ConfigError, DataError


def test_sentence_key_ignores_punctuation_spaces_and_width() -> None:
    assert sentence_key("我爱你。") == sentence_key("我 爱你!") == sentence_key("我爱你！")
    assert sentence_key("Tom, run!") == sentence_key("tom run")
    assert sentence_key("我爱你。") != sentence_key("我爱他。")


def test_monolingual_sample_excludes_test_sentences_and_counts_every_line(tmp_path: Path) -> None:
    mono = tmp_path / "mono.tsv"
    rows = [
        "x\t我爱你！",
        "x\t今天很冷。",
        "x\t今天很冷",
        "x\t好",
        "x\t" + "长" * 30,
        "x\t明天见。",
        "x\t我们很高兴。",
    ]
    mono.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    sample = monolingual_sample(mono, column=1, exclude=["我爱你。"], size=10, max_chars=24, seed=3)
    assert sorted(sample.sentences) == sorted(["今天很冷。", "明天见。", "我们很高兴。"])
    assert sample.counts == {"read": 7, "length": 2, "excluded": 1, "duplicate": 1, "eligible": 3, "used": 3}
    small = monolingual_sample(mono, column=1, exclude=[], size=2, seed=3)
    assert (
        len(small.sentences) == 2
        and small.sentences == monolingual_sample(mono, column=1, exclude=[], size=2, seed=3).sentences
    )
    with pytest.raises(DataError, match=r"mono.tsv:1: no column 3"):
        monolingual_sample(mono, column=2, exclude=[], size=1)


def test_tagged_pairs_prefix_the_tag_and_skip_empty_outputs() -> None:
    assert tagged_pairs(["I love you.", "  ", "Hi "], ["我爱你。", "空", "你好"]) == [
        (f"{TAG} I love you.", "我爱你。"),
        (f"{TAG} Hi", "你好"),
    ]


def test_the_tag_is_one_piece_with_user_symbols(tmp_path: Path, data_text_files: tuple[Path, Path]) -> None:
    src, tgt = data_text_files  # text without the tag: only the option can make it a piece
    pieces = {}
    for name, symbols in (("with", [TAG]), ("without", [])):
        Tokenizer.train(src, tgt, TokenizerConfig(vocab_size=500, user_symbols=symbols), tmp_path / name)
        model = spm.SentencePieceProcessor(model_file=str(tmp_path / name / "joint.model"))
        pieces[name] = model.encode(f"x{TAG} I love you.", out_type=str)
    assert TAG in pieces["with"]  # one piece, even glued to a word
    assert TAG not in pieces["without"]


def test_user_symbols_must_be_words() -> None:
    with pytest.raises(ConfigError, match="user_symbols"):
        load_config(None, ["tokenizer.user_symbols=['<B T>']"])
