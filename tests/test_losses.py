"""The losses against their definitions: the Bregman and cross-entropy terms are minimised by the
empirical mean / distribution, the schedule weights and the normaliser are the ones of eq. 7 and
eq. 4 (checked by hand on a tiny model), and losses and gradients stay finite up to t = 1 - 1e-3."""

import math

import pytest
import torch
import torch.nn.functional as F

from agents.interpolants import flex_interpolate, mdm_interpolate
from agents.losses import flex_loss, mdm_loss, poisson_bregman
from agents.model import DiT, ModelConfig
from agents.schedules import PolynomialSchedule
from agents.tokenizer import CellTokenizer

TOK = CellTokenizer(5, 5)
LINEAR = PolynomialSchedule(1.0)
INSERTION, UNMASKING = PolynomialSchedule(2.0), PolynomialSchedule(1.5)  # distinct, so swapped weights show


def make_model(insertion_head, num_classes=TOK.num_cells, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        height=5,
        width=5,
        vocab_size=TOK.vocab_size,
        num_classes=num_classes,
        d_model=32,
        n_heads=4,
        n_layers=2,
        cond_dim=32,
        insertion_head=insertion_head,
        max_len=64,
    )
    model = DiT(cfg)
    with torch.no_grad():  # leave adaLN-zero's identity start so outputs vary with the input
        for name, param in model.named_parameters():
            if "ada" in name:
                param.normal_(0, 0.1)
    return model.eval()


def flex_batch(t, seed=0, rows=None, length=12):
    """Clean rows of cell tokens with exempt first and last tokens, interpolated at times ``t``."""
    gen = torch.Generator().manual_seed(seed)
    rows = len(t) if rows is None else rows
    lengths = torch.randint(3, length + 1, (rows,), generator=gen)
    lengths[0] = length
    tokens = torch.randint(0, TOK.num_cells, (rows, length), generator=gen)
    valid = torch.arange(length)[None] < lengths[:, None]
    tokens[~valid] = TOK.pad
    fixed = torch.zeros(rows, length, dtype=torch.bool)
    fixed[:, 0] = True
    fixed[torch.arange(rows), lengths - 1] = True
    state = flex_interpolate(
        tokens,
        lengths,
        fixed,
        t,
        insertion=INSERTION,
        unmasking=UNMASKING,
        pad_id=TOK.pad,
        mask_id=TOK.mask,
        generator=gen,
    )
    return state, lengths


# --- poisson_bregman -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mean", [0.05, 1.0, 3.7, 20.0])
def test_bregman_minimised_at_the_sample_mean(mean):
    gaps = torch.poisson(torch.full((5000,), mean), generator=torch.Generator().manual_seed(0)).double()
    target = math.log(gaps.mean())
    # Scan over log g.
    grid = torch.linspace(target - 2, target + 2, 4001, dtype=torch.float64)
    totals = poisson_bregman(gaps[None, :], grid[:, None]).sum(1)
    assert float(grid[totals.argmin()]) == pytest.approx(target, abs=2e-3)
    # Gradient zero at the mean, positive curvature.
    log_g = torch.tensor(target, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(poisson_bregman(gaps, log_g).sum(), log_g)
    assert abs(float(grad)) < 1e-8 * len(gaps)
    assert poisson_bregman(gaps, log_g + 0.1).sum() > poisson_bregman(gaps, log_g).sum()
    assert poisson_bregman(gaps, log_g - 0.1).sum() > poisson_bregman(gaps, log_g).sum()


def test_bregman_values():
    # phi(gap, g) = g - gap * log g, with log g given.
    gap = torch.tensor([0.0, 1.0, 4.0, 4.0])
    log_g = torch.tensor([0.0, 0.0, math.log(4.0), math.log(2.0)])
    torch.testing.assert_close(
        poisson_bregman(gap, log_g), torch.tensor([1.0, 1.0, 4 - 4 * math.log(4), 2 - 4 * math.log(2)])
    )


def test_bregman_by_gradient_descent_on_log_g():
    gaps = torch.tensor([0.0, 0.0, 1.0, 5.0, 2.0, 0.0, 3.0])
    log_g = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_g], lr=1, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = poisson_bregman(gaps, log_g).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert float(log_g.detach().exp()) == pytest.approx(float(gaps.mean()), rel=1e-4)


