"""The samplers against the math: fed the exact posterior of a tiny distribution they reproduce it
(Theorem E.1 of the FlexMDM paper), and a wrong posterior measurably does not."""

import itertools

import pytest
import torch

import math

from agents.samplers import UnmaskRule, flex_sample, insert_masks, reveal, time_grid
from agents.schedules import PolynomialSchedule
from tests.toy_posterior import MASK, PAD, ToyPosterior

LINEAR = PolynomialSchedule(1.0)


@pytest.fixture(scope="module")
def toy():
    """Strings g1 s g2 with exempt end markers 2, 3 and s in {0,1}^0..3, random probabilities."""
    gen = torch.Generator().manual_seed(0)
    strings = [s for n in range(4) for s in itertools.product((0, 1), repeat=n)]
    weights = torch.rand(len(strings), generator=gen) + 0.2
    weights = weights / weights.sum()
    support = {
        ((2,) + s + (3,), (True,) + (False,) * len(s) + (True,)): float(p) for s, p in zip(strings, weights)
    }
    return ToyPosterior(support, num_classes=4)


def total_variation(toy, mode, steps, samples, gap_scale=1.0, seed=1, count_law="poisson", time_grid="uniform"):
    tokens = torch.tensor([[2, 3]] * samples)
    fixed = torch.ones(samples, 2, dtype=torch.bool)
    lengths = torch.full((samples,), 2)
    out, lengths, stats = flex_sample(
        toy.flex_predictor(gap_scale), tokens, fixed, lengths, steps=steps, rule=UnmaskRule(mode=mode, count_law=count_law, time_grid=time_grid),
        insertion=LINEAR, unmasking=LINEAR, mask_id=MASK, pad_id=PAD, max_len=12,
        generator=torch.Generator().manual_seed(seed),
    )
    counts = {}
    for row, n in zip(out.tolist(), lengths.tolist()):
        counts[tuple(row[:n])] = counts.get(tuple(row[:n]), 0) + 1
    target = {x: p for (x, _), p in toy.support.items()}
    keys = set(counts) | set(target)
    return 0.5 * sum(abs(counts.get(x, 0) / samples - target.get(x, 0.0)) for x in keys), stats


@pytest.mark.parametrize("count_law", ["poisson", "binomial"])
@pytest.mark.parametrize("mode", ["vanilla", "adaptive"])
def test_exact_posterior_reproduces_the_distribution(toy, mode, count_law):
    # Sampling noise with 20k samples over 15 strings is about 0.01 TV; tau-leaping bias at 300
    # steps was measured at about 0.015 (0.045 at 100 steps, 0.009 at 1000).
    tv, stats = total_variation(toy, mode, steps=300, samples=20_000, count_law=count_law)
    assert tv < 0.03
    assert stats.network_calls in (300, 301)


@pytest.mark.parametrize("mode", ["vanilla", "adaptive"])
def test_binomial_law_is_closer_than_poisson_at_few_steps(toy, mode):
    # Measured at 10 steps: vanilla 0.21 -> 0.11, adaptive 0.15 -> 0.11 (20k samples, noise ~0.01).
    poisson, _ = total_variation(toy, mode, steps=10, samples=20_000, count_law="poisson")
    binomial, _ = total_variation(toy, mode, steps=10, samples=20_000, count_law="binomial")
    assert binomial < poisson - 0.02


def test_tau_leaping_error_shrinks_with_steps(toy):
    coarse, _ = total_variation(toy, "adaptive", steps=10, samples=20_000)
    fine, _ = total_variation(toy, "adaptive", steps=200, samples=20_000)
    assert fine < coarse / 2


def test_wrong_expected_gaps_are_detected(toy):
    tv, _ = total_variation(toy, "adaptive", steps=200, samples=20_000, gap_scale=1.3)
    assert tv > 0.1


def test_insert_masks_moves_tokens_and_flags():
    tokens = torch.tensor([[5, 6, 7], [5, 6, PAD]])
    fixed = torch.tensor([[True, False, True], [True, True, False]])
    counts = torch.tensor([[1, 0, 2, 0], [0, 3, 0, 0]])
    new, new_fixed, lengths = insert_masks(tokens, fixed, torch.tensor([3, 2]), counts, mask_id=MASK, pad_id=PAD)
    assert lengths.tolist() == [6, 5]
    assert new.tolist() == [[MASK, 5, 6, MASK, MASK, 7], [5, MASK, MASK, MASK, 6, PAD]]
    assert new_fixed.tolist() == [[False, True, False, False, False, True], [True, False, False, False, True, False]]


