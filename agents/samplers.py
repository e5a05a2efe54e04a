"""Samplers: tau-leaping on a time grid for FlexMDM (insert + unmask) and the padded MDM (unmask).

Both take a *predictor* instead of a network, so the exact posterior of a toy distribution can be
plugged in to test them (``tests/test_samplers.py``). Unmasking is ``vanilla`` (each mask revealed
when exactly one of its per-token Poisson clocks rings) or ``adaptive`` (a Poisson number of the
most confident masks per row); the number of events per step follows the paper's Poisson law or the
interpolant's exact binomial step law (see ``SamplerSettings``). Random draws use float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F

from agents.schedules import PolynomialSchedule

UNMASK_MODES = ("vanilla", "adaptive")
CONFIDENCES = ("top_prob", "margin")
COUNT_LAWS = ("poisson", "binomial")
TIME_GRIDS = ("uniform", "balanced")
END_GAMES = ("argmax", "leap")
REVEAL_COUNTS = ("hazard", "flat")


GAP_CAP = 1e6  # expected gaps are clamped here: a count that large is dropped at any length cap anyway


class FlexPredictor(Protocol):
    def __call__(self, tokens, fixed, lengths, t, query) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (M, C) at the ``query`` positions in row-major order, log expected gaps (B, N + 1))."""


class MaskPredictor(Protocol):
    def __call__(self, tokens, t, query) -> torch.Tensor:
        """Logits (M, C) at the ``query`` positions in row-major order."""


@dataclass
class SamplerSettings:
    """The sampler's settings: how masks are revealed (and, for FlexMDM, how many are inserted) on each step.

    The defaults are the suite's protocol; ``agents.learned.PROTOCOLS`` names it and the paper's.

    ``count_law`` "poisson" is the paper's tau-leaping: Poisson(tau x rate) events. "binomial" uses
    the interpolant's exact step law instead: each pending event (a mask's reveal, a missing
    token's insertion) falls in [t, t + tau] with probability (a(t+tau) - a(t)) / (1 - a(t)); for
    insertions the pending count is the expected gap g rounded stochastically (mean kept), or to
    the nearest integer at temperature 0. At the last step that probability is 1, so nothing is
    left to chance at t = 1.

    ``time_grid`` "uniform" steps t_k = k / steps; "balanced" places the steps so that each expects
    the same number of events (insertions plus reveals), which puts more steps near t = 1 where
    FlexMDM's reveals crowd (for the MDM's linear schedule both grids are the same).

    ``feasible_counts`` (binomial law; FlexMDM on a grid): the pending insertions are corrected, by
    the fewest changes, so that every stretch between two consecutive known cells is headed for a
    number of cells a path can have there (see ``feasible_pending``); an inference option of ours,
    not the paper's. It needs the "leap" end game, which makes the last step's insertions. None (the
    default): on where it applies, i.e. with the binomial law and the "leap" end game.

    ``end_game`` "argmax" is the official FlexMDM code's: the last step, at t = 1 - tau, sets every
    remaining mask to its argmax token and inserts nothing, so the network is never called at a time
    outside training. "leap" tau-leaps the last interval like the others and then fills the masks
    still left with one more network call at t = 1 (the suite's sampler; kept for comparability).

    ``reveal_count`` (adaptive, Poisson law): "hazard" draws Poisson(tau x b'(t) / (1 - b(t)) x masks) reveals
    per row, the paper's rate; "flat" draws Poisson(tau x masks), as the released FlexMDM code's confidence
    sampler does (``any_order_mask_insertion_tau_leaping_sampling``), leaving more masks to its end game.
    """

    mode: str = "adaptive"
    confidence: str = "top_prob"
    window: int | None = None  # adaptive: only the leftmost ``window`` masks of a row compete
    temperature: float = 0.0  # 0 = argmax
    count_law: str = "binomial"  # or "poisson": the paper's tau-leaping
    time_grid: str = "balanced"  # or "uniform"
    feasible_counts: bool | None = None  # None: on where it applies
    end_game: str = "leap"  # or "argmax": the official code's
    reveal_count: str = "hazard"  # adaptive, Poisson law: or "flat", the official code's Poisson(tau x masks)

    def __post_init__(self):
        if self.feasible_counts is None:
            self.feasible_counts = self.count_law == "binomial" and self.end_game == "leap"
        if self.end_game not in END_GAMES:
            raise ValueError(f"unknown end game {self.end_game!r}; choose from {END_GAMES}")
        if self.time_grid not in TIME_GRIDS:
            raise ValueError(f"unknown time grid {self.time_grid!r}; choose from {TIME_GRIDS}")
        if self.count_law not in COUNT_LAWS:
            raise ValueError(f"unknown count law {self.count_law!r}; choose from {COUNT_LAWS}")
        if self.reveal_count not in REVEAL_COUNTS:
            raise ValueError(f"unknown reveal count {self.reveal_count!r}; choose from {REVEAL_COUNTS}")
        if self.reveal_count == "flat" and (self.mode, self.count_law) != ("adaptive", "poisson"):
            raise ValueError(
                "reveal_count 'flat' is the official adaptive sampler's: use mode 'adaptive', count_law 'poisson'"
            )
        if self.mode not in UNMASK_MODES:
            raise ValueError(f"unknown unmasking mode {self.mode!r}; choose from {UNMASK_MODES}")
        if self.confidence not in CONFIDENCES:
            raise ValueError(f"unknown confidence {self.confidence!r}; choose from {CONFIDENCES}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be a positive number of masks, got {self.window}")
        if self.feasible_counts and self.count_law != "binomial":
            raise ValueError("feasible_counts corrects the binomial law's pending insertions: use count_law 'binomial'")
        if self.feasible_counts and self.end_game != "leap":
            raise ValueError("feasible_counts needs the last step's insertions: use end_game 'leap'")


