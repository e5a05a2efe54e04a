"""mazebench: a benchmark suite for learned maze planners (FlexMDM vs masked diffusion)."""

from mazebench.maze import load_maze, make_maze, maze_from_text, maze_to_text, save_maze

__all__ = ["make_maze", "maze_from_text", "maze_to_text", "load_maze", "save_maze"]
