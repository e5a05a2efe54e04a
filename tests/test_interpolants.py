"""The interpolants against the math of notes section 3: state fractions at several t (closed forms for
linear schedules, a numerical integral otherwise), exempt tokens, order, gap targets, MDM prompt."""

import math

import numpy as np
import pytest
import torch

from agents.interpolants import flex_interpolate, mdm_interpolate, sample_event_times
from agents.schedules import PolynomialSchedule

PAD, MASK = 100, 101  # cells are 0 .. 99
LINEAR = PolynomialSchedule(1.0)


def random_batch(batch, max_len, seed, min_len=0, fixed_prob=0.3):
    """Right-padded rows of distinct cell tokens (so a present token identifies its x1 index)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (batch,), generator=gen)
    lengths[0] = max_len
    tokens = torch.full((batch, max_len), PAD)
    fixed = torch.zeros(batch, max_len, dtype=torch.bool)
    for b, n in enumerate(lengths.tolist()):
        tokens[b, :n] = torch.randperm(PAD, generator=gen)[:n]
        fixed[b, :n] = torch.rand(n, generator=gen) < fixed_prob
    return tokens, lengths, fixed


def interpolate(tokens, lengths, fixed, t, insertion=LINEAR, unmasking=LINEAR, seed=0):
    return flex_interpolate(
        tokens,
        lengths,
        fixed,
        t,
        insertion=insertion,
        unmasking=unmasking,
        pad_id=PAD,
        mask_id=MASK,
        generator=torch.Generator().manual_seed(seed),
    )


def state_fractions(t, insertion, unmasking, rows=4000, length=50):
    """Empirical (absent, mask, clean) fractions of the non-exempt tokens at a single t, and their count."""
    tokens = torch.randint(0, PAD, (rows, length), generator=torch.Generator().manual_seed(1))
    fixed = torch.zeros(rows, length, dtype=torch.bool)
    fixed[:, 0] = True  # one exempt token per row, excluded from the counts
    state = interpolate(
        tokens, torch.full((rows,), length), fixed, torch.full((rows,), t), insertion, unmasking, seed=int(t * 1000)
    )
    total = rows * (length - 1)
    present = int(state.lengths.sum()) - rows
    masks = int(state.is_mask.sum())
    return (total - present) / total, masks / total, (present - masks) / total, total


def numerical_clean_prob(t, insertion, unmasking, points=200_001):
    """P(clean at t) = int_0^t a'(s) (b_t - b_s) / (1 - b_s) ds by the trapezoid sampler, integrated over
    u = a(s) (s = a^-1(u)) so that an infinite a'(0) (power < 1) does no harm."""
    bt = unmasking.value(torch.tensor(t, dtype=torch.float64))
    u = torch.linspace(0, float(insertion.value(torch.tensor(t, dtype=torch.float64))), points, dtype=torch.float64)
    bs = unmasking.value(insertion.inverse(u))
    return float(torch.trapezoid((bt - bs) / (1 - bs), u))


def assert_fractions(observed, expected, total):
    for name, obs, exp in zip(("absent", "mask", "clean"), observed, expected):
        stderr = math.sqrt(max(exp * (1 - exp), 1e-4) / total)
        assert abs(obs - exp) < 5 * stderr, f"{name}: observed {obs:.4f}, expected {exp:.4f} (se {stderr:.4f})"


@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_linear_fractions_match_closed_forms(t):
    *observed, total = state_fractions(t, LINEAR, LINEAR)
    expected = (1 - t, -(1 - t) * math.log(1 - t), t + (1 - t) * math.log(1 - t))
    assert_fractions(observed, expected, total)


