"""Pictures of mazes and paths: matplotlib PNGs and GIFs for people, a numpy frame for the env's ``rgb_array`` mode.

The matplotlib functions use ``Figure`` objects with the Agg canvas (no pyplot, no display). On the
plots, walls are dark and open cells light; the path is a line from start (blue) to goal (purple);
subgoals are numbered circles, the start green and the goal red; the first failure is drawn in red:
a cross on a cell that is a wall, off the grid or a wrong start or end, a dashed segment for a jump,
a ring around a missed subgoal.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle

WALL_RGB = (46, 52, 64)
OPEN_RGB = (244, 241, 234)
TRAJECTORY_RGB = (120, 165, 230)
AGENT_RGB = (25, 55, 170)
START_RGB = (46, 160, 67)
GOAL_RGB = (215, 48, 39)
NEXT_RGB = (245, 150, 20)
PENDING_RGB = (150, 110, 200)
FAIL_COLOR = "#e3001b"
MASK_COLOR = "#8c8c8c"
DPI = 120
GIF_DPI = 72  # an animation has one picture per sampling step: smaller ones

_PATH_CMAP = LinearSegmentedColormap.from_list("mazebench_path", ["#3a8fd9", "#4b2991"])


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def draw_path(ax, maze, subgoals, path, score=None, title: str | None = None) -> None:
    """Draw ``maze``, ``path`` and numbered ``subgoals`` on ``ax``; highlight the first failure of ``score``
    (a PathScore)."""
    grid = np.asarray(maze)
    height, width = grid.shape
    cell_pt = _cell_points(ax, grid.shape)
    _draw_maze(ax, grid)
    points = _points(path)
    if len(points) >= 2:
        segments = np.stack([points[:-1], points[1:]], axis=1)[:, :, ::-1]  # (row, col) -> (x, y)
        line = LineCollection(
            segments, cmap=_PATH_CMAP, linewidths=max(1.0, 0.28 * cell_pt), capstyle="round", zorder=2
        )
        line.set_array(np.linspace(0.0, 1.0, len(segments)))
        ax.add_collection(line)
    elif len(points) == 1:
        ax.plot(points[0, 1], points[0, 0], "o", color=_PATH_CMAP(0.0), markersize=0.5 * cell_pt, zorder=2)
    _draw_subgoals(ax, _points(subgoals), cell_pt)
    if score is not None and not score.success:
        _draw_failure(ax, grid.shape, _points(subgoals), points, score, cell_pt)
    _frame_axes(ax, grid.shape)
    if title:
        ax.set_title(title, fontsize=10)
    if score is not None:
        ax.set_xlabel(
            "success" if score.success else score.reason,
            fontsize=9,
            color=_hex(START_RGB) if score.success else FAIL_COLOR,
        )


def save_path_png(out_path, maze, subgoals, path, score=None, title: str | None = None) -> Path:
    """Draw one path (see :func:`draw_path`) into a PNG file and return its path."""
    return save_gallery_png(out_path, maze, [(subgoals, path, score, title)], ncols=1)


def save_gallery_png(out_path, maze, items, ncols: int = 4) -> Path:
    """Draw several paths on a grid of panels; ``items`` holds ``(subgoals, path, score, title)`` tuples."""
    if not items:
        raise ValueError("save_gallery_png needs at least one item")
    ncols = max(1, min(ncols, len(items)))
    nrows = math.ceil(len(items) / ncols)
    legend_rows = 1 if ncols > 1 else 2
    fig, axes = _figure(nrows, ncols, panel_inches=5.0, bottom=0.3 + 0.25 * legend_rows)
    for ax, (subgoals, path, score, title) in zip(axes, items):
        draw_path(ax, maze, subgoals, path, score=score, title=title)
    for ax in axes[len(items) :]:
        ax.set_visible(False)
    handles = _legend_handles()
    fig.legend(
        handles=handles, loc="lower center", ncol=math.ceil(len(handles) / legend_rows), fontsize=9, frameon=False
    )
    return _save(fig, out_path)


def save_filmstrip_png(out_path, maze, frames, titles=None, ncols: int = 5) -> Path:
    """Draw the states of a generation, one panel per frame, in a row.

    A frame is a list with one entry per sequence position: a ``(row, col)`` cell, or None for a mask.
    Known cells are dots joined in order: solid lines between neighbours in the sequence, dashed grey
    lines with the number of masks between them where masks sit in between (and a grey ``+n`` next to
    the first or last known cell for masks before or after all known cells). Panels run left to
    right, ``ncols`` per row.
    """
    if not frames:
        raise ValueError("save_filmstrip_png needs at least one frame")
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"got {len(titles)} titles for {len(frames)} frames")
    grid = np.asarray(maze)
    ncols = max(1, min(ncols, len(frames)))
    fig, axes = _figure(math.ceil(len(frames) / ncols), ncols, panel_inches=4.0)
    for i, (ax, frame) in enumerate(zip(axes, frames)):
        masks = sum(cell is None for cell in frame)
        default = f"{len(frame) - masks} cells, {masks} masks"
        _draw_frame(ax, grid, frame, titles[i] if titles is not None else default)
    for ax in axes[len(frames) :]:
        ax.set_visible(False)
    return _save(fig, out_path)


def save_generation_gif(out_path, maze, frames, titles, frame_ms: int = 150, last_ms: int = 2000) -> Path:
    """The states of a generation as an animated GIF (drawn as the filmstrip's panels are), one frame per state
    in order, each shown ``frame_ms`` milliseconds and the last ``last_ms``; it loops."""
    from PIL import Image

    if not frames:
        raise ValueError("save_generation_gif needs at least one frame")
    if len(titles) != len(frames):
        raise ValueError(f"got {len(titles)} titles for {len(frames)} frames")
    grid, images = np.asarray(maze), []
    for frame, title in zip(frames, titles):
        fig, (ax,) = _figure(1, 1, panel_inches=3.0, bottom=0.1)
        fig.set_dpi(GIF_DPI)
        _draw_frame(ax, grid, frame, title)
        fig.canvas.draw()
        images.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3]))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    durations = [frame_ms] * (len(images) - 1) + [last_ms]
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return out


def render_rgb(maze, subgoals, trajectory, position, next_subgoal: int, cell_px: int = 8) -> np.ndarray:
    """An ``(H * cell_px, W * cell_px, 3)`` uint8 picture drawn with numpy only.

    Walls dark, open cells light, the trajectory as a blue line through cell centres, subgoals as
    squares (reached green, next orange, later purple, the goal red until reached) and the agent as
    a dark blue disc.
    """
    if isinstance(cell_px, bool) or not isinstance(cell_px, (int, np.integer)) or cell_px < 4:
        raise ValueError(f"cell_px must be an integer >= 4, got {cell_px!r}")
    grid = np.asarray(maze)
    image = np.where(grid[..., None] == 1, np.array(WALL_RGB, np.uint8), np.array(OPEN_RGB, np.uint8))
    image = np.repeat(np.repeat(image, cell_px, axis=0), cell_px, axis=1)
    cells = np.asarray(subgoals, dtype=np.int64).reshape(-1, 2)
    pad = max(1, cell_px // 8)
    for i, (r, c) in enumerate(cells):
        if i < next_subgoal:
            color = START_RGB
        elif i == len(cells) - 1:
            color = GOAL_RGB
        else:
            color = NEXT_RGB if i == next_subgoal else PENDING_RGB
        image[r * cell_px + pad : (r + 1) * cell_px - pad, c * cell_px + pad : (c + 1) * cell_px - pad] = color
    half = max(1, cell_px // 6)
    mid = cell_px // 2
    steps = np.asarray(trajectory, dtype=np.int64).reshape(-1, 2)
    for (r0, c0), (r1, c1) in zip(steps[:-1], steps[1:]):
        top, bottom = sorted((r0 * cell_px + mid, r1 * cell_px + mid))
        left, right = sorted((c0 * cell_px + mid, c1 * cell_px + mid))
        image[top - half : bottom + half, left - half : right + half] = TRAJECTORY_RGB
    ys, xs = np.mgrid[0:cell_px, 0:cell_px] + 0.5
    disc = (ys - cell_px / 2) ** 2 + (xs - cell_px / 2) ** 2 <= (0.38 * cell_px) ** 2
    r, c = int(position[0]), int(position[1])
    image[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px][disc] = AGENT_RGB
    return image


def _figure(nrows: int, ncols: int, panel_inches: float, bottom: float = 0.3):
    """A figure of ``nrows`` x ``ncols`` square panels with room for a title above and a line of text
    below each, plus ``bottom`` inches at the foot (for a legend)."""
    gap = 0.7  # inches between rows: a title and an x label
    height = nrows * panel_inches + (nrows - 1) * gap + 0.4 + bottom
    fig = Figure(figsize=(panel_inches * ncols + 0.2, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    fig.subplots_adjust(
        left=0.1 / fig.get_figwidth(),
        right=1 - 0.1 / fig.get_figwidth(),
        top=1 - 0.4 / height,
        bottom=bottom / height,
        wspace=0.04,
        hspace=gap / panel_inches,
    )
    return fig, list(axes)


def _save(fig: Figure, out_path) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    return out


def _cell_points(ax, shape) -> float:
    """The size of one maze cell in points on ``ax`` (the axes keep the maze's aspect ratio)."""
    box = ax.get_position()
    width_pt = box.width * ax.figure.get_figwidth() * 72
    height_pt = box.height * ax.figure.get_figheight() * 72
    return min(width_pt / (shape[1] + 2), height_pt / (shape[0] + 2))


def _draw_maze(ax, grid: np.ndarray) -> None:
    colors = ListedColormap([np.array(OPEN_RGB) / 255, np.array(WALL_RGB) / 255])
    ax.imshow(grid, cmap=colors, vmin=0, vmax=1, interpolation="nearest", zorder=0)


def _points(cells) -> np.ndarray:
    """Cells as a float ``(n, 2)`` array; anything that is not a pair of finite numbers becomes NaN (a gap in lines)."""
    try:
        items = list(cells)
    except TypeError:
        return np.zeros((0, 2))
    out = np.full((len(items), 2), np.nan)
    for i, item in enumerate(items):
        try:
            pair = np.asarray(item, dtype=float)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too large for a float
            continue
        if pair.shape == (2,) and np.isfinite(pair).all():
            out[i] = pair
    return out


def _draw_subgoals(ax, points: np.ndarray, cell_pt: float) -> None:
    last = len(points) - 1
    for i, (r, c) in enumerate(points):
        if np.isnan(r):
            continue
        face = _hex(START_RGB) if i == 0 else _hex(GOAL_RGB) if i == last else "white"
        text = "white" if i in (0, last) else "black"
        ax.add_patch(Circle((c, r), 0.62, facecolor=face, edgecolor="black", linewidth=0.06 * cell_pt, zorder=3))
        ax.text(
            c, r, str(i + 1), ha="center", va="center", fontsize=0.62 * cell_pt, color=text, fontweight="bold", zorder=4
        )


def _draw_failure(ax, shape, subgoals: np.ndarray, points: np.ndarray, score, cell_pt: float) -> None:
    """Mark the first failure of ``score`` in red (see the module docstring)."""
    kind, index = score.failure_kind, score.first_failure
    width = 0.12 * cell_pt

    def ring(cell):
        if cell is not None and not np.isnan(cell).any():
            ax.add_patch(Circle((cell[1], cell[0]), 1.35, fill=False, edgecolor=FAIL_COLOR, linewidth=width, zorder=5))

    def cross(cell):
        if cell is not None and not np.isnan(cell).any():
            r, c = np.clip(cell, -1, np.array(shape))  # keep far off-grid cells on the margin
            ax.plot(c, r, "x", color=FAIL_COLOR, markersize=2.2 * cell_pt, markeredgewidth=width * 1.6, zorder=5)

    failing = points[index] if index is not None and 0 <= index < len(points) else None
    if kind == "jump" and failing is not None and index > 0:
        (r0, c0), (r1, c1) = points[index - 1], failing
        ax.plot([c0, c1], [r0, r1], "--", color=FAIL_COLOR, linewidth=width * 1.5, zorder=5)
        cross(failing)
    elif kind == "missed_subgoal" and 0 <= score.subgoals_reached < len(subgoals):
        ring(subgoals[score.subgoals_reached])
    elif kind == "wrong_start" and len(subgoals):
        ring(subgoals[0])
        cross(failing)
    elif kind == "wrong_end" and len(subgoals):
        ring(subgoals[-1])
        cross(failing)
    else:  # wall, off_grid, bad_cell, anything else with a cell
        cross(failing)


def _draw_frame(ax, grid: np.ndarray, frame, title: str) -> None:
    cell_pt = _cell_points(ax, grid.shape)
    _draw_maze(ax, grid)
    known = [(i, cell) for i, cell in enumerate(frame) if cell is not None]
    for (i, a), (j, b) in zip(known[:-1], known[1:]):
        gap = j - i - 1
        style = dict(color=MASK_COLOR, linestyle="--") if gap else dict(color=_PATH_CMAP(0.0), linestyle="-")
        ax.plot([a[1], b[1]], [a[0], b[0]], linewidth=0.2 * cell_pt, zorder=2, **style)
        if gap:
            _mask_label(ax, (a[1] + b[1]) / 2, (a[0] + b[0]) / 2, str(gap), cell_pt)
    if known:
        cells = np.array([cell for _, cell in known], dtype=float)
        ax.plot(cells[:, 1], cells[:, 0], "o", color=_PATH_CMAP(1.0), markersize=0.45 * cell_pt, zorder=3)
        before, after = known[0][0], len(frame) - 1 - known[-1][0]
        if before:
            _mask_label(ax, cells[0, 1] - 1.2, cells[0, 0] - 1.2, f"+{before}", cell_pt)
        if after:
            _mask_label(ax, cells[-1, 1] + 1.2, cells[-1, 0] + 1.2, f"+{after}", cell_pt)
    elif frame:
        ax.text(
            grid.shape[1] / 2,
            grid.shape[0] / 2,
            f"{len(frame)} masks",
            ha="center",
            va="center",
            color=MASK_COLOR,
            fontsize=12,
        )
    _frame_axes(ax, grid.shape)
    ax.set_title(title, fontsize=10)


def _frame_axes(ax, shape) -> None:
    """Show the maze with a one-cell margin (room for off-grid marks), without ticks or frame."""
    ax.set_xlim(-1.5, shape[1] + 0.5)
    ax.set_ylim(shape[0] + 0.5, -1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _mask_label(ax, x: float, y: float, text: str, cell_pt: float) -> None:
    box = dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor=MASK_COLOR, linewidth=0.5)
    ax.text(x, y, text, ha="center", va="center", fontsize=max(7.0, 0.6 * cell_pt), color="#444444", bbox=box, zorder=4)


def _legend_handles() -> list:
    def marker(color, label, edge="black"):
        return Line2D(
            [], [], marker="o", linestyle="", markersize=9, markerfacecolor=color, markeredgecolor=edge, label=label
        )

    return [
        marker(_hex(START_RGB), "start (g1)"),
        marker(_hex(GOAL_RGB), "goal (gK)"),
        marker("white", "subgoal"),
        Line2D([], [], color=_PATH_CMAP(0.5), linewidth=2.5, label="path (start to goal)"),
        Line2D([], [], color=FAIL_COLOR, marker="x", linestyle="--", markersize=9, label="first failure"),
    ]
