"""Tests of the gymnasium environment and of running planned paths through it."""

import gymnasium
import matplotlib
import networkx as nx
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mazebench  # noqa: F401  (registers the env)
from mazebench.env import ENV_ID, MOVES, MazeEnv, register_env, run_path_in_env
from mazebench.maze import make_maze, open_cells
from mazebench.scoring import score_path

UP, RIGHT, DOWN, LEFT = range(4)
MAZE = make_maze()
SMALL = make_maze(9, 9, seed=7)  # small enough for random walks to reach subgoals


def graph(maze):
    g = nx.grid_2d_graph(*maze.shape)
    g.remove_nodes_from(map(tuple, np.argwhere(maze == 1)))
    return g


GRAPHS = {id(MAZE): graph(MAZE), id(SMALL): graph(SMALL)}


def bfs_path(maze, subgoals):
    """Shortest paths between consecutive subgoals, concatenated (a path the scorer accepts)."""
    path = [tuple(subgoals[0])]
    for a, b in zip(subgoals[:-1], subgoals[1:]):
        path += nx.shortest_path(GRAPHS[id(maze)], tuple(a), tuple(b))[1:]
    return path


def moves_of(path):
    return [
        next(a for a, m in enumerate(MOVES) if tuple(m) == (b[0] - a0[0], b[1] - a0[1]))
        for a0, b in zip(path[:-1], path[1:])
    ]


def test_check_env_passes_on_the_raw_env_and_through_make():
    check_env(MazeEnv(render_mode="rgb_array"))
    check_env(MazeEnv(maze=SMALL, num_subgoals=3))
    check_env(gymnasium.make(ENV_ID, num_subgoals=5, render_mode="rgb_array").unwrapped)


def test_registered_once_on_import():
    assert ENV_ID in gymnasium.registry
    register_env()  # a second registration is a no-op, not a warning or an error
    env = gymnasium.make(ENV_ID, maze=SMALL, num_subgoals=2)
    assert env.unwrapped.maze.shape == (9, 9)


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_subgoals"):
        MazeEnv(num_subgoals=1)
    with pytest.raises(ValueError, match="max_steps"):
        MazeEnv(max_steps=0)
    with pytest.raises(ValueError, match="render_mode"):
        MazeEnv(render_mode="ansi")
    with pytest.raises(ValueError, match="0 \\(open\\) and 1 \\(wall\\)"):
        MazeEnv(maze=np.full((5, 5), 2))
    with pytest.raises(ValueError, match="shortest path of at least 12 cells"):
        MazeEnv(maze=np.array([[0, 0, 0, 1]])).reset(seed=0)


def test_default_step_limit_is_four_times_the_open_cells():
    assert MazeEnv().max_steps == 4 * len(open_cells(MAZE))


def test_reset_with_a_seed_is_deterministic():
    a, b = MazeEnv(), MazeEnv()
    for seed in range(3):
        obs_a, _ = a.reset(seed=seed)
        obs_b, _ = b.reset(seed=seed)
        np.testing.assert_array_equal(obs_a["subgoals"], obs_b["subgoals"])
    draws = {a.reset(seed=seed)[0]["subgoals"].tobytes() for seed in range(5)}
    assert len(draws) == 5


def test_sampled_subgoals_are_distinct_open_cells_in_order_along_a_shortest_path():
    env = MazeEnv(num_subgoals=7)
    g = GRAPHS[id(MAZE)]
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        sg = [tuple(c) for c in obs["subgoals"]]
        assert len(set(sg)) == 7 and all(MAZE[c] == 0 for c in sg)
        total = nx.shortest_path_length(g, sg[0], sg[-1])
        assert total >= 6
        assert sum(nx.shortest_path_length(g, a, b) for a, b in zip(sg[:-1], sg[1:])) == total
        np.testing.assert_array_equal(obs["position"], sg[0])
        assert obs["next_subgoal"] == 1 and info == {
            "success": False,
            "subgoals_reached": 1,
            "collision": False,
            "steps": 0,
        }


