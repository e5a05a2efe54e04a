"""Cell tokenizer: one token per grid cell, then the special tokens.

A cell ``(row, col)`` of an ``H x W`` grid is token ``row * W + col``; the ids ``H*W ..`` are the
special tokens PAD (padding / end of a padded MDM path), MASK and SEP (MDM prompt separator).
Both models share this vocabulary; the unmasking heads only ever predict cell tokens (plus PAD
for the MDM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CellTokenizer:
    """Maps grid cells to token ids and back for an ``height x width`` grid."""

    height: int
    width: int

    @property
    def num_cells(self) -> int:
        return self.height * self.width

    @property
    def pad(self) -> int:
        return self.num_cells

    @property
    def mask(self) -> int:
        return self.num_cells + 1

    @property
    def sep(self) -> int:
        return self.num_cells + 2

    @property
    def vocab_size(self) -> int:
        return self.num_cells + 3

    def encode(self, cells) -> np.ndarray:
        """Token ids of an ``(n, 2)`` array of cells; raises ValueError on cells outside the grid."""
        cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
        rows, cols = cells[:, 0], cells[:, 1]
        if ((rows < 0) | (rows >= self.height) | (cols < 0) | (cols >= self.width)).any():
            raise ValueError(f"cells outside the {self.height}x{self.width} grid")
        return rows * self.width + cols

    def decode(self, tokens) -> np.ndarray:
        """The ``(n, 2)`` cells of cell tokens; special tokens are dropped."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        tokens = tokens[tokens < self.num_cells]
        return np.stack([tokens // self.width, tokens % self.width], axis=1)

    def to_dict(self) -> dict:
        return {"height": self.height, "width": self.width}
