"""The DiT backbone: shapes, padding invariance, row-major query order, a stable insertion head,
bf16 autocast with fp32 heads, gradients that reach every parameter, and packed rows that equal padded ones."""

import pytest
import torch
import torch.nn.functional as F

from agents.interpolants import flex_interpolate
from agents.losses import flex_loss
from agents.model import DiT, ModelConfig, Rows, apply_rotary, first_fit, modulate, packs_rows, rotary_table
from agents.schedules import PolynomialSchedule
from agents.tokenizer import CellTokenizer

TOK = CellTokenizer(5, 5)
LINEAR = PolynomialSchedule(1.0)


def make_model(insertion_head=True, geometry=True, seed=0, randomize_ada=True):
    """A tiny model in eval mode. adaLN-zero starts every block as the identity; ``randomize_ada``
    gives the adaLN layers small random weights so the blocks actually act in these tests."""
    torch.manual_seed(seed)
    cfg = ModelConfig(
        height=5,
        width=5,
        vocab_size=TOK.vocab_size,
        num_classes=TOK.num_cells,
        d_model=32,
        n_heads=4,
        n_layers=2,
        cond_dim=32,
        geometry=geometry,
        insertion_head=insertion_head,
        max_len=64,
    )
    model = DiT(cfg)
    if randomize_ada:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "ada" in name or name.startswith(("row_out", "col_out")):
                    param.normal_(0, 0.1)
    return model.eval()