@pytest.mark.parametrize(
    "subgoals, message",
    [
        ([(1, 1)] * 11 + [(0, 0)], "subgoal 12 \\(0, 0\\) is not an open cell"),
        ([(1, 1)] * 11 + [(41, 1)], "subgoal 12 \\(41, 1\\) is not an open cell"),
        ([(1, 1)] * 3, "exactly num_subgoals=12"),
        ([(1.5, 1)] * 12, "integer pairs"),
        ("nonsense", "integer pairs"),
    ],
)
def test_reset_rejects_bad_subgoals(subgoals, message):
    with pytest.raises(ValueError, match=message):
        MazeEnv().reset(options={"subgoals": subgoals})


def test_collision_with_a_wall_ends_the_episode_in_failure():
    env = MazeEnv(num_subgoals=2)
    env.reset(options={"subgoals": [(1, 1), (1, 3)]})
    obs, reward, terminated, truncated, info = env.step(UP)  # row 0 is the border wall
    assert (terminated, truncated, reward) == (True, False, -1.0)
    assert info["collision"] and not info["success"] and info["steps"] == 1
    np.testing.assert_array_equal(obs["position"], (1, 1))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(RIGHT)


def test_leaving_the_grid_is_a_collision():
    env = MazeEnv(maze=np.zeros((3, 3), dtype=np.uint8), num_subgoals=2)
    env.reset(options={"subgoals": [(0, 0), (2, 2)]})
    _, reward, terminated, _, info = env.step(LEFT)
    assert terminated and info["collision"] and reward == -1.0


def test_subgoals_count_only_in_order_and_are_scored_before_the_index_advances():
    env = MazeEnv(maze=np.zeros((3, 3), dtype=np.uint8), num_subgoals=3)
    obs, _ = env.reset(options={"subgoals": [(0, 0), (0, 2), (0, 1)]})
    obs, reward, terminated, _, info = env.step(RIGHT)  # on g3 before g2: not counted
    assert (reward, terminated, obs["next_subgoal"], info["subgoals_reached"]) == (0.0, False, 1, 1)
    obs, reward, terminated, _, info = env.step(RIGHT)  # g2
    assert (reward, terminated, obs["next_subgoal"], info["subgoals_reached"]) == (1.0, False, 2, 2)
    obs, reward, terminated, _, info = env.step(LEFT)  # g3, the last: success
    assert (reward, terminated, obs["next_subgoal"], info["success"]) == (1.0, True, 3, True)
    assert env.observation_space.contains(obs)


def test_truncation_after_max_steps():
    env = MazeEnv(maze=np.zeros((3, 3), dtype=np.uint8), num_subgoals=2, max_steps=3)
    env.reset(options={"subgoals": [(0, 0), (2, 2)]})
    results = [env.step(a)[2:4] for a in (RIGHT, LEFT, RIGHT)]
    assert results == [(False, False), (False, False), (False, True)]
    with pytest.raises(RuntimeError):
        env.step(DOWN)


def test_walking_a_shortest_route_succeeds_with_one_reward_per_subgoal():
    env = MazeEnv()
    obs, _ = env.reset(seed=3)
    path = bfs_path(MAZE, obs["subgoals"])
    total, trajectory = 0.0, []
    for action in moves_of(path):
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        trajectory.append(tuple(obs["position"]))
    assert terminated and not truncated and info["success"] and total == 11.0
    assert trajectory == path[1:]


def test_observations_are_fresh_arrays():
    env = MazeEnv()
    obs, _ = env.reset(seed=0)
    obs["position"][:] = -5
    obs["subgoals"][:] = -5
    again = env.step(RIGHT)[0]
    assert again["subgoals"].min() >= 0 and again["position"].min() >= 0


def test_rgb_array_render():
    env = MazeEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (41 * 8, 41 * 8, 3) and frame.dtype == np.uint8
    assert MazeEnv().render() is None


def test_human_render_works_without_a_display():
    matplotlib.use("Agg")
    env = MazeEnv(render_mode="human")
    env.reset(seed=0)
    env.step(RIGHT)
    assert env._renderer.figure is not None
    env.close()
    assert env._renderer.figure is None


# --- run_path_in_env ---------------------------------------------------------------------------


