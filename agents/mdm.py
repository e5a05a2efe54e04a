"""The padded masked-diffusion baseline: ``g1 .. gK [SEP] path [PAD] ..`` to a fixed length.

The prompt (subgoals and SEP) is never masked; every other position, PAD included, is an ordinary
target, so the model learns where the path ends. The path is the non-PAD tokens after SEP.
"""

from __future__ import annotations

import torch

from agents.batching import TokenizedSplit, positions_on, to_device
from agents.interpolants import mdm_interpolate
from agents.losses import mdm_loss
from agents.model import DiT
from agents.samplers import SamplerSettings, mdm_sample
from agents.schedules import PolynomialSchedule
from agents.tokenizer import CellTokenizer


class MDM:
    """Batch construction, loss and sampling of the padded MDM."""

    name = "mdm"
    insertion_head = False

    def __init__(self, tokenizer: CellTokenizer, num_subgoals: int, max_path_len: int):
        self.tokenizer = tokenizer
        self.num_subgoals = num_subgoals
        self.max_path_len = max_path_len
        self.unmasking = PolynomialSchedule(1.0)

    @property
    def num_classes(self) -> int:
        return self.tokenizer.num_cells + 1  # cells, then PAD (whose id is num_cells)

    @property
    def prompt_len(self) -> int:
        return self.num_subgoals + 1

    @property
    def max_len(self) -> int:
        return self.prompt_len + self.max_path_len

    def expected_length(self, data: TokenizedSplit, indices: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full((len(indices),), float(self.max_len), dtype=torch.float64)

    def prompt(self, subgoals: torch.Tensor) -> torch.Tensor:
        return torch.cat([subgoals, torch.full((subgoals.shape[0], 1), self.tokenizer.sep)], dim=1)

    def loss(self, model: DiT, data: TokenizedSplit, indices, t, generator, shard=slice(None), shards: int = 1):
        """(loss, metrics, tokens processed); ``shard`` / ``shards`` as in FlexMDM.loss."""
        paths, lengths, fixed = data.paths(indices, self.tokenizer.pad)
        subgoals = paths.gather(1, data.subgoal_index[indices])
        clean = torch.full((len(indices), self.max_len), self.tokenizer.pad, dtype=torch.long)
        clean[:, : self.prompt_len] = self.prompt(subgoals)
        clean[:, self.prompt_len : self.prompt_len + paths.shape[1]] = paths
        noisy, is_mask = mdm_interpolate(
            clean, self.prompt_len, t, unmasking=self.unmasking, mask_id=self.tokenizer.mask, generator=generator
        )
        noisy, is_mask, clean, t = noisy[shard], is_mask[shard], clean[shard], t[shard]
        device = next(model.parameters()).device
        masked = positions_on(is_mask, device)
        noisy, is_mask, clean, t = (to_device(x, device) for x in (noisy, is_mask, clean, t))
        loss, metrics = mdm_loss(
            model,
            noisy,
            is_mask,
            clean,
            t,
            masked=masked,
            unmasking=self.unmasking,
            normalizer=float(len(indices) * self.max_path_len) / shards,
        )
        return loss, metrics, clean.numel()

    @torch.no_grad()
    def sample(
        self, model: DiT, subgoals: torch.Tensor, *, steps: int, sampler: SamplerSettings, generator=None, on_step=None
    ):
        """Paths (non-PAD cell tokens after SEP) for subgoal tokens (B, K); returns (paths, stats).

        ``on_step(k, body)`` sees the tokens after SEP (B, max_path_len) after step k.
        """
        device = next(model.parameters()).device
        batch = subgoals.shape[0]
        tokens = torch.full((batch, self.max_len), self.tokenizer.mask, dtype=torch.long)
        tokens[:, : self.prompt_len] = self.prompt(subgoals)

        def predict(tokens, t, query):  # every row is full: no padding mask; the rows with a reveal due
            no_flags = torch.zeros(tokens.shape, dtype=torch.bool, device=device)
            logits, _ = model(tokens.to(device), no_flags, None, t.to(device), query.to(device))
            return logits.cpu()

        tokens, stats = mdm_sample(
            predict,
            tokens,
            steps=steps,
            sampler=sampler,
            unmasking=self.unmasking,
            mask_id=self.tokenizer.mask,
            generator=generator,
            on_step=None if on_step is None else lambda k, tokens: on_step(k, tokens[:, self.prompt_len :]),
        )
        body = tokens[:, self.prompt_len :]
        return [row[row < self.tokenizer.num_cells] for row in body], stats
