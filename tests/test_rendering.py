"""Tests of the path pictures (matplotlib PNGs) and of the env's numpy frames."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from PIL import Image

from mazebench import rendering
from mazebench.maze import make_maze
from mazebench.scoring import score_path

MAZE = np.ones((7, 7), dtype=np.uint8)
MAZE[1, 1:6] = MAZE[1:6, 5] = 0  # an L-shaped corridor: (1, 1) .. (1, 5) .. (5, 5)
SUBGOALS = [(1, 1), (1, 3), (1, 5), (5, 5)]
ROUTE = [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
RED = rendering.FAIL_COLOR


def drawn(path, subgoals=SUBGOALS):
    fig = Figure()
    ax = fig.add_subplot()
    score = score_path(MAZE, subgoals, path)
    rendering.draw_path(ax, MAZE, subgoals, path, score=score, title="t")
    return ax, score


def red_lines(ax):
    return [line for line in ax.lines if line.get_color() == RED]


def red_rings(ax):
    return [
        p
        for p in ax.patches
        if isinstance(p, Circle) and not p.get_fill() and np.allclose(p.get_edgecolor()[:3], _rgb(RED))
    ]


def _rgb(color):
    return tuple(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))


def test_success_has_no_failure_marks_and_numbered_subgoals():
    ax, score = drawn(ROUTE)
    assert score.success
    assert not red_lines(ax) and not red_rings(ax)
    assert [t.get_text() for t in ax.texts] == ["1", "2", "3", "4"]
    assert ax.get_xlabel() == "success" and ax.get_title() == "t"


def test_wall_failure_is_crossed_at_the_wall_cell():
    ax, score = drawn(ROUTE[:3] + [(0, 3)])
    assert score.failure_kind == "wall"
    (cross,) = red_lines(ax)
    assert cross.get_marker() == "x" and (cross.get_xdata()[0], cross.get_ydata()[0]) == (3, 0)
    assert ax.get_xlabel() == score.reason


def test_jump_is_drawn_as_a_red_segment():
    ax, score = drawn(ROUTE[:3] + ROUTE[5:])
    assert score.failure_kind == "jump"
    segment = next(line for line in red_lines(ax) if line.get_linestyle() == "--")
    assert list(segment.get_xdata()) == [3, 5] and list(segment.get_ydata()) == [1, 2]


def test_missed_subgoal_is_ringed():
    subgoals = [(1, 1), (3, 5), (1, 3), (5, 5)]  # g3 comes before g2 along the corridor
    ax, score = drawn(ROUTE, subgoals)
    assert score.failure_kind == "missed_subgoal" and score.subgoals_reached == 2
    (ring,) = red_rings(ax)
    assert ring.center == (3, 1)  # g3 = (1, 3) in (x, y)


def test_off_grid_cross_is_kept_on_the_margin_and_garbage_cells_draw():
    ax, score = drawn([(1, 1), (1, 2), (-50, 2), None, "x"])
    assert score.failure_kind == "off_grid"
    (cross,) = red_lines(ax)
    assert (cross.get_xdata()[0], cross.get_ydata()[0]) == (2, -1)


def test_png_writers_produce_images(tmp_path):
    maze = make_maze()
    path = rendering.save_path_png(tmp_path / "one.png", MAZE, SUBGOALS, ROUTE, title="one")
    items = [(SUBGOALS, ROUTE, score_path(MAZE, SUBGOALS, ROUTE), f"#{i}") for i in range(5)]
    gallery = rendering.save_gallery_png(tmp_path / "sub" / "gallery.png", MAZE, items, ncols=3)
    frames = [[(1, 1), None, None, (1, 5)], [(1, 1), (1, 2), None, (1, 4), (1, 5)], ROUTE]
    film = rendering.save_filmstrip_png(tmp_path / "film.png", maze, frames, titles=["a", "b", "c"])
    sizes = {}
    for png in (path, gallery, film):
        with Image.open(png) as image:
            assert image.format == "PNG" and np.asarray(image.convert("L")).std() > 10  # not blank
            sizes[png.name] = image.size
    assert sizes["gallery.png"][0] > 2.5 * sizes["one.png"][0]  # three columns
    assert sizes["gallery.png"][1] > 1.5 * sizes["one.png"][1]  # two rows
    with pytest.raises(ValueError, match="at least one"):
        rendering.save_gallery_png(tmp_path / "none.png", MAZE, [])
    with pytest.raises(ValueError, match="2 titles for 3 frames"):
        rendering.save_filmstrip_png(tmp_path / "bad.png", maze, frames, titles=["a", "b"])


def test_filmstrip_frame_labels_masks_between_and_around_known_cells():
    fig = Figure()
    ax = fig.add_subplot()
    rendering._draw_frame(ax, MAZE, [None, (1, 1), None, None, (1, 4), (1, 5), None], "title")
    assert sorted(t.get_text() for t in ax.texts) == ["+1", "+1", "2"]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_xdata()) == [1, 4]


def test_render_rgb_draws_walls_subgoals_trajectory_and_agent():
    image = rendering.render_rgb(MAZE, SUBGOALS, ROUTE[:3], ROUTE[2], next_subgoal=2, cell_px=8)
    assert image.shape == (56, 56, 3) and image.dtype == np.uint8

    def pixel(cell, dy=1, dx=1):
        return tuple(image[cell[0] * 8 + dy, cell[1] * 8 + dx])

    assert pixel((0, 0)) == rendering.WALL_RGB
    assert pixel((3, 3)) == rendering.WALL_RGB
    assert pixel((1, 1)) == rendering.START_RGB  # g1, reached
    assert pixel((1, 5)) == rendering.NEXT_RGB  # g3, next
    assert pixel((5, 5)) == rendering.GOAL_RGB
    assert pixel((2, 5), 4, 1) == rendering.OPEN_RGB  # not walked yet
    assert pixel((1, 2), 4, 1) == rendering.TRAJECTORY_RGB
    assert pixel((1, 3), 4, 4) == rendering.AGENT_RGB


def test_render_rgb_rejects_tiny_cells():
    with pytest.raises(ValueError, match="cell_px"):
        rendering.render_rgb(MAZE, SUBGOALS, [], (1, 1), 1, cell_px=2)
