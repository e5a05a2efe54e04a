"""Schedules against calculus and probability: derivative, inverse, hazard rate, conditional CDF."""

import pytest
import torch

from agents.schedules import PolynomialSchedule

POWERS = [0.5, 1.0, 2.0, 3.0]
INTERIOR = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)


@pytest.mark.parametrize("power", POWERS)
def test_endpoints_and_monotone(power):
    sched = PolynomialSchedule(power)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    values = sched.value(t)
    assert values[0] == 0 and values[-1] == 1
    assert (values.diff() > 0).all()


@pytest.mark.parametrize("power", POWERS)
def test_derivative_matches_central_difference(power):
    sched = PolynomialSchedule(power)
    h = 1e-6
    numeric = (sched.value(INTERIOR + h) - sched.value(INTERIOR - h)) / (2 * h)
    torch.testing.assert_close(sched.derivative(INTERIOR), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("power", POWERS)
def test_inverse_undoes_value(power):
    sched = PolynomialSchedule(power)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(sched.inverse(sched.value(t)), t, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sched.value(sched.inverse(t)), t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("power", POWERS)
def test_rate_is_the_hazard_of_the_schedule(power):
    # rate = a'/(1-a) = -d/dt log(1 - a(t)), checked by finite differences.
    sched = PolynomialSchedule(power)
    h = 1e-6
    survival = lambda t: torch.log1p(-sched.value(t))  # noqa: E731
    numeric = -(survival(INTERIOR + h) - survival(INTERIOR - h)) / (2 * h)
    torch.testing.assert_close(sched.rate(INTERIOR), numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("power", POWERS)
def test_conditional_prob_matches_sampled_event_times(power):
    # Event times T = a^-1(U) have CDF a; conditional_prob(t, s) must be P(T <= s | T > t).
    sched = PolynomialSchedule(power)
    times = sched.inverse(torch.rand(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    for t, s in [(0.0, 0.5), (0.2, 0.6), (0.5, 0.7), (0.7, 0.95)]:
        later = times[times > t]
        empirical = (later <= s).double().mean()
        expected = sched.conditional_prob(torch.tensor(t, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
        stderr = (expected * (1 - expected) / len(later)).sqrt()
        assert abs(empirical - expected) < 5 * stderr + 1e-12, (t, s, float(empirical), float(expected))


def test_conditional_prob_bounds():
    sched = PolynomialSchedule(2.0)
    t = torch.tensor([0.1, 0.4, 0.9], dtype=torch.float64)
    assert (sched.conditional_prob(t, t) == 0).all()
    torch.testing.assert_close(sched.conditional_prob(t, torch.ones_like(t)), torch.ones_like(t))


@pytest.mark.parametrize("power", [0.0, -1.0, float("nan")])
def test_non_positive_power_raises(power):
    with pytest.raises(ValueError):
        PolynomialSchedule(power)
