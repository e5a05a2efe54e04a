"""The report's Markdown page: Table 1 under each protocol, the leaderboard, the verdicts against the paper,
equal budgets, learning curves, every cell and the commands that reproduce them."""

from __future__ import annotations

import math

from mazebench.report.claims import ALPHA, claims_markdown
from mazebench.report.curves import FLAT_GAIN, FLAT_TAIL
from mazebench.report.spec import (
    BUDGET_AXES,
    GENERATIVE_PROTOCOL,
    INDEPENDENT,
    PAPER_TABLE1,
    PLANNER_NAMES,
    PROTOCOL_NAMES,
    QUERY_TEXT,
    ReportSpec,
    data_folder,
    eval_path,
)
from mazebench.report.tables import budget_label, differing_settings

GALLERIES = (  # a table cell's pictures, as the page links them
    ("successes", "successes.png"),
    ("failures", "failures.png"),
    ("generation", "generation.png"),
    ("generation, animated", "generation.gif"),
)


def success_text(cell: dict) -> str:
    low, high = cell["success_ci95"]
    return f"{cell['success_rate']:.1%} [{low:.1%}, {high:.1%}]"


def failure_text(kinds: dict) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items(), key=lambda item: -item[1])) or "-"


def _lead_line(label: str, rates: dict) -> str:
    """FlexMDM minus MDM per K (``rates``: {K: {"flexmdm": rate or None, "mdm": rate or None}}) against the
    paper's, and the K where FlexMDM's lead reproduces (FlexMDM ahead)."""
    ks = [k for k, by_agent in rates.items() if None not in (by_agent.get("flexmdm"), by_agent.get("mdm"))]
    if not ks:
        return f"- FlexMDM minus MDM {label}: no K where both were measured."
    leads = {k: rates[k]["flexmdm"] - rates[k]["mdm"] for k in ks}
    paper = [
        f"K = {k}: {(PAPER_TABLE1['flexmdm'][k] - PAPER_TABLE1['mdm'][k]) * 100:+.1f}"
        for k in ks
        if k in PAPER_TABLE1["mdm"]
    ]
    ahead = [str(k) for k in ks if leads[k] > 0]
    behind = [str(k) for k in ks if leads[k] <= 0]
    if not behind:
        reproduced = "FlexMDM's lead reproduces at every K"
    elif not ahead:
        reproduced = "FlexMDM's lead does **not** reproduce at any K"
    else:
        reproduced = f"FlexMDM's lead reproduces at K = {', '.join(ahead)}, **not** at K = {', '.join(behind)}"
    return (
        f"- FlexMDM minus MDM {label}, in points: "
        f"{'; '.join(f'K = {k}: {lead * 100:+.1f}' for k, lead in leads.items())}"
        f" (paper: {'; '.join(paper) or '-'}): {reproduced}."
    )


