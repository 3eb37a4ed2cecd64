"""Citations: a Recommendation counts once; only a revision cue about the Recommendation makes continuity."""

from __future__ import annotations

from engine import Proposal, RuleSet
from engine.facts import extract


def test_a_recommendation_cited_twice_counts_once(ruleset: RuleSet) -> None:
    p = Proposal(
        title="Security of IoT gateways",
        summary="Builds on ITU-T X.1352 and X.1353. See X.1352 clause 6.",
        relations=["X.1352", "X.1353"],
    )
    facts = extract(p, ruleset)
    assert facts.signals["cites_sg17"] == 2


def test_only_a_revision_cue_about_the_recommendation_is_a_revision(ruleset: RuleSet) -> None:
    mentioned = Proposal(
        title="Authentication for IoT devices",
        summary="It replaces shared passwords with certificates as profiled in ITU-T X.509 for constrained devices.",
    )
    assert not extract(mentioned, ruleset).signals.get("revises_sg17")
    revised = Proposal(
        title="Authentication for IoT devices", summary="This is a revision of Recommendation ITU-T X.1352."
    )
    assert extract(revised, ruleset).signals.get("revises_sg17") == 1
    extended = Proposal(
        title="Authentication for IoT devices", summary="The draft extends the existing ITU-T X.1352 to gateways."
    )
    assert extract(extended, ruleset).signals.get("revises_sg17") == 1
