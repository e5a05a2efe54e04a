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
        """(unmasking posterior (n, C), expected gaps (n + 1,)) of the state at time t."""
        key = (state, flags)
        if key not in self.cache:
            self.cache[key] = self._alignments(state, flags)
        coef, powers, gaps, unmask = self.cache[key]
        weights = coef * torch.prod(torch.tensor(token_probs(t), dtype=torch.float64) ** powers, dim=1)
        total = weights.sum()
        if total == 0.0:  # reachable only through tau-leaping error: no data string explains it
            n = len(state)
            return torch.full((n, self.num_classes), 1.0 / self.num_classes, dtype=torch.float64), weights @ gaps
        return torch.einsum("a,anc->nc", weights, unmask) / total, weights @ gaps / total

    def _alignments(self, state, flags):
        """Every (clean string, placement of the present tokens) that can produce the state, as tensors:
        its probability, its powers of (absent, mask, clean), its gaps and its clean tokens at the masks.
        The probability of an alignment at time t is prob x absent^a x mask^m x clean^c."""
        n = len(state)
        coef, powers, gaps, unmask = [], [], [], []
        for (x1, fixed), prob in self.support.items():
            for chosen in itertools.combinations(range(len(x1)), n):
                if any(fixed[j] and j not in chosen for j in range(len(x1))):
                    continue
                if any(flags[i] != fixed[j] or (state[i] != MASK and state[i] != x1[j]) for i, j in enumerate(chosen)):
                    continue
                masks = sum(1 for i, j in enumerate(chosen) if not fixed[j] and state[i] == MASK)
                cleans = sum(1 for i, j in enumerate(chosen) if not fixed[j] and state[i] != MASK)
                coef.append(prob)
                powers.append((len(x1) - n, masks, cleans))
                bounds = (-1,) + chosen + (len(x1),)
                gaps.append([bounds[slot + 1] - bounds[slot] - 1 for slot in range(n + 1)])
                onehot = torch.zeros(n, self.num_classes, dtype=torch.float64)
                for i, j in enumerate(chosen):
                    if state[i] == MASK:
                        onehot[i, x1[j]] = 1.0
                unmask.append(onehot)
        return (
            torch.tensor(coef, dtype=torch.float64),
            torch.tensor(powers, dtype=torch.float64).reshape(-1, 3),
            torch.tensor(gaps, dtype=torch.float64).reshape(-1, n + 1),
            torch.stack(unmask) if unmask else torch.zeros(0, n, self.num_classes, dtype=torch.float64),
        )

    def flex_predictor(self, gap_scale: float = 1.0):
        """A predictor for ``flex_sample`` that answers with the exact posterior (gaps optionally scaled)."""

        def predict(tokens, fixed, lengths, t, query):
            # Rows in the same state share one enumeration. A state is one integer: the digits
            # 2 * token + flag in base 2 * (MASK + 1) (PAD past a row's end makes the length part of it).
            if not (t == t[0]).all():
                raise ValueError("the toy predictor expects one time per call")
            width = tokens.shape[1]
            base = 2 * (MASK + 1)
            if base**width >= 2**62:
                raise ValueError(f"rows of {width} tokens do not fit one int64 key")
            digits = 2 * tokens + fixed.long()
            keys = (digits * base ** torch.arange(width - 1, -1, -1)).sum(1)
            unique, inverse = torch.unique(keys, return_inverse=True)
            first = torch.full((len(unique),), len(keys)).scatter_reduce(0, inverse, torch.arange(len(keys)), "amin")
            probs = torch.zeros(len(unique), width, self.num_classes, dtype=torch.float64)
            gaps = torch.zeros(len(unique), width + 1, dtype=torch.float64)
            for u, row in enumerate(first.tolist()):
                n = int(lengths[row])
                state, flags = tuple(tokens[row, :n].tolist()), tuple(fixed[row, :n].tolist())
                probs[u, :n], gaps[u, : n + 1] = self.posterior(state, flags, float(t[0]))
            return torch.log(probs[inverse][query]), torch.log(gaps[inverse] * gap_scale)

        return predict


class ToyMaskPosterior:
    """Exact unmasking posterior of a padded MDM for ``support`` = {fixed-length tokens: prob}: a mask's
    clean token given the revealed ones (masked diffusion's posterior does not depend on t)."""

    def __init__(self, support: dict[tuple[int, ...], float], num_classes: int):
        self.strings = torch.tensor(list(support))
        self.probs = torch.tensor(list(support.values()), dtype=torch.float64)
        self.num_classes = num_classes

    def posterior(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L, C): for each row and position, the distribution of its clean token given the revealed ones."""
        revealed = tokens != MASK
        agree = ((self.strings[None] == tokens[:, None]) | ~revealed[:, None]).all(-1)  # (B, S)
        weights = self.probs[None] * agree
        onehot = torch.nn.functional.one_hot(self.strings, self.num_classes).double()  # (S, L, C)
        total = weights.sum(1)[:, None, None]
        posterior = torch.einsum("bs,slc->blc", weights, onehot) / total.clamp_min(1e-300)
        # a state no string explains (reachable only through tau-leaping error): uniform, as ToyPosterior's
        return torch.where(total > 0, posterior, torch.full_like(posterior, 1.0 / self.num_classes))

    def mask_predictor(self, times: list | None = None):
        """A predictor for ``mdm_sample``; ``times`` (if given) collects the time of every call."""

        def predict(tokens, t, query):
            if times is not None:
                times.append(float(t[0]))
            return torch.log(self.posterior(tokens)[query])

        return predict