def verdict(cells: dict, ks, *, budget: str = "equal minutes", checks: dict | None = None) -> list[str]:
    """Plain sentences comparing one protocol's cells with the paper's Table 1: each model's gap, FlexMDM's
    90 % target, MDM's decline with K and FlexMDM's lead over MDM in the final cells (trained to ``budget``)
    and, for each label of ``checks`` ({label: {K: {agent: rate or None}}}), in the training curves' checks."""
    lines = []
    for agent, paper in PAPER_TABLE1.items():
        ours = {k: cells[f"{agent}-k{k}"]["success_rate"] for k in ks if f"{agent}-k{k}" in cells}
        if not ours:
            continue
        gaps = [
            f"K = {k}: {rate:.1%} against {paper[k]:.1%} ({(rate - paper[k]) * 100:+.1f} points)"
            for k, rate in ours.items()
            if k in paper
        ]
        if gaps:
            lines.append(f"- {agent}: " + "; ".join(gaps) + ".")
        if agent == "flexmdm":
            short = [k for k, rate in ours.items() if rate < 0.9]
            lines.append(
                "- FlexMDM at or above 90 % at every K: "
                + (f"**not met** (below at K = {', '.join(map(str, short))})." if short else "met.")
            )
        if agent == "mdm" and len(ours) > 1:
            rates = [ours[k] for k in sorted(ours)]
            trend = "declines" if rates[0] > rates[-1] else "does not decline"
            lines.append(
                f"- MDM success with K (paper: {' / '.join(f'{paper[k]:.1%}' for k in sorted(paper))}): "
                f"{' / '.join(f'{r:.1%}' for r in rates)} here, it {trend} from K = {min(ours)} to K = {max(ours)}."
            )
    final = {
        k: {agent: cells[f"{agent}-k{k}"]["success_rate"] for agent in ("flexmdm", "mdm") if f"{agent}-k{k}" in cells}
        for k in ks
    }
    if any(len(by_agent) == 2 for by_agent in final.values()):
        lines.append(_lead_line(f"in the final cells ({budget})", final))
        lines += [_lead_line(f"at {label}", rates) for label, rates in (checks or {}).items()]
    return lines


def _check_text(view: dict, agent: str, axis: str) -> str:
    """A planner's check in an equal-budget view: its success, where it was taken and the budget both reached."""
    check, unit = view["planners"][agent], "epochs" if axis == "epoch" else "min"
    taken = "-" if check is None else f"{check['success']:.1%} at {check[axis]:.2f}"
    return f"{taken} (of {view['budget']:.2f} {unit})"


