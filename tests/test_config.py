"""Configs: YAML maps one to one onto dataclasses; unknown or mistyped keys are errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from yiyan.config import RANGES, Config, Range, check_ranges, load_config
from yiyan.errors import ConfigError

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, Config)


def test_defaults_round_trip_through_dict() -> None:
    config = load_config(None)
    again = load_config(None, [f"model.d_model={config.model.d_model * 2}"])
    assert again.model.d_model == 2 * config.model.d_model
    assert config.to_dict()["training"]["batch_tokens"] == 4096


def test_unknown_key_is_named_with_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  learning_rat: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'training.learning_rat'.*learning_rate"):
        load_config(path)


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config key 'optimiser'"):
        load_config(write(tmp_path, "optimiser: {}\n"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("training:\n  batch_tokens: lots\n", "training.batch_tokens"),
        ("model:\n  type: lstm\n", "model.type"),
        ("model:\n  dropout: [0.1]\n", "model.dropout"),
        ("training:\n  betas: 0.9\n", "training.betas"),
        ("model:\n  bidirectional: 1\n", "model.bidirectional"),
    ],
)
def test_wrong_type_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write(tmp_path, text))


def test_int_accepted_for_float(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "training:\n  learning_rate: 1\n")).training.learning_rate == 1.0


def test_cross_field_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tie_embeddings needs tokenizer.joint"):
        load_config(write(tmp_path, "tokenizer:\n  joint: false\n"))
    with pytest.raises(ConfigError, match="divisible"):
        load_config(write(tmp_path, "model:\n  d_model: 100\n  heads: 3\n"))
    with pytest.raises(ConfigError, match="either 'corpus'"):
        load_config(write(tmp_path, "data:\n  train: a.tsv\n"))


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model: [\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_override_parses_yaml_values() -> None:
    config = load_config(None, ["training.betas=[0.9, 0.99]", "data.corpus=null", "data.train=x.tsv"])
    assert config.training.betas == [0.9, 0.99]
    assert config.data.train == "x.tsv"
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["training.max_steps"])


# --- value ranges ------------------------------------------------------------------------


def numeric_keys(cls: type, prefix: str = "") -> list[str]:
    """Dotted keys of every int/float field (also inside lists and optionals) of a config class."""
    keys = []
    for name, hint in get_type_hints(cls).items():
        if dataclasses.is_dataclass(hint):
            keys += numeric_keys(hint, f"{prefix}{name}.")
            continue
        parts = {hint, *get_args(hint), *(a for arg in get_args(hint) for a in get_args(arg))}
        if parts & {int, float}:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_numeric_field_has_a_range() -> None:
    keys = numeric_keys(Config)
    assert "training.eval_every" in keys and "training.betas" in keys  # the walk finds them
    missing = [key for key in keys if key not in RANGES]
    assert not missing, f"declare a range in yiyan.config.RANGES for {missing}"
    assert not set(RANGES) - set(keys), "RANGES names keys that are not numeric config fields"


def test_defaults_are_in_range() -> None:
    check_ranges(Config())  # raises on a default outside its own range


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.eval_every=0", r"'training.eval_every': 0 is out of range \(must be >= 1\)"),
        ("training.log_every=0", r"'training.log_every': 0 .*>= 1"),
        ("training.learning_rate=-0.001", r"'training.learning_rate': -0.001 .*in \[0, 1\]"),
        ("training.learning_rate=.nan", r"'training.learning_rate': nan"),
        ("training.betas=[0.9, 1.0]", r"'training.betas'\[1\]: 1.0 .*in \[0, 1\)"),
        ("training.max_time=-5", r"'training.max_time': -5.0 .*>= 0"),
        ("decoding.beam=0", r"'decoding.beam': 0 .*>= 1"),
        ("decoding.batch_size=0", r"'decoding.batch_size': 0 .*>= 1"),
        ("decoding.max_length_ratio=0", r"'decoding.max_length_ratio': 0.0 .*> 0"),
        ("model.dropout=1.0", r"'model.dropout': 1.0 .*in \[0, 1\)"),
        ("model.heads=0", r"'model.heads': 0 .*>= 1"),
        ("tokenizer.character_coverage=0", r"'tokenizer.character_coverage': 0.0 .*in \(0, 1\]"),
        ("tokenizer.tgt_vocab_size=3", r"'tokenizer.tgt_vocab_size': 3 .*>= 16"),
        ("data.dev_size=-1", r"'data.dev_size': -1 .*>= 0"),
        ("finetune.mix_ratio=1.0", r"'finetune.mix_ratio': 1.0 .*in \[0, 1\)"),
    ],
)
def test_out_of_range_values_name_key_and_range(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_range_is_checked_in_yaml_files_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'training.eval_every': 0 is out of range"):
        load_config(write(tmp_path, "training:\n  eval_every: 0\n"))


@pytest.mark.parametrize(
    "override",
    ["training.learning_rate=0", "model.dropout=0", "tokenizer.tgt_vocab_size=null", "decoding.beam=1"],
)
def test_values_on_the_edge_of_their_range_load(override: str) -> None:
    load_config(None, [override])


def test_range_text() -> None:
    assert [str(r) for r in (Range(1), Range(0, low_open=True), Range(0, 1, high_open=True))] == [
        ">= 1",
        "> 0",
        "in [0, 1)",
    ]
    assert True not in Range(0) and "1" not in Range(0)  # a bool or a string is never a number here
