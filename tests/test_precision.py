"""Mixed precision: `training.precision` auto | fp32 | bf16 | fp16 and CPU bf16 autocast training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scale_helpers import records, run_config
from yiyan.errors import YiyanError
from yiyan.runtime import precision_name, resolve_precision
from yiyan.training.trainer import Trainer

CPU = torch.device("cpu")


def test_bf16_autocast_on_cpu_trains_and_lowers_the_loss(
    tmp_path: Path, data_prepared_tiny_run: Path
) -> None:
    config = run_config(
        data_prepared_tiny_run,
        tmp_path / "run",
        "training.precision=bf16",
        "training.max_steps=16",
        "training.eval_every=8",
        "training.max_length=16",
        "training.batch_tokens=256",
    )
    threads = torch.get_num_threads()
    try:
        trainer = Trainer(config, quiet=True)
        assert trainer.amp_dtype is torch.bfloat16
        assert not trainer.scaler.is_enabled()  # no gradient scaler with bf16
        summary = trainer.train()
    finally:
        torch.set_num_threads(threads)
    assert summary["steps"] == 16
    losses = [r["loss"] for r in records(tmp_path / "run", "train")]
    assert all(loss == loss for loss in losses)  # no NaN
    assert sum(losses[-4:]) < sum(losses[:4])
    dev = records(tmp_path / "run", "dev")
    assert dev[-1]["loss"] < dev[0]["loss"]
    assert "precision bf16" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # fp32 master weights


def test_explicit_precisions() -> None:
    assert resolve_precision("fp32", CPU) is None
    assert resolve_precision("bf16", CPU) is torch.bfloat16
    with pytest.raises(YiyanError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(YiyanError, match="unknown precision"):
        resolve_precision("fp8", CPU)
    assert [precision_name(d) for d in (None, torch.bfloat16, torch.float16)] == ["fp32", "bf16", "fp16"]


def test_auto_on_cpu_is_fp32() -> None:
    # measured: bf16 autocast is no faster than fp32 on CPU, even with AMX (docs/scaling.md)
    assert resolve_precision("auto", CPU) is None


@pytest.mark.parametrize(("bf16_supported", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_on_a_gpu_follows_its_bf16_support(
    monkeypatch: pytest.MonkeyPatch, bf16_supported: bool, expected: torch.dtype
) -> None:
    # resolve_precision asks torch.cuda.is_bf16_supported(); a torch.device("cuda") needs no GPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    assert resolve_precision("auto", torch.device("cuda")) is expected
    if not bf16_supported:
        with pytest.raises(YiyanError, match="does not support bfloat16"):
            resolve_precision("bf16", torch.device("cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_on_gpu_prefers_bf16() -> None:  # pragma: no cover - no GPU on the CI machine
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert resolve_precision("auto", torch.device("cuda")) is expected
