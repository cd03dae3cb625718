"""Sentence segmentation, document layout, clause cutting and Chinese punctuation (yiyan.segment)."""

from __future__ import annotations

import pytest

from yiyan.segment import (
    Line,
    assemble,
    join_sentences,
    normalize_zh_punctuation,
    split_clauses,
    split_document,
    split_sentences,
)


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith went to Washington. He arrived at 3 p.m. on Jan. 5! Did he? Yes.",
        "  Hello world.  How are you?  ",
        "No end mark at all",
        "...",
        "😀😀 !!! ……",
        "Mixed 中文。 English. Ça va? мир!",
        "",
    ],
)
@pytest.mark.parametrize("lang", ["en", "zh", "fr"])
def test_sentences_concatenate_to_the_text(text: str, lang: str) -> None:
    assert "".join(split_sentences(text, lang)) == text


def test_english_abbreviations_do_not_end_sentences() -> None:
    sentences = split_sentences("Dr. Smith lives in the U.S. now. He likes it.", "en")
    assert [s.strip() for s in sentences] == ["Dr. Smith lives in the U.S. now.", "He likes it."]


def test_chinese_rules_keep_closing_quotes_and_ellipses() -> None:
    text = "你好。我很好！你呢？“走吧。”他说……真的吗；是的"
    assert split_sentences(text, "zh") == [
        "你好。",
        "我很好！",
        "你呢？",
        "“走吧。”",
        "他说……",
        "真的吗；",
        "是的",
    ]


def test_document_layout_is_kept() -> None:
    text = "  - First point. Second point.\n\n3. Third!\r\n四、第一条。\t\n"
    lines = split_document(text, "en")
    assert lines[0] == Line("  - ", ["First point.", "Second point."], "\n")
    assert lines[1] == Line("", [], "\n")
    assert lines[2] == Line("3. ", ["Third!"], "\r\n")
    assert lines[3].prefix == "四、" and lines[3].suffix == "\t\n"
    same = assemble(lines, [line.sentences for line in lines], "en")
    assert same == "  - First point. Second point.\n\n3. Third!\r\n四、第一条。\t\n"
    assert assemble(lines, [["甲", "乙"], [], ["丙"], ["丁"]], "zh") == "  - 甲乙\n\n3. 丙\r\n四、丁\t\n"


def test_joining_follows_the_target_language() -> None:
    assert join_sentences(["我爱你。", "谢谢。"], "zh") == "我爱你。谢谢。"
    assert join_sentences(["我爱你。", "谢谢。"], "zh-Hant") == "我爱你。谢谢。"
    assert join_sentences(["I love you.", "", "Thanks."], "en") == "I love you. Thanks."


def test_clause_levels_cut_from_strongest_to_weakest() -> None:
    text = "one, two; three. four five"
    assert split_clauses(text, 0) == ["one, two; three. ", "four five"]
    assert split_clauses(text, 1) == ["one, two; ", "three. four five"]
    assert split_clauses(text, 2) == ["one, ", "two; three. four five"]
    assert split_clauses("一，二、三。四", 0) == ["一，二、三。", "四"]
    assert split_clauses("nothing", 0) == ["nothing"]
    for level in range(4):
        assert "".join(split_clauses(text, level)) == text


def test_zh_punctuation_between_chinese_characters_becomes_full_width() -> None:
    text, count = normalize_zh_punctuation("你好,我是汤姆 : 你呢?他说;走吧!")
    assert (text, count) == ("你好，我是汤姆：你呢？他说；走吧！", 5)
    kept = "3:30 OK, 好 a,b e.g., this 你好!ok"
    assert normalize_zh_punctuation(kept) == (kept, 0)


def test_prepare_makes_chinese_target_punctuation_full_width_and_counts_it() -> None:
    from yiyan.config import DataConfig
    from yiyan.data.corpus import Cleaner, Pair
    from yiyan.prepare import summary

    pairs = [
        Pair("Hi, Tom. How are you?", "你好,汤姆。你好吗?", "x.tsv", 1),
        Pair("OK.", "好的。", "x.tsv", 2),
    ]
    cleaner = Cleaner(DataConfig(tgt_lang="zh"))
    assert [p.tgt for p in cleaner(pairs)] == ["你好，汤姆。你好吗？", "好的。"]
    assert cleaner.report()["zh_punctuation_fixed"] == 2
    report = {
        "src_lang": "en",
        "tgt_lang": "zh",
        "seconds": 0,
        "cleaning": {"train": {"source": "x.tsv", **cleaner.report()}},
        "simplified": {"train": {}},
        "overlap_with_train": {},
        "sentences": {"train": 2},
        "tokenizer": {"reused_from": "t", "joint": True, "src_vocab_size": 1, "tgt_vocab_size": 1},
        "statistics": {},
    }
    assert "ASCII punctuation made full-width: 2" in summary(report)[1]
    off = Cleaner(DataConfig(tgt_lang="zh", zh_punctuation=False))
    assert [p.tgt for p in off(pairs)] == ["你好,汤姆。你好吗?", "好的。"]
    assert "zh_punctuation_fixed" not in off.report()