# --- minimisers through flex_loss: heads reduced to free constants ---------------------------------------------


def constant_head_model():
    """A model whose unmask logits are ``out_bias`` and whose gap pre-activation is the last bias."""
    model = make_model(insertion_head=True)
    with torch.no_grad():
        model.out_emb.zero_()
        model.row_out.zero_()
        model.col_out.zero_()
        model.gap_head[-1].weight.zero_()
    free = [model.out_bias, model.gap_head[-1].bias]
    freeze_all_but(model, free)
    return model, free


def freeze_all_but(model, free):
    """Only ``free`` is optimised (keeps backward passes cheap)."""
    for param in model.parameters():
        param.requires_grad_(any(param is f for f in free))


def test_flex_loss_is_minimised_by_the_empirical_posterior_and_mean_gap():
    t = torch.full((60,), 0.7)  # one t: every mask and every slot carries the same weight
    state, lengths = flex_batch(t, seed=1, length=10)
    model, free = constant_head_model()
    opt = torch.optim.LBFGS(free, lr=1, max_iter=60, line_search_fn="strong_wolfe", tolerance_grad=1e-9)

    def closure():
        opt.zero_grad()
        loss, _ = flex_loss(model, state, insertion=INSERTION, unmasking=UNMASKING, normalizer=float(lengths.sum()))
        loss.backward()
        return loss

    opt.step(closure)
    targets = state.targets[state.is_mask]
    empirical = torch.bincount(targets, minlength=TOK.num_cells).float() / len(targets)
    torch.testing.assert_close(F.softmax(model.out_bias, -1), empirical, rtol=0, atol=2e-3)
    slots = torch.arange(state.gaps.shape[1])[None] <= state.lengths[:, None]
    mean_gap = state.gaps[slots].mean()  # over the n + 1 real slots only
    assert float(F.softplus(model.gap_head[-1].bias.detach())) == pytest.approx(float(mean_gap), rel=2e-3)
    assert mean_gap > 0.2 and state.is_mask.sum() > 50  # the batch exercises both terms


# --- weights and normaliser, by hand ----------------------------------------------------------------------------


def rate(power, t):
    return power * t ** (power - 1) / (1 - t**power)


def test_flex_loss_weights_by_hand():
    t = torch.tensor([0.2, 0.5, 0.7, 0.9, 0.95])
    state, lengths = flex_batch(t, seed=2)
    assert state.is_mask.sum() > 5
    model = make_model(insertion_head=True)
    normalizer = 37.0
    loss, metrics = flex_loss(model, state, insertion=INSERTION, unmasking=UNMASKING, normalizer=normalizer)
    with torch.no_grad():
        hidden = model.hidden_states(state.tokens, state.fixed, state.lengths, state.t)
        every = model.unmask_logits(hidden, torch.ones_like(state.is_mask)).view(*state.tokens.shape, -1)
        log_rates = model.gap_log_rates(hidden)
    unmask = insert = 0.0
    for b in range(len(t)):
        tb = float(t[b])
        for i in range(int(state.lengths[b])):
            if state.tokens[b, i] == TOK.mask:
                log_probs = every[b, i].double().log_softmax(-1)
                unmask += rate(1.5, tb) * -float(log_probs[state.targets[b, i]])
        for i in range(int(state.lengths[b]) + 1):
            g = math.exp(float(log_rates[b, i]))
            insert += rate(2.0, tb) * (g - float(state.gaps[b, i]) * math.log(g))
    assert metrics["unmask_loss"] == pytest.approx(unmask / normalizer, rel=1e-4)
    assert metrics["insert_loss"] == pytest.approx(insert / normalizer, rel=1e-4)
    assert loss.item() == pytest.approx((unmask + insert) / normalizer, rel=1e-4)