def report_markdown(results: dict, spec: ReportSpec) -> str:
    shared = results["shared_budget"]
    lines = [
        f"# mazebench results: `{spec.run_name}`",
        "",
        f"Held-out success (one query per held-out pair: {QUERY_TEXT[spec.queries]}; 95 % Wilson interval), "
        + (
            f"{spec.steps} sampling steps for every planner"
            if spec.steps
            else "each protocol's own number of sampling steps ("
            + ", ".join(f"{name} {data['steps']}" for name, data in results["protocols"].items())
            + "), the same for every planner"
        )
        + f". Training: `{spec.preset}` preset, "
        + (
            f"every model trained to {spec.epochs:g} epochs"
            if spec.epochs is not None
            else "every model trained to the preset's budget"
        )
        + ("" if spec.max_minutes is None else f", at most {spec.max_minutes:g} minutes")
        + f"; the final cells compare the planners at {budget_label(shared)}."
        + " Paper: FlexMDM paper Table 1 (41x41 maze, 100 epochs on GPUs).",
        "",
    ]
    for protocol, data in results["protocols"].items():
        settings = ", ".join(f"{key} {value}" for key, value in data["sampler"].items() if value is not None)
        lines += [f"- **{protocol}**: {PROTOCOL_NAMES.get(protocol, protocol)}: {settings}."]
    differing = differing_settings(results["training"])
    if differing:
        lines += ["- **training settings that differ between the planners**: " + differing + "."]
    lines += [
        f"- **{INDEPENDENT}**: "
        + ", ".join(PLANNER_NAMES.get(a, f"`{a}`") for a in spec.protocol_independent)
        + ": no unmasking sampler for a protocol to set"
        + (", AR decodes greedily" if "ar" in spec.planners else "")
        + "; each is evaluated once per K and that cell is shown under every protocol."
    ]
    for protocol, data in results["protocols"].items():
        lines += [
            "",
            f"## Table 1 under {PROTOCOL_NAMES.get(protocol, protocol)}",
            "",
            *_table1(results, data["cells"], spec, paper=protocol == "paper"),
        ]
    lines += _task_section(results)
    lines += _leaderboard_section(results)
    lines += _against_the_paper(results, spec)
    for protocol, claims in results["claims"].items():
        lines += [
            "",
            f"## The paper's claims under {PROTOCOL_NAMES.get(protocol, protocol)}",
            "",
            *claims_markdown(claims),
        ]
    lines += _generative_section(results, spec)
    lines += _equal_budget_section(results, spec)
    lines += _curves_section(results, spec)
    for protocol, data in results["protocols"].items():
        lines += [
            "",
            f"## Every cell under the {protocol} protocol",
            "",
            *_detail_table(data["cells"], results["oracle"], spec.protocol_independent),
        ]
    if results["training"]:
        lines += [
            "",
            "## Training budget",
            "",
            "Training FLOPs: an estimate, 3 x (2 per weight of the per-token matrix products + attention) per "
            "token the network processed (`agents/compute.py`).",
            "",
            "| run | parameters | steps | epochs | minutes | training FLOPs | device | bf16 | stopped by |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, run in results["training"].items():
            lines.append(
                f"| {name} | {run['parameters']:,} | {run['steps']} | {run['epochs_done']:.2f} | "
                f"{run['train_minutes']:.1f} | {run['train_flops']:.2e} | {run['device']} | {run['bf16_autocast']} | "
                f"{run['stopped_by']} |"
            )
        lines += [
            "",
            "## Success against compute",
            "",
            "Per K, every trained planner: left, its held-out checks during training against the training FLOPs "
            "spent so far (a run's FLOPs spread evenly over its epochs); right, the final model's success against "
            f"the network evaluations per planned path (NFE) under each protocol: the table cell and, at K = "
            f"{max(spec.ks)}, the sampling-steps sweep's points.",
            "",
            *[f"![success against compute, K = {k}](success_vs_compute_k{k}.png)" for k in spec.ks],
        ]
    if spec.samplers:
        lines += [
            "",
            "## Success against sampling steps",
            "",
            f"K = {max(spec.ks)}, first {spec.sweep_limit} held-out pairs, "
            f"{' and '.join(PLANNER_NAMES[a] for a in spec.samplers)} under each protocol.",
            "",
            "![success vs steps](success_vs_steps.png)",
        ]
    lines += [
        "",
        "## Length fidelity",
        "",
        "Distribution of generated path lengths against the reference paths of the same examples; W1 is the "
        "1-Wasserstein distance in cells.",
        "",
        "![length fidelity](length_fidelity.png)",
        "",
        "## Trajectories",
        "",
    ]
    cells = [(agent, k, protocol) for protocol in spec.protocols for agent in spec.samplers for k in spec.ks]
    for agent, k, protocol in cells + [(agent, k, None) for agent in spec.protocol_independent for k in spec.ks]:
        folder = eval_path(agent, k, protocol)
        for label, name in GALLERIES:
            if (spec.folder / folder / name).exists():
                lines.append(f"- {protocol or INDEPENDENT}, {agent}-k{k}: [{label}]({folder.as_posix()}/{name})")
    lines += _reproduce_section(results, spec)
    return "\n".join(lines)


def _against_the_paper(results: dict, spec: ReportSpec) -> list[str]:
    """The verdict under each protocol; nothing without MDM or FlexMDM."""
    if not spec.samplers:
        return []
    shared, quick = results["shared_budget"], results["quick_eval"]
    lines = ["", "## Against the paper", ""]
    for protocol, data in results["protocols"].items():
        checks = None
        if results["equal_budget"] and protocol == quick["protocol"]:
            checks = {
                f"{budget_label(axis)} (held-out checks during training)": {
                    int(k): {agent: (check or {}).get("success") for agent, check in views[axis]["planners"].items()}
                    for k, views in results["equal_budget"].items()
                }
                for axis in BUDGET_AXES
                if axis != shared
            }
        lines += [
            f"Under {PROTOCOL_NAMES.get(protocol, protocol)}:",
            "",
            *verdict(data["cells"], spec.ks, budget=budget_label(shared), checks=checks),
            "",
        ]
    return lines


def _table1(results: dict, cells: dict, spec: ReportSpec, *, paper: bool) -> list[str]:
    """Planners as rows, K as columns; the paper's numbers under ours when ``paper``; the oracle last."""
    lines = ["| planner | " + " | ".join(f"K = {k}" for k in spec.ks) + " |", "|---" * (len(spec.ks) + 1) + "|"]
    for agent in spec.samplers:
        lines.append(
            f"| {PLANNER_NAMES[agent]} (here) | "
            + " | ".join(success_text(cells[f"{agent}-k{k}"]) for k in spec.ks)
            + " |"
        )
        if paper and agent in PAPER_TABLE1:
            lines.append(
                f"| {PLANNER_NAMES[agent]} (paper, Table 1) | "
                + " | ".join(f"{PAPER_TABLE1[agent][k]:.1%}" if k in PAPER_TABLE1[agent] else "-" for k in spec.ks)
                + " |"
            )
    oracle = results["oracle"]
    lines.append("| BFS oracle | " + " | ".join(f"{oracle[f'bfs-k{k}']['success_rate']:.0%}" for k in spec.ks) + " |")
    return lines


def _task_section(results: dict) -> list[str]:
    """The task's scale per K (and the 41x41 task's beside it, for another track), so that K keeps its meaning."""
    tasks = {"this task": results["task"]["track"], "the paper's 41x41 task": results["task"].get("paper_task")}
    lines = [
        "",
        "## The task's scale",
        "",
        "Subgoal density: K over the mean path length of the training data (subgoals per path cell).",
        "",
        "| task | K | maze | open cells | training paths | mean path length | mean query length | subgoal density |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, scale in tasks.items():
        for k, row in (scale or {}).items():
            lines.append(
                f"| {name} | {k} | {row['maze']} | {row['open_cells']} | {row['train_paths']:,} | "
                f"{row['mean_path_length']:.1f} | {row['mean_query_length']:.1f} | {row['subgoal_density']:.2f} |"
            )
    return lines


def _leaderboard_section(results: dict) -> list[str]:
    """Per protocol and K, every planner sorted by success; '-': a planner the report does not train."""
    lines = [
        "",
        "## Leaderboard",
        "",
        f"Every planner per K, best held-out success first; *{INDEPENDENT}*: the same cell under every protocol. "
        "Length W1: generated against reference path lengths (cells); paths/s: planning speed of the evaluation; "
        "training minutes and epochs: '-' for a planner the report does not train. Against the row above: the "
        "difference in success (the row above minus this one, points, 95 % interval) with the exact McNemar test on "
        f"the same queries; **bold** where it is significant at the {ALPHA:.0%} level, otherwise the two planners "
        "are not told apart on these queries.",
    ]
    for protocol, by_k in results["leaderboard"].items():
        lines += ["", f"### Under {PROTOCOL_NAMES.get(protocol, protocol)}"]
        for k, rows in by_k.items():
            lines += [
                "",
                f"K = {k}:",
                "",
                "| planner | success [95 % CI] | against the row above | valid | in order | length W1 | paths/s | "
                "training minutes | epochs |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for row in rows:
                label = row["planner"] + (f" (*{INDEPENDENT}*)" if row["protocol_independent"] else "")
                minutes, epochs = row["train_minutes"], row["epochs"]
                lines.append(
                    f"| {label} | {success_text(row)} | {_paired_text(row.get('vs_above'))} | "
                    f"{row['valid_rate']:.1%} | {row['in_order_rate']:.1%} | "
                    f"{row['length_wasserstein1']:.2f} | {row['paths_per_second']:,.1f} | "
                    f"{'-' if minutes is None else f'{minutes:.1f}'} | "
                    f"{'-' if epochs is None else f'{epochs:.2f}'} |"
                )
    return lines


def _generative_section(results: dict, spec: ReportSpec) -> list[str]:
    """The cells planned several times per query: pass@k, distinct valid paths, coverage and network calls."""
    protocol = GENERATIVE_PROTOCOL if GENERATIVE_PROTOCOL in results["protocols"] else next(iter(results["protocols"]))
    cells = {name: cell for name, cell in results["protocols"][protocol]["cells"].items() if "generative" in cell}
    if not cells:
        return []
    n = spec.samples_per_query
    ks = list(next(iter(cells.values()))["generative"]["pass_at"])
    lines = [
        "",
        "## Many plans per query",
        "",
        f"{n} plans per query for the trained planners, under {PROTOCOL_NAMES.get(protocol, protocol)} "
        + ("(AR decodes greedily, so its plans repeat) " if "ar" in spec.trained else "")
        + "on the same queries as the tables; plan j is seeded `first + j * 1,000,003`, and plan 0 alone is the "
        "tables' success. **pass@k**: the chance that at least one of k plans succeeds, the unbiased estimate from "
        f"the {n} plans, 1 - C(n - c, k) / C(n, k) with c successes, averaged over the queries (so pass@1 is the "
        "mean success of all the plans, an estimate of the tables' success with less noise). **distinct**: the mean "
        "number of distinct successful paths per query. **coverage**: the mean fraction of a pair's held-out "
        "paths that some successful plan reproduced exactly. **NFE**: network evaluations per planned path.",
        "",
        "| planner | K | " + " | ".join(f"pass@{k}" for k in ks) + " | distinct | coverage | NFE |",
        "|---|---|" + "---|" * len(ks) + "---|---|---|",
    ]
    for name, cell in cells.items():
        agent, k = name.rsplit("-k", 1)
        gen, calls = cell["generative"], cell.get("network_calls_per_path")
        lines.append(
            f"| {PLANNER_NAMES.get(agent, agent)} | {k} | "
            + " | ".join(f"{gen['pass_at'][key]:.1%}" for key in ks)
            + f" | {gen['mean_distinct_valid_paths']:.2f} | {gen['mean_reference_coverage']:.1%} | "
            + f"{'-' if calls is None else f'{calls:.1f}'} |"
        )
    return [*lines, ""]


def _paired_text(test: dict | None) -> str:
    """A leaderboard row's paired test against the row above: '-' for the first row."""
    if test is None:
        return "-"
    low, high = (100 * bound for bound in test["difference_ci95"])
    text = f"{100 * test['difference']:+.1f} [{low:+.1f}, {high:+.1f}], p = {test['p_value']:.2g}"
    return f"**{text}**" if test["significant"] else text


def _equal_budget_section(results: dict, spec: ReportSpec) -> list[str]:
    views, quick = results["equal_budget"], results["quick_eval"]
    if not views:
        return []
    every = "after every step" if not quick["every_minutes"] else f"every {quick['every_minutes']:g} training minutes"
    lines = [
        "## Equal epochs and equal minutes",
        "",
        f"The final cells compare the planners at {budget_label(results['shared_budget'])} (see Training budget). "
        "The held-out checks "
        f"logged during training ({quick['protocol']} protocol, the first {quick['examples']} held-out pairs, "
        f"{quick['steps']} steps, a fixed seed, {every}) compare them at the largest number of epochs, and of "
        "minutes, that all of them reached: each planner's last check at or below it ('-': no check by then).",
        "",
        "| K | planner | stopped at | at equal epochs | at equal minutes | final cell, paper protocol |",
        "|---|---|---|---|---|---|",
    ]
    for k, by_axis in views.items():
        for agent in spec.trained:
            stopped = results["curves"][f"{agent}-k{k}"]["stopped"]
            final = results["protocols"].get("paper", {}).get("cells", {}).get(f"{agent}-k{k}")
            lines.append(
                f"| {k} | {PLANNER_NAMES[agent]} | {stopped['epoch']:.2f} epochs, {stopped['minutes']:.1f} min | "
                + " | ".join(_check_text(by_axis[axis], agent, axis) for axis in BUDGET_AXES)
                + f" | {success_text(final) if final else '-'} |"
            )
    return lines + ["", *_budget_cost(results, spec), ""]


def _budget_cost(results: dict, spec: ReportSpec) -> list[str]:
    """What training to equal epochs costs: measured for an epoch budget, estimated from each run's speed otherwise."""
    runs = results["training"]
    if results["shared_budget"] == "epoch":
        total = sum(run["train_minutes"] for run in runs.values())
        epochs = max(run["epochs_done"] for run in runs.values())
        return [
            f"Training every model to {epochs:.3g} epochs took {total:.0f} training minutes in all ("
            + ", ".join(f"{name} {run['train_minutes']:.0f}" for name, run in runs.items())
            + ")."
        ]
    target = math.ceil(max(run["epochs_done"] for run in runs.values()))
    minutes = {
        name: target * run["train_minutes"] / run["epochs_done"] for name, run in runs.items() if run["epochs_done"]
    }
    return [
        f"To compare the final cells at equal epochs instead, `mazebench report --epochs {target}` trains every "
        f"model to {target} epoch{'s' if target > 1 else ''} (the most any run reached here, rounded up), "
        f"without a time cap, into "
        f"`runs/{spec.preset}-{target}ep/`: at the speeds measured here about {sum(minutes.values()):.0f} training "
        "minutes in all (" + ", ".join(f"{name} {m:.0f}" for name, m in minutes.items()) + "), plus the evaluations."
    ]


def _curves_section(results: dict, spec: ReportSpec) -> list[str]:
    quick = results["quick_eval"]
    if quick is None:  # no planner trained
        return []
    decoding = (
        f" AR's checks decode at the {quick['protocol']} protocol's temperature, its cells greedily."
        if "ar" in spec.trained
        else ""
    )
    lines = [
        "## Learning curves",
        "",
        f"Held-out success (the periodic checks: {quick['protocol']} protocol, first {quick['examples']} held-out "
        f"pairs, {quick['steps']} steps, fixed seed) and training loss (moving average) against training minutes "
        f"and epochs, every trained planner on one figure per K.{decoding} A curve has **flattened** when its last "
        f"{FLAT_TAIL:.0%} of epochs gained less than {FLAT_GAIN * 100:.0f} points of held-out success (the last "
        f"check minus the last check at or before {1 - FLAT_TAIL:.0%} of the run); '-' when there is no check on "
        "each side of that mark. Under a cosine learning-rate schedule every run slows down at its end, so a flat "
        "last quarter does not show that more epochs would not help: only a longer budget shows that.",
        "",
    ]
    lines += [f"![learning curves K = {k}](learning_curves_k{k}.png)" for k in spec.ks]
    lines += [
        "",
        "| run | stopped at epoch | minutes | stopped by | checks | last check | last-quarter gain | flattened |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, curve in results["curves"].items():
        gain, flat = curve["last_quarter_gain"], curve["flattened"]
        last = curve["checks"][-1]["success"] if curve["checks"] else None
        lines.append(
            f"| {name} | {curve['stopped']['epoch']:.2f} | {curve['stopped']['minutes']:.1f} | "
            f"{results['training'][name]['stopped_by']} | {len(curve['checks'])} | "
            f"{'-' if last is None else f'{last:.1%}'} | {'-' if gain is None else f'{gain * 100:+.1f} points'} | "
            f"{'-' if flat is None else ('yes' if flat else 'no')} |"
        )
    return lines


def _detail_table(cells: dict, oracle: dict, independent) -> list[str]:
    lines = [
        "| agent | K | n | success | paper | valid | in order | mean length (ref) | length W1 | failures |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, cell in {**cells, **oracle}.items():
        agent, k = name.rsplit("-k", 1)
        paper = PAPER_TABLE1.get(agent, {}).get(int(k))  # the module's table: integer keys
        label = agent + (f" (*{INDEPENDENT}*)" if agent in independent else "")
        lines.append(
            f"| {label} | {k} | {cell['n']} | {success_text(cell)} | {f'{paper:.1%}' if paper else '-'} | "
            f"{cell['valid_rate']:.1%} | {cell['in_order_rate']:.1%} | {cell['mean_length']:.1f} "
            f"({cell['mean_reference_length']:.1f}) | {cell['length_wasserstein1']:.2f} | "
            f"{failure_text(cell['failure_kinds'])} |"
        )
    return lines


def _evaluate_flags(sampler: dict) -> str:
    """``mazebench evaluate`` options that select the sampler settings ``sampler`` (one option per field)."""

    def flag(key, value):
        name = key.replace("_", "-")
        if isinstance(value, bool):  # click's on/off switches
            return f"--{name}" if value else f"--no-{name}"
        return f"--{name} {value}"

    return " ".join(flag(key, value) for key, value in sampler.items() if value is not None)


def _draws_flag(spec: ReportSpec, agent: str, protocol: str | None) -> str:
    draws = spec.draws(agent, protocol)
    return "" if draws == 1 else f" --samples-per-query {draws}"


def _reproduce_section(results: dict, spec: ReportSpec) -> list[str]:
    ks, agents = ",".join(map(str, spec.ks)), ",".join(spec.agents)
    epochs = ("" if spec.epochs is None else f" --epochs {spec.epochs:g}") + (
        "" if spec.max_minutes is None else f" --max-minutes {spec.max_minutes:g}"
    )
    checks = "" if spec.check_every_minutes is None else f" --eval-every-minutes {spec.check_every_minutes:g}"
    lines = [
        "",
        "## Reproduce",
        "",
        "```",
        f"mazebench report --subgoals {ks} --agents {agents} --preset {spec.preset}"
        + ("" if spec.steps is None else f" --steps {spec.steps}")
        + f" --protocols {','.join(spec.protocols)}{epochs}"
        + ("" if spec.limit is None else f" --limit {spec.limit}")
        + ("" if spec.queries == "drawn" else f" --queries {spec.queries}")
        + ("" if spec.samples_per_query == 1 else f" --samples-per-query {spec.samples_per_query}")
        + f" --sweep-steps {','.join(map(str, spec.sweep_steps))} --sweep-limit {spec.sweep_limit}"
        + ("" if spec.check_every_minutes is None else f" --check-every-minutes {spec.check_every_minutes:g}"),
        "# or cell by cell:",
    ]
    data_flag = "--subgoals K"
    if spec.dataset_options:  # not the default 41x41 data: generate it, then name its folders
        lines.append(
            f"mazebench generate --subgoals {ks} "
            + " ".join(f"--{key.replace('_', '-')} {value}" for key, value in spec.dataset_options.items())
        )
        data_flag = f"--data {data_folder('K', spec.dataset_options, spec.data_root)}"
    for agent in spec.planners:
        evaluate = f"mazebench evaluate --agent {agent} {data_flag}"
        if agent in spec.trained:
            lines.append(
                f"mazebench train --agent {agent} {data_flag} --preset {spec.preset}{epochs}{checks} "
                f"--out runs/{spec.run_name}/{agent}-kK"
            )
            evaluate += f" --checkpoint runs/{spec.run_name}/{agent}-kK"
        if spec.queries != "drawn":
            evaluate += f" --queries {spec.queries}"
        if agent in spec.samplers:
            lines += [
                f"{evaluate} --steps {data['steps']} {_evaluate_flags(data['sampler'])}"
                f"{_draws_flag(spec, agent, protocol)} --out reports/{agent}-kK-{protocol}"
                for protocol, data in results["protocols"].items()
            ]
        else:
            steps = "" if spec.steps is None else f" --steps {spec.steps}"  # the tables' count, if one is set
            lines.append(
                f"{evaluate}{steps}{_draws_flag(spec, agent, None)} --out reports/{agent.replace(':', '.')}-kK"
            )
    return lines + ["```", ""]
