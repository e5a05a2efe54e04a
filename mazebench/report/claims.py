"""The paper's two claims about Table 1, tested on a report's cells under one protocol:

(a) FlexMDM beats MDM at every K: the exact McNemar test on the same held-out queries per K;
(b) MDM declines from the smallest to the largest K while FlexMDM does not: the difference of the two
    success rates (independent queries) with Newcombe's 95 % interval, per planner.

A claim "holds" only where the evidence is significant at the 5 % level; the page shows the numbers.
Claim (b) cannot be tested where MDM succeeds on no query at the smallest K: it has nothing to decline from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mazebench.statistics import mcnemar_exact, proportion_difference

ALPHA = 0.05


def paired_successes(first: Path, second: Path) -> tuple[np.ndarray, np.ndarray]:
    """The per-query successes of two evaluations' samples.jsonl, checked to hold the same queries."""
    rows = [[json.loads(line) for line in path.read_text().splitlines()] for path in (first, second)]
    if [row["index"] for row in rows[0]] != [row["index"] for row in rows[1]]:
        raise ValueError(f"{first} and {second} did not plan the same queries: no paired test")
    return tuple(np.array([row["success"] for row in r], dtype=bool) for r in rows)


def evaluate_claims(samples_of: Callable[[str, int], Path], ks) -> dict:
    """Both claims from the cells' samples (``samples_of(agent, k)``: a cell's samples.jsonl)."""
    ks = sorted(ks)
    lead = {}
    for k in ks:
        flex, mdm = paired_successes(samples_of("flexmdm", k), samples_of("mdm", k))
        lead[k] = {"flexmdm": float(flex.mean()), "mdm": float(mdm.mean()), **mcnemar_exact(flex, mdm)}
    beats = [k for k in ks if lead[k]["difference"] > 0 and lead[k]["p_value"] < ALPHA]
    trend = {}
    for agent in ("mdm", "flexmdm"):
        first, last = (
            np.array([json.loads(line)["success"] for line in samples_of(agent, k).read_text().splitlines()])
            for k in (ks[0], ks[-1])
        )
        trend[agent] = {
            "from_k": ks[0],
            "to_k": ks[-1],
            "from": float(first.mean()),
            "to": float(last.mean()),
            **proportion_difference(int(first.sum()), len(first), int(last.sum()), len(last)),
        }
    mdm_declines = trend["mdm"]["difference_ci95"][0] > 0
    flex_declines = trend["flexmdm"]["difference_ci95"][0] > 0
    testable = trend["mdm"]["from"] > 0
    return {
        "flexmdm_beats_mdm": {"by_k": lead, "significant_at": beats, "holds": len(beats) == len(ks)},
        "mdm_declines_flexmdm_does_not": {
            "by_agent": trend,
            "mdm_declines": mdm_declines,
            "flexmdm_declines": flex_declines,
            "testable": testable,
            "holds": testable and mdm_declines and not flex_declines,
        },
    }


def claims_markdown(claims: dict) -> list[str]:
    """The two verdicts with their evidence, as Markdown lines."""
    lead, trend = claims["flexmdm_beats_mdm"], claims["mdm_declines_flexmdm_does_not"]
    rows = [
        "| K | FlexMDM | MDM | difference [95 % CI] | only FlexMDM / only MDM | McNemar p |",
        "|---|---|---|---|---|---|",
    ]
    for k, cell in lead["by_k"].items():
        low, high = cell["difference_ci95"]
        rows.append(
            f"| {k} | {cell['flexmdm']:.1%} | {cell['mdm']:.1%} | {cell['difference'] * 100:+.1f} points "
            f"[{low * 100:+.1f}, {high * 100:+.1f}] | {cell['only_first']} / {cell['only_second']} | "
            f"{cell['p_value']:.2g} |"
        )
    ks = list(lead["by_k"])
    significant = lead["significant_at"]
    if lead["holds"]:
        claim_a = "**holds**: FlexMDM is ahead at every K, each difference significant (p < 0.05)."
    elif significant:
        claim_a = (
            f"**holds only in part**: FlexMDM is significantly ahead at K = {', '.join(map(str, significant))}, "
            f"not at K = {', '.join(str(k) for k in ks if k not in significant)}."
        )
    else:
        claim_a = "**does not hold**: FlexMDM is significantly ahead at no K."

    def change(agent):
        t = trend["by_agent"][agent]
        low, high = t["difference_ci95"]
        return (
            f"{t['from']:.1%} at K = {t['from_k']} to {t['to']:.1%} at K = {t['to_k']}: a drop of "
            f"{t['difference'] * 100:+.1f} points [{low * 100:+.1f}, {high * 100:+.1f}] (negative: a rise)"
        )

    mdm_text = "declines" if trend["mdm_declines"] else "does not decline significantly"
    flex_text = "declines" if trend["flexmdm_declines"] else "does not decline significantly"
    if trend["testable"]:
        claim_b = ("**holds**" if trend["holds"] else "**does not hold**") + f": MDM {mdm_text}, FlexMDM {flex_text}."
    else:
        claim_b = (
            f"**cannot be tested here**: MDM succeeds on no query at K = {trend['by_agent']['mdm']['from_k']}, "
            f"so it has nothing to decline from; FlexMDM {flex_text}."
        )
    return [
        "(a) FlexMDM beats MDM at every K (paired on the same queries, exact McNemar): " + claim_a,
        "",
        *rows,
        "",
        "(b) MDM declines from the smallest to the largest K while FlexMDM does not (independent queries, "
        "Newcombe interval of the drop): " + claim_b,
        "",
        f"- MDM: {change('mdm')}.",
        f"- FlexMDM: {change('flexmdm')}.",
    ]
