"""The cell tokenizer: bijective on grid cells, specials distinct and outside the cell range."""

import numpy as np
import pytest

from agents.tokenizer import CellTokenizer

TOK = CellTokenizer(height=5, width=7)  # not square, so a row/column mix-up shows


def all_cells(tok):
    return np.array([(r, c) for r in range(tok.height) for c in range(tok.width)])


def test_round_trip_over_every_cell():
    cells = all_cells(TOK)
    tokens = TOK.encode(cells)
    assert sorted(tokens.tolist()) == list(range(TOK.num_cells))
    np.testing.assert_array_equal(TOK.decode(tokens), cells)


def test_encode_is_row_major():
    assert TOK.encode([[0, 1]]).tolist() == [1]
    assert TOK.encode([[1, 0]]).tolist() == [TOK.width]
    assert TOK.encode([[4, 6]]).tolist() == [TOK.num_cells - 1]


def test_round_trip_of_a_random_path_keeps_order():
    rng = np.random.default_rng(0)
    cells = all_cells(TOK)[rng.integers(0, TOK.num_cells, size=40)]
    np.testing.assert_array_equal(TOK.decode(TOK.encode(cells)), cells)


def test_specials_distinct_and_outside_the_cells():
    specials = [TOK.pad, TOK.mask, TOK.sep]
    assert len(set(specials)) == 3
    assert all(TOK.num_cells <= s < TOK.vocab_size for s in specials)
    assert TOK.vocab_size == TOK.num_cells + len(specials)


def test_decode_drops_specials():
    tokens = [TOK.sep, 3, TOK.mask, 8, TOK.pad, TOK.pad]
    np.testing.assert_array_equal(TOK.decode(tokens), TOK.decode([3, 8]))
    assert TOK.decode([TOK.pad]).shape == (0, 2)


@pytest.mark.parametrize("cell", [(-1, 0), (0, -1), (5, 0), (0, 7), (5, 7)])
def test_out_of_grid_raises(cell):
    with pytest.raises(ValueError):
        TOK.encode([(0, 0), cell])


def test_to_dict_rebuilds_the_tokenizer():
    assert CellTokenizer(**TOK.to_dict()) == TOK
