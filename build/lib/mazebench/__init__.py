"""mazebench: a benchmark suite for learned maze planners (FlexMDM vs masked diffusion)."""

from mazebench.datasets import generate_dataset, load_dataset
from mazebench.env import MazeEnv, run_path_in_env  # importing it registers "mazebench/Maze-v0"
from mazebench.evaluation import evaluate
from mazebench.maze import load_maze, make_maze, maze_from_text, maze_to_text, save_maze
from mazebench.planner import Planner
from mazebench.scoring import score_path

__all__ = [
    "make_maze",
    "maze_from_text",
    "maze_to_text",
    "load_maze",
    "save_maze",
    "generate_dataset",
    "load_dataset",
    "score_path",
    "MazeEnv",
    "run_path_in_env",
    "Planner",
    "evaluate",
]