def test_run_path_in_env_accepts_a_planned_path_and_leaves_a_given_env_alone():
    env = gymnasium.make(ENV_ID)
    obs, _ = env.reset(seed=1)
    path = bfs_path(MAZE, obs["subgoals"])
    verdict = run_path_in_env(env, obs["subgoals"], path)
    assert verdict.success and verdict.subgoals_reached == 12 and verdict.steps == len(path) - 1
    assert env.unwrapped._steps == 0


def test_run_path_in_env_judges_the_walk_past_the_goal():
    maze = np.zeros((1, 5), dtype=np.uint8)
    subgoals = [(0, 0), (0, 2)]
    assert run_path_in_env(maze, subgoals, [(0, 0), (0, 1), (0, 2), (0, 3), (0, 2)]).success
    verdict = run_path_in_env(maze, subgoals, [(0, 0), (0, 1), (0, 2), (0, 3)])
    assert (verdict.success, verdict.failure_kind, verdict.first_failure) == (False, "wrong_end", 3)
    verdict = run_path_in_env(maze, subgoals, [(0, 0), (0, 1), (0, 2), (1, 2), (0, 2)])
    assert (verdict.failure_kind, verdict.first_failure, verdict.collision) == ("off_grid", 3, True)


def test_run_path_in_env_failure_kinds():
    subgoals = [(1, 1), (1, 3)]
    cases = {
        "empty": [],
        "bad_cell": [(1, 1), (1.5, 2)],
        "wrong_start": [(1, 3)],
        "wall": [(1, 1), (0, 1)],
        "jump": [(1, 1), (1, 3)],
        "missed_subgoal": [(1, 1)],
    }
    maze = np.ones((3, 5), dtype=np.uint8)
    maze[1, 1:4] = 0
    for kind, path in cases.items():
        verdict = run_path_in_env(maze, subgoals + [(1, 2)] if kind == "missed_subgoal" else subgoals, path)
        assert not verdict.success and verdict.failure_kind == kind, (kind, verdict)
    with pytest.raises(ValueError, match="not an open cell"):
        run_path_in_env(maze, [(1, 1), (0, 0)], [(1, 1)])
    with pytest.raises(ValueError, match="at least 2"):
        run_path_in_env(maze, [(1, 1)], [(1, 1)])


def assert_agrees(maze, subgoals, path):
    score = score_path(maze, subgoals, path)
    verdict = run_path_in_env(maze, subgoals, path)
    assert (verdict.success, verdict.failure_kind, verdict.first_failure) == (
        score.success,
        score.failure_kind,
        score.first_failure,
    )
    if score.valid and verdict.failure_kind != "wrong_start":
        assert verdict.subgoals_reached == score.subgoals_reached
    return score


GARBAGE = st.sampled_from([None, "x", (1.5, 2), (1, 2, 3), (-1, 3), (10**12, 1), (True, 1), ()])
AGREEMENT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@AGREEMENT
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(2, 12),
    edits=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10**6)), max_size=3),
    garbage=GARBAGE,
    as_floats=st.booleans(),
)
def test_run_path_in_env_agrees_with_the_scorer_on_edited_bfs_paths(seed, k, edits, garbage, as_floats):
    """Valid BFS paths through sampled subgoals, then up to three random edits."""
    env = MazeEnv(num_subgoals=k)
    subgoals = env.reset(seed=seed)[0]["subgoals"]
    path = bfs_path(MAZE, subgoals)
    free = open_cells(MAZE)
    for op, r in edits:
        i = r % len(path)
        if op == 0:
            del path[i]
        elif op == 1:
            path.insert(i, tuple(free[r % len(free)]))
        elif op == 2:
            path.insert(i, path[i])
        elif op == 3:
            path.insert(i, garbage)
        elif op == 4 and _is_cell(path[i]):  # a detour that comes back: step to a neighbour (maybe a wall) and return
            neighbour = tuple(np.add(path[i], MOVES[r % 4]))
            path[i + 1 : i + 1] = [neighbour, path[i]]
        elif op == 4:  # no detour from garbage an earlier edit inserted
            continue
        elif r % 2:  # walk back from the goal a few cells and return to it
            back = path[-2 - r % 4 : -1][::-1]
            path = path + back + back[::-1][1:] + [path[-1]]
        else:  # stop short
            path = path[: len(path) - 1 - r % 3]
    if as_floats and all(map(_is_cell, path)):
        path = np.array(path, dtype=float).reshape(-1, 2)
    assert_agrees(MAZE, subgoals, path)


