"""The samplers against the math: fed the exact posterior of a tiny distribution they reproduce it
(Theorem E.1 of the FlexMDM paper), and a wrong posterior measurably does not."""

import itertools
import math

import pytest
import torch

from agents.samplers import SamplerSettings, flex_sample, insert_masks, mdm_sample, reveal, time_grid
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
    support = {((2,) + s + (3,), (True,) + (False,) * len(s) + (True,)): float(p) for s, p in zip(strings, weights)}
    return ToyPosterior(support, num_classes=4)


def posterior_sampling(**settings) -> SamplerSettings:
    """Settings that sample the model's own distribution (temperature 1, no feasible-counts correction) with the
    official end game unless a test names another: the exact-posterior tests' (the defaults are the suite's)."""
    return SamplerSettings(**{"temperature": 1.0, "feasible_counts": False, "end_game": "argmax", **settings})


def total_variation(
    toy, mode, steps, samples, gap_scale=1.0, seed=1, count_law="poisson", time_grid="uniform", end_game="argmax"
):
    tokens = torch.tensor([[2, 3]] * samples)
    fixed = torch.ones(samples, 2, dtype=torch.bool)
    lengths = torch.full((samples,), 2)
    out, lengths, stats = flex_sample(
        toy.flex_predictor(gap_scale),
        tokens,
        fixed,
        lengths,
        steps=steps,
        sampler=posterior_sampling(mode=mode, count_law=count_law, time_grid=time_grid, end_game=end_game),
        insertion=LINEAR,
        unmasking=LINEAR,
        mask_id=MASK,
        pad_id=PAD,
        max_len=12,
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
    assert stats.network_calls == 300  # the official end game: no call after the last step


@pytest.mark.parametrize("mode", ["vanilla", "adaptive"])
def test_binomial_law_is_closer_than_poisson_at_few_steps(toy, mode):
    # Measured at 10 steps: vanilla 0.21 -> 0.11, adaptive 0.15 -> 0.11 (20k samples, noise ~0.01). The
    # binomial law lands every pending event by t = 1, so it is compared under the "leap" end game (with
    # the official one, which skips the last step's insertions: 0.27 -> 0.21 and 0.23 -> 0.21).
    poisson, _ = total_variation(toy, mode, steps=10, samples=20_000, count_law="poisson", end_game="leap")
    binomial, _ = total_variation(toy, mode, steps=10, samples=20_000, count_law="binomial", end_game="leap")
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
    sampler = SamplerSettings(mode="adaptive", temperature=0.0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = reveal(tokens, query, logits, 1 / 3, 1 / 3, sampler, gen)
        revealed = (out != MASK).nonzero()[:, 1].tolist()
        # Whatever the count, revealed masks are a prefix of the confidence order 1, 2, 0.
        assert revealed == sorted([1, 2, 0][: len(revealed)])
        if revealed:
            assert out[0, 1] == 0
    windowed = reveal(
        tokens, query, logits, 50.0, 1.0, SamplerSettings(mode="adaptive", window=1, temperature=0.0), gen
    )
    assert (windowed != MASK).nonzero()[:, 1].tolist() == [0]


def test_flex_sample_reports_capped_insertions(toy):
    _, stats = total_variation(toy, "adaptive", steps=20, samples=200, gap_scale=50.0)
    assert stats.capped_insertions > 0


@pytest.mark.parametrize("mode", ["vanilla", "adaptive"])
def test_balanced_time_grid_is_closer_than_uniform_at_few_steps(toy, mode):
    # Measured at 10 steps with the binomial law and the "leap" end game: vanilla 0.110 -> 0.081, adaptive
    # 0.112 -> 0.069 (with the official end game 0.21 -> 0.12 and 0.21 -> 0.13).
    uniform, _ = total_variation(toy, mode, steps=10, samples=20_000, count_law="binomial", end_game="leap")
    balanced, _ = total_variation(
        toy, mode, steps=10, samples=20_000, count_law="binomial", time_grid="balanced", end_game="leap"
    )
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
            predictor,
            start,
            torch.ones(200, 2, dtype=torch.bool),
            torch.full((200,), 2),
            steps=16,
            sampler=posterior_sampling(temperature=temperature),
            insertion=LINEAR,
            unmasking=LINEAR,
            mask_id=MASK,
            pad_id=PAD,
            max_len=12,
            generator=torch.Generator().manual_seed(0),
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
        out.append(
            [
                (
                    known[i + 1] - known[i] - 1 + round(sum(pend[known[i] + 1 : known[i + 1] + 1])),
                    abs(row[known[i + 1]] - row[known[i]]) - 1,
                )
                for i in range(len(known) - 1)
            ]
        )
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
                smallest = min(
                    abs(m - planned) for m in range(planned + abs(need) + 3) if m >= need and (m - need) % 2 == 0
                )
                assert abs(new - planned) == smallest
                change += smallest
            inner = ~outer[b]
            assert (fixed[b][inner] - pending[b][inner]).abs().sum() == change  # no slot moved for nothing


def test_feasible_counts_need_the_binomial_law_and_a_distance():
    with pytest.raises(ValueError, match="binomial"):
        SamplerSettings(feasible_counts=True, count_law="poisson", end_game="leap")
    with pytest.raises(ValueError, match="end_game"):
        SamplerSettings(feasible_counts=True, end_game="argmax")
    with pytest.raises(ValueError, match="min_between"):
        flex_sample(
            lambda *a: None,
            torch.tensor([[2, 3]]),
            torch.ones(1, 2, dtype=torch.bool),
            torch.tensor([2]),
            steps=2,
            sampler=SamplerSettings(feasible_counts=True, end_game="leap"),
            insertion=LINEAR,
            unmasking=LINEAR,
            mask_id=MASK,
            pad_id=PAD,
            max_len=12,
        )


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
            predictor,
            start,
            torch.ones(300, 2, dtype=torch.bool),
            torch.full((300,), 2),
            steps=12,
            sampler=SamplerSettings(temperature=0.0, feasible_counts=feasible, end_game="leap"),
            insertion=LINEAR,
            unmasking=LINEAR,
            mask_id=MASK,
            pad_id=PAD,
            max_len=1000,
            generator=torch.Generator().manual_seed(0),
            min_between=lambda a, b: (a - b).abs() - 1,
        )
        assert stats.capped_insertions == 0, lengths.max()
        return ((lengths - 1 - 5) % 2 == 0) & (lengths - 1 >= 5)

    assert parity_ok(True).all() and parity_ok(False).float().mean() < 0.8


def _flex_run(toy, steps, samples, sampler, times=None, seed=0, max_len=12):
    """flex_sample from the toy's exempt ends with the exact posterior; ``times`` collects every call's t."""
    exact = toy.flex_predictor()

    def predict(tokens, fixed, lengths, t, query):
        if times is not None:
            times.append(float(t[0]))
        return exact(tokens, fixed, lengths, t, query)

    return flex_sample(
        predict,
        torch.tensor([[2, 3]] * samples),
        torch.ones(samples, 2, dtype=torch.bool),
        torch.full((samples,), 2),
        steps=steps,
        sampler=sampler,
        insertion=LINEAR,
        unmasking=LINEAR,
        mask_id=MASK,
        pad_id=PAD,
        max_len=max_len,
        generator=torch.Generator().manual_seed(seed),
    )


@pytest.mark.parametrize("mode", ["vanilla", "adaptive"])
def test_official_end_game_calls_the_network_only_at_the_grid_times_before_one(toy, mode):
    # The official code's last step is at t = 1 - tau: it argmaxes every mask left and inserts nothing.
    # The "leap" end game calls the network once more at t = 1, a time the model never trained at.
    times = []
    _, _, stats = _flex_run(toy, 8, 400, posterior_sampling(mode=mode, time_grid="uniform"), times)
    assert times == [k / 8 for k in range(8)] and stats.network_calls == 8
    leap_times = []
    _flex_run(toy, 8, 400, posterior_sampling(mode=mode, time_grid="uniform", end_game="leap"), leap_times)
    assert leap_times[-1] == 1.0 and len(leap_times) == 9


def test_official_end_game_inserts_nothing_on_its_last_step_and_fills_by_the_exact_argmax(toy):
    snapshots, calls = [], []
    exact = toy.flex_predictor()

    def predict(tokens, fixed, lengths, t, query):
        logits, gaps = exact(tokens, fixed, lengths, t, query)
        calls.append((tokens.clone(), lengths.clone(), query.clone(), logits))
        return logits, gaps

    out, lengths, stats = flex_sample(
        predict,
        torch.tensor([[2, 3]] * 500),
        torch.ones(500, 2, dtype=torch.bool),
        torch.full((500,), 2),
        steps=6,
        sampler=posterior_sampling(mode="vanilla", count_law="poisson", time_grid="uniform"),
        insertion=LINEAR,
        unmasking=LINEAR,
        mask_id=MASK,
        pad_id=PAD,
        max_len=12,
        generator=torch.Generator().manual_seed(3),
        on_step=lambda k, tokens, lengths: snapshots.append(lengths.clone()),
    )
    before, before_lengths, query, logits = calls[-1]
    assert torch.equal(lengths, before_lengths) and torch.equal(snapshots[-1], before_lengths)  # no insertion
    assert (out != MASK).all() and stats.final_reveals == int(query.sum()) > 0
    assert torch.equal(out[query], logits.argmax(-1)) and torch.equal(out[~query], before[~query])


def test_official_end_game_keeps_every_sample_in_the_support_where_a_call_at_one_does_not():
    # A toy whose strings hold only the token 1: the exact posterior at t < 1 never proposes 0. At t = 1
    # no data string has a mask, so the posterior there is undefined (the toy answers uniform, argmax 0):
    # what a network sees outside its trained range. Masks filled at t = 1 leave the support. (The length
    # cap of 5 keeps tau-leaping from inserting more masks than any data string explains.)
    support = {((2,) + (1,) * n + (3,), (True,) + (False,) * n + (True,)): p for n, p in ((1, 0.3), (2, 0.4), (3, 0.3))}
    toy = ToyPosterior(support, num_classes=4)

    def outside(end_game):
        out, lengths, _ = _flex_run(
            toy,
            6,
            2000,
            posterior_sampling(mode="vanilla", count_law="poisson", time_grid="uniform", end_game=end_game),
            seed=1,
            max_len=5,
        )
        rows = [tuple(row[:n]) for row, n in zip(out.tolist(), lengths.tolist())]
        return sum(any(x == 0 for x in row) for row in rows) / len(rows)

    assert outside("argmax") == 0.0
    assert outside("leap") > 0.2


@pytest.fixture(scope="module")
def mask_toy():
    """Padded strings of length 4 over {0, 1} with PAD = 2 ending them, correlated positions."""
    from tests.toy_posterior import ToyMaskPosterior

    support = {(0, 1, 1, 2): 0.3, (1, 0, 2, 2): 0.25, (1, 1, 1, 0): 0.2, (0, 0, 2, 2): 0.15, (1, 2, 2, 2): 0.1}
    return ToyMaskPosterior(support, num_classes=3)


def _mdm_tv(toy, sampler, steps, samples, times=None, seed=0):
    out, stats = mdm_sample(
        toy.mask_predictor(times),
        torch.full((samples, 4), MASK),
        steps=steps,
        sampler=sampler,
        unmasking=LINEAR,
        mask_id=MASK,
        generator=torch.Generator().manual_seed(seed),
    )
    counts = {}
    for row in out.tolist():
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    target = dict(zip(map(tuple, toy.strings.tolist()), toy.probs.tolist()))
    keys = set(counts) | set(target)
    return 0.5 * sum(abs(counts.get(x, 0) / samples - target.get(x, 0.0)) for x in keys), stats


def test_mdm_official_end_game_reproduces_the_distribution(mask_toy):
    tv, stats = _mdm_tv(
        mask_toy, posterior_sampling(mode="vanilla", count_law="poisson", time_grid="uniform"), 100, 4000
    )
    assert tv < 0.04  # sampling noise ~0.01 over 5 strings; tau-leaping bias at 100 steps is small
    assert stats.network_calls <= 100


@pytest.mark.parametrize("mode", ["vanilla", "adaptive"])
def test_mdm_official_end_game_never_calls_the_network_at_one(mask_toy, mode):
    times, leap_times = [], []
    _mdm_tv(mask_toy, posterior_sampling(mode=mode, count_law="poisson", time_grid="uniform"), 20, 300, times)
    assert max(times) == pytest.approx(1 - 1 / 20) and len(times) <= 20
    _mdm_tv(
        mask_toy,
        posterior_sampling(mode=mode, count_law="poisson", time_grid="uniform", end_game="leap"),
        20,
        300,
        leap_times,
    )
    assert max(leap_times) == 1.0  # the Poisson law leaves masks after the last leap: filled at t = 1


def test_mdm_official_end_game_fills_the_masks_left_by_the_exact_argmax(mask_toy):
    calls = []
    exact = mask_toy.mask_predictor()

    def predict(tokens, t, query):
        logits = exact(tokens, t, query)
        calls.append((tokens.clone(), query.clone(), logits))
        return logits

    out, stats = mdm_sample(
        predict,
        torch.full((300, 4), MASK),
        steps=3,
        sampler=posterior_sampling(mode="vanilla", count_law="poisson", time_grid="uniform"),
        unmasking=LINEAR,
        mask_id=MASK,
        generator=torch.Generator().manual_seed(0),
        call_every_step=True,
    )
    before, query, logits = calls[-1]
    assert len(calls) == 3 and stats.final_reveals == int(query.sum()) > 0
    assert torch.equal(out[query], logits.argmax(-1)) and torch.equal(out[~query], before[~query])


def _plain_and_event_driven(predictor_of, sampler, steps, rows, seed=0):
    """(tokens, stats, row counts of the calls) of mdm_sample run plainly and event-driven with one seed."""
    runs = []
    for every in (True, False):
        seen = []
        predict = predictor_of()

        def counted(tokens, t, query, predict=predict, seen=seen):
            seen.append(tokens.shape[0])
            return predict(tokens, t, query)

        out, stats = mdm_sample(
            counted,
            torch.full((rows, 4), MASK),
            steps=steps,
            sampler=sampler,
            unmasking=LINEAR,
            mask_id=MASK,
            generator=torch.Generator().manual_seed(seed),
            call_every_step=every,
        )
        runs.append((out, stats, seen))
    return runs


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "vanilla", "count_law": "poisson", "time_grid": "uniform"},
        {"mode": "vanilla", "count_law": "binomial", "end_game": "leap"},
        {"mode": "adaptive", "count_law": "poisson", "time_grid": "uniform", "temperature": 1.0},
        {"mode": "adaptive", "count_law": "poisson", "reveal_count": "flat", "confidence": "margin", "temperature": 0},
    ],
)
def test_event_driven_mdm_sampling_gives_the_plain_samplers_paths_with_fewer_rows_evaluated(mask_toy, settings):
    """With one random stream, skipping the rows with nothing due changes no path: the reveal draws come before
    the network, and tokens are drawn for the revealed masks only."""
    (plain, plain_stats, plain_rows), (event, event_stats, event_rows) = _plain_and_event_driven(
        mask_toy.mask_predictor, posterior_sampling(**settings), steps=512, rows=200
    )
    assert torch.equal(plain, event)
    assert plain_stats.row_calls == sum(plain_rows) == 200 * plain_stats.network_calls  # every row, every call
    assert event_stats.row_calls == sum(event_rows) < plain_stats.row_calls / 20
    # at most one row-evaluation per position a row reveals, plus the end game's
    assert event_stats.row_calls <= 200 * (4 + 1)


