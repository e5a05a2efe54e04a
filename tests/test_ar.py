"""The autoregressive baseline: causal trunk, next-token loss, batched decoding, the planner, and learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agents import make_agent
from agents.ar import AR, Decoding
from agents.batching import TokenizedSplit
from agents.config import preset_config
from agents.model import DiT, ModelConfig
from agents.tokenizer import CellTokenizer
from agents.training import train
from mazebench.evaluation import evaluate
from tests.test_learning import learning_dataset  # noqa: F401  (the shared module-scoped fixture)

TOKENIZER = CellTokenizer(3, 3)  # cells 0 .. 8, PAD (= EOS) 9, MASK 10, SEP 11
EOS, SEP = TOKENIZER.pad, TOKENIZER.sep


def tiny_model(method: AR, causal: bool = True) -> DiT:
    torch.manual_seed(0)
    model = DiT(
        ModelConfig(
            height=TOKENIZER.height,
            width=TOKENIZER.width,
            vocab_size=TOKENIZER.vocab_size,
            num_classes=method.num_classes,
            d_model=16,
            n_heads=2,
            n_layers=2,
            cond_dim=16,
            max_len=method.max_len + 1,
            causal=causal,
        )
    )
    for parameter in model.parameters():  # adaLN starts at zero: randomise it so every term matters
        nn.init.normal_(parameter, std=0.3)
    return model.eval()


def all_logits(model: DiT, tokens: torch.Tensor) -> torch.Tensor:
    """Logits (B, N, C) at every position, as the AR calls the model (no padding mask, t = 0)."""
    query = torch.ones(tokens.shape, dtype=torch.bool)
    logits, _ = model(tokens, torch.zeros_like(query), None, torch.zeros(len(tokens)), query)
    return logits.view(*tokens.shape, -1)


def test_a_token_logits_ignore_the_tokens_after_it():
    method = AR(TOKENIZER, num_subgoals=2, max_path_len=6)
    tokens = torch.tensor([[0, 5, SEP, 0, 1, 2, 5, EOS], [4, 3, SEP, 4, 3, EOS, EOS, EOS]])
    changed = tokens.clone()
    changed[:, 5:] = torch.tensor([[8, 7, 6], [2, 1, 0]])
    causal = tiny_model(method)
    torch.testing.assert_close(all_logits(causal, changed)[:, :5], all_logits(causal, tokens)[:, :5], rtol=0, atol=1e-6)
    assert not torch.allclose(all_logits(causal, changed)[:, 5:], all_logits(causal, tokens)[:, 5:])
    bidirectional = tiny_model(method, causal=False)  # the same weights see the future: the test can fail
    assert not torch.allclose(all_logits(bidirectional, changed)[:, :5], all_logits(bidirectional, tokens)[:, :5])


def two_paths() -> TokenizedSplit:
    """Paths 0-1-2-5 (subgoals 0, 5) and 4-3 (subgoals 4, 3) on the 3x3 grid."""
    return TokenizedSplit(
        tokens=torch.tensor([0, 1, 2, 5, 4, 3]),
        offsets=torch.tensor([0, 4, 6]),
        subgoal_index=torch.tensor([[0, 3], [0, 1]]),
    )


def test_loss_is_the_mean_next_token_cross_entropy_over_path_and_eos():
    method = AR(TOKENIZER, num_subgoals=2, max_path_len=4)
    model = tiny_model(method)
    indices = torch.tensor([0, 1])
    loss, metrics, n_tokens = method.loss(model, two_paths(), indices, torch.rand(2), torch.Generator())
    inputs = torch.tensor([[0, 5, SEP, 0, 1, 2, 5], [4, 3, SEP, 4, 3, EOS, EOS]])  # the sequences but their last token
    logits = all_logits(model, inputs)
    # SEP predicts the first cell, each cell the next one, the last cell EOS; the prompt and the padding are no targets
    targets = [(0, 2, 0), (0, 3, 1), (0, 4, 2), (0, 5, 5), (0, 6, EOS), (1, 2, 4), (1, 3, 3), (1, 4, EOS)]
    by_hand = torch.stack([F.cross_entropy(logits[b, i], torch.tensor(label)) for b, i, label in targets]).mean()
    torch.testing.assert_close(loss, by_hand)
    assert n_tokens == inputs.numel() and set(metrics) == {"next_token_ce", "token_accuracy"}
    assert all(value.dim() == 0 and not value.requires_grad for value in metrics.values())
    # two data-parallel shards: their mean loss is the whole batch's (so are the averaged gradients)
    halves = [
        method.loss(model, two_paths(), indices, torch.rand(2), torch.Generator(), shard=slice(i, i + 1), shards=2)[0]
        for i in (0, 1)
    ]
    torch.testing.assert_close((halves[0] + halves[1]) / 2, loss)


class _Counting(nn.Module):
    """A stand-in network: after SEP it proposes g1, then the next cell id, and EOS after cell 2."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.calls = 0
        self.anchor = nn.Parameter(torch.zeros(()))  # the sampler reads the device from the parameters

    def forward(self, tokens, fixed, lengths, t, query):
        assert lengths is None and not fixed.any() and not t.any()
        self.calls += 1
        rows, cols = query
        last = tokens[rows, cols]
        after = torch.where(last == SEP, tokens[rows, 0], torch.where(last == 2, EOS, last + 1))
        return F.one_hot(after, self.num_classes).float() * 10, None