def random_rows(batch, max_len, seed):
    """Right-padded rows of cell and MASK tokens with some exempt flags."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (batch,), generator=gen)
    lengths[0] = max_len
    tokens = torch.randint(0, TOK.num_cells, (batch, max_len), generator=gen)
    tokens[torch.rand(batch, max_len, generator=gen) < 0.4] = TOK.mask
    fixed = (torch.rand(batch, max_len, generator=gen) < 0.2) & (tokens != TOK.mask)
    valid = torch.arange(max_len)[None] < lengths[:, None]
    tokens[~valid] = TOK.pad
    fixed &= valid
    t = torch.rand(batch, generator=gen)
    return tokens, fixed, lengths, t


def outputs(model, tokens, fixed, lengths, t):
    """Unmask logits at every real position (row-major) and gap log-rates at every real slot."""
    hidden = model.hidden_states(tokens, fixed, lengths, t)
    valid = torch.arange(tokens.shape[1])[None] < lengths[:, None]
    logits = model.unmask_logits(hidden, valid)
    gaps = None
    if model.cfg.insertion_head:
        slots = torch.arange(tokens.shape[1] + 1)[None] <= lengths[:, None]
        gaps = model.gap_log_rates(hidden)[slots]
    return logits, gaps


def test_rotary_rotates_each_channel_pair_by_position_times_its_frequency():
    torch.manual_seed(0)
    length, head_dim = 7, 8
    x = torch.randn(2, 3, length, head_dim)
    table = rotary_table(length, head_dim, "cpu")
    out = apply_rotary(x, table)
    for pos in range(length):
        for i in range(head_dim // 2):
            angle = torch.tensor(pos * 10_000.0 ** (-2 * i / head_dim))
            rotation = torch.stack([torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])])
            expected = x[..., pos, 2 * i : 2 * i + 2] @ rotation.T
            torch.testing.assert_close(out[..., pos, 2 * i : 2 * i + 2], expected, rtol=1e-5, atol=1e-5)
    # Relative positions: the score of a query at m and a key at n depends on m - n only.
    q, k = torch.randn(head_dim), torch.randn(head_dim)
    rq, rk = apply_rotary(q.expand(length, head_dim), table), apply_rotary(k.expand(length, head_dim), table)
    torch.testing.assert_close(rq[5] @ rk[2], rq[4] @ rk[1], rtol=1e-5, atol=1e-5)


def test_modulate_is_per_sequence_scale_and_shift():
    x, shift, scale = torch.randn(2, 3, 4), torch.randn(2, 4), torch.randn(2, 4)
    expected = torch.stack([x[b] * (1 + scale[b]) + shift[b] for b in range(2)])
    torch.testing.assert_close(modulate(x, shift[:, None], scale[:, None]), expected)


@pytest.mark.parametrize("insertion_head", [True, False])
def test_output_shapes(insertion_head):
    model = make_model(insertion_head)
    tokens, fixed, lengths, t = random_rows(3, 7, seed=0)
    hidden = model.hidden_states(tokens, fixed, lengths, t)
    assert hidden.shape == (3, 7 + insertion_head, 32) and hidden.dtype == torch.float32
    query = tokens == TOK.mask
    assert model.unmask_logits(hidden, query).shape == (int(query.sum()), TOK.num_cells)
    if insertion_head:
        assert model.gap_log_rates(hidden).shape == (3, 8)


def test_sequence_longer_than_max_len_raises():
    model = make_model()
    tokens, fixed, lengths, t = random_rows(1, 64, seed=0)  # + BOS = 65 > max_len
    with pytest.raises(ValueError):
        model.hidden_states(tokens, fixed, lengths, t)


@pytest.mark.parametrize("insertion_head", [True, False])
@pytest.mark.parametrize("geometry", [True, False])
def test_padding_does_not_change_real_outputs(insertion_head, geometry):
    model = make_model(insertion_head, geometry)
    tokens, fixed, lengths, t = random_rows(4, 9, seed=1)
    with torch.no_grad():
        logits, gaps = outputs(model, tokens, fixed, lengths, t)
        # Extra PAD columns.
        wide = F.pad(tokens, (0, 5), value=TOK.pad), F.pad(fixed, (0, 5), value=False)
        wide_logits, wide_gaps = outputs(model, *wide, lengths, t)
        torch.testing.assert_close(wide_logits, logits, rtol=1e-5, atol=1e-5)
        if insertion_head:
            torch.testing.assert_close(wide_gaps, gaps, rtol=1e-5, atol=1e-5)
        # Each row alone, unpadded; and junk (non-PAD tokens, exempt flags) beyond a row's length.
        junk_tokens = torch.where(torch.arange(9)[None] < lengths[:, None], tokens, 3)
        junk_fixed = torch.where(torch.arange(9)[None] < lengths[:, None], fixed, True)
        junk_logits, junk_gaps = outputs(model, junk_tokens, junk_fixed, lengths, t)
        torch.testing.assert_close(junk_logits, logits, rtol=1e-5, atol=1e-5)
        alone = [
            outputs(model, tokens[b : b + 1, :n], fixed[b : b + 1, :n], lengths[b : b + 1], t[b : b + 1])
            for b, n in enumerate(lengths.tolist())
        ]
        torch.testing.assert_close(torch.cat([a[0] for a in alone]), logits, rtol=1e-5, atol=1e-5)
        if insertion_head:
            torch.testing.assert_close(junk_gaps, gaps, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(torch.cat([a[1] for a in alone]), gaps, rtol=1e-5, atol=1e-5)


def test_outputs_depend_on_time_and_on_other_tokens():
    # Guards the invariance test against a model that ignores its inputs.
    model = make_model()
    tokens, fixed, lengths, t = random_rows(2, 6, seed=2)
    with torch.no_grad():
        base, base_gaps = outputs(model, tokens, fixed, lengths, t)
        later, _ = outputs(model, tokens, fixed, lengths, t + 0.3)
        changed = tokens.clone()
        changed[0, -1] = (changed[0, -1] + 1) % TOK.num_cells
        other, _ = outputs(model, changed, fixed, lengths, t)
    assert (later - base).abs().max() > 1e-3
    assert (other[0] - base[0]).abs().max() > 1e-4  # position 0 sees the token at the end


@pytest.mark.parametrize("insertion_head", [True, False])
def test_unmask_logits_follow_row_major_query_order(insertion_head):
    model = make_model(insertion_head)
    tokens, fixed, lengths, t = random_rows(3, 8, seed=3)
    with torch.no_grad():
        hidden = model.hidden_states(tokens, fixed, lengths, t)
        every = model.unmask_logits(hidden, torch.ones_like(tokens, dtype=torch.bool)).view(3, 8, -1)
        gen = torch.Generator().manual_seed(4)
        for _ in range(5):
            query = torch.rand(3, 8, generator=gen) < 0.5
            expected = torch.stack([every[b, i] for b in range(3) for i in range(8) if query[b, i]])
            torch.testing.assert_close(model.unmask_logits(hidden, query), expected)


def test_gap_log_rates_are_finite_and_exact_for_extreme_pre_activations():
    model = make_model()
    tokens, fixed, lengths, t = random_rows(1, 5, seed=5)
    last = model.gap_head[-1]
    with torch.no_grad():
        hidden = model.hidden_states(tokens, fixed, lengths, t)
        last.weight.zero_()
    for pre in [-1e4, -200.0, -30.0, -20.5, -20.0, -19.5, -5.0, 0.0, 5.0, 30.0, 1e4]:
        with torch.no_grad():
            last.bias.fill_(pre)
        log_rates = model.gap_log_rates(hidden)
        x = torch.tensor(pre, dtype=torch.float64)
        expected = x if pre < -30 else torch.log(F.softplus(x))  # log softplus(x) = x + O(e^x)
        torch.testing.assert_close(log_rates, torch.full_like(log_rates, float(expected)), rtol=1e-5, atol=1e-6)
        gap = torch.full_like(log_rates, 2.0)
        (log_rates.exp() - gap * log_rates).sum().backward()
        assert torch.isfinite(last.bias.grad).all(), pre
        model.zero_grad()


def test_runs_under_bf16_autocast_with_fp32_heads():
    model = make_model()
    tokens, fixed, lengths, t = random_rows(3, 7, seed=6)
    query = tokens == TOK.mask
    with torch.no_grad():
        ref_logits = model.unmask_logits(model.hidden_states(tokens, fixed, lengths, t), query)
        with torch.autocast("cpu", torch.bfloat16):
            hidden = model.hidden_states(tokens, fixed, lengths, t)
            logits = model.unmask_logits(hidden, query)
            log_rates = model.gap_log_rates(hidden)
    assert hidden.dtype == logits.dtype == log_rates.dtype == torch.float32
    assert torch.isfinite(logits).all() and torch.isfinite(log_rates).all()
    # bf16 inside the blocks only perturbs the result.
    torch.testing.assert_close(logits, ref_logits, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("autocast", [False, True])
def test_one_flex_loss_backward_reaches_every_parameter(autocast):
    model = make_model().train()
    gen = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, TOK.num_cells, (6, 10), generator=gen)
    lengths = torch.tensor([10, 9, 8, 7, 6, 5])
    fixed = torch.zeros(6, 10, dtype=torch.bool)
    fixed[:, 0] = True
    state = flex_interpolate(
        tokens,
        lengths,
        fixed,
        torch.linspace(0.3, 0.9, 6),
        insertion=LINEAR,
        unmasking=LINEAR,
        pad_id=TOK.pad,
        mask_id=TOK.mask,
        generator=gen,
    )
    assert state.is_mask.any() and (state.gaps > 0).any()
    with torch.autocast("cpu", torch.bfloat16, enabled=autocast):
        loss, _ = flex_loss(model, state, insertion=LINEAR, unmasking=LINEAR, normalizer=float(lengths.sum()))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_from_the_adaln_zero_start_one_step_opens_every_gradient():
    # At initialisation adaLN-zero gates every block shut, so block weights get zero gradient on the
    # first backward; after one optimiser step every parameter must receive a gradient.
    model = make_model(randomize_ada=False).train()
    gen = torch.Generator().manual_seed(8)
    tokens = torch.randint(0, TOK.num_cells, (4, 8), generator=gen)
    lengths = torch.tensor([8, 7, 6, 5])
    fixed = torch.zeros(4, 8, dtype=torch.bool)
    fixed[:, 0] = True
    state = flex_interpolate(
        tokens,
        lengths,
        fixed,
        torch.tensor([0.4, 0.6, 0.7, 0.9]),
        insertion=LINEAR,
        unmasking=LINEAR,
        pad_id=TOK.pad,
        mask_id=TOK.mask,
        generator=gen,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        loss, _ = flex_loss(model, state, insertion=LINEAR, unmasking=LINEAR, normalizer=26.0)
        loss.backward()
        opt.step()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("insertion_head", [True, False])
def test_full_rows_need_no_padding_mask_and_query_indices_equal_the_mask(insertion_head):
    """lengths=None (no attention mask: the fast path the MDM uses) equals full lengths, and a query
    given as (rows, cols) indices picks the same logits as the boolean mask."""
    model = make_model(insertion_head=insertion_head)
    tokens, fixed, _, t = random_rows(5, 9, seed=3)
    tokens[tokens == TOK.pad] = TOK.mask
    full = torch.full((5,), 9)
    query = tokens == TOK.mask
    masked_logits, masked_gaps = model(tokens, fixed, full, t, query)
    free_logits, free_gaps = model(tokens, fixed, None, t, query.nonzero(as_tuple=True))
    torch.testing.assert_close(free_logits, masked_logits, rtol=0, atol=1e-5)
    if insertion_head:
        torch.testing.assert_close(free_gaps, masked_gaps, rtol=0, atol=1e-5)


@pytest.mark.parametrize("insertion_head", [True, False])
def test_padding_to_the_attention_kernels_multiple_changes_nothing(insertion_head, monkeypatch):
    """On CUDA masked rows are padded to a multiple of 8 keys; forced on the CPU, outputs are the same."""
    model = make_model(insertion_head=insertion_head)
    tokens, fixed, lengths, t = random_rows(4, 11, seed=5)
    query = tokens == TOK.mask
    plain = model(tokens, fixed, lengths, t, query)
    monkeypatch.setattr("agents.model.key_multiple", lambda device: 8)
    padded = model(tokens, fixed, lengths, t, query)
    hidden = model.hidden_states(tokens, fixed, lengths, t)
    assert hidden.shape[1] == 11 + insertion_head
    torch.testing.assert_close(padded[0], plain[0], rtol=0, atol=1e-5)
    if insertion_head:
        torch.testing.assert_close(padded[1], plain[1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("insertion_head", [True, False])
def test_packed_rows_give_the_padded_layouts_outputs_and_gradients(insertion_head, monkeypatch):
    """On the CPU rows of mixed lengths run packed (the padding skipped, several rows sharing an
    attention bin, the insertion head at the real slots only); the padded layout, forced, gives the same
    outputs and the same gradients."""
    assert packs_rows(torch.device("cpu"))
    model = make_model(insertion_head=insertion_head).train()
    tokens, fixed, lengths, t = random_rows(6, 9, seed=9)
    valid = torch.arange(9 + insertion_head)[None] < lengths[:, None] + insertion_head
    assert Rows(valid, packed=True).attn_mask.shape[0] < len(lengths)
    query = torch.arange(9)[None] < lengths[:, None]
    slots = torch.arange(10)[None] <= lengths[:, None]

    def run():
        model.zero_grad()
        logits, log_gaps = model(tokens, fixed, lengths, t, query)
        outputs = [logits] if log_gaps is None else [logits, log_gaps[slots]]
        sum(out.sin().sum() for out in outputs).backward()
        return outputs, {name: param.grad.clone() for name, param in model.named_parameters()}

    packed_outputs, packed_grads = run()
    monkeypatch.setattr("agents.model.packs_rows", lambda device: False)
    padded_outputs, padded_grads = run()
    for packed, padded in zip(packed_outputs, padded_outputs):
        torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-5)
    for name, grad in padded_grads.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-5, msg=name)


def test_first_fit_fills_bins_without_overlap_longest_first():
    lengths = [3, 9, 2, 5, 4, 7, 1]
    bins, starts = first_fit(lengths, 10)
    assert bins == [1, 0, 3, 2, 2, 1, 0]  # 9 1 | 7 3 | 5 4 | 2
    used = {}
    for length, b, start in zip(lengths, bins, starts):
        assert 0 <= start and start + length <= 10
        for slot in range(start, start + length):
            assert (b, slot) not in used
            used[b, slot] = True
