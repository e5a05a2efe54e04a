"""Turning dataset splits into token tensors, and grouping examples into length-sorted batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.tokenizer import CellTokenizer


@dataclass
class TokenizedSplit:
    """All paths of a split as one flat token array plus offsets, with the subgoal positions."""

    tokens: torch.Tensor  # (total,) long
    offsets: torch.Tensor  # (n + 1,) long
    subgoal_index: torch.Tensor  # (n, K) long

    @classmethod
    def from_split(cls, split, tokenizer: CellTokenizer) -> TokenizedSplit:
        return cls(
            torch.from_numpy(tokenizer.encode(split.cells)),
            torch.from_numpy(np.array(split.offsets, dtype=np.int64)),  # copies: the split is read-only
            torch.from_numpy(np.array(split.subgoal_index, dtype=np.int64)),
        )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def augmented(self, generator: torch.Generator, *, reverse: bool, redraw: bool) -> TokenizedSplit:
        """The same paths, each reversed with probability 1/2 (``reverse``; its subgoals reversed with
        it) and with its K - 2 intermediate subgoals drawn anew, uniformly among its inner cells and
        kept in path order, as the generator draws them (``redraw``). Every path stays a valid path of
        the same start-goal pair, so nothing leaks from the held-out pairs."""
        lengths, starts = self.lengths, self.offsets[:-1]
        n, k = self.subgoal_index.shape
        flipped = torch.rand(n, generator=generator) < 0.5 if reverse else torch.zeros(n, dtype=torch.bool)
        owner = torch.repeat_interleave(torch.arange(n), lengths)
        local = torch.arange(len(self.tokens)) - starts[owner]
        source = torch.where(flipped[owner], starts[owner] + lengths[owner] - 1 - local, starts[owner] + local)
        subgoals = torch.where(flipped[:, None], lengths[:, None] - 1 - self.subgoal_index.flip(1), self.subgoal_index)
        if redraw and k > 2:
            width = int(lengths.max())
            inner = (torch.arange(width)[None, :] >= 1) & (torch.arange(width)[None, :] <= lengths[:, None] - 2)
            keys = torch.rand((n, width), generator=generator).masked_fill_(~inner, 2.0)
            chosen = keys.topk(k - 2, dim=1, largest=False).indices.sort(dim=1).values
            subgoals = torch.cat([torch.zeros(n, 1, dtype=torch.long), chosen, lengths[:, None] - 1], dim=1)
        return TokenizedSplit(self.tokens[source], self.offsets, subgoals)

    def paths(self, indices: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Right-padded paths (B, L), their lengths (B,) and the subgoal flags (B, L) of examples ``indices``."""
        starts, lengths = self.offsets[indices], self.lengths[indices]
        width = int(lengths.max())
        cols = torch.arange(width)[None, :]
        valid = cols < lengths[:, None]
        flat = (starts[:, None] + cols).clamp_max(len(self.tokens) - 1)
        tokens = torch.where(valid, self.tokens[flat], torch.full_like(flat, pad_id))
        fixed = torch.zeros(tokens.shape, dtype=torch.bool)
        fixed.scatter_(1, self.subgoal_index[indices], True)
        return tokens, lengths, fixed


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device`` without making the host wait for the device's queue: on CUDA the copy
    starts from pinned memory (a copy from pageable memory would first synchronise with the stream)."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def positions_on(mask: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) of the true entries of a host-made (B, N) ``mask``, row-major, on ``device``: found on
    the host, so that indexing with them on the device needs no synchronisation."""
    rows, cols = mask.nonzero(as_tuple=True)
    return to_device(rows, device), to_device(cols, device)


def stratified_times(count: int, t_max: float, generator: torch.Generator) -> torch.Tensor:
    """Low-discrepancy times: one uniform draw in each of ``count`` equal slices of [0, t_max), shuffled."""
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    t = (torch.arange(count, dtype=torch.float64) + u) / count * t_max
    return t[torch.randperm(count, generator=generator)]


def epoch_batches(
    num_examples: int, batch_size: int, cost: callable, t_max: float, generator: torch.Generator, group: int = 32
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of (indices, times) batches.

    Examples are shuffled, cut into groups of ``group`` batches, given stratified times within the
    group, and sorted inside the group by ``cost(indices, times)`` (the expected noisy length) so a
    batch holds sequences of similar length; the batch order is shuffled again.
    """
    order = torch.randperm(num_examples, generator=generator)
    batches = []
    for start in range(0, num_examples, batch_size * group):
        chunk = order[start : start + batch_size * group]
        times = stratified_times(len(chunk), t_max, generator)
        sort = torch.argsort(cost(chunk, times), stable=True)
        chunk, times = chunk[sort], times[sort]
        batches += [(chunk[i : i + batch_size], times[i : i + batch_size]) for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffle]