def test_decoding_stops_each_row_at_eos_or_at_the_length_cap():
    method = AR(TOKENIZER, num_subgoals=2, max_path_len=4)  # at most 5 decoded tokens (the path and EOS)
    network = _Counting(method.num_classes)
    bodies = []
    paths, stats = method.sample(
        network,
        torch.tensor([[0, 2], [1, 8], [4, 8]]),
        steps=4,
        sampler=Decoding(),
        on_step=lambda k, body: bodies.append(body[0].tolist()),
    )
    assert [p.tolist() for p in paths] == [[0, 1, 2], [1, 2], [4, 5, 6, 7, 8]]  # the last one never ends: capped
    assert stats.network_calls == network.calls == 5
    # the decoding replayed in 4 stages over its 5 positions: 2, 3, 4 and 5 of them
    assert bodies == [[0, 1], [0, 1, 2], [0, 1, 2, EOS], [0, 1, 2, EOS, EOS]]


def test_decoding_options():
    method = AR(TOKENIZER, num_subgoals=2, max_path_len=6)
    model = tiny_model(method)
    subgoals = torch.tensor([[0, 5], [4, 3], [8, 6]])

    def decode(sampler, seed=0):
        return [
            p.tolist()
            for p in method.sample(
                model, subgoals, steps=4, sampler=sampler, generator=torch.Generator().manual_seed(seed)
            )[0]
        ]

    greedy = decode(Decoding())
    assert decode(Decoding(temperature=1.0, top_k=1)) == greedy  # only the best token left to draw
    assert decode(Decoding(temperature=2.0), seed=1) == decode(Decoding(temperature=2.0), seed=1)  # seeded
    assert any(decode(Decoding(temperature=2.0), seed) != greedy for seed in range(3))
    one_by_one = [
        decode_one
        for row in subgoals
        for decode_one in [p.tolist() for p in method.sample(model, row[None], steps=4, sampler=Decoding())[0]]
    ]
    assert one_by_one == greedy  # batched greedy decoding is per-row decoding
    for bad in ({"temperature": -1.0}, {"temperature": float("nan")}, {"top_k": 0}, {"top_k": 1.5}):
        with pytest.raises(ValueError, match="temperature|top_k"):
            Decoding(**bad)


def test_ar_planner_from_a_run(tiny_dataset, tmp_path):
    cfg = preset_config("tiny", epochs=0.5, batch_size=16, d_model=32, n_heads=2, n_layers=1, cond_dim=32)
    summary = train(tiny_dataset, "ar", cfg, tmp_path / "run", progress=False, stop_after=2)
    assert summary["model_config"]["causal"] and summary["steps"] == 2
    planner = make_agent(
        "ar",
        dataset=tiny_dataset,
        checkpoint=tmp_path / "run",
        steps=8,
        sampler={"mode": "vanilla", "temperature": 0.5, "top_k": 3},
    )
    assert planner.name == "ar" and planner.sampler == Decoding(temperature=0.5, top_k=3)
    assert (
        make_agent("ar", dataset=tiny_dataset, checkpoint=tmp_path / "run").sampler == Decoding()
    )  # greedy by default
    with pytest.raises(ValueError, match="top_k is a setting of the autoregressive agent"):
        make_agent("mdm", dataset=tiny_dataset, checkpoint=tmp_path / "run", sampler={"top_k": 3})
    result = evaluate(planner, tiny_dataset, out_dir=tmp_path / "eval", limit=4, num_pngs=1, progress=False)
    assert result["n"] == 4 and result["planner"]["sampler"] == {"temperature": 0.5, "top_k": 3}
    assert result["planner"]["counters"]["network_calls"] > 0 and (tmp_path / "eval" / "generation.png").is_file()


# Batches of 16: the AR learns more per epoch from more, smaller steps (measured at K=4 on the 15x15 maze:
# 8 epochs of batch 16 reach 28 % success, as many as 30 epochs of the tiny preset's batch 64).
AR_BUDGET = {"epochs": 10, "batch_size": 16}


@pytest.mark.slow
def test_tiny_preset_ar_learns_the_small_maze(learning_dataset, tmp_path):  # noqa: F811
    untrained = train(
        learning_dataset, "ar", preset_config("tiny"), tmp_path / "untrained", progress=False, stop_after=0
    )
    assert untrained["steps"] == 0
    summary = train(learning_dataset, "ar", preset_config("tiny", **AR_BUDGET), tmp_path / "run", progress=False)
    assert summary["epochs_done"] == pytest.approx(AR_BUDGET["epochs"], rel=0.05)  # the budget is epochs, not time
    results = {
        name: evaluate(
            make_agent("ar", dataset=learning_dataset, checkpoint=tmp_path / name),
            learning_dataset,
            out_dir=tmp_path / f"eval-{name}",
            progress=False,
            num_pngs=0,
        )
        for name in ("untrained", "run")
    }
    assert results["untrained"]["success_rate"] == 0
    assert results["run"]["success_rate"] >= 0.15, {name: r["success_rate"] for name, r in results.items()}
