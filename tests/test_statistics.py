"""The pages' statistics against hand computations and brute force: W1 distances (plain and weighted)
and the exact McNemar test."""

import itertools
import math

import numpy as np
import pytest

from mazebench.statistics import mcnemar_exact, wasserstein1


def test_wasserstein1_by_hand():
    assert wasserstein1([0, 1], [1, 2]) == pytest.approx(1.0)  # a shift by one
    assert wasserstein1([3, 3, 3], [3]) == 0.0
    assert wasserstein1([0, 0, 0, 4], [0, 0, 0, 0]) == pytest.approx(1.0)  # a quarter of the mass moves 4


def test_weighted_wasserstein1_equals_the_expanded_sample():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 20, size=37)
    b = rng.integers(0, 20, size=9)
    counts = rng.integers(1, 5, size=9)
    assert wasserstein1(a, b, counts) == pytest.approx(wasserstein1(a, np.repeat(b, counts)))
    assert wasserstein1([1, 3], [1, 3, 5], [1, 1, 0]) == 0.0  # a zero weight is no mass
    assert wasserstein1([2], [0, 4], [3, 1]) == pytest.approx(0.75 * 2 + 0.25 * 2)


def test_mcnemar_against_a_known_table_and_brute_force():
    # b = 10 discordant pairs where only the first succeeds, c = 2 the other way: two-sided exact p
    # = 2 * P(Bin(12, 1/2) <= 2) = 2 * (1 + 12 + 66) / 4096 = 0.03857.
    first = np.array([1] * 10 + [0] * 2 + [1] * 30 + [0] * 8, dtype=bool)
    second = np.array([0] * 10 + [1] * 2 + [1] * 30 + [0] * 8, dtype=bool)
    result = mcnemar_exact(first, second)
    assert (result["only_first"], result["only_second"], result["n"]) == (10, 2, 50)
    assert result["p_value"] == pytest.approx(2 * 79 / 4096)
    assert result["difference"] == pytest.approx(8 / 50)
    low, high = result["difference_ci95"]
    assert low < 8 / 50 < high and low > 0  # significant at 5 %: the interval excludes 0 as the p-value says
    for b, c in itertools.product(range(7), repeat=2):  # brute force: the sign test on the discordant pairs
        x = np.array([1] * b + [0] * c, dtype=bool)
        p = mcnemar_exact(x, ~x)["p_value"]
        n = b + c
        tail = sum(math.comb(n, i) for i in range(n + 1) if math.comb(n, i) <= math.comb(n, b)) / 2**n if n else 1.0
        assert p == pytest.approx(min(1.0, tail))
    assert mcnemar_exact(first, first)["p_value"] == 1.0
    with pytest.raises(ValueError, match="same queries"):
        mcnemar_exact(first, second[:-1])


def test_the_wilson_interval_always_holds_the_observed_rate():
    from mazebench.statistics import wilson_interval

    for n in (1, 7, 100, 300, 750):
        for successes in (0, 1, n // 3, n - 1, n):
            low, high = wilson_interval(successes, n)
            assert 0.0 <= low <= successes / n <= high <= 1.0
