"""The DiT backbone shared by both planners: a bidirectional transformer with adaLN time conditioning.

Tokens are grid cells plus special tokens (see ``agents.tokenizer``). With ``geometry`` on, a cell's
input embedding and its output logit carry a row and a column term besides the cell's own, so
neighbouring cells start out related. FlexMDM adds an insertion head: a BOS token is prepended and
slot i (before token i) is read from the hidden states on both sides of it; a softplus gives the
expected number of missing tokens there. Heads run in fp32; the blocks may run under bf16 autocast.
On the CPU, rows of different lengths run packed: the per-token products skip the padding (``Rows``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    height: int  # grid size, for the row / column embeddings
    width: int
    vocab_size: int
    num_classes: int  # outputs of the unmasking head: ids 0 .. num_classes-1
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    cond_dim: int = 128
    dropout: float = 0.0
    mlp_ratio: int = 4
    geometry: bool = True
    insertion_head: bool = False
    max_len: int = 512
    causal: bool = False  # causal attention (the autoregressive baseline); needs lengths None

    def to_dict(self) -> dict:
        return asdict(self)


def key_multiple(device: torch.device) -> int:
    """Sequence lengths are padded to a multiple of this before masked attention: CUDA's fused
    memory-efficient kernel wants the mask's key dimension aligned to 8 (it copies it otherwise)."""
    return 8 if device.type == "cuda" else 1


def packs_rows(device: torch.device) -> bool:
    """Whether rows with a padding mask run packed (see ``Rows``): on the CPU, where a batch of mixed
    lengths is mostly padding; not on CUDA, where finding the real tokens would synchronise with the host."""
    return device.type != "cuda"


def first_fit(lengths: list[int], capacity: int) -> tuple[list[int], list[int]]:
    """Items of ``lengths`` put into bins of ``capacity`` slots, longest first, each into the first bin
    with room: every item's (bin, first slot)."""
    free: list[int] = []
    bins, starts = [0] * len(lengths), [0] * len(lengths)
    for item in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        place = next((b for b, room in enumerate(free) if room >= lengths[item]), len(free))
        if place == len(free):
            free.append(capacity)
        bins[item], starts[item] = place, capacity - free[place]
        free[place] -= lengths[item]
    return bins, starts


class Rows:
    """The layout of a batch's tokens. Padded: (B, L, ...) throughout, attention with a key mask.
    Packed (``packed``): between the blocks only the real tokens of ``valid`` (B, L), row-major
    (T, ...); for attention the rows are packed first-fit into bins of L slots (``attention``), each
    token attending within its own row (padding slots among themselves), so no product runs on padding
    but the bins' few spare slots."""

    def __init__(self, valid: torch.Tensor | None, packed: bool):
        self.attn_mask = None if valid is None else valid[:, None, None, :]
        self.packed = packed
        if not packed:
            return
        self.shape = valid.shape
        lengths = valid.sum(1)
        self.row = torch.repeat_interleave(torch.arange(len(lengths)), lengths)  # of every token
        self.flat = valid.flatten().nonzero().squeeze(1)  # every token's place in the flat (B * L) padding
        bins, starts = map(torch.tensor, first_fit(lengths.tolist(), self.shape[1]))
        self.slot = bins[self.row] * self.shape[1] + starts[self.row] + self.flat % self.shape[1]
        owner = torch.full((int(bins.max()) + 1, self.shape[1]), -1).flatten().index_copy(0, self.slot, self.row)
        owner = owner.view(-1, self.shape[1])
        self.attn_mask = (owner[:, :, None] == owner[:, None, :])[:, None]

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """A padded per-token tensor (B, L, ...) in this layout."""
        return x.flatten(0, 1).index_select(0, self.flat) if self.packed else x

    def per_row(self, x: torch.Tensor) -> torch.Tensor:
        """A per-row tensor (B, C) broadcast to this layout's tokens."""
        return x.index_select(0, self.row) if self.packed else x[:, None]

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens in this layout as a padded tensor (B, L, ...), zero at packed-out padding."""
        if not self.packed:
            return x
        flat = x.new_zeros(self.shape.numel(), *x.shape[1:]).index_copy(0, self.flat, x)
        return flat.view(*self.shape, *x.shape[1:])

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens in this layout as (rows or bins, L, ...) for attention under ``attn_mask``."""
        if not self.packed:
            return x
        slots = self.attn_mask.shape[0] * self.shape[1]
        return x.new_zeros(slots, *x.shape[1:]).index_copy(0, self.slot, x).unflatten(0, (-1, self.shape[1]))

    def from_attention(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of ``attention``."""
        return x.flatten(0, 1).index_select(0, self.slot) if self.packed else x


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x * (1 + scale) + shift with shift and scale broadcast to x's tokens, as one fused kernel."""
    return torch.addcmul(shift, x, 1 + scale)


def layer_norm(x: torch.Tensor) -> torch.Tensor:
    """Parameter-free LayerNorm computed in fp32 (adaLN supplies scale and shift)."""
    return F.layer_norm(x.float(), x.shape[-1:])


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t in [0, 1] followed by an MLP."""

    def __init__(self, cond_dim: int, freq_dim: int = 128):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
        angles = 1000.0 * t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1))


def rotary_table(length: int, head_dim: int, device) -> torch.Tensor:
    """Unit complex numbers (length, head_dim / 2) that turn channel pair (2i, 2i + 1) at a position
    by the angle position * 10000^(-2i / head_dim)."""
    inv_freq = 1.0 / (10_000.0 ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    angles = torch.arange(length, device=device).float()[:, None] * inv_freq[None]
    return torch.polar(torch.ones_like(angles), angles)


def qkv_rotary_table(length: int, head_dim: int, device) -> torch.Tensor:
    """Rotary table (length, 3, 1, head_dim / 2) for the stacked (q, k, v) of every head: q and k turn, v does not."""
    table = rotary_table(length, head_dim, device)
    return torch.stack([table, table, torch.ones_like(table)], 1)[:, :, None]


def apply_rotary(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Turn each channel pair (x_2i, x_2i+1) of x (..., head_dim) as a complex number by its entry of
    ``table`` (broadcast to x's pairs), in fp32; the result has x's dtype."""
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * table).flatten(-2).to(x.dtype)


