"""Learning-rate schedules: every schedule is defined for every config that loads."""

from __future__ import annotations

import math

import pytest

from yiyan.config import TrainingConfig, load_config
from yiyan.errors import ConfigError
from yiyan.training.schedule import check_schedule, learning_rate


def training(*overrides: str) -> TrainingConfig:
    return load_config(None, [f"training.{item}" for item in overrides]).training


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("budget", ["max_time=1200", "max_epochs=3", "max_steps=0", "max_steps=100"])
def test_decay_to_end_without_a_known_last_step_is_refused(schedule: str, budget: str) -> None:
    # max_steps=100 is not past warmup_steps=100: there would be nothing left to decay over
    with pytest.raises(
        ConfigError, match=rf"schedule {schedule} decays to 0 at training.max_steps.*set max_steps"
    ):
        training(f"schedule={schedule}", "warmup_steps=100", budget)


def test_linear_decays_to_zero_at_max_steps() -> None:
    config = training("schedule=linear", "warmup_steps=10", "max_steps=110", "learning_rate=0.001")
    rates = [learning_rate(config, step, config.max_steps) for step in (5, 10, 60, 110, 200)]
    assert rates == pytest.approx([0.0005, 0.001, 0.0005, 0.0, 0.0])


def test_cosine_is_half_way_at_the_middle_and_respects_the_floor() -> None:
    config = training(
        "schedule=cosine",
        "warmup_steps=0",
        "max_steps=100",
        "learning_rate=0.001",
        "min_learning_rate=0.0001",
    )
    assert learning_rate(config, 1, 100) == pytest.approx(0.001 * 0.5 * (1 + math.cos(math.pi * 0.01)))
    assert learning_rate(config, 50, 100) == pytest.approx(0.0005)
    assert learning_rate(config, 100, 100) == pytest.approx(0.0001)  # 0, raised to the floor


def test_inverse_sqrt_without_warmup_is_refused() -> None:
    with pytest.raises(ConfigError, match="inverse_sqrt needs training.warmup_steps >= 1"):
        training("schedule=inverse_sqrt", "warmup_steps=0")


def test_inverse_sqrt_with_warmup_one_starts_at_the_peak() -> None:
    config = training("warmup_steps=1", "learning_rate=0.001")
    assert [learning_rate(config, step) for step in (1, 4, 100)] == pytest.approx([0.001, 0.0005, 0.0001])


def test_warmup_zero_means_the_first_update_uses_the_peak() -> None:
    config = training("schedule=constant", "warmup_steps=0", "learning_rate=0.001")
    assert [learning_rate(config, step) for step in (1, 2, 10_000)] == [0.001] * 3


def test_a_config_built_without_validation_is_still_checked() -> None:
    # e.g. dataclasses.replace (the fine-tune scratch baseline): the trainer calls check_schedule
    # and learning_rate refuses rather than silently keeping a constant rate
    config = TrainingConfig(schedule="cosine", warmup_steps=10, max_time=60.0)
    with pytest.raises(ConfigError, match="max_steps"):
        check_schedule(config)
    with pytest.raises(ConfigError, match="max_steps"):
        learning_rate(config, 20, config.max_steps)
