"""Training objectives: FlexMDM's eq. 7 and the MDM's eq. 4, both as per-batch sums of schedule-weighted
terms divided by a fixed count (the number of clean tokens in the batch), so the weights keep their meaning."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from agents.interpolants import FlexState
from agents.model import DiT
from agents.schedules import PolynomialSchedule


def poisson_bregman(gap: torch.Tensor, log_rate: torch.Tensor) -> torch.Tensor:
    """phi(gap, g) = g - gap * log g, minimised over g by g = E[gap]."""
    return log_rate.exp() - gap * log_rate


def flex_loss(
    model: DiT,
    state: FlexState,
    *,
    insertion: PolynomialSchedule,
    unmasking: PolynomialSchedule,
    normalizer: float,
) -> tuple[torch.Tensor, dict]:
    """Eq. 7: b'/(1-b) x cross-entropy at masks + a'/(1-a) x phi(gap, g) over the n + 1 slots."""
    logits, log_gaps = model(state.tokens, state.fixed, state.lengths, state.t, state.is_mask)
    t = state.t.float()
    ce = F.cross_entropy(logits, state.targets[state.is_mask], reduction="none")
    mask_weight = unmasking.rate(t)[:, None].expand_as(state.is_mask)[state.is_mask]
    slots = torch.arange(state.gaps.shape[1])[None, :] <= state.lengths[:, None]
    gap_terms = poisson_bregman(state.gaps, log_gaps) * slots
    unmask_loss = (mask_weight * ce).sum() / normalizer
    insert_loss = (insertion.rate(t)[:, None] * gap_terms).sum() / normalizer
    metrics = {
        "unmask_loss": unmask_loss.item(),
        "insert_loss": insert_loss.item(),
        "mask_ce": ce.mean().item() if ce.numel() else 0.0,
    }
    return unmask_loss + insert_loss, metrics


def mdm_loss(
    model: DiT,
    noisy: torch.Tensor,
    is_mask: torch.Tensor,
    clean: torch.Tensor,
    t: torch.Tensor,
    *,
    unmasking: PolynomialSchedule,
    normalizer: float,
) -> tuple[torch.Tensor, dict]:
    """Eq. 4: b'/(1-b) x cross-entropy at masked positions (PAD is an ordinary target)."""
    lengths = torch.full((noisy.shape[0],), noisy.shape[1], dtype=torch.long)
    logits, _ = model(noisy, torch.zeros_like(is_mask), lengths, t, is_mask)
    ce = F.cross_entropy(logits, clean[is_mask], reduction="none")
    weight = unmasking.rate(t.float())[:, None].expand_as(is_mask)[is_mask]
    loss = (weight * ce).sum() / normalizer
    return loss, {"unmask_loss": loss.item(), "mask_ce": ce.mean().item() if ce.numel() else 0.0}