@dataclass
class SamplerStats:
    """Counters reported with every result."""

    network_calls: int = 0
    steps: int = 0
    final_reveals: int = 0  # masks left to the end game's argmax
    row_calls: int = 0  # rows the network saw, summed over its calls: the NFE of all paths together
    infeasible_closes: int = 0  # FlexMDM: rows where a stretch's last mask was revealed with a count no path fits
    count_error_jumps: int = 0  # ... of which the final path has a non-adjacent step
    capped_insertions: int = 0  # (row, step) events whose insertions were dropped at the length cap
    extra: dict = field(default_factory=dict)


def draw_tokens(logits: torch.Tensor, temperature: float, generator) -> torch.Tensor:
    """One token per row of ``logits`` (M, C): Gumbel-max in float64, or argmax at temperature 0."""
    if temperature == 0 or logits.shape[0] == 0:
        return logits.argmax(-1)
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).clamp_(1e-300, 1.0)
    return (logits.double() / temperature - torch.log(-torch.log(u))).argmax(-1)


def confidence_scores(logits: torch.Tensor, kind: str) -> torch.Tensor:
    probs = torch.softmax(logits.double(), dim=-1)
    if kind == "top_prob":
        return probs.max(-1).values
    top2 = probs.topk(min(2, probs.shape[-1]), dim=-1).values
    return top2[:, 0] - (top2[:, 1] if top2.shape[1] > 1 else 0)


