"""Forward processes (interpolants) that turn clean sequences x1 into noisy states x_t.

``flex_interpolate`` is FlexMDM's joint insertion/unmasking interpolant with exempt tokens (the
maze subgoals: always present and clean); ``mdm_interpolate`` is the masked-diffusion one with a
prompt that is never masked. Time runs from 0 (noise) to 1 (data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agents.batching import to_device
from agents.schedules import PolynomialSchedule


@dataclass
class FlexState:
    """A batch of FlexMDM noisy states x_t, right-padded to the longest row.

    ``tokens`` (B, N) ids with PAD beyond ``lengths``; ``fixed`` (B, N) marks exempt tokens;
    ``targets`` (B, N) the clean token of every present position; ``is_mask`` (B, N);
    ``gaps`` (B, N + 1) the number of absent clean tokens in each slot (slot i sits before
    present token i; slots past ``lengths`` are 0); ``t`` (B,).
    """

    tokens: torch.Tensor
    fixed: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    is_mask: torch.Tensor
    gaps: torch.Tensor
    t: torch.Tensor

    def rows(self, index) -> FlexState:
        """The states of rows ``index`` (a slice or index tensor), trimmed to their longest row."""
        lengths = self.lengths[index]
        width = int(lengths.max()) if len(lengths) else 0
        return FlexState(
            self.tokens[index, :width],
            self.fixed[index, :width],
            lengths,
            self.targets[index, :width],
            self.is_mask[index, :width],
            self.gaps[index, : width + 1],
            self.t[index],
        )

    def to(self, device: torch.device) -> FlexState:
        """The same state on ``device`` (copies start without waiting for the device)."""
        return FlexState(*(to_device(v, device) for v in vars(self).values()))


def sample_event_times(shape, insertion: PolynomialSchedule, unmasking: PolynomialSchedule, generator=None):
    """Per-token insertion time T1 ~ a and unmasking time T2 >= T1 with P(T2 <= t | T1) = (b_t - b_T1)/(1 - b_T1)."""
    u1 = torch.rand(shape, generator=generator, dtype=torch.float64)
    u2 = torch.rand(shape, generator=generator, dtype=torch.float64)
    t1 = insertion.inverse(u1)
    b1 = unmasking.value(t1)
    t2 = unmasking.inverse(b1 + u2 * (1 - b1))
    return t1, torch.maximum(t2, t1)


def flex_interpolate(
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    fixed: torch.Tensor,
    t: torch.Tensor,
    *,
    insertion: PolynomialSchedule,
    unmasking: PolynomialSchedule,
    pad_id: int,
    mask_id: int,
    generator: torch.Generator | None = None,
) -> FlexState:
    """Sample x_t ~ p_t(. | x1) for a right-padded batch of clean sequences ``tokens`` (B, L)."""
    batch, max_len = tokens.shape
    valid = torch.arange(max_len)[None, :] < lengths[:, None]
    t1, t2 = sample_event_times((batch, max_len), insertion, unmasking, generator)
    t1 = t1.masked_fill(fixed, 0.0)
    t2 = t2.masked_fill(fixed, 0.0)
    now = t.to(torch.float64)[:, None]
    present = valid & (t1 <= now)
    clean = present & (t2 <= now)
    new_lengths = present.sum(1)
    width = int(new_lengths.max()) if batch else 0
    rows = torch.arange(batch)[:, None].expand(batch, max_len)
    where = (rows[present], present.cumsum(1)[present] - 1)

    out_tokens = torch.full((batch, width), pad_id, dtype=torch.long)
    out_tokens[where] = torch.where(clean, tokens, torch.full_like(tokens, mask_id))[present]
    targets = torch.full((batch, width), pad_id, dtype=torch.long)
    targets[where] = tokens[present]
    out_fixed = torch.zeros((batch, width), dtype=torch.bool)
    out_fixed[where] = fixed[present]

    absent = valid & ~present
    gaps = torch.zeros((batch, width + 1), dtype=torch.float32)
    # An absent token falls in the slot before the next present token: slot = #present before it.
    slot = present.cumsum(1)[absent]
    gaps.index_put_((rows[absent], slot), torch.ones(len(slot)), accumulate=True)
    return FlexState(out_tokens, out_fixed, new_lengths, targets, out_tokens == mask_id, gaps, t)


def mdm_interpolate(
    tokens: torch.Tensor,
    prompt_len: int,
    t: torch.Tensor,
    *,
    unmasking: PolynomialSchedule,
    mask_id: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask every non-prompt position of ``tokens`` (B, L) with probability 1 - b_t; returns (x_t, is_mask)."""
    u = torch.rand(tokens.shape, generator=generator, dtype=torch.float64)
    keep = u < unmasking.value(t.to(torch.float64))[:, None]
    is_mask = ~keep
    is_mask[:, :prompt_len] = False
    return tokens.masked_fill(is_mask, mask_id), is_mask
