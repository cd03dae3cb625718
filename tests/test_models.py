"""Models (Transformer, GRU + Bahdanau) behind one interface, and the label-smoothed loss."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from model_helpers import VOCAB, random_sentences, sources, targets, tiny_model
from yiyan.errors import ConfigError
from yiyan.models import RNNModel, Seq2SeqModel, Transformer, build_model
from yiyan.models.transformer import sinusoidal_positions
from yiyan.training import loss as loss_module
from yiyan.training.loss import label_smoothed_nll, projected_loss
from yiyan.vocab import PAD_ID

KINDS = ["transformer", "rnn"]
# every architecture option at least once: norms, activations, output layers, directions, depths
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("transformer", {"norm": "pre", "activation": "relu"}),
    ("transformer", {"norm": "post", "activation": "gelu", "scale_embeddings": False}),
    ("transformer", {"norm": "pre", "activation": "swish", "tie_embeddings": False}),
    ("rnn", {"output_layer": "tanh"}),
    ("rnn", {"output_layer": "maxout", "bidirectional": False, "encoder_layers": 1}),
    ("rnn", {"output_layer": "none", "decoder_layers": 1, "tie_embeddings": False}),
]
VARIANT_IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in options.items())}" for kind, options in VARIANTS]


def batch(seed: int = 0, size: int = 5) -> tuple[torch.Tensor, ...]:
    """A padded batch of random sources and targets of different lengths."""
    src, src_mask = sources(random_sentences(size, seed))
    tgt_in, tgt_out = targets(random_sentences(size, seed + 1))
    return src, src_mask, tgt_in, tgt_out


@pytest.mark.parametrize("kind", KINDS)
def test_shapes(kind: str) -> None:
    model = tiny_model(kind)
    src, src_mask, tgt_in, _ = batch()
    B, S = src.shape
    hidden = model(src, src_mask, tgt_in)
    assert hidden.shape == (B, tgt_in.size(1), 32)
    assert model.logits(hidden).shape == (B, tgt_in.size(1), VOCAB)
    memory = model.encode(src, src_mask)
    state = model.init_state(memory, src_mask)
    log_probs, state, attention = model.decode_step(tgt_in[:, 0], memory, src_mask, state)
    assert log_probs.shape == (B, VOCAB) and log_probs.dtype == torch.float32 and attention is None
    _, _, attention = model.decode_step(tgt_in[:, 1], memory, src_mask, state, need_attention=True)
    assert attention is not None
    assert attention.shape == ((B, 2, 4, S) if kind == "transformer" else (B, 1, 1, S))
    assert all(t.size(0) == B for t in [*state.source.values(), *state.history.values()])


@pytest.mark.parametrize("kind", KINDS)
def test_model_init_normal_draws_every_matrix_from_n_0_002(kind: str) -> None:
    xavier, normal = tiny_model(kind), tiny_model(kind, init="normal")
    for (name, a), (_, b) in zip(xavier.named_parameters(), normal.named_parameters(), strict=True):
        if a.dim() > 1:
            assert abs(float(b.detach().std()) - 0.02) < 0.006, name
            assert float(a.detach().std()) > 0.03, (
                name
            )  # Xavier-uniform: sqrt(2 / (fan_in + fan_out)), tiny fans
        elif name.endswith("bias") and "norm" not in name:
            assert float(b.detach().abs().max()) == 0.0, name


def test_build_model_picks_the_architecture() -> None:
    assert isinstance(tiny_model("transformer"), Transformer)
    assert isinstance(tiny_model("rnn"), RNNModel)


@pytest.mark.parametrize("kind", KINDS)
def test_tied_embeddings_are_one_matrix(kind: str) -> None:
    tied, untied = tiny_model(kind), tiny_model(kind, tie_embeddings=False)
    matrix = tied.src_embedding.weight
    assert tied.tgt_embedding.weight is matrix and tied.output_projection.weight is matrix
    count = sum(p.numel() for p in tied.parameters())
    assert sum(p.numel() for p in untied.parameters()) == count + 2 * VOCAB * 32
    src, src_mask, tgt_in, _ = batch()
    tied.logits(tied(src, src_mask, tgt_in)).sum().backward()
    assert matrix.grad is not None and matrix.grad[src.unique()].abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_untied_vocabularies_may_differ(kind: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model(kind, tie_embeddings=False).config, VOCAB, 40)
    assert model.src_vocab_size == VOCAB and model.tgt_vocab_size == 40
    src, src_mask, tgt_in, _ = batch()
    assert model.logits(model(src, src_mask, tgt_in)).shape[-1] == 40
    assert model.src_embedding.weight.data_ptr() != model.tgt_embedding.weight.data_ptr()


@pytest.mark.parametrize("kind", KINDS)
def test_tying_different_vocabularies_is_a_config_error(kind: str) -> None:
    with pytest.raises(ConfigError, match="tie_embeddings"):
        build_model(tiny_model(kind).config, 30, 17)


def test_post_norm_has_no_final_norm_and_differs_from_pre_norm() -> None:
    pre, post = tiny_model("transformer", norm="pre"), tiny_model("transformer", norm="post")
    assert isinstance(pre.encoder_norm, torch.nn.LayerNorm) and isinstance(
        post.encoder_norm, torch.nn.Identity
    )
    src, src_mask, tgt_in, _ = batch()
    assert not torch.allclose(pre(src, src_mask, tgt_in), post(src, src_mask, tgt_in))


def test_sinusoidal_positions() -> None:
    table = sinusoidal_positions(50, 16)
    assert torch.allclose(table[0, 0::2], torch.zeros(8)) and torch.allclose(table[0, 1::2], torch.ones(8))
    assert torch.isclose(table[7, 2], torch.sin(torch.tensor(7 / 10000 ** (2 / 16))))
    assert sinusoidal_positions(5, 7).shape == (5, 7)  # odd width


@pytest.mark.parametrize(("kind", "options"), VARIANTS, ids=VARIANT_IDS)
def test_decode_step_equals_the_full_forward(kind: str, options: dict[str, Any]) -> None:
    """Feeding the target one token at a time gives the teacher-forced log-probs at every position."""
    model = tiny_model(kind, **options)
    src, src_mask, tgt_in, _ = batch(seed=3)
    with torch.no_grad():
        full = model.log_probs(model(src, src_mask, tgt_in))
        memory = model.encode(src, src_mask)
        state = model.init_state(memory, src_mask)
        explicit = model.init_state(memory, src_mask)
        for t in range(tgt_in.size(1)):
            log_probs, state, _ = model.decode_step(tgt_in[:, t], memory, src_mask, state)
            torch.testing.assert_close(log_probs, full[:, t], atol=1e-5, rtol=0)
            # the explicit softmax path (attention weights asked for) computes the same thing
            with_weights, explicit, _ = model.decode_step(tgt_in[:, t], memory, src_mask, explicit, True)
            torch.testing.assert_close(with_weights, log_probs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_long_incremental_decoding_with_reorders_equals_the_full_forward(kind: str) -> None:
    """21 steps (the Transformer's key/value cache grows twice, at 8 and 16 positions), the rows
    permuted every third step (reorder_state copies the cache): still the teacher-forced log-probs."""
    model = tiny_model(kind)
    src, src_mask = sources(random_sentences(3, seed=5))
    tgt_in, _ = targets(random_sentences(3, seed=6, lengths=(20, 20)))
    with torch.no_grad():
        full = model.log_probs(model(src, src_mask, tgt_in))
        memory = model.encode(src, src_mask)
        state = model.init_state(memory, src_mask)
        order, shift = torch.arange(3), torch.tensor([1, 2, 0])
        for t in range(tgt_in.size(1)):
            log_probs, state, _ = model.decode_step(tgt_in[order, t], memory[order], src_mask[order], state)
            torch.testing.assert_close(log_probs, full[order, t], atol=1e-5, rtol=0)
            assert state.steps == t + 1
            if t % 3 == 1:
                state, order = model.reorder_state(state, shift), order[shift]


@pytest.mark.parametrize("kind", KINDS)
def test_attention_rows_sum_to_one_and_padding_gets_zero(kind: str) -> None:
    model = tiny_model(kind)
    src, src_mask, tgt_in, _ = batch()
    assert not src_mask.all()  # the batch has padding
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        state = model.init_state(memory, src_mask)
        for t in range(3):
            _, state, attention = model.decode_step(
                tgt_in[:, t], memory, src_mask, state, need_attention=True
            )
            assert attention is not None
            torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:-1]))
            assert (attention.permute(0, 3, 1, 2)[~src_mask] == 0).all()  # exactly 0, not merely small
            assert (attention.permute(0, 3, 1, 2)[src_mask] > 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_the_outputs(kind: str) -> None:
    model = tiny_model(kind)
    src, src_mask, tgt_in, tgt_out = batch()
    with torch.no_grad():
        together = model(src, src_mask, tgt_in)
        for i in range(src.size(0)):
            s, t = src_mask[i].sum(), (tgt_out[i] != PAD_ID).sum()
            alone = model(src[i : i + 1, :s], src_mask[i : i + 1, :s], tgt_in[i : i + 1, :t])
            torch.testing.assert_close(alone[0], together[i, :t], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_reorder_state(kind: str) -> None:
    model = tiny_model(kind)
    src, src_mask, tgt_in, _ = batch()
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        state = model.init_state(memory, src_mask)
        _, state, _ = model.decode_step(tgt_in[:, 0], memory, src_mask, state)
    indices = torch.tensor([4, 0, 0])
    picked = model.reorder_state(state, indices)
    for name, tensor in [*state.source.items(), *state.history.items()]:
        merged = {**picked.source, **picked.history}
        torch.testing.assert_close(merged[name], tensor[indices], rtol=0, atol=0)
    within = model.reorder_state(state, torch.tensor([1, 0, 2, 3, 4]), within_sentences=True)
    assert within.source is state.source  # identical across a sentence's beams: not copied


def test_sequences_longer_than_max_positions_fail_clearly() -> None:
    model = tiny_model("transformer", max_positions=8)
    src, src_mask = sources([[5] * 9])
    with pytest.raises(ValueError, match="max_positions"):
        model.encode(src, src_mask)
    assert model.max_output_length == 7 and tiny_model("rnn").max_output_length is None


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_only_in_training(kind: str) -> None:
    model: Seq2SeqModel = tiny_model(kind, dropout=0.3, attention_dropout=0.1)
    src, src_mask, tgt_in, _ = batch()
    with torch.no_grad():
        assert torch.equal(model(src, src_mask, tgt_in), model(src, src_mask, tgt_in))
        model.train()
        assert not torch.equal(model(src, src_mask, tgt_in), model(src, src_mask, tgt_in))


# --- label-smoothed cross entropy ---------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_loss_matches_torch_cross_entropy(smoothing: float) -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(12, 9, dtype=torch.float64).float(), torch.randint(1, 9, (12,))
    loss, nll = label_smoothed_nll(logits, target, smoothing)
    expected = F.cross_entropy(logits, target, label_smoothing=smoothing, reduction="sum")
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(nll, F.cross_entropy(logits, target, reduction="sum"))


def test_loss_ignores_padding_and_computes_in_float32() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(6, 9), torch.tensor([4, 5, PAD_ID, 6, PAD_ID, 7])
    real = target != PAD_ID
    loss, nll = label_smoothed_nll(logits, target, 0.1)
    expected_loss, expected_nll = label_smoothed_nll(logits[real], target[real], 0.1)
    torch.testing.assert_close((loss, nll), (expected_loss, expected_nll))
    half_loss, half_nll = label_smoothed_nll(logits.bfloat16().requires_grad_(), target, 0.1)
    assert half_loss.dtype == half_nll.dtype == torch.float32
    torch.testing.assert_close(half_loss, loss, atol=0.05, rtol=0.01)


def test_loss_gradient_matches_autograd_of_torch_cross_entropy() -> None:
    """The hand-written backward: padding rows get no gradient, an outer scale passes through."""
    torch.manual_seed(0)
    target = torch.tensor([4, 5, PAD_ID, 6, PAD_ID, 7, 2])
    logits = torch.randn(7, 11, requires_grad=True)
    reference = logits.detach().clone().requires_grad_()
    (label_smoothed_nll(logits, target, 0.1)[0] * 0.37).backward()
    real = target != PAD_ID
    (F.cross_entropy(reference[real], target[real], label_smoothing=0.1, reduction="sum") * 0.37).backward()
    assert logits.grad is not None and reference.grad is not None
    torch.testing.assert_close(logits.grad, reference.grad)
    assert not logits.grad[~real].any()
    half = logits.detach().bfloat16().requires_grad_()
    label_smoothed_nll(half, target, 0.1)[0].backward()
    assert half.grad is not None and half.grad.dtype == torch.bfloat16


@pytest.mark.parametrize("bias", [False, True])
def test_projected_loss_matches_the_reference_in_blocks(bias: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Projection + loss block by block (3 rows a block here): same sums and gradients as
    projecting everything, then `label_smoothed_nll`; padding targets count 0."""
    monkeypatch.setattr(loss_module, "BLOCK_SCORES", 3 * 11)
    torch.manual_seed(0)
    target = torch.tensor([4, 5, PAD_ID, 6, PAD_ID, 7, 2, 9])
    projection = nn.Linear(5, 11, bias=bias)
    hidden = torch.randn(8, 5, requires_grad=True)
    loss, nll = projected_loss(hidden, projection, target, 0.1)
    (loss * 0.37).backward()
    grads = [p.grad.clone() for p in (hidden, *projection.parameters())]  # type: ignore[union-attr]
    hidden.grad = None
    projection.zero_grad()
    expected_loss, expected_nll = label_smoothed_nll(projection(hidden), target, 0.1)
    (expected_loss * 0.37).backward()
    torch.testing.assert_close((loss, nll), (expected_loss, expected_nll))
    for got, p in zip(grads, (hidden, *projection.parameters()), strict=True):
        torch.testing.assert_close(got, p.grad)
    assert not grads[0][target == PAD_ID].any()
    with torch.no_grad():  # evaluation: the sums only
        torch.testing.assert_close(projected_loss(hidden, projection, target, 0.0)[1], expected_nll)


def test_projected_loss_under_bf16_autocast_is_close_to_float32() -> None:
    torch.manual_seed(0)
    projection, target = nn.Linear(16, 40), torch.randint(4, 40, (30,))
    hidden = torch.randn(30, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = projected_loss(hidden, projection, target, 0.1)
    loss.backward()
    assert loss.dtype == torch.float32 and hidden.grad is not None and hidden.grad.dtype == torch.float32
    expected, _ = label_smoothed_nll(projection(hidden), target, 0.1)
    torch.testing.assert_close(loss, expected, rtol=0.02, atol=0.5)


def test_loss_gradient_is_softmax_minus_smoothed_target() -> None:
    torch.manual_seed(0)
    logits, target, eps = torch.randn(3, 5, requires_grad=True), torch.tensor([1, 2, 4]), 0.2
    label_smoothed_nll(logits, target, eps)[0].backward()
    smoothed = F.one_hot(target, 5) * (1 - eps) + eps / 5
    assert logits.grad is not None
    torch.testing.assert_close(logits.grad, logits.softmax(-1).detach() - smoothed)
