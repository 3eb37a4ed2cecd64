"""`explain`: the trace of one decision, every part present and consistent with the decision."""

from __future__ import annotations

import json

from engine import Proposal, RuleSet, triage
from engine.maintainer.explain import explain, render_text

PLATFORM = Proposal(
    title="Zero-trust access control for IoT platforms",
    summary="Attribute based access control and continuous verification for IoT service platforms.",
    keywords=["zero trust", "access control"],
)


def _holds(value: int, test: str) -> bool:
    op, _, number = test.partition(" ")
    n = int(number)
    return {">": value > n, ">=": value >= n, "<=": value <= n, "=": value == n}[op]


def test_facts_carry_their_words_and_field(ruleset: RuleSet) -> None:
    data = explain(PLATFORM, ruleset)
    facts = {f["signal"]: f for f in data["facts"]}
    assert facts["access_control"]["kind"] == "concept"
    assert facts["access_control"]["category"] == "horizontal"
    assert {"field": "title", "words": "access control"} in facts["access_control"]["evidence"]
    assert facts["horizontal_top"]["kind"] == "category_top" and facts["horizontal_top"]["value"] == 3
    assert all(f["value"] > 0 for f in data["facts"])


def test_every_fired_rule_shows_conditions_that_hold(ruleset: RuleSet) -> None:
    data = explain(PLATFORM, ruleset)
    decision = triage(PLATFORM, ruleset)
    assert [r["rule"] for r in data["rules"]] == [r.rule for r in decision.reasons]
    for r in data["rules"]:
        assert r["matched"], r["rule"]
        for m in r["matched"]:
            assert _holds(m["value"], m["test"]), (r["rule"], m)
        assert r["description"] == ruleset.rules[r["rule"]].definition.description


def test_derived_facts_name_the_rules_that_derived_them(ruleset: RuleSet) -> None:
    data = explain(PLATFORM, ruleset)
    derived = {d["fact"]: d["by"] for d in data["derived"]}
    assert "security_item" in derived and "iot_item" in derived
    fired = {r["rule"] for r in data["rules"]}
    for producers in derived.values():
        assert set(producers) <= fired
        for rid in producers:
            assert ruleset.rules[rid].definition.then.derive


def test_precedence_steps_winners_and_losers(ruleset: RuleSet) -> None:
    data = explain(PLATFORM, ruleset)
    p = data["precedence"]
    assert p["steps"] and p["deciding_stage"] is not None and p["winners"]
    assert p["steps"][0].startswith("stage continuity")
    recommenders = {c["rule"] for c in data["candidates"]}
    losers = {x["rule"] for x in data["losers"]}
    assert losers and losers == recommenders - set(p["winners"])
    assert all(x["why"] for x in data["losers"])


def test_nothing_matched_is_explained_too(ruleset: RuleSet) -> None:
    data = explain(Proposal(title="Minutes of the plenary"), ruleset)
    assert data["decision"]["home"] == "undetermined"
    assert data["rules"] == [] and data["facts"] == []
    assert data["precedence"]["steps"] == ["no rule recommended a home: undetermined"]
    text = render_text(data)
    assert "(none" in text and "undetermined" in text


def test_text_and_json_forms(ruleset: RuleSet) -> None:
    data = explain(PLATFORM, ruleset)
    assert json.loads(json.dumps(data)) == data
    text = render_text(data)
    for heading in ("Facts", "Derived facts", "Rules that fired", "Precedence", "Candidates that lost"):
        assert heading in text
    assert 'title: "access control"' in text
