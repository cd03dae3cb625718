"""SentencePiece tokenizer: training (joint/separate, unigram/bpe), fixed ids, round trips, statistics."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Literal

import pytest

from yiyan.config import TokenizerConfig
from yiyan.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer
from yiyan.errors import YiyanError

CHINESE = ["我爱你。", "你好，很高兴认识你！", "今天天气怎么样？"]


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
@pytest.mark.parametrize("joint", [True, False], ids=["joint", "separate"])
def test_train_load_and_round_trip(
    tmp_path: Path, data_text_files: tuple[Path, Path], kind: Literal["unigram", "bpe"], joint: bool
) -> None:
    config = TokenizerConfig(type=kind, joint=joint, vocab_size=500, tgt_vocab_size=None if joint else 420)
    tokenizer = Tokenizer.train(*data_text_files, config, tmp_path)
    expected = ["joint.model"] if joint else ["src.model", "tgt.model"]
    assert sorted(p.name for p in tmp_path.glob("*.model")) == expected
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    assert tokenizer.joint is joint
    byte_pieces = 256  # byte fallback: on top of vocab_size
    assert tokenizer.src_vocab_size <= 500 + byte_pieces
    assert tokenizer.tgt_vocab_size <= (500 if joint else 420) + byte_pieces
    for vocab in (tokenizer.src_vocab(), tokenizer.tgt_vocab()):
        assert vocab[:4] == ["<pad>", "<unk>", "<s>", "</s>"]

    ids = tokenizer.encode_src("I love you")
    assert 3 <= len(ids) <= 10 and all(i > EOS_ID for i in ids)  # short; "love" is rare in the sample
    assert tokenizer.decode_src(ids) == "I love you"
    assert tokenizer.src_pieces(ids)[0].startswith("▁")
    for text in CHINESE:
        assert tokenizer.decode_tgt(tokenizer.encode_tgt(text)) == text
    assert tokenizer.encode_batch(CHINESE, "tgt") == [tokenizer.encode_tgt(t) for t in CHINESE]

    loaded = Tokenizer.load(tmp_path)
    assert loaded.joint is joint and loaded.tgt_vocab() == tokenizer.tgt_vocab()
    assert loaded.encode_tgt(CHINESE[1]) == tokenizer.encode_tgt(CHINESE[1])


def test_decode_skips_special_ids_and_pickles(data_tokenizer: Tokenizer) -> None:
    ids = data_tokenizer.encode_tgt("你好，很高兴认识你！")
    assert data_tokenizer.decode_tgt([BOS_ID, *ids, EOS_ID, PAD_ID, PAD_ID]) == "你好，很高兴认识你！"
    assert data_tokenizer.decode_batch([[BOS_ID, *ids], []], "tgt") == ["你好，很高兴认识你！", ""]
    copy = pickle.loads(pickle.dumps(data_tokenizer))
    assert copy.encode_tgt("我爱你。") == data_tokenizer.encode_tgt("我爱你。")


def test_statistics_unk_rate_and_coverage(
    data_tokenizer: Tokenizer, data_text_files: tuple[Path, Path]
) -> None:
    lines = data_text_files[1].read_text(encoding="utf-8").splitlines()
    seen = data_tokenizer.statistics(lines, "tgt")
    assert seen["sentences"] == 300 and seen["unk_rate"] == 0.0 and seen["char_coverage"] == 1.0
    assert seen["tokens_per_sentence"] == pytest.approx(seen["tokens"] / 300, abs=1e-3)

    unseen = data_tokenizer.statistics(["我龘", "你 好"], "tgt")  # 龘 is not in the vocabulary
    assert unseen["char_coverage"] == pytest.approx(3 / 4)
    assert unseen["unk_rate"] == 0.0  # byte fallback: 龘 is three byte pieces, not <unk>
    assert unseen["unknown_chars"] == "龘"
    ids = data_tokenizer.encode_tgt("龘")
    assert UNK_ID not in ids and len(set(ids) & data_tokenizer.byte_ids("tgt")) == 3
    assert data_tokenizer.decode_tgt(ids) == "龘"


def test_vocabulary_too_small_for_the_characters(tmp_path: Path, data_text_files: tuple[Path, Path]) -> None:
    with pytest.raises(YiyanError) as refused:
        Tokenizer.train(*data_text_files, TokenizerConfig(vocab_size=100), tmp_path)
    message = str(refused.value)
    assert "\n" not in message and "a vocabulary of 100 pieces" in message
    assert "tokenizer.character_coverage 1.0" in message and "raise tokenizer.vocab_size" in message
    needed = int(message.split(" characters to keep")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert needed > 100  # SentencePiece's count of the characters the text needs


def test_load_without_models(tmp_path: Path) -> None:
    with pytest.raises(YiyanError, match="no tokenizer in"):
        Tokenizer.load(tmp_path)


def test_save_replaces_the_other_layout(tmp_path: Path, data_tokenizer: Tokenizer) -> None:
    (tmp_path / "src.model").write_bytes(b"stale")
    data_tokenizer.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joint.model", "joint.vocab"]
    assert Tokenizer.load(tmp_path).joint
