"""Training batches: the leak-free augmentation (reversed paths, redrawn subgoals) keeps every example a
valid path of its own pair with subgoals in order, draws subgoals as the generator does, and is exact-resumable."""

import numpy as np
import pytest
import torch

from agents.batching import TokenizedSplit
from agents.tokenizer import CellTokenizer
from mazebench.scoring import score_path


@pytest.fixture(scope="module")
def split(tiny_dataset):
    return TokenizedSplit.from_split(tiny_dataset.train, CellTokenizer(*tiny_dataset.maze.shape))


def _examples(data: TokenizedSplit, tokenizer: CellTokenizer):
    for i in range(len(data)):
        cells = tokenizer.decode(data.tokens[data.offsets[i] : data.offsets[i + 1]].numpy())
        yield cells, data.subgoal_index[i].numpy()


@pytest.mark.parametrize("reverse,redraw", [(True, False), (False, True), (True, True)])
def test_augmented_examples_are_valid_paths_of_their_own_pair_with_subgoals_in_order(
    tiny_dataset, split, reverse, redraw
):
    tokenizer = CellTokenizer(*tiny_dataset.maze.shape)
    augmented = split.augmented(torch.Generator().manual_seed(0), reverse=reverse, redraw=redraw)
    assert torch.equal(augmented.lengths, split.lengths)
    flips = 0
    for (cells, index), (original, original_index) in zip(_examples(augmented, tokenizer), _examples(split, tokenizer)):
        assert index[0] == 0 and index[-1] == len(cells) - 1 and (np.diff(index) > 0).all()
        assert score_path(tiny_dataset.maze, cells[index], cells).success
        flipped = not np.array_equal(cells, original)
        flips += flipped
        assert np.array_equal(cells, original[::-1] if flipped else original)  # the same path, maybe reversed
        if not redraw:  # the same subgoal cells, in the path's new order
            expected = original[original_index][::-1] if flipped else original[original_index]
            assert np.array_equal(cells[index], expected)
    assert (0.35 < flips / len(split) < 0.65) if reverse else flips == 0


def test_redrawn_subgoals_are_uniform_over_the_inner_cells():
    """Each inner position of a path of L cells is a subgoal with probability (K - 2) / (L - 2)."""
    copies, length, k = 4000, 12, 5
    split = TokenizedSplit(
        torch.arange(length).repeat(copies),
        torch.arange(copies + 1) * length,
        torch.tensor([[0, 1, 2, 3, length - 1]]).repeat(copies, 1),
    )
    index = split.augmented(torch.Generator().manual_seed(0), reverse=False, redraw=True).subgoal_index
    assert (index[:, 0] == 0).all() and (index[:, -1] == length - 1).all() and (index.diff(dim=1) > 0).all()
    rate = torch.bincount(index[:, 1:-1].flatten(), minlength=length)[1:-1] / copies
    expected = (k - 2) / (length - 2)
    assert (rate - expected).abs().max() < 5 * (expected * (1 - expected) / copies) ** 0.5


def test_augmentation_depends_on_its_generator_alone(split):
    a, b = (split.augmented(torch.Generator().manual_seed(3), reverse=True, redraw=True) for _ in range(2))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.subgoal_index, b.subgoal_index)
    c = split.augmented(torch.Generator().manual_seed(4), reverse=True, redraw=True)
    assert not torch.equal(a.subgoal_index, c.subgoal_index)


def test_no_held_out_pair_enters_training_in_either_direction(tiny_dataset, split):
    tokenizer = CellTokenizer(*tiny_dataset.maze.shape)
    held_out = {frozenset(map(tuple, tiny_dataset.val[i].path[[0, -1]].tolist())) for i in range(len(tiny_dataset.val))}
    augmented = split.augmented(torch.Generator().manual_seed(1), reverse=True, redraw=True)
    trained = {frozenset(map(tuple, cells[[0, -1]].tolist())) for cells, _ in _examples(augmented, tokenizer)}
    assert held_out and trained and not held_out & trained


def test_a_time_group_of_one_stratifies_t_within_every_batch_as_the_official_code_does():
    from agents.batching import epoch_batches

    def strata(batch_times):
        return sorted((batch_times / 0.9 * len(batch_times)).floor().long().tolist())

    def cost(indices, times):  # sorting by cost gathers similar times in one batch
        return times

    within = epoch_batches(256, 16, cost, 0.9, torch.Generator().manual_seed(0), group=1)
    assert all(strata(times) == list(range(16)) for _, times in within)  # one t in each sixteenth of [0, t_max)
    across = epoch_batches(256, 16, cost, 0.9, torch.Generator().manual_seed(0), group=16)
    assert sorted(torch.cat([idx for idx, _ in across]).tolist()) == list(range(256))
    assert sum(strata(times) == list(range(16)) for _, times in across) == 0  # a batch holds a narrow band of t
