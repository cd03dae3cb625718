"""The cheap-mask CPU dropout (models/dropout.py): its rate, scaling, gradient and seeding."""

from __future__ import annotations

import pytest
import torch

from yiyan.models.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drops_the_configured_share_and_keeps_the_mean(p: float) -> None:
    torch.manual_seed(0)
    out = dropout(torch.ones(1000, 1000), p, training=True)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 0.003  # 10⁶ draws: the standard error is < 0.0005
    assert abs(out.mean().item() - 1.0) < 0.005  # inverted dropout: E[out] = x
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)), rtol=1e-4)


def test_gradient_is_the_same_mask() -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    out = dropout(x, 0.2, training=True)
    out.sum().backward()
    assert x.grad is not None
    mask = out.detach() / x.detach()
    assert torch.allclose(x.grad, mask, atol=1e-5)


def test_seeded_and_off_outside_training() -> None:
    x = torch.randn(7, 13)  # an odd size: the mask is cut from whole 64-bit words
    torch.manual_seed(5)
    first = dropout(x, 0.5, training=True)
    torch.manual_seed(5)
    assert torch.equal(first, dropout(x, 0.5, training=True))
    assert not torch.equal(first, dropout(x, 0.5, training=True))  # the generator moved on
    layer = Dropout(0.5).eval()
    assert layer(x) is x
    assert dropout(x, 0.0, training=True) is x
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))
    assert torch.equal(dropout(x, 0.999995, training=True), torch.zeros_like(x))  # rounds to "all bits drop"


def test_bf16_input_keeps_its_dtype_and_rate() -> None:
    torch.manual_seed(2)
    out = dropout(torch.ones(500, 500, dtype=torch.bfloat16), 0.1, training=True)
    assert out.dtype == torch.bfloat16
    assert abs((out == 0).float().mean().item() - 0.1) < 0.005


def test_rate_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        Dropout(1.5)
