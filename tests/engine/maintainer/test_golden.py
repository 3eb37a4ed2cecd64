"""Every golden fixture: the home, lead, Question, flags, and the rules that must (not) fire."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import RuleSet, triage
from engine.maintainer.goldens import Fixture, differences, fixture_files, load_fixtures
from engine.precedent import for_fixture

PROPOSALS = Path(__file__).resolve().parents[3] / "fixtures" / "proposals"


def _all() -> list[Fixture]:
    out: list[Fixture] = []
    for path in fixture_files(PROPOSALS):
        fixtures, issues = load_fixtures(path)
        assert not issues, [str(i) for i in issues]
        out += fixtures
    return out


FIXTURES = _all()


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURES) >= 60


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_golden(fixture: Fixture, ruleset: RuleSet) -> None:
    decision = triage(fixture.proposal, ruleset, registry=None, precedent=for_fixture(fixture.precedent))
    assert differences(fixture.expect, decision) == []
    # The reasons are the rules' own words, each with its evidence: the proposal's words behind
    # every rule that reads something other than derived facts (which have no words of their own).
    for reason in decision.reasons:
        rule = ruleset.rules[reason.rule]
        assert reason.text == rule.definition.description
        if any(s not in ruleset.produced for s in rule.positive):
            assert reason.evidence, f"{reason.rule} fired without evidence"


def test_every_rule_and_flag_is_covered(ruleset: RuleSet) -> None:
    fired: set[str] = set()
    flags: set[str] = set()
    for f in FIXTURES:
        d = triage(f.proposal, ruleset, registry=None, precedent=for_fixture(f.precedent))
        fired |= {r.rule for r in d.reasons}
        flags |= set(d.flag_codes())
    never = sorted(set(ruleset.rules) - fired)
    assert never == [], f"rules no fixture fires: {never}"
    assert {"JOINT_WORK", "COORDINATE_Q6_17_Q6_20", "OUT_OF_SCOPE", "NEEDS_REVIEW"} <= flags
