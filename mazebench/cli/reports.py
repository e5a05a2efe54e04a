"""The report commands: the paper's tables with a leaderboard of every planner (report), and the pages of the
suite's departures (ablation), of the sampler's settings one at a time (factors) and of the step counts (steps)."""

from __future__ import annotations

from pathlib import Path

import click

from agents.config import SAMPLING_STEPS
from mazebench.cli.options import MAX_SAMPLING_STEPS, PRESET_CHOICE, PROTOCOL_CHOICE, STEPS, agent_names, int_list
from mazebench.datasets import QUERY_KINDS
from mazebench.evaluation import MAX_SAMPLES_PER_QUERY


def _check_unmasking_agents(agents: tuple[str, ...], why: str) -> None:
    """Refuse --agents beyond the planners whose unmasking sampler a page varies (flexmdm, mdm)."""
    if any(agent not in ("flexmdm", "mdm") for agent in agents):
        raise click.BadParameter(f"{why}: choose among flexmdm, mdm, got {','.join(agents)}", param_hint="--agents")


@click.command()
@click.option("--subgoals", default="2,7,12", callback=int_list(2, "2,7,12"), help="The K of the table's columns.")
@click.option(
    "--agents",
    default="mdm,flexmdm",
    callback=agent_names,
    help="Planners of the leaderboard: mdm, flexmdm, ar (trained by the report), bfs, and plug-ins (a registered "
    "name or package.module:NAME; evaluated, never trained); the BFS oracle is always added.",
)
@click.option("--preset", default="cpu", type=PRESET_CHOICE, help="Training preset of every run.")
@click.option(
    "--steps",
    default=None,
    type=STEPS,
    help="Sampling steps of the tables, the same for every planner  [default: each protocol's own]",
)
@click.option(
    "--protocols",
    default="paper,suite",
    help="Evaluation protocols, one table each: paper (vanilla, Poisson, uniform grid, temperature 1, at its step "
    "count), paper-64 (the same at 64 steps), official (the released FlexMDM code's defaults) and suite (the "
    "default sampler).",
)
@click.option(
    "--epochs",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Train every model to this many epochs without the preset's time cap (runs/<preset>-<E>ep, "
    "reports/<preset>-<E>ep)  [default: the preset's budget]",
)
@click.option(
    "--sweep-steps",
    default="16,32,64,128,256",
    callback=int_list(1, "16,64,256", MAX_SAMPLING_STEPS),
    help="Steps of the success-vs-steps figure (largest K).",
)
@click.option("--sweep-limit", default=300, type=click.IntRange(min=1), help="Held-out pairs per point of the sweep.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Held-out pairs per table cell  [default: all]")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder  [default: reports/<preset>, or reports/<preset>-<E>ep with --epochs]",
)
@click.option(
    "--jobs",
    default=1,
    type=click.IntRange(min=1),
    help="Trainings run at once, each its own process (e.g. --preset gpu --jobs 6: the six models share one GPU).",
)
@click.option(
    "--max-minutes",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Cap every training at this many minutes (runs/<preset>-<M>min, reports/<preset>-<M>min), e.g. Table 1 "
    "on one GPU in minutes  [default: the preset's]",
)
@click.option(
    "--check-every-minutes",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Training minutes between held-out checks, the points of the learning curves.",
)
@click.option(
    "--queries",
    default="drawn",
    type=click.Choice(list(QUERY_KINDS)),
    help="Each held-out pair's query: one of its paths drawn at random (fixed seed), or its shortest path.",
)
@click.option(
    "--samples-per-query",
    default=1,
    type=click.IntRange(1, MAX_SAMPLES_PER_QUERY),
    help="Plans per query of the trained planners' cells under the paper's protocol and AR's: the page adds "
    "pass@k, distinct valid paths, coverage and network calls per path.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def report(
    subgoals,
    agents,
    preset,
    steps,
    protocols,
    epochs,
    sweep_steps,
    sweep_limit,
    limit,
    out,
    jobs,
    max_minutes,
    check_every_minutes,
    queries,
    samples_per_query,
    quiet,
) -> None:
    """Reproduce the paper's Table 1 under each protocol, with a leaderboard of every planner and learning curves:
    generate, train and evaluate what is missing, then write reports/<preset>/."""
    from agents.learned import PROTOCOLS
    from mazebench.report import ReportSpec, build_report

    sweep = tuple(sweep_steps)
    chosen = tuple(name.strip() for name in protocols.split(",") if name.strip())
    if not chosen or any(name not in PROTOCOLS for name in chosen):
        raise click.BadParameter(
            f"choose protocols among {', '.join(PROTOCOLS)}, got {protocols!r}", param_hint="--protocols"
        )
    spec = ReportSpec(
        ks=tuple(subgoals),
        agents=agents,
        preset=preset,
        steps=steps,
        protocols=chosen,
        epochs=epochs,
        sweep_steps=sweep,
        sweep_limit=sweep_limit,
        limit=limit,
        out=out,
        jobs=jobs,
        max_minutes=max_minutes,
        check_every_minutes=check_every_minutes,
        queries=queries,
        samples_per_query=samples_per_query,
    )
    results = build_report(spec, progress=not quiet)
    for protocol, data in results["protocols"].items():
        click.echo(f"{protocol} protocol:")
        for name, cell in data["cells"].items():
            click.echo(f"  {name:<14} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    for name, cell in results["oracle"].items():
        click.echo(f"{name:<16} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    click.echo(f"report: {spec.folder / 'README.md'}")


@click.command()
@click.option("--subgoals", default="2,7,12", callback=int_list(2, "2,7,12"), help="The K of the page's columns.")
@click.option("--preset", default="cpu", type=PRESET_CHOICE, help="Training preset of every run.")
@click.option("--steps", default=SAMPLING_STEPS, type=STEPS, help="Sampling steps of every cell.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Held-out pairs per cell  [default: all]")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Page folder  [default: reports/<preset>/ablation]",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def ablation(subgoals, preset, steps, limit, out, quiet) -> None:
    """FlexMDM with the suite's departures from the paper (training-data augmentation, the suite's sampler and
    its feasible insertion counts) each alone and together: train and evaluate what is missing, then write
    reports/<preset>/ablation/."""
    from mazebench.report.ablation import AblationSpec, build_ablation

    spec = AblationSpec(ks=tuple(subgoals), preset=preset, steps=steps, limit=limit, out=out)
    results = build_ablation(spec, progress=not quiet)
    for name, cell in results["cells"].items():
        click.echo(f"  {name:<44} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    click.echo(f"ablation: {spec.folder / 'README.md'}")


@click.command()
@click.option("--subgoals", default="2,12", callback=int_list(2, "2,12"), help="The K of the page.")
@click.option(
    "--agents",
    default="flexmdm",
    callback=agent_names,
    help="Trained planners whose sampler the rows change: flexmdm, mdm.",
)
@click.option("--preset", default="cpu", type=PRESET_CHOICE, help="Training preset of the runs (the report's own).")
@click.option(
    "--steps",
    default=None,
    type=STEPS,
    help="Sampling steps of every row  [default: the paper's protocol's]",
)
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Held-out pairs per row  [default: all]")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Page folder  [default: reports/<preset>/factors]",
)
@click.option(
    "--check-every-minutes",
    default=2.0,
    type=click.FloatRange(min=0, min_open=True),
    help="The held-out check interval the report trained its runs with (a run is reused only with the report's "
    "settings).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def factors(subgoals, agents, preset, steps, limit, out, check_every_minutes, quiet) -> None:
    """From the paper's protocol, one sampler setting at a time changed to the suite's, on the report's trained
    models: train and evaluate what is missing, then write reports/<preset>/factors/."""
    from mazebench.report.factors import FactorsSpec, build_factors

    _check_unmasking_agents(agents, "the rows change an unmasking sampler")
    spec = FactorsSpec(
        ks=tuple(subgoals),
        agents=agents,
        preset=preset,
        **({} if steps is None else {"steps": steps}),
        limit=limit,
        out=out,
        check_every_minutes=check_every_minutes,
    )
    results = build_factors(spec, progress=not quiet)
    for name, cell in results["cells"].items():
        click.echo(f"  {name:<64} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    click.echo(f"factors: {spec.folder / 'README.md'}")


@click.command()
@click.option("--track", default="mini", type=click.Choice(["mini", "cpu"]), help="The track whose references plan.")
@click.option("--protocol", default="paper", type=PROTOCOL_CHOICE, help="The sampler of every cell.")
@click.option("--subgoals", default="2,7,12", callback=int_list(2, "2,7,12"), help="The K of the page.")
@click.option(
    "--agents",
    default="mdm,flexmdm",
    callback=agent_names,
    help="Planners with a shipped reference checkpoint for the track and K: flexmdm, mdm.",
)
@click.option(
    "--steps",
    "step_counts",
    default="64,256,1024,2048,4096",
    callback=int_list(1, "64,256,1024", MAX_SAMPLING_STEPS),
    help="The step counts of the curve.",
)
@click.option("--limit", default=300, type=click.IntRange(min=1), help="Held-out pairs per cell.")
@click.option("--jobs", default=1, type=click.IntRange(1, 64), help="Cells evaluated at once, each in a process.")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Page folder  [default: reports/<track>/<protocol>-protocol-steps]",
)
def steps(track, protocol, subgoals, agents, step_counts, limit, jobs, out) -> None:
    """Success against the number of sampling steps under one protocol, with the track's shipped reference
    checkpoints: where more steps stop helping, the failures' anatomy and the paper's claims at each step count."""
    from mazebench.report.steps import StepsSpec, build_steps_page

    _check_unmasking_agents(agents, "the cells change an unmasking sampler's steps")
    spec = StepsSpec(
        ks=tuple(subgoals),
        agents=agents,
        track=track,
        protocol=protocol,
        steps=tuple(sorted(set(step_counts))),
        limit=limit,
        jobs=jobs,
        out=out,
    )
    results = build_steps_page(spec)
    for name, flat in results["flattens_at"].items():
        click.echo(f"  {name:<14} flat from {flat or '-'} steps")
    click.echo(f"steps: {spec.folder / 'README.md'}")


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--data-root",
    default=Path("data"),
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the recorded datasets are found, or regenerated from their settings.",
)
def verify(folder, data_root) -> None:
    """Re-derive every evaluation's figures under FOLDER from its per-query outputs: each stored plan re-scored
    against the recorded dataset (checked by its id), each figure of its results.json recomputed. One line per
    mismatch and a non-zero exit on any; needs no checkpoint."""
    from mazebench.report.verify import verify as verify_folder

    found = verify_folder(folder, data_root)
    for line in found.mismatches:
        click.echo(line)
    if found.mismatches:
        raise SystemExit(1)
    click.echo(
        f"verified: {found.evaluations} evaluations, {found.queries} queries, {found.plans} plans"
        f"{', the manifest' if found.manifest else ''}; every figure matches"
    )
