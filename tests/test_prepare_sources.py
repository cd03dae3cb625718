"""prepare with several corpora (weights), Chinese script normalisation and decontamination."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yiyan.config import config_from_dict, load_config
from yiyan.data.decontaminate import sentence_key
from yiyan.errors import ConfigError
from yiyan.prepare import summary, write_splits


def write_tsv(path: Path, pairs: list[tuple[str, str]]) -> str:
    path.write_text("".join(f"{src}\t{tgt}\n" for src, tgt in pairs), encoding="utf-8")
    return str(path)


def numbered(prefix: str, count: int) -> list[tuple[str, str]]:
    return [(f"{prefix} sentence number {i}.", f"{prefix}句子{i}号。") for i in range(count)]


def split(tmp_path: Path, **data: Any) -> tuple[dict[str, Any], Path]:
    config = config_from_dict({"run_dir": str(tmp_path / "run"), "data": data})
    return write_splits(config.data, config.run_path), config.run_path / "data"


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_weights_repeat_or_subsample_each_corpus(tmp_path: Path) -> None:
    a = write_tsv(tmp_path / "a.tsv", numbered("alpha", 40))
    b = write_tsv(tmp_path / "b.tsv", numbered("beta", 400))
    c = write_tsv(tmp_path / "c.tsv", numbered("gamma", 30))
    corpus = [{"corpus": a, "weight": 3}, {"corpus": b, "weight": 0.5}, c]
    report, data = split(tmp_path, corpus=None, train=corpus, dev=c, test=c, decontaminate=False)
    train = lines(data / "train.en")
    count = {name: sum(line.startswith(name) for line in train) for name in ("alpha", "beta", "gamma")}
    assert count["alpha"] == 120 and count["gamma"] == 30  # whole weights: exact copies
    assert 160 < count["beta"] < 240  # 0.5: each pair kept with probability 1/2
    assert report["cleaning"]["train"]["source"] == f"{a}×3 + {b}×0.5 + {c}"
    again, _ = split(tmp_path, corpus=None, train=corpus, dev=c, test=c, decontaminate=False)
    assert again["sentences"] == report["sentences"]  # seeded: the same split every time


def test_held_out_pairs_come_from_every_corpus_once(tmp_path: Path) -> None:
    a = write_tsv(tmp_path / "a.tsv", numbered("alpha", 200))
    b = write_tsv(tmp_path / "b.tsv", numbered("beta", 200))
    corpus = [{"corpus": a, "weight": 2}, b]
    report, data = split(tmp_path, corpus=corpus, dev_size=40, test_size=40)
    held = lines(data / "dev.en") + lines(data / "test.en")
    assert len(set(held)) == 80 and {line.split()[0] for line in held} == {"alpha", "beta"}
    train = lines(data / "train.en")
    assert not set(train) & set(held)
    held_alpha = sum(line.startswith("alpha") for line in held)
    assert report["sentences"]["train"] == len(train) == 2 * (200 - held_alpha) + (200 - (80 - held_alpha))


def test_traditional_chinese_becomes_simplified_and_is_counted(tmp_path: Path) -> None:
    pairs = [("We try.", "我們試試看！"), ("I love you.", "我爱你。"), ("Hair.", "頭髮"), *numbered("x", 20)]
    corpus = write_tsv(tmp_path / "c.tsv", pairs)
    dev = write_tsv(tmp_path / "dev.tsv", [("Afterwards.", "後來")])
    report, data = split(tmp_path, train=corpus, corpus=None, dev=dev, test_size=2, split_seed=3)
    everything = lines(data / "train.zh") + lines(data / "test.zh")
    assert "我们试试看！" in everything and "头发" in everything
    assert not {"我們試試看！", "頭髮"} & set(everything)
    assert lines(data / "dev.zh") == ["后来"] and lines(data / "dev.ref.zh") == ["后来"]  # references too
    assert report["simplified"] == {"train": {"tgt": 2}, "dev": {"tgt": 1}}
    assert any("converted to simplified Chinese: tgt 2" in line for line in _summary(report))
    kept, data = split(tmp_path, train=corpus, corpus=None, dev=dev, test_size=2, zh_script="keep")
    assert kept["simplified"] == {"train": {}, "dev": {}} and lines(data / "dev.zh") == ["後來"]
    with pytest.raises(ConfigError, match="data.zh_script"):
        load_config(None, ["data.zh_script=traditional"])


def _summary(report: dict[str, Any]) -> list[str]:
    """summary() on a write_splits report (the parts a full prepare adds, left empty)."""
    full = {**report, "src_lang": "en", "tgt_lang": "zh", "seconds": 0, "statistics": {}}
    full["tokenizer"] = {"reused_from": "x", "joint": True, "src_vocab_size": 1, "tgt_vocab_size": 1}
    return summary(full)


def test_decontamination_drops_train_pairs_sharing_a_side_with_evaluation_sets(tmp_path: Path) -> None:
    train_pairs = [
        ("I love you.", "我爱你。"),  # source in dev (other translation there)
        ("i love you!", "我很爱你。"),  # the same source once case and punctuation are ignored
        ("Thanks.", "谢谢你。"),  # target in test
        ("Good night.", "晚安。"),  # in the excluded corpus
        ("...", "……"),  # only punctuation: matches nothing, kept
        *numbered("clean", 10),
    ]
    train = write_tsv(tmp_path / "train.tsv", train_pairs)
    dev = write_tsv(tmp_path / "dev.tsv", [("I love you.", "我爱您。")])
    test = write_tsv(tmp_path / "test.tsv", [("Thank you.", "谢谢你。")])
    exclude = write_tsv(tmp_path / "exclude.tsv", [("Good night!", "睡个好觉。")])
    common = {"corpus": None, "train": train, "dev": dev, "test": test, "ratio_min_chars": 100}
    report, data = split(tmp_path, **common, exclude=[exclude])
    assert report["decontamination"] == {
        "enabled": True,
        "dropped": {"dev": 2, "test": 1, "exclude": 1},
        "exclude": exclude,
    }
    assert lines(data / "train.en") == ["...", *(src for src, _ in numbered("clean", 10))]
    assert any("in dev 2, in test 1, in exclude 1" in line for line in _summary(report))
    off, data = split(tmp_path, **common, exclude=[exclude], decontaminate=False)
    assert off["decontamination"]["dropped"] == {"dev": 0, "test": 0, "exclude": 0}
    assert len(lines(data / "train.en")) == len(train_pairs)


def test_sentence_key_ignores_case_punctuation_and_spaces() -> None:
    assert sentence_key("I love  you.") == sentence_key("i love you!") == "iloveyou"
    assert sentence_key("我爱你。") == sentence_key("我爱你！") == "我爱你"
    assert sentence_key("……") == ""
