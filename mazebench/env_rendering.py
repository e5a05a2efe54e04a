"""The drawing of :class:`mazebench.env.MazeEnv`: its ``rgb_array`` frame (numpy only) and its ``human`` window."""

from __future__ import annotations

import numpy as np


class MazeRenderer:
    """Draws one env's maze with the state of its episode, as gymnasium's MuJoCo environments hold a renderer:
    :meth:`render` returns the frame in ``rgb_array`` mode and shows it in a matplotlib window in ``human`` mode
    (without a display, only the figure is updated); :meth:`close` closes the window."""

    def __init__(self, maze: np.ndarray, fps: float):
        self.maze = maze
        self.fps = fps
        self.figure = None  # the human mode's matplotlib figure, while its window is open
        self._image = None

    def render(self, render_mode: str | None, subgoals, trajectory, position, next_subgoal: int) -> np.ndarray | None:
        if render_mode not in ("rgb_array", "human"):
            return None
        from mazebench.rendering import render_rgb  # imported here: `import mazebench` stays free of matplotlib

        frame = render_rgb(self.maze, subgoals, trajectory, position, next_subgoal)
        if render_mode == "rgb_array":
            return frame
        self._show(frame)
        return None

    def close(self) -> None:
        if self.figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self.figure)
            self.figure = None

    def _show(self, frame: np.ndarray) -> None:
        import matplotlib.pyplot as plt
        from matplotlib.backends import BackendFilter, backend_registry

        if self.figure is None:
            self.figure, ax = plt.subplots(figsize=(5, 5))
            ax.set_axis_off()
            self._image = ax.imshow(frame)
        else:
            self._image.set_data(frame)
        if plt.get_backend().lower() not in backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE):
            plt.pause(1.0 / self.fps)
