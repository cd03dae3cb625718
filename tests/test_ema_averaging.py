"""EMA of the weights (training.ema_decay) and checkpoint averaging (training.keep_checkpoints,
`yiyan average`): the EMA follows its formula, is what the run keeps as its model, and resumes bit
for bit; kept checkpoints average exactly into a run that translates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from model_helpers import tiny_model
from run_helpers import tiny_config
from scale_helpers import EXACT, run_config
from yiyan.averaging import KEEP_DIR, CheckpointKeeper, read_index
from yiyan.checkpoint import load_model
from yiyan.cli import main
from yiyan.config import load_config
from yiyan.errors import ConfigError
from yiyan.io import read_json
from yiyan.training.ema import ExponentialMovingAverage
from yiyan.training.trainer import Trainer
from yiyan.translator import Translator

SMALL = ("training.max_length=12", "training.batch_tokens=256", "training.eval_every=8")


def train(template: Path, run: Path, *overrides: str, resume: bool = False) -> dict[str, Any]:
    """Train a tiny run on the prepared template data (a resumed run already holds that data)."""
    settings = (*SMALL, *overrides)
    config = tiny_config(run, *EXACT, *settings) if resume else run_config(template, run, *settings)
    return Trainer(config, resume=resume, quiet=True).train()


def dev_records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "dev"]


# ---------------------------------------------------------------- EMA unit behaviour


def test_ema_follows_its_formula_with_warmup_and_swaps_exactly() -> None:
    torch.manual_seed(0)
    model = tiny_model("transformer")
    ema = ExponentialMovingAverage(model, decay=0.9)
    params = [p for _, p in model.named_parameters()]
    expected = [p.detach().clone() for p in params]
    for step in (1, 2, 3, 50):
        with torch.no_grad():
            for p in params:
                p.add_(torch.randn_like(p))
        d = min(0.9, (1 + step) / (10 + step))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, params, strict=True)]
        ema.update(step)
    assert ema.decay_at(1) == pytest.approx(2 / 11) and ema.decay_at(1000) == 0.9
    for shadow, want in zip(ema.shadow, expected, strict=True):
        torch.testing.assert_close(shadow, want, rtol=1e-5, atol=1e-6)
    trained = [p.detach().clone() for p in params]
    shadow = [s.clone() for s in ema.shadow]
    ema.swap()
    assert all(torch.equal(p, s) for p, s in zip(params, shadow, strict=True))
    ema.swap()
    assert all(torch.equal(p, t) for p, t in zip(params, trained, strict=True))
    assert all(torch.equal(s, t) for s, t in zip(ema.shadow, shadow, strict=True))


@pytest.mark.parametrize(
    "override", ["training.ema_decay=1.0", "training.ema_decay=-0.1", "training.keep_checkpoints=-1"]
)
def test_out_of_range_values_are_config_errors(override: str) -> None:
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        load_config(None, [override])


# ---------------------------------------------------------------- EMA in training


def test_ema_resume_is_bit_identical_to_an_uninterrupted_run(
    tmp_path: Path, data_prepared_tiny_run: Path
) -> None:
    ema = "training.ema_decay=0.9"
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(data_prepared_tiny_run, straight, ema, "training.max_steps=24")
    train(data_prepared_tiny_run, resumed, ema, "training.max_steps=16")
    assert read_json(resumed / "checkpoints" / "last" / "state.json")["train_state"]["step"] == 16
    train(data_prepared_tiny_run, resumed, ema, "training.max_steps=24", resume=True)

    for name in ("ema.safetensors", "model.safetensors"):
        a = load_file(str(straight / "checkpoints" / "last" / name))
        b = load_file(str(resumed / "checkpoints" / "last" / name))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}:{key} differs after resume"
    trained = load_file(str(straight / "checkpoints" / "last" / "model.safetensors"))
    shadow = load_file(str(straight / "checkpoints" / "last" / "ema.safetensors"))
    assert any(not torch.equal(trained[k], shadow[k]) for k in shadow)  # the average is not the weights


def test_the_run_keeps_the_ema_weights_as_its_model(tmp_path: Path, data_prepared_tiny_run: Path) -> None:
    run = tmp_path / "run"
    train(
        data_prepared_tiny_run,
        run,
        "training.ema_decay=0.8",
        "training.max_steps=12",
        "training.eval_every=12",
    )
    best = dict(load_model(run).named_parameters())  # as translate loads it (tied weights once)
    shadow = load_file(str(run / "checkpoints" / "last" / "ema.safetensors"))
    assert best.keys() == shadow.keys()
    for key, value in best.items():
        assert torch.equal(value.detach(), shadow[key]), key
    dev = dev_records(run)
    assert dev[-1]["loss"] != dev[-1]["trained_loss"]  # both weight sets validated, and they differ


# ---------------------------------------------------------------- kept checkpoints and averaging


def test_keep_last_n_and_average_them_into_a_run(
    tmp_path: Path, data_prepared_tiny_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    train(
        data_prepared_tiny_run,
        run,
        "training.keep_checkpoints=2",
        "training.max_steps=24",
        "training.eval_bleu=true",
    )
    entries = read_index(run)
    assert [e["step"] for e in entries] == [16, 24]
    assert sorted(p.name for p in (run / KEEP_DIR).glob("step-*")) == ["step-0000016", "step-0000024"]
    assert all(isinstance(e["dev_bleu"], float) and e["dev_loss"] > 0 for e in entries)

    # --last 1 is the run's last trained weights
    assert main(["average", str(run), "--last", "1", "-o", str(tmp_path / "last1")]) == 0
    last1 = load_file(str(tmp_path / "last1" / "model.safetensors"))
    trained = load_file(str(run / "checkpoints" / "last" / "model.safetensors"))
    assert all(torch.equal(last1[k], trained[k]) for k in last1)

    # --last 2 is the element-wise mean
    out = tmp_path / "avg"
    assert main(["average", str(run), "--last", "2", "-o", str(out)]) == 0
    assert "steps 16, 24" in capsys.readouterr().out
    kept = [load_file(str(run / KEEP_DIR / e["dir"] / "model.safetensors")) for e in entries]
    averaged = load_file(str(out / "model.safetensors"))
    for key, value in averaged.items():
        torch.testing.assert_close(value, (kept[0][key] + kept[1][key]) / 2, rtol=0, atol=1e-7)
    assert any(not torch.equal(kept[0][k], kept[1][k]) for k in averaged)  # a real mean of two
    assert read_json(out / "average.json")["method"] == "last 2"
    (hyp,) = Translator.load(out, device="cpu").translate(["I love you."], beam=2)
    assert isinstance(hyp, str)

    # --best 1 picks the checkpoint with the highest dev BLEU (the newer one on a tie)
    assert main(["average", str(run), "--best", "1", "-o", str(tmp_path / "best1")]) == 0
    chosen = read_json(tmp_path / "best1" / "average.json")["checkpoints"]
    top = max(entries, key=lambda e: (e["dev_bleu"], e["step"]))
    assert [c["step"] for c in chosen] == [top["step"]]


def test_resume_forgets_checkpoints_kept_after_the_resumed_step(
    tmp_path: Path, data_prepared_tiny_run: Path
) -> None:
    run = tmp_path / "run"
    train(data_prepared_tiny_run, run, "training.keep_checkpoints=5", "training.max_steps=16")
    # as if a crash came between keeping step 24's weights and writing its training checkpoint
    CheckpointKeeper(run, 5).add(tiny_model("transformer"), 24, {"loss": 1.0, "bleu": None})
    assert [e["step"] for e in read_index(run)] == [8, 16, 24]
    train(data_prepared_tiny_run, run, "training.keep_checkpoints=5", "training.max_steps=24", resume=True)
    assert [e["step"] for e in read_index(run)] == [8, 16, 24]
    restored = load_file(str(run / KEEP_DIR / "step-0000024" / "model.safetensors"))
    trained = load_file(str(run / "checkpoints" / "last" / "model.safetensors"))
    assert all(torch.equal(restored[k], trained[k]) for k in restored)  # the resumed run's, not the stale one


@pytest.fixture(scope="module")
def run_without_bleu(tmp_path_factory: pytest.TempPathFactory, data_prepared_tiny_run: Path) -> Path:
    """A run that kept 2 checkpoints, validated by dev loss only (no BLEU)."""
    run = tmp_path_factory.mktemp("kept") / "run"
    train(data_prepared_tiny_run, run, "training.keep_checkpoints=2", "training.max_steps=16")
    return run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--last", "3"], "asked to average 3 checkpoints, but the run kept only 2"),
        (["--best", "1"], "--best needs dev BLEU"),
        (["--last", "0"], "must be >= 1"),
        (["--last", "1", "-o", "{run}"], "is not empty"),
    ],
)
def test_average_bad_requests_are_one_line_errors(
    run_without_bleu: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = [arg.format(run=run_without_bleu) for arg in args]
    output = [] if "-o" in argv else ["-o", str(tmp_path / "out")]
    assert main(["average", str(run_without_bleu), *argv, *output]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_average_refuses_a_run_without_kept_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    assert main(["average", str(run), "--last", "1", "-o", str(tmp_path / "o")]) == 2
    assert "keep_checkpoints" in capsys.readouterr().err