def test_event_driven_mdm_sampling_at_many_steps_still_reproduces_the_distribution(mask_toy):
    tv, stats = _mdm_tv(mask_toy, posterior_sampling(mode="vanilla", count_law="poisson"), 4096, 4000)
    assert tv < 0.03 and stats.row_calls <= 4000 * 5


def _grow_one_row(predict):
    """flex_sample from g1 g2 = 2 3 over 8 Poisson steps, lengths capped at 12."""
    return flex_sample(
        predict,
        torch.tensor([[2, 3]]),
        torch.ones(1, 2, dtype=torch.bool),
        torch.tensor([2]),
        steps=8,
        sampler=posterior_sampling(count_law="poisson"),
        insertion=LINEAR,
        unmasking=LINEAR,
        mask_id=MASK,
        pad_id=PAD,
        max_len=12,
    )


def test_a_network_that_returns_nan_stops_the_samplers_with_one_line(toy):
    def nan_mask(tokens, t, query):
        return torch.full((int(query.sum()), 3), torch.nan)

    def nan_gaps(tokens, fixed, lengths, t, query):
        return torch.zeros((int(query.sum()), 4)), torch.full((tokens.shape[0], tokens.shape[1] + 1), torch.nan)

    with pytest.raises(ValueError, match="NaN or infinite"):
        mdm_sample(
            nan_mask, torch.full((3, 4), MASK), steps=8, sampler=SamplerSettings(), unmasking=LINEAR, mask_id=MASK
        )
    with pytest.raises(ValueError, match="NaN or infinite"):
        _grow_one_row(nan_gaps)


