"""The training-FLOPs estimate against torch's own FLOP counter on real forward and backward passes."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from agents.compute import forward_flops_per_token, matmul_weights_per_token, training_flops
from agents.model import DiT, ModelConfig


def counted_training_step(cfg: ModelConfig, batch: int, length: int) -> int:
    """FLOPs torch counts for one forward and backward pass of full rows (attention as plain matrix products)."""
    torch.manual_seed(0)
    model = DiT(cfg)
    tokens = torch.randint(0, cfg.height * cfg.width, (batch, length))
    fixed = torch.zeros(batch, length, dtype=torch.bool)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        logits, gaps = model(tokens, fixed, None, torch.rand(batch), torch.ones(batch, length, dtype=torch.bool))
        (logits.sum() + (0 if gaps is None else gaps.sum())).backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("insertion_head", [False, True])
def test_the_estimate_matches_the_flops_torch_counts(insertion_head):
    cfg = ModelConfig(
        height=9, width=9, vocab_size=84, num_classes=82, d_model=32, n_heads=4, n_layers=2, cond_dim=32,
        insertion_head=insertion_head, max_len=200,
    )  # fmt: skip
    batch, length = 4, 96
    processed = length + insertion_head  # FlexMDM's network also reads a BOS token
    counted = counted_training_step(cfg, batch, length)
    summary = {
        "steps": 5,
        "tokens_seen": 5 * batch * processed,
        "train_config": {"batch_size": batch},
        "model_config": cfg.to_dict(),
    }
    assert training_flops(summary) == pytest.approx(5 * counted, rel=0.02)  # adaLN and time MLP left out
    per_token = forward_flops_per_token(cfg.to_dict(), processed)
    assert per_token > 2 * matmul_weights_per_token(cfg.to_dict())  # attention grows with the length
    assert training_flops({**summary, "steps": 0, "tokens_seen": 0}) == 0.0