def test_adaptive_reveals_the_most_confident_masks_first():
    tokens = torch.tensor([[MASK, MASK, MASK]])
    query = tokens == MASK
    logits = torch.tensor([[0.0, 0.0], [9.0, 0.0], [0.0, 1.0]])
    # leap rate large enough that the Poisson count is almost surely >= 1 but keep window 1 => only the leftmost
    rule = UnmaskRule(mode="adaptive", temperature=0.0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = reveal(tokens, query, logits, 1 / 3, 1 / 3, rule, gen)
        revealed = (out != MASK).nonzero()[:, 1].tolist()
        # Whatever the count, revealed masks are a prefix of the confidence order 1, 2, 0.
        assert revealed == sorted([1, 2, 0][: len(revealed)])
        if revealed:
            assert out[0, 1] == 0
    windowed = reveal(tokens, query, logits, 50.0, 1.0, UnmaskRule(mode="adaptive", window=1, temperature=0.0), gen)
    assert (windowed != MASK).nonzero()[:, 1].tolist() == [0]


def test_flex_sample_reports_capped_insertions(toy):
    _, stats = total_variation(toy, "adaptive", steps=20, samples=200, gap_scale=50.0)
    assert stats.capped_insertions > 0


@pytest.mark.parametrize("mode", ["vanilla", "adaptive"])
def test_balanced_time_grid_is_closer_than_uniform_at_few_steps(toy, mode):
    # Measured at 10 steps with the binomial law: vanilla 0.110 -> 0.081, adaptive 0.112 -> 0.069.
    uniform, _ = total_variation(toy, mode, steps=10, samples=20_000, count_law="binomial")
    balanced, _ = total_variation(toy, mode, steps=10, samples=20_000, count_law="binomial", time_grid="balanced")
    assert balanced < uniform - 0.015


def test_balanced_grid_gives_equal_expected_events_per_step():
    # Linear schedules: insertions a(t) = t, clean fraction c(t) = t + (1 - t) ln(1 - t).
    def events(t):
        return 2.0 if t == 1 else t + t + (1 - t) * math.log(1 - t)

    grid = time_grid(16, "balanced", LINEAR, LINEAR)
    assert grid[0] == 0 and grid[-1] == 1 and all(a < b for a, b in zip(grid, grid[1:]))
    for k, t in enumerate(grid):
        assert events(t) == pytest.approx(2 * k / 16, abs=1e-3)
    assert time_grid(5, "balanced", LINEAR) == pytest.approx([k / 5 for k in range(6)])  # MDM: b(t) = t
    assert time_grid(4, "uniform", LINEAR, LINEAR) == (0.0, 0.25, 0.5, 0.75, 1.0)


def test_at_temperature_zero_insertion_counts_are_rounded_not_sampled():
    """An expected gap of 0.4 everywhere: argmax-style rounding inserts nothing, stochastic rounding does."""

    def predictor(tokens, fixed, lengths, t, query):
        return torch.zeros((int(query.sum()), 4)), torch.full((tokens.shape[0], tokens.shape[1] + 1), math.log(0.4))

    def lengths_after(temperature):
        start = torch.tensor([[2, 3]] * 200)
        _, lengths, _ = flex_sample(
            predictor, start, torch.ones(200, 2, dtype=torch.bool), torch.full((200,), 2), steps=16,
            rule=UnmaskRule(temperature=temperature), insertion=LINEAR, unmasking=LINEAR, mask_id=MASK, pad_id=PAD,
            max_len=12, generator=torch.Generator().manual_seed(0),
        )
        return lengths

    assert (lengths_after(0.0) == 2).all()
    assert (lengths_after(1.0) > 2).float().mean() > 0.5


def _line_stretches(tokens, lengths, pending):
    """Per row: (masks + pending planned, need) of each stretch between consecutive known tokens of a
    row of integers on a line (min_between = |a - b| - 1), by plain Python."""
    out = []
    for row, n, pend in zip(tokens.tolist(), lengths.tolist(), pending.tolist()):
        known = [j for j in range(n) if row[j] != MASK]
        out.append([(known[i + 1] - known[i] - 1 + round(sum(pend[known[i] + 1: known[i + 1] + 1])),
                     abs(row[known[i + 1]] - row[known[i]]) - 1) for i in range(len(known) - 1)])
    return out


def test_feasible_pending_is_the_smallest_correction_that_makes_every_stretch_feasible():
    from agents.samplers import feasible_pending

    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        batch, width = 3, 7
        lengths = torch.randint(2, width + 1, (batch,), generator=gen)
        tokens = torch.randint(0, 8, (batch, width), generator=gen)  # positions on a line (< PAD, MASK)
        tokens[torch.rand(batch, width, generator=gen) < 0.5] = MASK
        tokens[:, 0] = torch.randint(0, 8, (batch,), generator=gen)  # a known first and last token
        tokens[torch.arange(batch), lengths - 1] = torch.randint(0, 8, (batch,), generator=gen)
        tokens[torch.arange(width)[None] >= lengths[:, None]] = PAD
        slots = torch.arange(width + 1)[None] <= lengths[:, None]
        gaps = (torch.rand(batch, width + 1, generator=gen, dtype=torch.float64) * 3).masked_fill(~slots, 0)
        pending = (gaps + 0.5).floor()
        fixed = feasible_pending(pending, gaps, tokens, lengths, MASK, lambda a, b: (a - b).abs() - 1)
        assert (fixed >= 0).all()
        outer = ~slots | (torch.arange(width + 1)[None] == 0) | (torch.arange(width + 1)[None] == lengths[:, None])
        assert (fixed[outer] == 0).all()  # nothing before the first or after the last known token
        before = _line_stretches(tokens, lengths, pending)
        after = _line_stretches(tokens, lengths, fixed)
        for b in range(batch):
            change = 0
            for (planned, need), (new, _) in zip(before[b], after[b]):
                assert new >= need and (new - need) % 2 == 0, (planned, need, new)
                # brute force: the smallest change of the stretch's total that is feasible
                smallest = min(abs(m - planned) for m in range(planned + abs(need) + 3) if m >= need and (m - need) % 2 == 0)
                assert abs(new - planned) == smallest
                change += smallest
            inner = ~outer[b]
            assert (fixed[b][inner] - pending[b][inner]).abs().sum() == change  # no slot moved for nothing


def test_feasible_counts_need_the_binomial_law_and_a_distance():
    with pytest.raises(ValueError, match="binomial"):
        UnmaskRule(feasible_counts=True, count_law="poisson")
    with pytest.raises(ValueError, match="min_between"):
        flex_sample(lambda *a: None, torch.tensor([[2, 3]]), torch.ones(1, 2, dtype=torch.bool), torch.tensor([2]),
                    steps=2, rule=UnmaskRule(feasible_counts=True), insertion=LINEAR, unmasking=LINEAR,
                    mask_id=MASK, pad_id=PAD, max_len=12)


@pytest.mark.parametrize("gap,expected", [(0.6, 0.0), (1.45, 2.0)])
def test_a_wrong_parity_moves_the_count_nearest_a_rounding_boundary_towards_the_models_mean(gap, expected):
    from agents.samplers import feasible_pending

    tokens = torch.tensor([[0, MASK, MASK, MASK, 2]])  # 3 masks between cells 2 apart: 1, 3, 5 .. fit
    gaps = torch.tensor([[0.0, 0.1, gap, 0.2, 0.1, 0.0]], dtype=torch.float64)
    pending = (gaps + 0.5).floor()  # one more mask: 4, the wrong parity
    fixed = feasible_pending(pending, gaps, tokens, torch.tensor([5]), MASK, lambda a, b: (a - b).abs() - 1)
    assert fixed[0, 2] == expected and fixed.sum() == expected


def test_with_feasible_counts_every_sample_has_a_length_its_end_points_allow():
    """Tokens are positions on a line; a sequence from 0 to 5 must hold 5 + 2j steps. A predictor with
    random expected gaps below 1 misses that often; with feasible counts never."""
    gen = torch.Generator().manual_seed(1)

    def predictor(tokens, fixed, lengths, t, query):
        logits = torch.randn((int(query.sum()), 8), generator=gen)
        return logits, torch.log(torch.rand((tokens.shape[0], tokens.shape[1] + 1), generator=gen) * 0.9)

    def parity_ok(feasible):
        start = torch.tensor([[0, 5]] * 300)
        _, lengths, stats = flex_sample(
            predictor, start, torch.ones(300, 2, dtype=torch.bool), torch.full((300,), 2), steps=12,
            rule=UnmaskRule(temperature=0.0, feasible_counts=feasible), insertion=LINEAR, unmasking=LINEAR,
            mask_id=MASK, pad_id=PAD, max_len=1000, generator=torch.Generator().manual_seed(0),
            min_between=lambda a, b: (a - b).abs() - 1,
        )
        assert stats.capped_insertions == 0, lengths.max()
        return ((lengths - 1 - 5) % 2 == 0) & (lengths - 1 >= 5)

    assert parity_ok(True).all() and parity_ok(False).float().mean() < 0.8
