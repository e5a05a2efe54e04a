"""Noise schedules: increasing maps [0, 1] -> [0, 1] with a(0) = 0 and a(1) = 1 (t = 1 is data).

FlexMDM uses one for insertion (a_t) and one for unmasking (b_t); the MDM uses one for unmasking.
The training weights and sampling rates are ``rate(t) = a'(t) / (1 - a(t))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PolynomialSchedule:
    """``a(t) = t ** power``; ``power = 1`` is the linear schedule of the paper."""

    power: float = 1.0

    def __post_init__(self):
        if not self.power > 0:
            raise ValueError(f"schedule power must be positive, got {self.power}")

    def value(self, t: torch.Tensor) -> torch.Tensor:
        return t**self.power

    def derivative(self, t: torch.Tensor) -> torch.Tensor:
        return self.power * t ** (self.power - 1)

    def rate(self, t: torch.Tensor) -> torch.Tensor:
        """``a'(t) / (1 - a(t))``: the hazard of an event that has not happened by time t."""
        return self.derivative(t) / (1 - self.value(t))

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        return u ** (1 / self.power)

    def conditional_prob(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """P(event time <= s | event time > t) = (a(s) - a(t)) / (1 - a(t)), for s >= t."""
        return (self.value(s) - self.value(t)) / (1 - self.value(t))
