"""Noisy-data filters (data/filters.py): each check on hand-made pairs, their counting in the
cleaning report, their config ranges, and prepare dropping and counting them on a small corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiyan.config import DataConfig, load_config
from yiyan.data.corpus import Cleaner, Pair
from yiyan.data.filters import PairFilter, digit_share, script_share
from yiyan.errors import ConfigError
from yiyan.prepare import write_splits

# one pair per filter, and the reason it is dropped for (with every filter on)
NOISY = [
    ("Hello there.", "hello  there.", "copy"),
    ("See https://example.com for more.", "更多信息见网站。", "url"),
    ("Write to me at li.wei@example.cn today.", "今天给我写信。", "url"),
    ("Call 010 6552 8899 0123 4567", "电话 010 6552 8899 0123 4567", "digits"),
    ("Great!!!!!!!!", "太好了！", "repeated_chars"),
    ("他们明天来吗？", "他们明天来吗？这是中文。", "wrong_script"),  # Chinese on the English side
    ("Where is the station?", "Where is the train station?", "wrong_script"),  # English on the Chinese side
]
CLEAN = [
    ("The meeting starts at 9:30 in room 204.", "会议九点半在204房间开始。"),
    ("I use Windows and Linux at work.", "我工作时用Windows和Linux。"),  # Latin words inside Chinese
    ("Thanks!!", "谢谢！！"),  # a short run of the same character
    ("Why 2031?", "为什么是2031年？"),  # digits, but not mostly digits
    ("OK", "OK"),  # a copy (dropped when drop_copies is on), however short
]
ALL_ON = {
    "drop_copies": True,
    "drop_urls": True,
    "max_digit_ratio": 0.5,
    "max_repeat": 5,
    "min_script_ratio": 0.3,
}


def test_each_noisy_pair_is_dropped_for_its_reason() -> None:
    check = PairFilter(DataConfig(**ALL_ON))  # type: ignore[arg-type]
    assert check.reasons == ("copy", "url", "digits", "repeated_chars", "wrong_script")
    for src, tgt, reason in NOISY:
        assert check.reason(src, tgt) == reason, (src, tgt)
    for src, tgt in CLEAN[:-1]:
        assert check.reason(src, tgt) is None, (src, tgt)


def test_copy_ignores_case_and_spaces() -> None:
    check = PairFilter(DataConfig(drop_copies=True))
    assert check.reason("OK", "ok") == "copy"
    assert check.reason("New York", "NewYork") == "copy"
    assert check.reason("OK", "好的") is None


def test_shares() -> None:
    assert script_share("abc 中文", "latin") == pytest.approx(3 / 5)
    assert script_share("我用Windows", "han") == pytest.approx(2 / 9)
    assert script_share("123 !?", "han") is None  # no letters: not judged
    assert digit_share("12 ab") == pytest.approx(2 / 4)
    assert digit_share("") == 0.0


def test_script_threshold_is_the_share_of_letters() -> None:
    pair = ("I use Windows", "我用Windows")  # 2 Han letters of 9 on the Chinese side
    assert PairFilter(DataConfig(min_script_ratio=0.2)).reason(*pair) is None
    assert PairFilter(DataConfig(min_script_ratio=0.25)).reason(*pair) == "wrong_script"


def test_languages_without_a_known_script_are_not_judged() -> None:
    check = PairFilter(DataConfig(src_lang="xx", tgt_lang="zh", min_script_ratio=0.9))
    assert check.reason("他们明天来", "他们明天来吗") is None
    assert check.reason("他们明天来", "They come") == "wrong_script"


def test_all_off_by_default_and_report_unchanged() -> None:
    assert not PairFilter(DataConfig())
    cleaner = Cleaner(DataConfig())
    list(cleaner(Pair(s, t, "f", 1) for s, t, _ in NOISY))
    assert cleaner.report()["dropped"] == {"empty": 0, "too_long": 0, "length_ratio": 0, "duplicate": 0}
    assert cleaner.kept == len(NOISY)


def test_cleaner_counts_every_drop_by_reason() -> None:
    cleaner = Cleaner(DataConfig(**ALL_ON))  # type: ignore[arg-type]
    rows = [(s, t) for s, t, _ in NOISY] + CLEAN + [("", "空")]
    kept = list(cleaner(Pair(s, t, "f", i) for i, (s, t) in enumerate(rows, 1)))
    assert [(p.src, p.tgt) for p in kept] == CLEAN[:-1]
    assert cleaner.report() == {
        "read": len(rows),
        "kept": len(CLEAN) - 1,
        "dropped": {
            "empty": 1,
            "too_long": 0,
            "length_ratio": 0,
            "copy": 2,  # "Hello there." and "OK"
            "url": 2,
            "digits": 1,
            "repeated_chars": 1,
            "wrong_script": 2,
            "duplicate": 0,
        },
    }


def test_dev_and_test_sets_are_never_filtered() -> None:
    cleaner = Cleaner(DataConfig(**ALL_ON), deduplicate=False, evaluation=True)  # type: ignore[arg-type]
    kept = list(cleaner(Pair(s, t, "f", 1) for s, t, _ in NOISY))
    assert len(kept) == len(NOISY)
    assert set(cleaner.report()["dropped"]) == {"empty", "too_long", "length_ratio", "duplicate"}


def test_langid_drops_a_side_in_another_language() -> None:
    check = PairFilter(DataConfig(langid=True))
    assert check.reasons == ("wrong_language",)
    french = "Je voudrais réserver une chambre pour deux nuits, s'il vous plaît."
    english = "I would like to book a room for two nights, please."
    assert check.reason(french, "我想订一个房间住两晚。") == "wrong_language"
    assert check.reason(english, "我想订一个房间住两晚。") is None
    assert check.reason("Merci beaucoup.", "非常感谢。") is None  # under 20 letters: not judged


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_digit_ratio", 1.5), ("max_digit_ratio", -0.1), ("max_repeat", -1), ("min_script_ratio", 2)],
)
def test_ranges_are_checked(tmp_path: Path, key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"data.{key}"):
        load_config(None, [f"data.{key}={value}"])


def test_prepare_reports_the_filter_drops(tmp_path: Path) -> None:
    corpus = tmp_path / "train.tsv"
    good = [
        f"Sentence number {word} is fine.\t第{word}句没有问题。" for word in ("one", "two", "three", "four")
    ]
    noisy = [f"{s}\t{t}" for s, t, _ in NOISY]
    corpus.write_text("\n".join(good + noisy) + "\n", encoding="utf-8")
    overrides = [f"data.corpus={corpus}", "data.dev_size=1", "data.test_size=1", "data.decontaminate=false"]
    overrides += [f"data.{key}={str(value).lower()}" for key, value in ALL_ON.items()]
    config = load_config(None, overrides)
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    report = write_splits(config.data, run)
    cleaning = report["cleaning"]["corpus"]
    assert cleaning["kept"] == len(good)
    assert cleaning["dropped"]["url"] == 2 and cleaning["dropped"]["wrong_script"] == 2
    assert sum(cleaning["dropped"].values()) == len(NOISY)
    assert sum(report["sentences"].values()) == len(good)
