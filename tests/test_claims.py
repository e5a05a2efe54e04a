"""The paper's two claims tested on hand-made cells: paired McNemar for the lead, Newcombe for the trend."""

import json

import pytest

from mazebench.report.claims import claims_markdown, evaluate_claims, paired_successes


def _write(path, successes, indices=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    indices = indices or list(range(len(successes)))
    path.write_text("".join(json.dumps({"index": i, "success": bool(s)}) + "\n" for i, s in zip(indices, successes)))


def _cells(tmp_path, rates: dict, n: int = 200):
    """Samples whose first round(rate * n) queries succeed, per (agent, K)."""
    for (agent, k), rate in rates.items():
        _write(tmp_path / f"{agent}-k{k}.jsonl", [i < round(rate * n) for i in range(n)])
    return lambda agent, k: tmp_path / f"{agent}-k{k}.jsonl"


def test_the_papers_pattern_makes_both_claims_hold(tmp_path):
    samples = _cells(tmp_path, {("flexmdm", 2): 0.92, ("mdm", 2): 0.68, ("flexmdm", 12): 0.90, ("mdm", 12): 0.24})
    claims = evaluate_claims(samples, (2, 12))
    lead = claims["flexmdm_beats_mdm"]
    assert lead["holds"] and lead["significant_at"] == [2, 12]
    assert lead["by_k"][2]["only_first"] == 48 and lead["by_k"][2]["only_second"] == 0  # nested successes
    trend = claims["mdm_declines_flexmdm_does_not"]
    assert trend["mdm_declines"] and not trend["flexmdm_declines"] and trend["holds"]
    assert trend["by_agent"]["mdm"]["difference"] == pytest.approx(0.44)
    text = "\n".join(claims_markdown(claims))
    assert (
        "**holds**: FlexMDM is ahead at every K" in text
        and "MDM declines, FlexMDM does not decline significantly" in text
    )


def test_a_small_or_reversed_lead_and_a_rising_mdm_make_them_fail(tmp_path):
    samples = _cells(
        tmp_path,
        {
            ("flexmdm", 2): 0.52,
            ("mdm", 2): 0.50,
            ("flexmdm", 7): 0.9,
            ("mdm", 7): 0.5,
            ("flexmdm", 12): 0.6,
            ("mdm", 12): 0.7,
        },
    )
    claims = evaluate_claims(samples, (12, 2, 7))  # any order of K
    assert claims["flexmdm_beats_mdm"]["significant_at"] == [7] and not claims["flexmdm_beats_mdm"]["holds"]
    assert claims["flexmdm_beats_mdm"]["by_k"][12]["difference"] < 0
    trend = claims["mdm_declines_flexmdm_does_not"]
    assert trend["by_agent"]["mdm"]["from_k"] == 2 and trend["by_agent"]["mdm"]["to_k"] == 12
    assert not trend["mdm_declines"] and not trend["holds"]
    text = "\n".join(claims_markdown(claims))
    assert "**holds only in part**: FlexMDM is significantly ahead at K = 7, not at K = 2, 12." in text


def test_an_mdm_that_never_succeeds_leaves_the_trend_untested(tmp_path):
    samples = _cells(tmp_path, {("flexmdm", 2): 0.05, ("mdm", 2): 0.0, ("flexmdm", 12): 0.3, ("mdm", 12): 0.0})
    claims = evaluate_claims(samples, (2, 12))
    trend = claims["mdm_declines_flexmdm_does_not"]
    assert not trend["testable"] and not trend["holds"] and not trend["flexmdm_declines"]
    text = "\n".join(claims_markdown(claims))
    assert "**cannot be tested here**: MDM succeeds on no query at K = 2" in text and "does not hold" not in text
    samples = _cells(tmp_path, {("flexmdm", 2): 0.05, ("mdm", 2): 0.01, ("flexmdm", 12): 0.3, ("mdm", 12): 0.0})
    assert evaluate_claims(samples, (2, 12))["mdm_declines_flexmdm_does_not"]["testable"]


def test_cells_of_other_queries_are_not_paired(tmp_path):
    _write(tmp_path / "a.jsonl", [True, False], indices=[0, 1])
    _write(tmp_path / "b.jsonl", [True, False], indices=[0, 2])
    with pytest.raises(ValueError, match="same queries"):
        paired_successes(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
