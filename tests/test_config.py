"""Configs: YAML maps one to one onto dataclasses; unknown or mistyped keys are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiyan.config import Config, load_config
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