class Block(nn.Module):
    """Pre-norm transformer block; adaLN turns the time embedding into shift / scale / gate."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.dropout = cfg.dropout
        self.causal = cfg.causal
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model),
            nn.GELU(approximate="tanh"),
            nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model),
        )
        self.ada = nn.Linear(cfg.cond_dim, 6 * cfg.d_model)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cond, rows: Rows, rotary):
        """x: tokens in the layout ``rows``; rotary: ``qkv_rotary_table`` in that layout."""
        shift1, scale1, gate1, shift2, scale2, gate2 = rows.per_row(self.ada(cond)).chunk(6, dim=-1)
        h = modulate(layer_norm(x), shift1, scale1)
        qkv = apply_rotary(self.qkv(h).unflatten(-1, (3, self.n_heads, -1)), rotary)
        q, k, v = rows.attention(qkv).permute(2, 0, 3, 1, 4)  # each (rows or bins, heads, L, head_dim)
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=rows.attn_mask, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal
        )
        att = rows.from_attention(att.transpose(1, 2)).flatten(-2)
        x = torch.addcmul(x, gate1, self.drop(self.proj(att)))
        h = modulate(layer_norm(x), shift2, scale2)
        return torch.addcmul(x, gate2, self.drop(self.mlp(h)))


class DiT(nn.Module):
    """Bidirectional transformer over cell tokens, conditioned on t, with an unmasking head and
    (for FlexMDM) an insertion head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        num_cells = cfg.height * cfg.width
        self.token_emb = nn.Embedding(cfg.vocab_size + 1, d)  # + 1: BOS for the insertion head
        self.fixed_emb = nn.Embedding(2, d)  # exempt (subgoal) tokens are flagged
        self.time_emb = TimeEmbedding(cfg.cond_dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.final_ada = nn.Linear(cfg.cond_dim, 2 * d)
        nn.init.zeros_(self.final_ada.weight)
        nn.init.zeros_(self.final_ada.bias)
        self.out_emb = nn.Parameter(torch.randn(cfg.num_classes, d) * 0.02)
        self.out_bias = nn.Parameter(torch.zeros(cfg.num_classes))
        ids = torch.arange(cfg.vocab_size + 1)
        is_cell = ids < num_cells
        # Row / column index of every token; specials use the extra index height / width.
        self.register_buffer("token_row", torch.where(is_cell, ids // cfg.width, cfg.height), persistent=False)
        self.register_buffer("token_col", torch.where(is_cell, ids % cfg.width, cfg.width), persistent=False)
        if cfg.geometry:
            self.row_emb = nn.Embedding(cfg.height + 1, d)
            self.col_emb = nn.Embedding(cfg.width + 1, d)
            self.row_out = nn.Parameter(torch.zeros(cfg.height + 1, d))
            self.col_out = nn.Parameter(torch.zeros(cfg.width + 1, d))
        if cfg.insertion_head:
            self.gap_head = nn.Sequential(nn.Linear(2 * d, d), nn.GELU(approximate="tanh"), nn.Linear(d, 1))
        for emb in (self.token_emb, self.fixed_emb):
            nn.init.normal_(emb.weight, std=0.02)

    @property
    def bos_id(self) -> int:
        return self.cfg.vocab_size

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_emb(tokens)
        if self.cfg.geometry:
            x = x + self.row_emb(self.token_row[tokens]) + self.col_emb(self.token_col[tokens])
        return x

    def forward(self, tokens, fixed, lengths, t, query) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(unmask logits at the ``query`` positions, gap log rates or None): both heads in one call.

        ``lengths`` (B,) or None when every row is full (no padding mask: the fastest attention path).
        ``query`` is a (B, N) boolean mask or the (rows, cols) index tensors of its true entries.
        Training goes through this call so that DistributedDataParallel sees every parameter used.
        """
        hidden = self.hidden_states(tokens, fixed, lengths, t)
        log_gaps = self.gap_log_rates(hidden, lengths) if self.cfg.insertion_head else None
        return self.unmask_logits(hidden, query), log_gaps

    def hidden_states(
        self, tokens: torch.Tensor, fixed: torch.Tensor, lengths: torch.Tensor | None, t: torch.Tensor
    ) -> torch.Tensor:
        """Final hidden states (B, N', d) in fp32, zero past each row's length; N' = N + 1 with the
        insertion head (BOS first). ``lengths`` None: every row is full and attention needs no mask."""
        if tokens.shape[1] + self.cfg.insertion_head > self.cfg.max_len:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens exceeds the model's max_len {self.cfg.max_len}")
        extra = 0
        if lengths is not None:  # masked keys: pad to the attention kernel's multiple, cut off at the end
            extra = -(tokens.shape[1] + self.cfg.insertion_head) % key_multiple(tokens.device)
            tokens, fixed = F.pad(tokens, (0, extra)), F.pad(fixed, (0, extra), value=False)
        if self.cfg.insertion_head:
            tokens = F.pad(tokens, (1, 0), value=self.bos_id)
            fixed = F.pad(fixed, (1, 0), value=False)
            lengths = None if lengths is None else lengths + 1
        batch, length = tokens.shape
        key_valid = None if lengths is None else torch.arange(length, device=tokens.device)[None, :] < lengths[:, None]
        rows = Rows(key_valid, packed=key_valid is not None and packs_rows(tokens.device))
        cond = F.silu(self.time_emb(t))
        x = self.embed(rows.tokens(tokens)) + self.fixed_emb(rows.tokens(fixed).long())
        table = qkv_rotary_table(length, self.cfg.d_model // self.cfg.n_heads, tokens.device)
        rotary = rows.tokens(table.expand(batch, *table.shape))
        for block in self.blocks:
            x = block(x, cond, rows, rotary)
        shift, scale = rows.per_row(self.final_ada(cond).float()).chunk(2, dim=-1)
        hidden = rows.padded(modulate(layer_norm(x), shift, scale))
        if key_valid is not None and not rows.packed:
            hidden = hidden * key_valid[..., None]
        return hidden[:, : length - extra]

    def class_weights(self) -> torch.Tensor:
        """Output embedding of every class (cell tokens, then PAD for the MDM), with geometry terms."""
        weights = self.out_emb
        if self.cfg.geometry:
            classes = torch.arange(self.cfg.num_classes, device=weights.device)
            weights = weights + self.row_out[self.token_row[classes]] + self.col_out[self.token_col[classes]]
        return weights

    def unmask_logits(self, hidden: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """fp32 logits (M, num_classes) at the M positions of ``query`` (a (B, N) mask, row-major, or (rows, cols))."""
        if self.cfg.insertion_head:
            hidden = hidden[:, 1:]
        with torch.autocast(hidden.device.type, enabled=False):
            return hidden[query].float() @ self.class_weights().float().T + self.out_bias.float()

    def gap_log_rates(self, hidden: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """log of the expected gap g >= 0 for each of the N + 1 slots (B, N + 1), in fp32.

        Slot i lies between hidden position i (BOS or token i-1) and position i + 1 (token i). Given
        the rows' ``lengths`` on a device that packs rows, the head runs at the real slots (i <= length)
        only and the others read 0.
        """
        pairs = torch.cat([hidden, F.pad(hidden[:, 1:], (0, 0, 0, 1))], dim=-1)
        real = None
        if lengths is not None and packs_rows(hidden.device):
            real = torch.arange(hidden.shape[1], device=hidden.device)[None, :] <= lengths[:, None]
            pairs = pairs[real]
        with torch.autocast(hidden.device.type, enabled=False):
            pre = self.gap_head(pairs.float()).squeeze(-1)
        # log(softplus(x)), exact for very negative x where softplus underflows.
        log_rates = torch.where(pre < -20, pre, torch.log(F.softplus(pre).clamp_min(1e-30)))
        return log_rates if real is None else log_rates.new_zeros(real.shape).masked_scatter(real, log_rates)
