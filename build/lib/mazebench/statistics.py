"""The statistics of the benchmark's pages: confidence intervals, distances between length
distributions and paired tests between planners on the same queries."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % for z = 1.96); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # rounding never leaves p outside


def wasserstein1(a, b, b_weights=None) -> float:
    """1-Wasserstein distance between two distributions on the line (the area between their CDFs): ``a``
    an empirical one, ``b`` one with optional ``b_weights`` (normalised; equal weights if None)."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.asarray(b, dtype=float)
    weights = np.full(len(b), 1.0 / len(b)) if b_weights is None else np.asarray(b_weights, dtype=float)
    order = np.argsort(b, kind="stable")
    b, cumulative = b[order], np.cumsum(weights[order]) / weights.sum()
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / len(a)
    cdf_b = np.concatenate([[0.0], cumulative])[np.searchsorted(b, grid[:-1], side="right")]
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(grid)))


def mcnemar_exact(first: np.ndarray, second: np.ndarray) -> dict:
    """Exact McNemar test of two planners' successes on the same queries (boolean arrays, paired): the
    discordant counts (only the first succeeds, only the second), the two-sided p-value of the binomial
    test of b against b + c at 1/2, and the success difference (first - second) with its 95 % interval
    (Wald on the paired differences, as in Agresti's paired-proportions interval)."""
    first, second = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if first.shape != second.shape:
        raise ValueError(f"a paired test needs the same queries: {first.shape} against {second.shape} outcomes")
    b, c, n = int((first & ~second).sum()), int((~first & second).sum()), len(first)
    discordant = b + c
    tail = sum(math.comb(discordant, i) for i in range(min(b, c) + 1)) / 2**discordant if discordant else 1.0
    diff = (b - c) / n if n else 0.0
    se = math.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n if n else 0.0
    return {
        "only_first": b,
        "only_second": c,
        "n": n,
        "p_value": min(1.0, 2 * tail),
        "difference": diff,
        "difference_ci95": [diff - 1.96 * se, diff + 1.96 * se],
    }


def pass_at(k: int, n: int, c: int) -> float:
    """The unbiased estimate of pass@k from ``n`` samples of which ``c`` succeed (Chen et al. 2021): the chance
    that at least one of ``k`` samples drawn without replacement from the ``n`` succeeds, 1 - C(n-c, k) / C(n, k)."""
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n and 0 <= c <= n, got k={k}, n={n}, c={c}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def proportion_difference(successes_1: int, n_1: int, successes_2: int, n_2: int) -> dict:
    """The difference p1 - p2 of two independent proportions with Newcombe's 95 % hybrid score interval
    (built from the two Wilson intervals; Newcombe 1998, method 10)."""
    p1, p2 = successes_1 / n_1, successes_2 / n_2
    (l1, u1), (l2, u2) = wilson_interval(successes_1, n_1), wilson_interval(successes_2, n_2)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return {"difference": diff, "difference_ci95": [low, high]}
