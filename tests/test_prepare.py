"""prepare: clean, split, tokenize and binarize a corpus into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yiyan.config import Config, config_from_dict
from yiyan.data.binarize import BinarizedDataset
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import DataError, YiyanError
from yiyan.io import read_json
from yiyan.prepare import is_prepared, prepare, reservoir_sample, write_splits


def make_config(tmp_path: Path, tokenizer: dict[str, Any] | None = None, **data: Any) -> Config:
    raw: dict[str, Any] = {
        "run_dir": str(tmp_path / "run"),
        "data": {"dev_size": 20, "test_size": 20, **data},
        "tokenizer": {"vocab_size": 500, **(tokenizer or {})},
    }
    if tokenizer and tokenizer.get("joint") is False:
        raw["model"] = {"tie_embeddings": False}
    return config_from_dict(raw)


def write_tsv(path: Path, pairs: list[tuple[str, str]]) -> str:
    path.write_text("".join(f"{src}\t{tgt}\n" for src, tgt in pairs), encoding="utf-8")
    return str(path)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_prepare_end_to_end(tmp_path: Path, data_hsk_pairs: list[tuple[str, str]]) -> None:
    pairs = data_hsk_pairs[:300]
    bad = [("", "空"), (pairs[0][0], pairs[0][1]), ("x" * 500, "长"), ("A rather long sentence here.", "短")]
    corpus = write_tsv(tmp_path / "corpus.tsv", pairs + bad)
    config = make_config(tmp_path, corpus=corpus, max_length_ratio=8.0)
    logged: list[str] = []
    report = prepare(config, log=logged.append)

    run = tmp_path / "run"
    for name in [
        "train.en",
        "train.zh",
        "dev.en",
        "dev.zh",
        "test.en",
        "test.zh",
        "dev.ref.zh",
        "test.ref.zh",
    ]:
        assert (run / "data" / name).is_file(), name
    assert (run / "tokenizer" / "joint.model").is_file() and (run / "data" / "bin" / "meta.json").is_file()
    assert is_prepared(run) and read_json(run / "prepare_report.json") == report

    assert report["cleaning"]["corpus"] == {
        "source": corpus,
        "read": 304,
        "kept": 300,
        "dropped": {"empty": 1, "too_long": 1, "length_ratio": 1, "duplicate": 1},
    }
    # 260 pairs stay for train, minus those sharing a sentence with dev or test (decontamination)
    contaminated = report["decontamination"]["dropped"]
    assert contaminated["exclude"] == 0 and 0 < contaminated["dev"] + contaminated["test"] < 20
    train = 260 - contaminated["dev"] - contaminated["test"]
    assert report["sentences"] == {"train": train, "dev": 20, "test": 20}
    assert (
        report["tokenizer"]["joint"] and report["tokenizer"]["src_vocab_size"] <= 500 + 256
    )  # + byte pieces
    assert report["statistics"]["train"]["tgt"]["char_coverage"] == 1.0
    assert report["statistics"]["dev"]["src"]["tokens_per_sentence"] > 1
    assert report["tokens"]["dev"]["tgt"] > 20 and report["seconds"] >= 0
    assert any(f"train {train}, dev 20, test 20" in line for line in logged)

    splits = {
        s: list(zip(lines(run / f"data/{s}.en"), lines(run / f"data/{s}.zh"), strict=True))
        for s in report["sentences"]
    }
    everything = splits["train"] + splits["dev"] + splits["test"]
    assert len(set(everything)) == len(everything) and set(everything) <= set(pairs)  # disjoint
    assert len(pairs) - len(everything) == contaminated["dev"] + contaminated["test"]  # all but those
    assert lines(run / "data/dev.ref.zh") == [zh for _, zh in splits["dev"]]
    tokenizer = Tokenizer.load(run / "tokenizer")
    for split, texts in splits.items():
        dataset = BinarizedDataset(run / "data" / "bin", split)
        assert len(dataset) == len(texts)
        assert dataset.tgt(len(texts) - 1).tolist() == tokenizer.encode_tgt(texts[-1][1])


def test_split_is_deterministic(tmp_path: Path, data_hsk_pairs: list[tuple[str, str]]) -> None:
    corpus = write_tsv(tmp_path / "corpus.tsv", data_hsk_pairs[:200])

    def dev_for(seed: int, name: str) -> list[str]:
        config = make_config(tmp_path / name, corpus=corpus, split_seed=seed)
        write_splits(config.data, config.run_path)
        return lines(config.run_path / "data" / "dev.en")

    first = dev_for(1, "a")
    assert dev_for(1, "b") == first
    assert dev_for(2, "c") != first
    original_order = [en for en, _ in data_hsk_pairs[:200]]
    assert first == [en for en in original_order if en in first]  # held-out pairs keep corpus order


def test_reservoir_sample_is_uniform_and_complete() -> None:
    import random

    rest: list[int] = []
    sample = reservoir_sample(range(100), 10, random.Random(0), rest.append)
    assert len(sample) == 10 and sorted(sample + rest) == list(range(100))
    hits = [0] * 20
    for seed in range(2000):
        for item in reservoir_sample(range(20), 5, random.Random(seed), lambda _: None):
            hits[item] += 1
    assert all(400 < h < 600 for h in hits)  # each item: expected 2000 * 5/20 = 500


def test_explicit_splits_keep_untouched_references(
    tmp_path: Path, data_hsk_pairs: list[tuple[str, str]]
) -> None:
    train = write_tsv(tmp_path / "train.tsv", data_hsk_pairs[:100])
    raw = "你好，  世界\u200b！"
    long_pair = ("x" * 500, "长")  # too long and badly proportioned for training, kept in dev
    dev_pairs = [("Hello,  world!", raw), data_hsk_pairs[5], data_hsk_pairs[5], long_pair]
    dev = write_tsv(tmp_path / "dev.tsv", dev_pairs)
    config = make_config(tmp_path, corpus=None, train=train, dev=dev, test_size=10)
    report = write_splits(config.data, config.run_path)

    data = config.run_path / "data"
    assert lines(data / "dev.zh")[0] == "你好， 世界！"  # normalized (NFC keeps full-width punctuation)
    assert lines(data / "dev.ref.zh")[0] == raw
    assert lines(data / "dev.en") == ["Hello, world!", data_hsk_pairs[5][0], data_hsk_pairs[5][0], "x" * 500]
    assert report["cleaning"]["dev"]["dropped"] == {  # a dev/test set is never filtered
        "empty": 0,
        "too_long": 0,
        "length_ratio": 0,
        "duplicate": 0,
    }
    assert report["overlap_with_train"] == {"dev": 2}
    # test held out of train; the dev pair also in train is then dropped from train (decontamination)
    assert report["decontamination"]["dropped"] == {"dev": 1, "test": 0, "exclude": 0}
    assert report["sentences"] == {"train": 89, "dev": 4, "test": 10}
    assert set(report["cleaning"]) == {"train", "dev"}


def test_empty_splits_are_errors(tmp_path: Path, data_hsk_pairs: list[tuple[str, str]]) -> None:
    corpus = write_tsv(tmp_path / "corpus.tsv", data_hsk_pairs[:30])
    config = make_config(tmp_path, corpus=corpus)
    with pytest.raises(YiyanError, match=r"train split is empty.*30 pairs kept, 40 of them held out"):
        write_splits(config.data, config.run_path)
    assert not list((config.run_path / "data").iterdir())  # nothing half-written
    config = make_config(tmp_path, corpus=corpus, dev_size=0)
    with pytest.raises(YiyanError, match=r"dev split is empty.*dev_size is 0"):
        write_splits(config.data, config.run_path)


@pytest.mark.parametrize(("split", "line", "side"), [("dev", 2, "target"), ("test", 3, "source")])
def test_an_empty_pair_in_an_explicit_dev_or_test_set_is_refused_with_file_and_line(
    tmp_path: Path, data_hsk_pairs: list[tuple[str, str]], split: str, line: int, side: str
) -> None:
    corpus = write_tsv(tmp_path / "corpus.tsv", data_hsk_pairs[:60])
    pairs = list(data_hsk_pairs[100:103])
    pairs[line - 1] = ("a", " \u200b") if side == "target" else ("", "b")  # empty once normalized
    evaluation = write_tsv(tmp_path / f"{split}.tsv", pairs)
    config = make_config(tmp_path, corpus=None, train=corpus, **{split: evaluation})
    with pytest.raises(DataError, match=rf"{split}\.tsv:{line}: empty {side} in a dev/test set"):
        write_splits(config.data, config.run_path)


def test_reuse_a_tokenizer(
    tmp_path: Path, data_tokenizer: Tokenizer, data_hsk_pairs: list[tuple[str, str]]
) -> None:
    data_tokenizer.save(tmp_path / "pretrained")
    corpus = write_tsv(tmp_path / "corpus.tsv", data_hsk_pairs[2000:2150])  # new words, new characters
    config = make_config(tmp_path, corpus=corpus)
    logged: list[str] = []
    report = prepare(config, tokenizer_dir=tmp_path / "pretrained", log=logged.append)
    run = config.run_path
    assert (run / "tokenizer" / "joint.model").read_bytes() == (
        tmp_path / "pretrained" / "joint.model"
    ).read_bytes()
    assert report["tokenizer"]["reused_from"] == str(tmp_path / "pretrained")
    stats = report["statistics"]["train"]["tgt"]
    # byte fallback: unseen characters become bytes, not <unk>, and still count as uncovered
    assert stats["unk_rate"] == 0 and 0 < stats["char_coverage"] < 0.995 and stats["unknown_chars"]
    assert any(line.startswith("  warning: the vocabulary covers only") for line in logged)


def test_prepare_tatoeba_separate_bpe(tmp_path: Path, data_tatoeba: Path) -> None:
    with open(data_tatoeba / "train.tsv", "rb") as handle:  # a few hundred real lines, BOM included
        head = b"".join(handle.readline() for _ in range(400))
    (tmp_path / "tatoeba.tsv").write_bytes(head)
    config = make_config(
        tmp_path,
        {"joint": False, "type": "bpe", "vocab_size": 300, "tgt_vocab_size": 600},
        corpus=str(tmp_path / "tatoeba.tsv"),
    )
    report = prepare(config, workers=1, log=lambda _: None)
    run = config.run_path
    assert sorted(p.name for p in (run / "tokenizer").glob("*.model")) == ["src.model", "tgt.model"]
    assert not report["tokenizer"]["joint"]
    assert read_json(run / "data" / "bin" / "meta.json")["joint"] is False
    sources = [line for split in ("train", "dev", "test") for line in lines(run / "data" / f"{split}.en")]
    assert "Hi." in sources  # the first line, its BOM removed
    assert not any(line.startswith("\ufeff") for line in lines(run / "data" / "dev.ref.zh"))