def _is_cell(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)


def random_walk(subgoals, actions, finish):
    """A walk on SMALL from g1: action 0-3 moves that way (maybe into a wall), 4 jumps two cells right,
    5 or more moves to an open neighbour; ``finish`` then walks shortest paths from the last cell (if
    open) to the subgoals not yet visited in order (a success unless the walk already failed)."""
    path = [tuple(subgoals[0])]
    for a in actions:
        r, c = path[-1]
        if a < 4:
            path.append((r + MOVES[a][0], c + MOVES[a][1]))
        elif a == 4:
            path.append((r, c + 2))
        elif 0 <= r < 9 and 0 <= c < 9:
            neighbours = sorted(GRAPHS[id(SMALL)][(r, c)]) if SMALL[r, c] == 0 else []
            path += [neighbours[a % len(neighbours)]] if neighbours else []
    if finish and path[-1] in GRAPHS[id(SMALL)]:  # an open cell
        reached = 0
        for cell in path:
            reached += reached < len(subgoals) and cell == tuple(subgoals[reached])
        path += bfs_path(SMALL, [path[-1]] + [tuple(g) for g in subgoals[reached:]])[1:]
    return path


@AGREEMENT
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(2, 4),
    actions=st.lists(st.integers(0, 12), max_size=40),
    finish=st.booleans(),
)
def test_run_path_in_env_agrees_with_the_scorer_on_random_walks(seed, k, actions, finish):
    subgoals = MazeEnv(maze=SMALL, num_subgoals=k).reset(seed=seed)[0]["subgoals"]
    assert_agrees(SMALL, subgoals, random_walk(subgoals, actions, finish))


def test_random_walks_give_every_outcome():
    """The walks of the property above reach success and each kind of failure, so it tests them all."""
    rng = np.random.default_rng(0)
    kinds = set()
    for seed in range(200):
        subgoals = MazeEnv(maze=SMALL, num_subgoals=3).reset(seed=seed)[0]["subgoals"]
        actions = rng.integers(0, 13, size=rng.integers(0, 30))
        kinds.add(assert_agrees(SMALL, subgoals, random_walk(subgoals, actions, rng.random() < 0.5)).failure_kind)
    assert kinds >= {None, "wall", "off_grid", "jump", "missed_subgoal", "wrong_end"}


def test_reset_options_must_be_a_mapping():
    with pytest.raises(TypeError, match="options must be a dict"):
        MazeEnv(maze=SMALL, num_subgoals=2).reset(options=[1])


def test_a_maze_admitting_few_pairs_resets_in_bounded_work(monkeypatch):
    """A corridor with K = its length admits only its two end-to-end pairs: no endless rejection sampling."""
    from mazebench import env as env_module

    corridor = np.pad(np.zeros((1, 60), dtype=np.uint8), 1, constant_values=1)
    calls = []
    bfs = env_module.bfs_distances
    monkeypatch.setattr(env_module, "bfs_distances", lambda maze, start: calls.append(1) or bfs(maze, start))
    env = MazeEnv(maze=corridor, num_subgoals=60)
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        ends = sorted(tuple(c) for c in obs["subgoals"][[0, -1]].tolist())
        assert ends == [(1, 1), (1, 60)]
    assert len(calls) <= 4 * (env_module.REJECTION_TRIES + 1) + 2


def test_a_maze_without_far_pairs_is_refused_after_the_full_check():
    two_rooms = np.ones((5, 9), dtype=np.uint8)
    two_rooms[1:4, 1:4] = two_rooms[1:4, 5:8] = 0  # two 3x3 rooms, unconnected: longest shortest path 5 cells
    env = MazeEnv(maze=two_rooms, num_subgoals=5)
    assert len(env.reset(seed=0)[0]["subgoals"]) == 5
    with pytest.raises(ValueError, match="at least 6 cells"):
        MazeEnv(maze=two_rooms, num_subgoals=6).reset(seed=0)