@pytest.mark.parametrize("insertion_power, unmasking_power", [(2.0, 1.0), (1.0, 3.0), (0.5, 2.0)])
@pytest.mark.parametrize("t", [0.3, 0.8])
def test_nonlinear_fractions_match_numerical_integral(t, insertion_power, unmasking_power):
    insertion, unmasking = PolynomialSchedule(insertion_power), PolynomialSchedule(unmasking_power)
    *observed, total = state_fractions(t, insertion, unmasking)
    present = float(insertion.value(torch.tensor(t)))
    clean = numerical_clean_prob(t, insertion, unmasking)
    assert_fractions(observed, (1 - present, present - clean, clean), total)


def test_numerical_integral_reproduces_closed_forms():
    # Guards the reference used above: the linear closed form, and a = t^2, b = t where
    # int_0^t 2s (t - s) / (1 - s) ds = 2 (1 - t)(t + ln(1 - t)) + t^2.
    for t in (0.3, 0.8):
        assert numerical_clean_prob(t, LINEAR, LINEAR) == pytest.approx(t + (1 - t) * math.log(1 - t), abs=1e-6)
        quadratic = 2 * (1 - t) * (t + math.log(1 - t)) + t**2
        assert numerical_clean_prob(t, PolynomialSchedule(2.0), LINEAR) == pytest.approx(quadratic, abs=1e-6)


def test_event_times_are_ordered_and_insertion_times_follow_the_schedule():
    insertion, unmasking = PolynomialSchedule(2.0), PolynomialSchedule(0.5)
    t1, t2 = sample_event_times((200_000,), insertion, unmasking, torch.Generator().manual_seed(3))
    assert (t2 >= t1).all() and (t1 >= 0).all() and (t2 <= 1).all()
    for t in (0.2, 0.5, 0.9):
        p = float(insertion.value(torch.tensor(t)))
        assert abs(float((t1 <= t).double().mean()) - p) < 5 * math.sqrt(p * (1 - p) / len(t1))
    # Given T1 in a narrow bin around 0.5, P(T2 <= 0.8) = (b(0.8) - b(0.5)) / (1 - b(0.5)).
    near = (t1 - 0.5).abs() < 0.01
    p = float(unmasking.conditional_prob(torch.tensor(0.5), torch.tensor(0.8)))
    assert abs(float((t2[near] <= 0.8).double().mean()) - p) < 5 * math.sqrt(p * (1 - p) / int(near.sum())) + 0.01


def present_indices(state, tokens, b):
    """x1 indices of the present tokens of row b (tokens are distinct within a row)."""
    where = {int(v): i for i, v in enumerate(tokens[b].tolist())}
    return [where[int(v)] for v in state.targets[b, : state.lengths[b]].tolist()]


def reference_gaps(present, length, width):
    """Slow reference: absent x1 tokens before the first present one, between neighbours, after the last."""
    gaps = [0] * (width + 1)
    bounds = [-1] + present + [length]
    for slot in range(len(present) + 1):
        gaps[slot] = bounds[slot + 1] - bounds[slot] - 1
    return gaps


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("t", [0.0, 0.3, 0.7, 0.99])
def test_state_structure_matches_a_slow_reference(seed, t):
    tokens, lengths, fixed = random_batch(batch=7, max_len=12, seed=seed)
    times = torch.full((7,), t)
    times[1::2] = torch.rand(3, generator=torch.Generator().manual_seed(seed)) * t  # per-row times
    state = interpolate(tokens, lengths, fixed, times, PolynomialSchedule(2.0), PolynomialSchedule(1.5), seed=seed)
    width = state.tokens.shape[1]
    assert width == int(state.lengths.max())
    assert state.gaps.shape == (7, width + 1)
    assert torch.equal(state.is_mask, state.tokens == MASK)
    for b in range(7):
        n, length = int(state.lengths[b]), int(lengths[b])
        present = present_indices(state, tokens, b)
        assert present == sorted(present) and len(set(present)) == n  # x1 order, no repeats
        assert all(i < length for i in present)
        exempt = [i for i in range(length) if fixed[b, i]]
        assert set(exempt) <= set(present)  # exempt tokens are always present...
        for pos, i in enumerate(present):
            assert bool(state.fixed[b, pos]) == bool(fixed[b, i])
            if fixed[b, i]:
                assert state.tokens[b, pos] == tokens[b, i]  # ...and clean
            else:
                assert state.tokens[b, pos] in (tokens[b, i], MASK)
        assert state.gaps[b].tolist() == reference_gaps(present, length, width)
        assert state.gaps[b].sum() == length - n
        # Everything past the row's length is padding.
        assert (state.tokens[b, n:] == PAD).all() and (state.targets[b, n:] == PAD).all()
        assert not state.fixed[b, n:].any() and not state.is_mask[b, n:].any()
    assert torch.equal(state.t, times)


