"""FlexMDM on the maze task: the path grows from its subgoals by insertions, and masks are revealed.

Training sequence x1 = the path's cell tokens; the K subgoal tokens are exempt (never absent or
masked), so x_0 = (g1 .. gK). The model carries an insertion head.
"""

from __future__ import annotations

import torch

from agents.batching import TokenizedSplit, positions_on
from agents.interpolants import flex_interpolate
from agents.losses import flex_loss
from agents.model import DiT
from agents.samplers import SamplerSettings, flex_sample
from agents.schedules import PolynomialSchedule
from agents.tokenizer import CellTokenizer


class FlexMDM:
    """Batch construction, loss and sampling of FlexMDM with subgoal-exempt tokens."""

    name = "flexmdm"
    insertion_head = True

    def __init__(self, tokenizer: CellTokenizer, num_subgoals: int, max_path_len: int):
        self.tokenizer = tokenizer
        self.num_subgoals = num_subgoals
        self.max_path_len = max_path_len
        self.insertion = PolynomialSchedule(1.0)
        self.unmasking = PolynomialSchedule(1.0)

    @property
    def num_classes(self) -> int:
        return self.tokenizer.num_cells

    @property
    def max_len(self) -> int:
        """Length cap of a generated sequence: twice the longest training path."""
        return 2 * self.max_path_len

    def expected_length(self, data: TokenizedSplit, indices: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Expected length of x_t: the subgoals plus a fraction a_t of the other tokens."""
        lengths = data.lengths[indices].double()
        return self.num_subgoals + self.insertion.value(t) * (lengths - self.num_subgoals)

    def loss(self, model: DiT, data: TokenizedSplit, indices, t, generator, shard=slice(None), shards: int = 1):
        """(loss, metrics, number of tokens the network processed) for one batch.

        The batch and its noise are made on the host (the same draws on every device); what the
        device needs, mask positions included, is copied to it without a host synchronisation.
        Data-parallel training: the noise is drawn for the whole batch, the network sees rows
        ``shard`` only, and the loss is scaled by ``shards`` so that averaging the shards' gradients
        gives the whole batch's gradient.
        """
        tokens, lengths, fixed = data.paths(indices, self.tokenizer.pad)
        state = flex_interpolate(
            tokens,
            lengths,
            fixed,
            t,
            insertion=self.insertion,
            unmasking=self.unmasking,
            pad_id=self.tokenizer.pad,
            mask_id=self.tokenizer.mask,
            generator=generator,
        ).rows(shard)
        device = next(model.parameters()).device
        masked = positions_on(state.is_mask, device)
        n_tokens = int(state.lengths.sum()) + len(state.lengths)
        loss, metrics = flex_loss(
            model,
            state.to(device),
            masked=masked,
            insertion=self.insertion,
            unmasking=self.unmasking,
            normalizer=float(lengths.sum()) / shards,
        )
        return loss, metrics, n_tokens

    def min_between(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The fewest cells a path can hold between cells a and b: their Manhattan distance - 1."""
        width = self.tokenizer.width
        return (a // width - b // width).abs() + (a % width - b % width).abs() - 1

    @torch.no_grad()
    def sample(
        self, model: DiT, subgoals: torch.Tensor, *, steps: int, sampler: SamplerSettings, generator=None, on_step=None
    ):
        """Paths (list of token tensors) grown from subgoal tokens (B, K); returns (paths, stats).

        ``on_step(k, body)`` sees the sequences (B, N; PAD after each row's end) after step k.
        """
        device = next(model.parameters()).device
        batch = subgoals.shape[0]

        def predict(tokens, fixed, lengths, t, query):
            logits, log_gaps = model(
                tokens.to(device), fixed.to(device), lengths.to(device), t.to(device), query.to(device)
            )
            return logits.cpu(), log_gaps.cpu()

        tokens, lengths, stats = flex_sample(
            predict,
            subgoals,
            torch.ones(subgoals.shape, dtype=torch.bool),
            torch.full((batch,), subgoals.shape[1]),
            steps=steps,
            sampler=sampler,
            insertion=self.insertion,
            unmasking=self.unmasking,
            mask_id=self.tokenizer.mask,
            pad_id=self.tokenizer.pad,
            max_len=self.max_len,
            generator=generator,
            on_step=None if on_step is None else lambda k, tokens, lengths: on_step(k, tokens),
            min_between=self.min_between,
        )
        return [tokens[b, : lengths[b]] for b in range(batch)], stats
