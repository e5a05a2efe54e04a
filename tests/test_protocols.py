"""The named evaluation protocols: their settings, and the paper's really running vanilla + Poisson + uniform."""

from dataclasses import asdict

import pytest
import torch

import agents.samplers as samplers
from agents.config import preset_config
from agents.learned import (
    PAPER_STEPS,
    PROTOCOL_STEPS,
    PROTOCOLS,
    QUICK_EVAL_SEED,
    LearnedPlanner,
    protocol_sampler,
    protocol_steps,
    quick_success,
)
from agents.loading import build_method, build_model
from agents.samplers import SamplerSettings
from agents.tokenizer import CellTokenizer

SMALL_MODEL = {"d_model": 32, "n_heads": 2, "n_layers": 1, "cond_dim": 32}


def test_the_protocols_settings():
    paper = protocol_sampler("paper")
    assert (paper.mode, paper.count_law, paper.time_grid, paper.temperature) == ("vanilla", "poisson", "uniform", 1.0)
    assert protocol_sampler("suite") == SamplerSettings()  # the suite's protocol: the settings' own defaults
    assert protocol_sampler("paper") is not PROTOCOLS["paper"]  # a copy: callers cannot change the protocol
    with pytest.raises(ValueError, match="choose from paper, paper-64, official, suite"):
        protocol_sampler("fast")
    with pytest.raises(ValueError, match="unknown evaluation protocol"):
        protocol_steps("fast")


def test_each_protocol_fixes_its_steps():
    """The paper's sampler at the step count where its success stops rising, and the pages' former 64 steps as a
    named variant with the same sampler; the official code's defaults at its 2048 steps."""
    assert protocol_sampler("paper") == protocol_sampler("paper-64") and protocol_steps("paper-64") == 64
    assert protocol_steps("paper") == PAPER_STEPS >= 1024 and protocol_steps("suite") == 64
    official = protocol_sampler("official")
    assert (official.mode, official.confidence, official.temperature) == ("adaptive", "margin", 0.0)
    assert (official.count_law, official.reveal_count, official.end_game, official.time_grid) == (
        "poisson",
        "flat",
        "argmax",
        "uniform",
    )
    assert protocol_steps("official") == 2048 and set(PROTOCOL_STEPS) == set(PROTOCOLS)


def _untrained(agent, dataset):
    tokenizer = CellTokenizer(*dataset.maze.shape)
    method = build_method(agent, tokenizer, dataset.num_subgoals, int(dataset.train.lengths.max()))
    torch.manual_seed(0)
    return method, build_model(method, tokenizer, preset_config("tiny", **SMALL_MODEL)).eval()


@pytest.fixture
def sampler_calls(monkeypatch):
    """What the samplers ran: unmasking modes and count laws, time grids, how many Poisson and binomial draws."""
    calls = {"modes": set(), "laws": set(), "grids": set(), "poisson": 0, "binomial": 0}
    reveal, time_grid, poisson, binomial = samplers.due_reveals, samplers.time_grid, torch.poisson, torch.binomial

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    def recording_reveal(query, leap_rate, step_prob, sampler, generator):
        calls["modes"].add(sampler.mode)
        calls["laws"].add(sampler.count_law)
        return reveal(query, leap_rate, step_prob, sampler, generator)

    def recording_grid(steps, kind, *schedules):
        calls["grids"].add(kind)
        return time_grid(steps, kind, *schedules)

    monkeypatch.setattr(samplers, "due_reveals", recording_reveal)
    monkeypatch.setattr(samplers, "time_grid", recording_grid)
    monkeypatch.setattr(torch, "poisson", counted("poisson", poisson))
    monkeypatch.setattr(torch, "binomial", counted("binomial", binomial))
    return calls


@pytest.mark.parametrize("agent", ["flexmdm", "mdm"])
def test_the_paper_protocol_runs_vanilla_poisson_on_a_uniform_grid(agent, tiny_dataset, sampler_calls):
    method, model = _untrained(agent, tiny_dataset)
    planner = LearnedPlanner(method, model, steps=4, sampler=protocol_sampler("paper"))
    planner.plan(tiny_dataset.maze, [tiny_dataset.val[0].subgoals, tiny_dataset.val[1].subgoals])
    assert sampler_calls["modes"] == {"vanilla"} and sampler_calls["laws"] == {"poisson"}
    assert sampler_calls["grids"] == {"uniform"} and sampler_calls["binomial"] == 0
    if agent == "flexmdm":
        assert sampler_calls["poisson"] == 3  # the insertions' tau-leap, one draw per step but the last
    assert planner.describe()["sampler"] == asdict(protocol_sampler("paper"))
    assert protocol_sampler("paper").end_game == "argmax" and protocol_sampler("suite").end_game == "leap"


def test_the_suite_protocol_runs_adaptive_binomial_on_a_balanced_grid(tiny_dataset, sampler_calls):
    method, model = _untrained("flexmdm", tiny_dataset)
    LearnedPlanner(method, model, steps=4, sampler=protocol_sampler("suite")).plan(
        tiny_dataset.maze, [tiny_dataset.val[0].subgoals]
    )
    assert sampler_calls["modes"] == {"adaptive"} and sampler_calls["laws"] == {"binomial"}
    assert sampler_calls["grids"] == {"balanced"}
    assert sampler_calls["poisson"] == 0 and sampler_calls["binomial"] >= 8  # reveals and insertions, each step


def test_the_held_out_check_plans_fixed_pairs_under_the_paper_protocol(tiny_dataset, monkeypatch):
    method, model = _untrained("flexmdm", tiny_dataset)
    plan, calls = LearnedPlanner.plan, []

    def recording_plan(self, maze, subgoal_batch, seed=0):
        calls.append((asdict(self.sampler), self.steps, seed, [s.tolist() for s in subgoal_batch]))
        return plan(self, maze, subgoal_batch, seed)

    monkeypatch.setattr(LearnedPlanner, "plan", recording_plan)
    model.train()
    rates = [quick_success(model, method, tiny_dataset, examples=3, steps=4) for _ in range(2)]
    assert rates[0] == rates[1] and model.training  # the same points; the model's mode is restored
    first = tiny_dataset.val.queries()[:3]  # drawn as an evaluation draws them
    assert (
        calls[0]
        == calls[1]
        == (
            asdict(protocol_sampler("paper")),
            4,
            QUICK_EVAL_SEED,
            [tiny_dataset.val[int(i)].subgoals.tolist() for i in first],
        )
    )


def test_feasible_counts_are_on_by_default_where_they_apply():
    assert SamplerSettings().feasible_counts and protocol_sampler("suite").feasible_counts
    assert not protocol_sampler("paper").feasible_counts  # the paper's sampler is left as the paper has it
    assert not SamplerSettings(count_law="poisson").feasible_counts
    assert not SamplerSettings(end_game="argmax").feasible_counts
    assert not SamplerSettings(feasible_counts=False).feasible_counts
