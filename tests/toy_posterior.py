"""Exact FlexMDM posteriors of a tiny distribution, by enumeration (for the sampler tests).

The data are short strings ``x1`` with exempt positions (always present and clean). For a state
``x_t`` we sum over every clean string and every way the present tokens of x_t can sit in it, with
the linear-schedule probabilities of a token being absent, a mask or clean at time t.
"""

from __future__ import annotations

import itertools
import math

import torch

MASK = 9
PAD = 8


def token_probs(t: float) -> tuple[float, float, float]:
    """(absent, mask, clean) probabilities of a non-exempt token at time t, linear schedules."""
    if t >= 1:
        return 0.0, 0.0, 1.0
    log_term = (1 - t) * math.log1p(-t)
    return 1 - t, -log_term, t + log_term


class ToyPosterior:
    """Exact unmasking posterior and expected gaps for ``support`` = {(tokens, fixed_flags): prob}."""

    def __init__(self, support: dict[tuple[tuple[int, ...], tuple[bool, ...]], float], num_classes: int):
        self.support = support
        self.num_classes = num_classes
        self.cache: dict = {}

    def posterior(self, state: tuple[int, ...], flags: tuple[bool, ...], t: float):
        key = (state, flags, t)
        if key not in self.cache:
            self.cache[key] = self._enumerate(state, flags, t)
        return self.cache[key]

    def _enumerate(self, state, flags, t):
        p_absent, p_mask, p_clean = token_probs(t)
        n = len(state)
        unmask = torch.zeros(n, self.num_classes, dtype=torch.float64)
        gaps = torch.zeros(n + 1, dtype=torch.float64)
        total = 0.0
        for (x1, fixed), prob in self.support.items():
            for chosen in itertools.combinations(range(len(x1)), n):
                if any(fixed[j] and j not in chosen for j in range(len(x1))):
                    continue
                weight = prob * p_absent ** (len(x1) - n)
                for i, j in enumerate(chosen):
                    if flags[i] != fixed[j] or (state[i] != MASK and state[i] != x1[j]):
                        weight = 0.0
                        break
                    if not fixed[j]:
                        weight *= p_mask if state[i] == MASK else p_clean
                if weight == 0.0:
                    continue
                total += weight
                bounds = (-1,) + chosen + (len(x1),)
                for slot in range(n + 1):
                    gaps[slot] += weight * (bounds[slot + 1] - bounds[slot] - 1)
                for i, j in enumerate(chosen):
                    if state[i] == MASK:
                        unmask[i, x1[j]] += weight
        if total == 0.0:  # reachable only through tau-leaping error: no data string explains it
            return torch.full((n, self.num_classes), 1.0 / self.num_classes, dtype=torch.float64), gaps
        return unmask / total, gaps / total

    def flex_predictor(self, gap_scale: float = 1.0):
        """A predictor for ``flex_sample`` that answers with the exact posterior (gaps optionally scaled)."""

        def predict(tokens, fixed, lengths, t, query):
            # Rows in the same state share one enumeration.
            keys = torch.cat([tokens, fixed.long(), lengths[:, None], (t[:, None] * 1e9).round().long()], dim=1)
            unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
            width = tokens.shape[1]
            probs = torch.zeros(len(unique), width, self.num_classes, dtype=torch.float64)
            gaps = torch.zeros(len(unique), width + 1, dtype=torch.float64)
            for u, row in enumerate(unique.tolist()):
                n = row[2 * width]
                state, flags = tuple(row[:n]), tuple(bool(v) for v in row[width : width + n])
                probs[u, :n], gaps[u, : n + 1] = self.posterior(state, flags, row[-1] / 1e9)
            return torch.log(probs[inverse][query]), torch.log(gaps[inverse] * gap_scale)

        return predict