def due_reveals(
    query, leap_rate, step_prob, sampler: SamplerSettings, generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The network-free half of an unmasking step: how many masks each row reveals, (B,), and (vanilla) which
    ones, (B, N); None for adaptive, which picks its masks by confidence once it has the network's logits.

    Whether a mask is revealed never depends on the network (vanilla: exactly one of its per-token Poisson
    clocks Poisson(leap_rate * f[v]) rings, with probability lam e^-lam since f sums to 1; adaptive: a Poisson
    or binomial count per row), so a row with nothing due needs no network call on this step.
    ``leap_rate`` = tau * b'(t) / (1 - b(t)) (Poisson law), ``step_prob`` = (b(t+tau) - b(t)) / (1 - b(t))
    (binomial law); with ``sampler.reveal_count`` "flat" (the official code's confidence sampler) the adaptive
    count is Poisson(tau * masks), without the hazard b' / (1 - b).
    """
    binomial = sampler.count_law == "binomial"
    if sampler.mode == "vanilla":
        lam = torch.as_tensor(leap_rate, dtype=torch.float64)
        prob = torch.as_tensor(step_prob, dtype=torch.float64) if binomial else lam * torch.exp(-lam)
        chosen = torch.zeros(query.shape, dtype=torch.bool)
        chosen[query] = torch.rand(int(query.sum()), generator=generator, dtype=torch.float64) < prob
        return chosen.sum(1), chosen
    masks = query.sum(1).double()
    if binomial:
        counts = torch.binomial(masks, torch.full_like(masks, step_prob), generator=generator)
    else:
        counts = torch.poisson(leap_rate * masks, generator=generator)
    return counts.long().minimum(query.sum(1)), None


def apply_reveals(tokens, query, logits, counts, chosen, sampler: SamplerSettings, generator) -> torch.Tensor:
    """The second half: the new tokens (B, N), given the logits (M, C) at the ``query`` positions in row-major
    order and ``due_reveals``' counts and (vanilla) chosen masks. Tokens are drawn for the revealed masks only."""
    if chosen is None:  # adaptive: the ``counts`` most confident candidates of each row
        candidates = query
        if sampler.window is not None:
            candidates = query & (query.cumsum(1) <= sampler.window)
        conf = torch.full(query.shape, -1.0, dtype=torch.float64)
        conf[query] = confidence_scores(logits, sampler.confidence)
        conf[~candidates] = -2.0
        order = conf.argsort(dim=1, descending=True, stable=True)
        ranks = torch.empty_like(order)
        ranks.scatter_(1, order, torch.arange(order.shape[1]).expand_as(order))
        chosen = candidates & (ranks < counts[:, None])
    picked = chosen[query]
    out = tokens.clone()
    out[chosen] = draw_tokens(logits[picked], sampler.temperature, generator)
    return out


def reveal(tokens, query, logits, leap_rate, step_prob, sampler: SamplerSettings, generator) -> torch.Tensor:
    """One unmasking step on every row (``due_reveals`` then ``apply_reveals``); returns the new tokens (B, N)."""
    counts, chosen = due_reveals(query, leap_rate, step_prob, sampler, generator)
    return apply_reveals(tokens, query, logits, counts, chosen, sampler, generator)


@functools.lru_cache(maxsize=64)
def time_grid(
    steps: int, kind: str, unmasking: PolynomialSchedule, insertion: PolynomialSchedule | None = None
) -> tuple[float, ...]:
    """The ``steps + 1`` times 0 = t_0 < .. < t_steps = 1 of a sampler.

    "balanced": equal increments of the expected number of events per token, E(t) = b(t) for the
    MDM and E(t) = a(t) + c(t) for FlexMDM, where c(t) = P(T2 <= t) = int_0^t a'(s) (b(t) - b(s)) /
    (1 - b(s)) ds is the clean fraction. Since (b(t) - b(s)) / (1 - b(s)) = 1 - (1 - b(t)) / (1 - b(s)),
    c(t) = int_0^t a' ds - (1 - b(t)) int_0^t a' / (1 - b) ds: two running sums on a fine grid (left
    Riemann, so 1 - b is never 0 inside), inverted by interpolation.
    """
    if kind == "uniform":
        return tuple(k / steps for k in range(steps + 1))
    fine = torch.linspace(0, 1, 4097, dtype=torch.float64)
    b = unmasking.value(fine)
    if insertion is None:
        events = b
    else:
        step = fine[1] - fine[0]
        a_prime = insertion.derivative(fine[:-1]) * step

        def running_sum(x):  # sum over the grid points s <= t, for every t of the grid
            total = torch.cumsum(x, 0)
            return torch.cat([total, total[-1:]])

        clean = running_sum(a_prime) - (1 - b) * running_sum(a_prime / (1 - b[:-1]))
        events = insertion.value(fine) + clean
    targets = torch.linspace(0, float(events[-1]), steps + 1, dtype=torch.float64)
    index = torch.searchsorted(events, targets).clamp(1, len(fine) - 1)
    lo, hi = events[index - 1], events[index]
    times = fine[index - 1] + (targets - lo) / (hi - lo).clamp_min(1e-12) * (fine[1] - fine[0])
    times[0], times[-1] = 0.0, 1.0
    return tuple(times.tolist())


def reveal_laws(unmasking: PolynomialSchedule, t: float, s: float, sampler: SamplerSettings) -> tuple[float, float]:
    """``step_laws`` of the unmasking schedule, with the flat reveal count's leap rate tau where it applies."""
    leap, prob = step_laws(unmasking, t, s)
    return (s - t if sampler.reveal_count == "flat" else leap), prob


def step_laws(schedule: PolynomialSchedule, t: float, s: float) -> tuple[float, float]:
    """(tau x rate(t), P(event in [t, s] | not before t)) of a schedule for the step [t, s]."""
    t64, s64 = torch.tensor(t, dtype=torch.float64), torch.tensor(s, dtype=torch.float64)
    return float((s64 - t64) * schedule.rate(t64)), float(schedule.conditional_prob(t64, s64))


def insert_masks(tokens, fixed, lengths, counts, *, mask_id: int, pad_id: int):
    """Insert ``counts[b, i]`` masks into slot i (before token i) of each row; flags move with their tokens."""
    batch, width = tokens.shape
    new_lengths = lengths + counts.sum(1)
    new_width = int(new_lengths.max())
    new_pos = torch.arange(width)[None, :] + counts.cumsum(1)[:, :width]
    valid = torch.arange(width)[None, :] < lengths[:, None]
    new_valid = torch.arange(new_width)[None, :] < new_lengths[:, None]
    new_tokens = torch.full((batch, new_width), pad_id, dtype=tokens.dtype).masked_fill_(new_valid, mask_id)
    new_fixed = torch.zeros((batch, new_width), dtype=torch.bool)
    rows = torch.arange(batch)[:, None].expand(batch, width)
    new_tokens[rows[valid], new_pos[valid]] = tokens[valid]
    new_fixed[rows[valid], new_pos[valid]] = fixed[valid]
    return new_tokens, new_fixed, new_lengths


def stretches(tokens, lengths, mask_id: int, min_between):
    """The stretches between consecutive known (non-mask) tokens of each row: (known (B, N); known tokens before
    each slot / mask position, (B, N + 1); masks in stretch s, the fewest a path needs there, min_between of its
    two end tokens, and whether stretch s exists (1 <= s < known tokens), each (B, N + 1)). Stretch s lies between
    the s-th and (s + 1)-th known tokens; a mask at position j is in stretch known_before[:, j + 1]."""
    batch, width = tokens.shape
    valid = torch.arange(width)[None, :] < lengths[:, None]
    known = valid & (tokens != mask_id)
    known_before = F.pad(known.long().cumsum(1), (1, 0))
    n_known = known.sum(1, keepdim=True)
    masks = torch.zeros((batch, width + 1), dtype=torch.long).scatter_add_(
        1, known_before[:, 1:], (valid & ~known).long()
    )
    rank = torch.where(known, known_before[:, 1:] - 1, width)  # the known tokens in order: each stretch's ends
    ordered = torch.full((batch, width + 1), -1, dtype=tokens.dtype).scatter_(1, rank, tokens)[:, :width]
    has = torch.arange(1, width)[None, :] < n_known
    need = torch.zeros_like(masks)
    need[:, 1:width] = torch.where(
        has, min_between(ordered[:, :-1].clamp_min(0), ordered[:, 1:].clamp_min(0)).long(), 0
    )
    stretch = (torch.arange(width + 1)[None, :] >= 1) & (torch.arange(width + 1)[None, :] < n_known)
    return known, known_before, masks, need, stretch


def feasible_pending(
    pending: torch.Tensor,
    gaps: torch.Tensor,
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    mask_id: int,
    min_between: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Pending insertion counts (B, N + 1) corrected so that each stretch between two consecutive known
    (non-mask) tokens a, b will hold m masks with m >= min_between(a, b) and m of the same parity (on a
    grid: m + 1 steps join a and b only if m + 1 >= |a - b|_1 and m + 1 = |a - b|_1 mod 2). A short
    stretch is raised to its minimum at its slot of largest expected gap; a stretch of the wrong parity
    changes by one at the slot whose expected gap ``gaps`` lies closest to a rounding boundary (down
    if that keeps the minimum and the slot has a pending count, else up). Slots before the first and
    after the last known token get nothing. Each correction is the smallest possible."""
    width = tokens.shape[1]
    known, known_before, masks, need, stretch = stretches(tokens, lengths, mask_id, min_between)
    n_known = known.sum(1, keepdim=True)
    slot_valid = torch.arange(width + 1)[None, :] <= lengths[:, None]
    inner = slot_valid & (known_before >= 1) & (known_before < n_known)  # slots strictly between known tokens
    pending = torch.where(inner, pending, torch.zeros_like(pending))
    segment = known_before  # stretch s lies between the s-th and (s + 1)-th known tokens
    masks, need = masks.to(pending.dtype), need.to(pending.dtype)
    planned = masks + torch.zeros_like(pending).scatter_add_(1, segment, pending)

    def pick(score):  # per stretch, the inner slot of highest score (first on ties)
        score = torch.where(inner, score, torch.full_like(score, -torch.inf))
        best = torch.full_like(score, -torch.inf).scatter_reduce(1, segment, score, "amax")
        first = torch.full_like(segment, width + 1).scatter_reduce(
            1,
            segment,
            torch.where(score == best.gather(1, segment), torch.arange(width + 1).expand_as(segment), width + 1),
            "amin",
        )
        return first.clamp_max(width)

    short = stretch & (planned < need)
    slot = pick(gaps.to(pending.dtype))
    add = torch.zeros_like(pending).scatter_add_(1, slot, torch.where(short, need - planned, 0))
    pending, planned = pending + add, torch.where(short, need, planned)
    odd = stretch & ((planned - need) % 2 == 1)
    frac = gaps.to(pending.dtype) - pending
    slot = pick(-(frac.abs() - 0.5).abs())  # nearest to a rounding boundary: a flip costs least there
    chosen_pending = pending.gather(1, slot)
    down = (planned - 1 >= need) & (chosen_pending >= 1) & (gaps.to(pending.dtype).gather(1, slot) < chosen_pending)
    step = torch.where(odd, torch.where(down, -1, 1), 0).to(pending.dtype)
    return pending + torch.zeros_like(pending).scatter_add_(1, slot, step)


def flex_sample(
    predict: FlexPredictor,
    tokens: torch.Tensor,
    fixed: torch.Tensor,
    lengths: torch.Tensor,
    *,
    steps: int,
    sampler: SamplerSettings,
    insertion: PolynomialSchedule,
    unmasking: PolynomialSchedule,
    mask_id: int,
    pad_id: int,
    max_len: int,
    generator: torch.Generator | None = None,
    on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    min_between: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, SamplerStats]:
    """Grow every row from its start state (e.g. the subgoals) to a full sequence; returns (tokens, lengths, stats).

    The network is called on every row at every step: the insertion rate g(x, t) a'(t) / (1 - a(t)) depends on
    t through g even where x does not change, so no step can be skipped without changing the law.
    ``min_between(a, b)``: the fewest tokens that can stand between known tokens a and b (for
    ``sampler.feasible_counts``, and for counting the stretches closed with a count no path fits)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if sampler.feasible_counts and min_between is None:
        raise ValueError("feasible_counts needs min_between: the fewest tokens between two known ones")
    stats = SamplerStats(steps=steps)
    infeasible = torch.zeros(tokens.shape[0], dtype=torch.bool)
    times = time_grid(steps, sampler.time_grid, unmasking, insertion)
    for k in range(steps):
        t, s = times[k], times[k + 1]
        query = tokens == mask_id
        t_batch = torch.full((tokens.shape[0],), t)
        logits, log_gaps = _checked(*predict(tokens, fixed, lengths, t_batch, query), t)
        stats.network_calls += 1
        stats.row_calls += tokens.shape[0]
        before = tokens
        if k == steps - 1 and sampler.end_game == "argmax":
            tokens = _argmax_fill(tokens, query, logits, stats)
            if min_between is not None:
                infeasible |= closed_infeasible(before, tokens, lengths, mask_id, min_between)
            if on_step is not None:
                on_step(k, tokens, lengths)
            return tokens, lengths, _close(stats, infeasible, tokens, lengths, min_between)
        leap_a, prob_a = step_laws(insertion, t, s)
        tokens = reveal(tokens, query, logits, *reveal_laws(unmasking, t, s, sampler), sampler, generator)
        if min_between is not None:
            infeasible |= closed_infeasible(before, tokens, lengths, mask_id, min_between)
        slots = torch.arange(tokens.shape[1] + 1)[None, :] <= lengths[:, None]
        gaps = log_gaps.double().exp().clamp_max(GAP_CAP).masked_fill(~slots, 0.0)
        if sampler.count_law == "binomial":
            if sampler.temperature == 0:  # the most likely count, as argmax is for tokens
                pending = (gaps + 0.5).floor()
            else:  # stochastic rounding keeps the mean
                pending = gaps.floor() + (
                    torch.rand(gaps.shape, generator=generator, dtype=torch.float64) < gaps.frac()
                )
            if sampler.feasible_counts:
                pending = feasible_pending(pending, gaps, tokens, lengths, mask_id, min_between)
            counts = torch.binomial(pending, torch.full_like(pending, prob_a), generator=generator)
        else:
            counts = torch.poisson(leap_a * gaps, generator=generator)
        counts = counts.long()
        over = lengths + counts.sum(1) > max_len
        stats.capped_insertions += int(over.sum())
        counts[over] = 0
        if counts.any():
            tokens, fixed, lengths = insert_masks(tokens, fixed, lengths, counts, mask_id=mask_id, pad_id=pad_id)
        if on_step is not None:
            on_step(k, tokens, lengths)
    query = tokens == mask_id
    if query.any():  # the "leap" end game: one more call, at t = 1
        before = tokens
        logits, _ = _checked(*predict(tokens, fixed, lengths, torch.ones(tokens.shape[0]), query), 1.0)
        stats.network_calls += 1
        stats.row_calls += tokens.shape[0]
        tokens = _argmax_fill(tokens, query, logits, stats)
        if min_between is not None:
            infeasible |= closed_infeasible(before, tokens, lengths, mask_id, min_between)
    return tokens, lengths, _close(stats, infeasible, tokens, lengths, min_between)


def _checked(logits: torch.Tensor, log_gaps: torch.Tensor | None, t: float):
    """The network's outputs, refused in one line if a logit or log gap is NaN or +inf (a sampler fed them would
    never finish, or would sample garbage)."""
    for out in (logits, log_gaps):
        if out is not None and (out.isnan() | (out == torch.inf)).any():
            raise ValueError(f"the network returned NaN or infinite outputs at t = {t:.4g} (are its weights finite?)")
    return logits, log_gaps


def closed_infeasible(before, after, lengths, mask_id: int, min_between) -> torch.Tensor:
    """Rows (B,) where this step revealed the last masks of a stretch between two known tokens a, b whose number
    of masks m no path can fill: m + 1 steps join a and b only if m >= min_between(a, b) with the same parity."""
    known, known_before, masks, need, stretch = stretches(before, lengths, mask_id, min_between)
    valid = torch.arange(before.shape[1])[None, :] < lengths[:, None]
    revealed = valid & ~known & (after != mask_id)
    shut = torch.zeros_like(masks).scatter_add_(1, known_before[:, 1:], revealed.long())
    closed = stretch & (masks > 0) & (shut == masks)
    return (closed & ((masks < need) | ((masks - need) % 2 == 1))).any(1)


def _close(stats: SamplerStats, infeasible, tokens, lengths, min_between) -> SamplerStats:
    """``stats`` with the rows that closed a stretch infeasibly, and those of them whose path ends with a jump."""
    if min_between is None:
        return stats
    width = tokens.shape[1]
    pairs = torch.arange(1, width)[None, :] < lengths[:, None]
    jump = (min_between(tokens[:, :-1], tokens[:, 1:]) != 0) & pairs
    stats.infeasible_closes += int(infeasible.sum())
    stats.count_error_jumps += int((infeasible & jump.any(1)).sum())
    return stats


def _argmax_fill(tokens, query, logits, stats: SamplerStats) -> torch.Tensor:
    """``tokens`` with every ``query`` position set to its argmax token (counted in ``stats.final_reveals``)."""
    stats.final_reveals += int(query.sum())
    tokens = tokens.clone()
    tokens[query] = logits.argmax(-1)
    return tokens


def mdm_sample(
    predict: MaskPredictor,
    tokens: torch.Tensor,
    *,
    steps: int,
    sampler: SamplerSettings,
    unmasking: PolynomialSchedule,
    mask_id: int,
    generator: torch.Generator | None = None,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    call_every_step: bool = False,
) -> tuple[torch.Tensor, SamplerStats]:
    """Reveal the masks of fixed-length rows ``tokens`` (B, L) over ``steps`` steps; the end game
    (``sampler.end_game``) sets the masks left by argmax.

    Event-driven: which masks a step reveals is drawn before the network is called (``due_reveals``), and
    the network sees only the rows with something due, so a step costs what its reveals cost, at most one
    call per step and one row-evaluation per revealed position of a row. ``call_every_step`` calls it on
    every row at every step, as plain tau-leaping does: the same draws in the same order, so the same paths
    (the reference the event-driven sampler is tested and timed against)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    stats = SamplerStats(steps=steps)
    times = time_grid(steps, sampler.time_grid, unmasking)
    for k in range(steps):
        t, s = times[k], times[k + 1]
        query = tokens == mask_id
        if not query.any():
            break
        last = k == steps - 1 and sampler.end_game == "argmax"
        if last:
            counts, chosen = query.sum(1), None
        else:
            counts, chosen = due_reveals(query, *reveal_laws(unmasking, t, s, sampler), sampler, generator)
        rows = torch.ones_like(counts, dtype=torch.bool) if call_every_step else counts > 0
        if rows.any():
            sub = rows.nonzero().squeeze(1)
            logits = _checked(predict(tokens[sub], torch.full((len(sub),), t), query[sub]), None, t)[0]
            stats.network_calls += 1
            stats.row_calls += len(sub)
            tokens = tokens.clone()
            if last:
                tokens[sub] = _argmax_fill(tokens[sub], query[sub], logits, stats)
            else:
                picked = None if chosen is None else chosen[sub]
                tokens[sub] = apply_reveals(tokens[sub], query[sub], logits, counts[sub], picked, sampler, generator)
        if on_step is not None:
            on_step(k, tokens)
    query = tokens == mask_id
    if query.any():  # the "leap" end game: one more call, at t = 1
        logits = _checked(predict(tokens, torch.ones(tokens.shape[0]), query), None, 1.0)[0]
        stats.network_calls += 1
        stats.row_calls += tokens.shape[0]
        tokens = _argmax_fill(tokens, query, logits, stats)
    return tokens, stats