def test_time_zero_gives_exactly_the_exempt_tokens():
    tokens, lengths, fixed = random_batch(batch=9, max_len=10, seed=5, min_len=1)
    state = interpolate(tokens, lengths, fixed, torch.zeros(9))
    assert not state.is_mask.any()
    for b in range(9):
        exempt = tokens[b][fixed[b]].tolist()
        assert state.lengths[b] == len(exempt)
        assert state.tokens[b, : len(exempt)].tolist() == exempt
        assert state.fixed[b, : len(exempt)].all()
        assert state.gaps[b].sum() == lengths[b] - len(exempt)


def test_near_one_almost_everything_is_clean():
    tokens, lengths, fixed = random_batch(batch=50, max_len=20, seed=6)
    state = interpolate(tokens, lengths, fixed, torch.full((50,), 1 - 1e-9))
    assert torch.equal(state.lengths, lengths)
    assert state.gaps.sum() == 0
    assert state.is_mask.sum() <= 2
    assert torch.equal(state.targets, tokens)


def test_empty_rows_and_rows_of_only_exempt_tokens():
    tokens = torch.tensor([[1, 2, 3], [4, PAD, PAD], [PAD, PAD, PAD]])
    lengths = torch.tensor([3, 1, 0])
    fixed = torch.tensor([[True, True, True], [False, False, False], [False, False, False]])
    state = interpolate(tokens, lengths, fixed, torch.tensor([0.5, 0.0, 0.5]))
    assert state.tokens[0].tolist() == [1, 2, 3]
    assert state.lengths.tolist() == [3, 0, 0]
    assert state.gaps.tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_mdm_masks_one_minus_b_of_the_non_prompt_positions(t, power):
    rows, length, prompt = 2000, 40, 6
    unmasking = PolynomialSchedule(power)
    tokens = torch.randint(0, PAD, (rows, length), generator=torch.Generator().manual_seed(2))
    noisy, is_mask = mdm_interpolate(
        tokens,
        prompt,
        torch.full((rows,), t),
        unmasking=unmasking,
        mask_id=MASK,
        generator=torch.Generator().manual_seed(3),
    )
    assert not is_mask[:, :prompt].any()
    assert torch.equal(noisy[:, :prompt], tokens[:, :prompt])
    assert torch.equal(noisy, torch.where(is_mask, torch.full_like(tokens, MASK), tokens))
    expected = 1 - t**power
    observed = float(is_mask[:, prompt:].double().mean())
    n = rows * (length - prompt)
    assert abs(observed - expected) < 5 * math.sqrt(expected * (1 - expected) / n)


def test_mdm_uses_each_rows_own_time():
    tokens = torch.randint(0, PAD, (2, 5000), generator=torch.Generator().manual_seed(4))
    _, is_mask = mdm_interpolate(
        tokens, 0, torch.tensor([0.0, 1.0]), unmasking=LINEAR, mask_id=MASK, generator=torch.Generator().manual_seed(5)
    )
    assert is_mask[0].all() and not is_mask[1].any()


def test_fractions_helper_counts_the_linear_case_at_zero():
    absent, mask, clean, _ = state_fractions(0.0, LINEAR, LINEAR, rows=10, length=5)
    assert (absent, mask, clean) == (1.0, 0.0, 0.0)
    assert np.isclose(absent + mask + clean, 1.0)
