"""The autoregressive baseline: ``g1 .. gK SEP path EOS``, one token after the other.

The DiT trunk runs with causal attention (``ModelConfig.causal``) and a constant time input (t = 0),
without a padding mask: under the causal mask the right-padding after EOS never reaches an earlier
position. The prompt and the classes are the MDM's: cell tokens, then PAD, which serves as EOS.
Training is the cross-entropy of every path token and of the EOS given the tokens before it;
decoding is greedy by default (``Decoding``), batched, one network call per token, and stops a row
at its EOS or after ``max_path_len + 1`` tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from agents.batching import TokenizedSplit, positions_on, to_device
from agents.mdm import MDM
from agents.model import DiT
from agents.samplers import SamplerStats, draw_tokens


@dataclass(frozen=True)
class Decoding:
    """How the next token is chosen: argmax at temperature 0 (the default), otherwise a draw at
    ``temperature`` among the ``top_k`` most likely tokens (all of them when None)."""

    temperature: float = 0.0
    top_k: int | None = None

    def __post_init__(self):
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        whole = isinstance(self.top_k, int) and not isinstance(self.top_k, bool)
        if self.top_k is not None and not (whole and self.top_k >= 1):
            raise ValueError(f"top_k must be a positive integer or None, got {self.top_k!r}")


def next_tokens(logits: torch.Tensor, temperature: float, top_k: int | None, generator) -> torch.Tensor:
    """One token per row of ``logits`` (M, C): argmax at temperature 0, else drawn among the ``top_k`` best."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth_best = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    return draw_tokens(logits, temperature, generator)


class AR(MDM):
    """Batch construction, loss and decoding of the autoregressive baseline (the MDM's prompt and classes)."""

    name = "ar"

    @property
    def max_len(self) -> int:
        """The longest sequence: the prompt, the longest path and its EOS."""
        return self.prompt_len + self.max_path_len + 1

    def expected_length(self, data: TokenizedSplit, indices: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (self.prompt_len + data.lengths[indices] + 1).double()

    def sequences(self, data: TokenizedSplit, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``g1 .. gK SEP path EOS`` (B, N), right-padded with PAD, and the positions (B, N - 1) whose next
        token is a target: from SEP (which predicts the first cell) to the last cell (which predicts EOS)."""
        paths, lengths, _ = data.paths(indices, self.tokenizer.pad)
        subgoals = paths.gather(1, data.subgoal_index[indices])
        eos = torch.full((len(indices), 1), self.tokenizer.pad)
        tokens = torch.cat([self.prompt(subgoals), paths, eos], dim=1)
        positions = torch.arange(tokens.shape[1] - 1)[None, :]
        predicts = (positions >= self.prompt_len - 1) & (positions < self.prompt_len + lengths[:, None])
        return tokens, predicts

    def loss(self, model: DiT, data: TokenizedSplit, indices, t, generator, shard=slice(None), shards: int = 1):
        """(loss, metrics, tokens processed): the next-token cross-entropy summed over the path tokens and
        EOS of the rows ``shard`` and divided by the whole batch's count of them over ``shards`` (as in
        FlexMDM.loss). ``t`` and ``generator`` are unused: the sequence has no noise."""
        tokens, predicts = self.sequences(data, indices)
        normalizer = float(predicts.sum()) / shards
        tokens, predicts = tokens[shard], predicts[shard]
        device = next(model.parameters()).device
        query = positions_on(predicts, device)
        labels = to_device(tokens[:, 1:][predicts], device)
        inputs = to_device(tokens[:, :-1], device)
        logits, _ = model(
            inputs, torch.zeros_like(inputs, dtype=torch.bool), None, torch.zeros(len(inputs), device=device), query
        )
        ce = F.cross_entropy(logits, labels, reduction="none")
        loss = ce.sum() / normalizer
        accuracy = (logits.detach().argmax(-1) == labels).float().mean()
        return loss, {"next_token_ce": ce.detach().mean(), "token_accuracy": accuracy}, inputs.numel()

    @torch.no_grad()
    def sample(self, model: DiT, subgoals: torch.Tensor, *, steps: int, sampler, generator=None, on_step=None):
        """Paths (the cell tokens before EOS) decoded after the subgoal tokens (B, K); returns (paths, stats).

        ``sampler``: a ``Decoding``, or any rule with a ``temperature`` (e.g. a ``SamplerSettings``; no top-k cut).
        Rows that reached EOS leave the batch. ``steps`` only paces ``on_step(k, body)``, which replays the
        decoding in ``steps`` equal stages: body holds the first ceil((k + 1) n / steps) of the n decoded
        positions of every row.
        """
        device = next(model.parameters()).device
        eos = self.tokenizer.pad
        tokens = torch.full((subgoals.shape[0], self.max_len), eos)
        tokens[:, : self.prompt_len] = self.prompt(subgoals)
        active = torch.arange(subgoals.shape[0])
        stats = SamplerStats()
        for position in range(self.prompt_len, self.max_len):
            inputs = tokens[active, :position].to(device)
            last = (torch.arange(len(active), device=device), torch.full((len(active),), position - 1, device=device))
            logits, _ = model(
                inputs, torch.zeros_like(inputs, dtype=torch.bool), None, torch.zeros(len(active), device=device), last
            )
            chosen = next_tokens(logits.cpu(), sampler.temperature, getattr(sampler, "top_k", None), generator)
            tokens[active, position] = chosen
            stats.network_calls += 1
            stats.row_calls += subgoals.shape[0]  # every path is counted with its batch's calls
            stats.steps += 1
            active = active[chosen != eos]
            if not len(active):
                break
        body = tokens[:, self.prompt_len :]
        if on_step is not None:
            for k in range(steps):
                on_step(k, body[:, : -(-(k + 1) * stats.steps // steps)])
        return [row[row != eos] for row in body], stats