def test_huge_expected_gaps_are_dropped_at_the_length_cap_not_overflowed():
    def huge(tokens, fixed, lengths, t, query):
        return torch.zeros((int(query.sum()), 4)), torch.full((tokens.shape[0], tokens.shape[1] + 1), 1e30)

    out, lengths, stats = _grow_one_row(huge)
    assert lengths.tolist() == [2] and stats.capped_insertions == 7


def test_a_stretch_closed_with_a_count_no_path_fits_is_flagged():
    """On a line (min_between = |a - b| - 1): m masks join a and b only if m >= |a - b| - 1 with its parity."""
    from agents.samplers import closed_infeasible

    def line(a, b):
        return (a - b).abs() - 1

    before = torch.tensor(
        [[0, MASK, 3, PAD], [0, MASK, 2, PAD], [0, MASK, MASK, 3], [0, MASK, MASK, 4], [0, MASK, MASK, 4]]
    )
    after = torch.tensor([[0, 1, 3, PAD], [0, 1, 2, PAD], [0, 1, 2, 3], [0, 1, MASK, 4], [0, 1, 2, 4]])
    lengths = torch.tensor([3, 3, 4, 4, 4])
    flagged = closed_infeasible(before, after, lengths, MASK, line)
    # 1 mask for distance 3 (needs 2); 1 for distance 2 (fits); 2 for 3 (fits); still open; 2 for 4 (parity)
    assert flagged.tolist() == [True, False, False, False, True]
