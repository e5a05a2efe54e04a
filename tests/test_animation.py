"""Animated generations: one GIF frame per sampling step, readable by the library that wrote it."""

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from agents.config import preset_config
from agents.learned import LearnedPlanner, protocol_sampler
from agents.loading import build_method, build_model
from agents.tokenizer import CellTokenizer
from mazebench.cli import cli
from mazebench.evaluation import evaluate
from mazebench.rendering import save_generation_gif

STEPS = 5


def untrained_planner(dataset, agent: str, protocol: str = "paper") -> LearnedPlanner:
    tokenizer = CellTokenizer(*dataset.maze.shape)
    method = build_method(agent, tokenizer, dataset.num_subgoals, int(dataset.train.lengths.max()))
    torch.manual_seed(0)
    small = preset_config("tiny", d_model=32, n_heads=2, n_layers=1, cond_dim=32)
    model = build_model(method, tokenizer, small).eval()
    return LearnedPlanner(method, model, steps=STEPS, sampler=protocol_sampler(protocol))


def gif_frames(path) -> list[Image.Image]:
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.info["loop"] == 0
        frames = []
        for number in range(gif.n_frames):
            gif.seek(number)
            frames.append(gif.convert("RGB"))
        return frames


@pytest.mark.parametrize("agent", ["flexmdm", "mdm", "ar"])
def test_an_evaluation_animates_its_first_query_one_frame_per_step(agent, tiny_dataset, tmp_path):
    planner = untrained_planner(tiny_dataset, agent)
    frames, titles = planner.trace(tiny_dataset.val[0].subgoals, frames=None)
    assert len(frames) == len(titles) == STEPS + 1  # after every step, then the final path
    assert titles[0] == f"after step 1/{STEPS}" and titles[-1].startswith("final")
    evaluate(planner, tiny_dataset, out_dir=tmp_path / "e", limit=2, num_pngs=1, progress=False)
    animated = gif_frames(tmp_path / "e" / "generation.gif")
    assert len(animated) == STEPS + 1
    assert len({frame.tobytes() for frame in animated}) == STEPS + 1  # every frame its own picture
    filmstrip, _ = planner.trace(tiny_dataset.val[0].subgoals)
    assert len(filmstrip) == STEPS + 1 and (tmp_path / "e" / "generation.png").is_file()  # 8 asked, 5 steps


def test_the_gif_refuses_frames_without_titles(small_maze, tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        save_generation_gif(tmp_path / "a.gif", small_maze, [], [])
    with pytest.raises(ValueError, match="1 titles for 2 frames"):
        save_generation_gif(tmp_path / "a.gif", small_maze, [[None], [(1, 1)]], ["one"])
    assert not (tmp_path / "a.gif").exists()


def test_render_animate_writes_one_gif_per_query(tiny_dataset, tiny_dataset_dir, tmp_path, monkeypatch):
    import mazebench.cli.rendering as cli_module

    monkeypatch.setattr(cli_module, "make_agent", lambda agent, **_: untrained_planner(tiny_dataset, agent))
    out = tmp_path / "gifs"
    args = ["render", "--data", str(tiny_dataset_dir), "--animate", "--agent", "flexmdm", "--count", "2"]
    done = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    written = sorted(out.glob("flexmdm-val-*.gif"))
    queries = tiny_dataset.val.queries()[:2]
    assert [p.name for p in written] == sorted(f"flexmdm-val-{int(i):05d}.gif" for i in queries)
    assert all(len(gif_frames(p)) == STEPS + 1 for p in written)
    refused = CliRunner().invoke(cli, ["render", "--data", str(tiny_dataset_dir), "--animate"])
    assert refused.exit_code == 2 and "--animate needs --agent" in refused.output
    monkeypatch.undo()
    no_trace = CliRunner().invoke(cli, [*args[:-2], "--agent", "bfs", "--out", str(tmp_path / "b")])
    assert no_trace.exit_code == 2 and "no generation process to animate" in no_trace.output
    assert not (tmp_path / "b").exists()
