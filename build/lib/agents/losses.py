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
    masked: tuple[torch.Tensor, torch.Tensor] | None = None,
    insertion: PolynomialSchedule,
    unmasking: PolynomialSchedule,
    normalizer: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 7: b'/(1-b) x cross-entropy at masks + a'/(1-a) x phi(gap, g) over the n + 1 slots.

    ``masked`` = (rows, cols) of the masks in row-major order on the model's device (default: found
    from ``state.is_mask``); passing indices made on the host keeps the step free of host
    synchronisation on a GPU. Metrics are detached tensors.
    """
    rows, cols = masked = state.is_mask.nonzero(as_tuple=True) if masked is None else masked
    logits, log_gaps = model(state.tokens, state.fixed, state.lengths, state.t, masked)
    t = state.t.float()
    ce = F.cross_entropy(logits, state.targets[rows, cols], reduction="none")
    mask_weight = unmasking.rate(t)[rows]
    slots = torch.arange(state.gaps.shape[1], device=state.lengths.device)[None, :] <= state.lengths[:, None]
    gap_terms = poisson_bregman(state.gaps, log_gaps) * slots
    unmask_loss = (mask_weight * ce).sum() / normalizer
    insert_loss = (insertion.rate(t)[:, None] * gap_terms).sum() / normalizer
    metrics = {"unmask_loss": unmask_loss.detach(), "insert_loss": insert_loss.detach(), "mask_ce": _mean(ce)}
    return unmask_loss + insert_loss, metrics


def mdm_loss(
    model: DiT,
    noisy: torch.Tensor,
    is_mask: torch.Tensor,
    clean: torch.Tensor,
    t: torch.Tensor,
    *,
    masked: tuple[torch.Tensor, torch.Tensor] | None = None,
    unmasking: PolynomialSchedule,
    normalizer: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 4: b'/(1-b) x cross-entropy at the masked positions; PAD is an ordinary target.

    ``masked`` as in ``flex_loss`` (default: from ``is_mask``). Every row has the full length, so the
    network runs without a padding mask.
    """
    rows, cols = masked = is_mask.nonzero(as_tuple=True) if masked is None else masked
    logits, _ = model(noisy, torch.zeros_like(is_mask), None, t, masked)
    ce = F.cross_entropy(logits, clean[rows, cols], reduction="none")
    weight = unmasking.rate(t.float())[rows]
    loss = (weight * ce).sum() / normalizer
    return loss, {"unmask_loss": loss.detach(), "mask_ce": _mean(ce)}


def _mean(values: torch.Tensor) -> torch.Tensor:
    """The detached mean of ``values``, 0 when empty (without a host synchronisation)."""
    return values.detach().sum() / max(1, values.numel())
