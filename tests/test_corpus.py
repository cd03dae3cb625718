"""Corpus reading (TSV, plain, JSONL, HSK), its errors, and cleaning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yiyan.config import DataConfig
from yiyan.data.corpus import (
    Cleaner,
    HashSet,
    Pair,
    corpus_format,
    normalize_text,
    read_corpus,
    read_hsk,
)
from yiyan.errors import DataError, YiyanError


def write_bytes(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def texts(pairs: object) -> list[tuple[str, str]]:
    return [(p.src, p.tgt) for p in pairs]  # type: ignore[attr-defined]


# --- reading ---------------------------------------------------------------------------


def test_tsv_yields_pairs_with_origin(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "c.tsv", "Hi.\t嗨。\nRun!\t跑！\n".encode())
    pairs = list(read_corpus(path, DataConfig()))
    assert pairs == [Pair("Hi.", "嗨。", path, 1), Pair("Run!", "跑！", path, 2)]


def test_bom_and_crlf_are_transparent(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "c.tsv", b"\xef\xbb\xbfHi.\t\xe5\x97\xa8\xe3\x80\x82\r\nRun!\tgo\r\n")
    assert texts(read_corpus(path, DataConfig())) == [("Hi.", "嗨。"), ("Run!", "go")]


def test_tsv_columns_are_configurable(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "c.tsv", "id1\t你好\tHello\n".encode())
    config = DataConfig(tsv_src_column=2, tsv_tgt_column=1)
    assert texts(read_corpus(path, config)) == [("Hello", "你好")]


def test_real_tatoeba_files(data_tatoeba: Path) -> None:
    first = next(read_corpus(str(data_tatoeba / "train.tsv"), DataConfig()))
    assert first.src == "Hi." and not first.src.startswith("\ufeff")
    pairs = read_corpus(str(data_tatoeba / "cmn.txt"), DataConfig())  # three columns
    assert texts([next(pairs), next(pairs)]) == [("Hi.", "嗨。"), ("Hi.", "你好。")]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"a\tb\tc\nno tab here\n", 2, "no tab"),
        (b"a\tb\tc\nok\t\xe4\xbd\tc\n", 2, "invalid UTF-8"),
        (b"a\tb\tc\nx\ty\n", 2, "columns"),
    ],
)
def test_tsv_errors_name_file_and_line(tmp_path: Path, content: bytes, line: int, message: str) -> None:
    path = write_bytes(tmp_path / "bad.tsv", content)
    with pytest.raises(DataError, match=message) as caught:
        list(read_corpus(path, DataConfig(tsv_src_column=0, tsv_tgt_column=2)))
    assert caught.value.path == path and caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_blank_line_is_an_empty_pair_not_an_error(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "c.tsv", b"a\tb\n\n")
    assert texts(read_corpus(path, DataConfig())) == [("a", "b"), ("", "")]


def test_plain_pair(tmp_path: Path) -> None:
    src = write_bytes(tmp_path / "a.en", b"one\r\ntwo\n")
    tgt = write_bytes(tmp_path / "a.zh", "一\n二\n".encode())
    pairs = list(read_corpus([src, tgt], DataConfig()))
    assert texts(pairs) == [("one", "一"), ("two", "二")]
    assert (pairs[1].path, pairs[1].line) == (src, 2)


@pytest.mark.parametrize("shorter", ["src", "tgt"])
def test_plain_line_count_mismatch_names_the_shorter_file(tmp_path: Path, shorter: str) -> None:
    long, short = b"1\n2\n3\n", b"1\n2\n"
    src = write_bytes(tmp_path / "a.en", short if shorter == "src" else long)
    tgt = write_bytes(tmp_path / "a.zh", short if shorter == "tgt" else long)
    with pytest.raises(DataError, match="ends after 2 lines") as caught:
        list(read_corpus([src, tgt], DataConfig()))
    assert caught.value.path == (src if shorter == "src" else tgt) and caught.value.line == 3


def test_jsonl_default_keys_are_language_codes(tmp_path: Path) -> None:
    lines = [{"en": "Hello", "zh": "你好", "id": 1}, {"zh": "谢谢", "en": "Thanks"}]
    path = write_bytes(tmp_path / "c.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode())
    assert texts(read_corpus(path, DataConfig())) == [("Hello", "你好"), ("Thanks", "谢谢")]
    reverse = DataConfig(src_lang="zh", tgt_lang="en")
    assert texts(read_corpus(path, reverse))[0] == ("你好", "Hello")
    custom = DataConfig(jsonl_src_key="id", jsonl_tgt_key="zh")
    with pytest.raises(DataError, match="'id' is not a string"):
        list(read_corpus(path, custom))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"en": "a", "zh": ', "not valid JSON"),
        ('{"en": "a"}', "missing key 'zh'"),
        ('["a", "b"]', "JSON object"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_bytes(tmp_path / "c.jsonl", f'{{"en": "x", "zh": "y"}}\n{line}\n'.encode())
    with pytest.raises(DataError, match=message) as caught:
        list(read_corpus(path, DataConfig()))
    assert caught.value.line == 2 and str(caught.value).startswith(f"{path}:2:")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(YiyanError, match=r"not found: .*nope\.tsv"):
        read_corpus(str(tmp_path / "nope.tsv"), DataConfig())
    with pytest.raises(YiyanError, match="not found"):
        read_corpus([str(tmp_path / "a"), str(tmp_path / "b")], DataConfig())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["a.en", "a.zh"], "plain"),
        ("hsk", "hsk"),
        ("x/c.jsonl", "jsonl"),
        ("c.tsv", "tsv"),
        ("cmn.txt", "tsv"),
    ],
)
def test_auto_format(spec: str | list[str], expected: str) -> None:
    assert corpus_format(spec, DataConfig()) == expected
    assert corpus_format(spec, DataConfig(format="jsonl")) == "jsonl"


def test_hsk_both_directions() -> None:
    pairs = list(read_corpus("hsk", DataConfig()))
    assert len(pairs) == 4354
    assert pairs[0].src == "Hello, teacher!" and pairs[0].tgt == "老师，您好！"
    assert sum(p.src.isascii() for p in pairs) > 4000  # English source
    assert all(not p.tgt.isascii() for p in pairs)  # Chinese target
    reverse = next(read_hsk("zh", "en"))
    assert (reverse.src, reverse.tgt, reverse.path, reverse.line) == (
        "老师，您好！",
        "Hello, teacher!",
        "hsk",
        1,
    )
    with pytest.raises(YiyanError, match="'fr'"):
        next(read_hsk("en", "fr"))


# --- cleaning --------------------------------------------------------------------------


def test_nfkc_turns_chinese_punctuation_ascii_nfc_keeps_it() -> None:
    text = "你好，世界！真的？ＡＢＣ"
    assert normalize_text(text, "NFKC") == "你好,世界!真的?ABC"
    assert normalize_text(text, "NFC") == text
    assert normalize_text("e\u0301", "NFC") == "é"
    assert normalize_text("e\u0301", "none") == "e\u0301"


def test_whitespace_and_invisible_characters() -> None:
    assert normalize_text("  a \t b\u3000\u00a0c\n", "NFC") == "a b c"
    assert normalize_text("zero\u200bwidth\ufeff", "NFC") == "zerowidth"
    assert normalize_text("bell\x07tab\x1fend", "NFC") == "bell tab end"
    assert normalize_text("line\u2028break", "NFC") == "line break"


def test_target_keeps_fullwidth_punctuation_by_default() -> None:
    pair = Pair("Ｈｅｌｌｏ，  you!", "你好，你！", "f", 1)
    (kept,) = Cleaner(DataConfig())([pair])
    assert (kept.src, kept.tgt, kept.raw) == ("Hello, you!", "你好，你！", pair)


def test_every_drop_reason_is_counted() -> None:
    config = DataConfig(max_chars=20, max_length_ratio=3.0, ratio_min_chars=10)
    rows = [
        ("ok", "好"),  # ratio 2, kept
        ("a", " "),  # empty target
        ("\u200b", "空"),  # empty source after cleaning
        ("x" * 21, "长"),  # too long
        ("twelve chars", "短"),  # ratio 12 over 10 chars
        ("abc", "一"),  # ratio 3 but only 3 chars: kept
        ("ok", "好"),  # duplicate
        ("ok ", " 好"),  # duplicate after normalization
    ]
    cleaner = Cleaner(config)
    kept = list(cleaner(Pair(s, t, "f", i) for i, (s, t) in enumerate(rows, 1)))
    assert [(p.src, p.tgt) for p in kept] == [("ok", "好"), ("abc", "一")]
    assert cleaner.report() == {
        "read": 8,
        "kept": 2,
        "dropped": {"empty": 2, "too_long": 1, "length_ratio": 1, "duplicate": 2},
    }
    no_dedup = Cleaner(config, deduplicate=False)
    assert len(list(no_dedup(Pair(s, t, "f", 1) for s, t in rows))) == 4


def test_hash_set_survives_merges() -> None:
    seen = HashSet(buffer_size=3)
    values = [5, -(2**63), 2**63 - 1, 0, 17, -4, 99]
    for value in values:
        seen.add(value)
    assert len(seen) == len(values)
    assert all(v in seen for v in values)
    assert 6 not in seen and 100 not in seen and "5" not in seen
