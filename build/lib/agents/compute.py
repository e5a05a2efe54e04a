"""Training compute: an estimate of the floating-point operations a run spent, from its model and its tokens.

The count is the usual one for transformers (Kaplan et al. 2020; nanoGPT's ``estimate_mfu``): a forward pass
costs 2 FLOPs per weight of the per-token matrix products (the blocks' attention and MLP projections, the
unmasking head and FlexMDM's insertion head) per token, plus 4 * n_layers * d_model * L per token for attention
scores and values at sequence length L; the backward pass costs twice the forward. Embedding lookups, the time
embedding and the adaLN layers (once per sequence) are left out; the unmasking head is counted at every position.
"""

from __future__ import annotations

BACKWARD_FACTOR = 3  # forward + backward (twice the forward)


def matmul_weights_per_token(model_config: dict) -> int:
    """Weights of the matrix products a token goes through in one forward pass of the DiT of ``model_config``."""
    d, layers = model_config["d_model"], model_config["n_layers"]
    blocks = layers * (4 + 2 * model_config["mlp_ratio"]) * d * d  # qkv, output projection, MLP
    unmask_head = model_config["num_classes"] * d
    insertion_head = (2 * d * d + d) if model_config["insertion_head"] else 0
    return blocks + unmask_head + insertion_head


def forward_flops_per_token(model_config: dict, length: float) -> float:
    """FLOPs of one token's forward pass in a sequence of ``length`` tokens."""
    attention = 4 * model_config["n_layers"] * model_config["d_model"] * length
    return 2 * matmul_weights_per_token(model_config) + attention


def training_flops(summary: dict) -> float:
    """The training FLOPs of a run from its summary.json: every token it processed (``tokens_seen``, padding of
    MDM and AR included as the network computed it) at the run's mean sequence length (tokens per row)."""
    rows = summary["steps"] * summary["train_config"]["batch_size"]
    if not rows or not summary["tokens_seen"]:
        return 0.0
    mean_length = summary["tokens_seen"] / rows
    return BACKWARD_FACTOR * summary["tokens_seen"] * forward_flops_per_token(summary["model_config"], mean_length)