def test_mdm_loss_weights_by_hand():
    num_classes = TOK.num_cells + 1  # cells and PAD
    gen = torch.Generator().manual_seed(3)
    clean = torch.randint(0, num_classes, (4, 10), generator=gen)
    clean[:, 3] = TOK.sep
    t = torch.tensor([0.1, 0.4, 0.8, 0.97])
    noisy, is_mask = mdm_interpolate(clean, 4, t, unmasking=UNMASKING, mask_id=TOK.mask, generator=gen)
    assert is_mask.sum() > 5
    model = make_model(insertion_head=False, num_classes=num_classes)
    loss, metrics = mdm_loss(model, noisy, is_mask, clean, t, unmasking=UNMASKING, normalizer=23.0)
    with torch.no_grad():
        hidden = model.hidden_states(noisy, torch.zeros_like(is_mask), torch.full((4,), 10), t)
        every = model.unmask_logits(hidden, torch.ones_like(is_mask)).view(4, 10, -1)
    expected = sum(
        rate(1.5, float(t[b])) * -float(every[b, i].double().log_softmax(-1)[clean[b, i]])
        for b in range(4)
        for i in range(10)
        if is_mask[b, i]
    )
    assert loss.item() == pytest.approx(expected / 23.0, rel=1e-4)
    assert metrics["unmask_loss"] == pytest.approx(loss.item())


def test_mdm_loss_is_minimised_by_the_empirical_distribution():
    num_classes = TOK.num_cells + 1
    gen = torch.Generator().manual_seed(4)
    probs = torch.rand(num_classes, generator=gen) ** 3
    clean = torch.multinomial(probs / probs.sum(), 60 * 8, replacement=True, generator=gen).view(60, 8)
    noisy, is_mask = mdm_interpolate(
        clean, 2, torch.full((60,), 0.3), unmasking=UNMASKING, mask_id=TOK.mask, generator=gen
    )
    model = make_model(insertion_head=False, num_classes=num_classes)
    with torch.no_grad():
        model.out_emb.zero_()
        model.row_out.zero_()
        model.col_out.zero_()
    freeze_all_but(model, [model.out_bias])
    opt = torch.optim.LBFGS([model.out_bias], lr=1, max_iter=60, line_search_fn="strong_wolfe", tolerance_grad=1e-9)

    def closure():
        opt.zero_grad()
        loss, _ = mdm_loss(model, noisy, is_mask, clean, torch.full((60,), 0.3), unmasking=UNMASKING, normalizer=480.0)
        loss.backward()
        return loss

    opt.step(closure)
    targets = clean[is_mask]
    empirical = torch.bincount(targets, minlength=num_classes).float() / len(targets)
    torch.testing.assert_close(F.softmax(model.out_bias, -1), empirical, rtol=0, atol=2e-3)


# --- stability near t = 1 ---------------------------------------------------------------------------------------


def test_flex_loss_and_gradients_finite_up_to_one_minus_eps():
    batch, eps = 16, 1e-3
    # Low-discrepancy times on [0, 1 - eps], the last one at the end point.
    t = (torch.arange(batch) + torch.rand(batch, generator=torch.Generator().manual_seed(5))) / batch * (1 - eps)
    t[-1] = 1 - eps
    state, lengths = flex_batch(t, seed=5, rows=batch)
    model = make_model(insertion_head=True).train()
    loss, metrics = flex_loss(model, state, insertion=LINEAR, unmasking=LINEAR, normalizer=float(lengths.sum()))
    loss.backward()
    assert math.isfinite(loss.item()) and all(math.isfinite(v) for v in metrics.values())
    for name, param in model.named_parameters():
        assert param.grad is None or torch.isfinite(param.grad).all(), name


def test_flex_loss_with_no_masks_and_no_gaps_is_zero_for_the_unmask_part():
    tokens = torch.tensor([[1, 2, 3]])
    state = flex_interpolate(
        tokens,
        torch.tensor([3]),
        torch.ones(1, 3, dtype=torch.bool),
        torch.tensor([0.5]),
        insertion=LINEAR,
        unmasking=LINEAR,
        pad_id=TOK.pad,
        mask_id=TOK.mask,
    )
    model = make_model(insertion_head=True)
    loss, metrics = flex_loss(model, state, insertion=LINEAR, unmasking=LINEAR, normalizer=3.0)
    assert metrics["unmask_loss"] == 0.0
    assert math.isfinite(loss.item()) and metrics["insert_loss"] > 0  # g > 0 costs g even with gap 0
