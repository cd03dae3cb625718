"""The shared text pipeline (yiyan.pipeline): documents, cutting over-long input, byte fallback.

Most tests run an echo engine — its "translation" is the source ids — over a real SentencePiece
tokenizer, so what comes out is exactly what went through normalize → segment → encode → cut →
batch → decode → re-join; the last ones run a real model that has memorised a few phrases.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from run_helpers import overfit_run
from yiyan.config import DecodingConfig
from yiyan.data.tokenizer import Tokenizer
from yiyan.pipeline import Decoded, TextPipeline
from yiyan.translator import Translator
from yiyan.vocab import UNK_ID


class Echo(TextPipeline):
    """Outputs its source ids; records every batch it was given."""

    config = None

    def __init__(self, tokenizer: Tokenizer, tgt_lang: str = "en", **decoding: Any) -> None:
        self.tokenizer = tokenizer
        self.decoding = DecodingConfig(**decoding)
        self.src_normalization = "NFKC"
        self.tgt_lang_ = tgt_lang
        self.batches: list[list[list[int]]] = []
        self.options: list[dict[str, Any]] = []

    @property
    def tgt_lang(self) -> str:
        return self.tgt_lang_

    def search_ids(
        self, batch: list[list[int]], decoding: DecodingConfig, *, attention: bool, **options: Any
    ) -> list[Decoded]:
        self.batches.append(batch)
        self.options.append(options)
        return [
            Decoded(list(ids), -1.0, np.ones((len(ids) + 1, 1, 1, len(ids) + 1)) if attention else None)
            for ids in batch
        ]


@pytest.fixture
def echo(data_tokenizer: Tokenizer) -> Echo:
    return Echo(data_tokenizer)


def test_a_document_keeps_its_shape(echo: Echo) -> None:
    text = "  - I like tea. You like coffee?\n\n1. We are happy!\r\n   \n"
    [document] = echo.translate_document([text])
    assert document.text == text.replace("?\n", "?\n")  # every sentence echoed, the layout kept
    assert [t.source for t in document.sentences] == ["I like tea.", "You like coffee?", "We are happy!"]
    assert document.split == 0


def test_sentences_of_a_line_come_out_as_translated_one_by_one(data_tokenizer: Tokenizer) -> None:
    echo = Echo(data_tokenizer, tgt_lang="zh")
    [document] = echo.translate_document(["I like tea.  You like coffee? Yes."])
    alone = echo.translate(["I like tea.", "You like coffee?", "Yes."])
    assert document.text == "".join(alone) == "I like tea.You like coffee?Yes."  # zh: no spaces


@pytest.mark.parametrize("text", ["", "\n\n", "   "])
def test_empty_documents(echo: Echo, text: str) -> None:
    [document] = echo.translate_document([text])
    assert (document.text, document.sentences, document.split) == (text, [], 0)
    assert echo.batches == []  # nothing to translate, no search


@pytest.mark.parametrize("text", ["😀😀 !!! ——", "Hello 你好 мир. Ça va? 𠀋龘", "。。。"])
def test_any_character_comes_back_never_unk(echo: Echo, text: str) -> None:
    """Byte fallback: characters the vocabulary never saw are encoded as bytes and decoded back."""
    [document] = echo.translate_document([text])
    assert document.text == text
    assert "⁇" not in document.text
    assert all(UNK_ID not in ids for batch in echo.batches for ids in batch)


def test_over_long_sentences_are_cut_at_clauses_not_truncated(echo: Echo) -> None:
    sentence = ", ".join(f"we drank tea number {i} with friends" for i in range(60)) + "."
    [result] = echo.translate_detailed([sentence], max_input_tokens=40)
    assert result.parts > 1 and result.was_split
    assert all(len(ids) <= 40 for batch in echo.batches for ids in batch)
    assert result.text.split() == sentence.split()  # every word translated, in order
    assert result.src_tokens.count("</s>") == result.parts


def test_a_sentence_without_boundaries_is_cut_at_the_token_limit(data_tokenizer: Tokenizer) -> None:
    echo = Echo(data_tokenizer, tgt_lang="zh")
    text = "我喜欢喝茶" * 200
    [result] = echo.translate_detailed([text], max_input_tokens=25)
    assert result.parts >= len(data_tokenizer.encode_src(text)) // 25
    assert result.text == text


def test_one_megabyte_line_is_translated_whole(echo: Echo) -> None:
    line = "I like to drink tea with my good friends. " * 25_000  # 1.05 MB, one line
    [document] = echo.translate_document([line.strip()])
    assert len(document.sentences) == 25_000 and document.split == 0
    assert document.text == line.strip()
    [whole] = echo.translate_detailed([line[:100_000]])  # as one "sentence": cut, not truncated
    assert whole.parts > 1 and whole.text == line[:100_000].strip()


def test_batches_are_sorted_and_bounded(echo: Echo) -> None:
    texts = [" ".join(["tea"] * n) for n in (9, 1, 5, 7, 3, 2, 8)]
    assert echo.translate(texts, batch_size=3) == texts
    assert [len(b) for b in echo.batches] == [3, 3, 1]
    lengths = [len(ids) for batch in echo.batches for ids in batch]
    assert lengths == sorted(lengths)


def test_unknown_options_reach_the_search(echo: Echo) -> None:
    echo.translate(["I like tea."], beam=2, nbest=3)
    assert echo.options == [{"nbest": 3}]


def test_cut_attention_is_block_diagonal(echo: Echo) -> None:
    [result] = echo.translate_detailed(["tea, " * 30 + "tea"], attention=True, max_input_tokens=10)
    assert result.attention is not None and result.parts > 1
    assert result.attention.shape[0] == len(result.tgt_tokens)
    assert result.attention.shape[-1] == len(result.src_tokens)
    assert result.attention.sum() == sum(b.shape[0] * (b.shape[0]) for b in _blocks(result.src_tokens))


def _blocks(src_tokens: list[str]) -> list[np.ndarray]:
    """One square block per part (echo: as many target rows as source tokens)."""
    sizes, size = [], 0
    for piece in src_tokens:
        size += 1
        if piece == "</s>":
            sizes.append(size)
            size = 0
    return [np.ones((n, n)) for n in sizes]


def test_zh_punctuation_on_output(data_tokenizer: Tokenizer) -> None:
    echo = Echo(data_tokenizer, tgt_lang="zh")
    assert echo.translate(["我喜欢茶,你呢?"]) == ["我喜欢茶,你呢?"]
    assert echo.translate(["我喜欢茶,你呢?"], zh_punctuation=True) == ["我喜欢茶，你呢？"]


# ----------------------------------------------------------------------------- a real model


@pytest.fixture(scope="module")
def memorised(tmp_path_factory: pytest.TempPathFactory) -> Translator:
    return Translator.load(overfit_run(tmp_path_factory.mktemp("pipeline")), device="cpu")


def test_a_paragraph_is_translated_sentence_by_sentence(memorised: Translator) -> None:
    paragraph = "I love you. Thank you.  Good morning!"
    [document] = memorised.translate_document([paragraph, "\n  - I like tea.\n"], beam=1)[:1]
    one_by_one = memorised.translate(["I love you.", "Thank you.", "Good morning!"], beam=1)
    assert document.text == "".join(one_by_one)
    assert document.text.startswith("我爱你。谢谢你。")
    [listed] = memorised.translate_document(["\n  - I like tea.\n"], beam=1)
    assert listed.text == "\n  - 我喜欢茶。\n"


def test_the_real_model_cuts_and_rejoins(memorised: Translator) -> None:
    clauses = ["I love you,", "thank you,", "I like tea."]
    limit = max(len(memorised.tokenizer.encode_src(c)) for c in clauses)  # one clause per part
    [result] = memorised.translate_detailed([" ".join(clauses)], beam=1, max_input_tokens=limit)
    assert result.parts == 3
    assert result.text == "".join(memorised.translate(clauses, beam=1))
