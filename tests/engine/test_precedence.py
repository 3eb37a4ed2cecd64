"""Precedence: stage order, added weights, ties, confidence, exactly as the README states."""

from __future__ import annotations

from engine import RuleSet
from engine.precedence import Candidate, decide


def c(
    rule: str, stage: str, home: str, weight: int = 1, lead: str | None = None, other: str | None = None
) -> Candidate:
    return Candidate(rule, stage, home, lead, other, weight)


def test_earlier_stage_wins_over_heavier_later_stage(ruleset: RuleSet) -> None:
    out = decide([c("p", "precedent", "SG17", 1), c("q", "principle", "SG20", 9)], {}, ruleset.catalogue)
    assert (out.home, out.stage, out.winners) == ("SG17", "precedent", ["p"])
    assert "q" in out.losers and "comes after" in out.losers["q"]


def test_weights_for_the_same_home_add_up(ruleset: RuleSet) -> None:
    out = decide(
        [c("a", "principle", "SG20", 1), c("b", "principle", "SG20", 1), c("h", "principle", "SG17", 1)],
        {},
        ruleset.catalogue,
    )
    assert out.home == "SG20" and sorted(out.winners) == ["a", "b"]
    assert out.confidence == round(ruleset.catalogue.stages["principle"].confidence * 2 / 3, 3)
    assert out.losers["h"].startswith("SG17 weight 1 is below SG20 weight 2")


def test_sg17_sg20_tie_is_joint_led_by_stronger_signals(ruleset: RuleSet) -> None:
    cands = [c("h", "principle", "SG17", 2), c("v", "principle", "SG20", 2)]
    out = decide(cands, {"sector": 6, "horizontal": 2}, ruleset.catalogue)
    assert (out.home, out.lead, out.tie) == ("joint", "SG20", True)
    out = decide(cands, {"sector": 1, "horizontal": 5}, ruleset.catalogue)
    assert out.lead == "SG17"
    out = decide(cands, {}, ruleset.catalogue)
    assert out.lead == ruleset.catalogue.joint.tie_lead


def test_other_tie_is_undetermined(ruleset: RuleSet) -> None:
    out = decide(
        [c("a", "other_sg", "other", 3, other="SG11"), c("b", "other_sg", "other", 3, other="SG13")],
        {},
        ruleset.catalogue,
    )
    assert (out.home, out.confidence) == ("undetermined", 0.0)


def test_no_candidate_is_undetermined(ruleset: RuleSet) -> None:
    out = decide([], {}, ruleset.catalogue)
    assert out.home == "undetermined" and out.stage is None


def test_joint_candidate_with_stronger_lead(ruleset: RuleSet) -> None:
    from engine.precedence import candidate
    from engine.schema import Recommend

    cand = candidate(
        "j", "joint", Recommend(home="joint", lead="stronger", weight=2), {"horizontal": 9}, ruleset.catalogue
    )
    assert cand.lead == "SG17"
    out = decide([cand, c("p", "principle", "SG20", 5)], {}, ruleset.catalogue)
    assert (out.home, out.lead) == ("joint", "SG17")
