"""Where triage takes precedent from: the caller's source, else the registry when it has one."""

from __future__ import annotations

from engine import Proposal, RuleSet
from engine.facts import Facts
from engine.models import Flag, RelatedWork
from engine.precedent import Precedent, StaticPrecedent
from engine.triage import trace

PROPOSAL = Proposal(title="Security requirements for IoT gateways", summary="Device authentication for gateways.")


class _Finder:
    """Related work only: no precedent method."""

    def related(
        self, proposal: Proposal, facts: Facts, home: str, lead: str | None, rs: RuleSet
    ) -> tuple[list[RelatedWork], list[Flag]]:
        return [], []


class _FinderWithPrecedent(_Finder):
    def precedent(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> Precedent:
        return StaticPrecedent({"near_top": 77}).precedent(proposal, facts, rs)


def test_a_finder_without_precedent_gives_no_precedent_signals(ruleset: RuleSet) -> None:
    assert "near_top" not in trace(PROPOSAL, ruleset, _Finder()).facts.signals


def test_a_finder_with_precedent_is_the_precedent_source(ruleset: RuleSet) -> None:
    assert trace(PROPOSAL, ruleset, _FinderWithPrecedent()).facts.signals["near_top"] == 77


def test_the_callers_precedent_wins_over_the_registrys(ruleset: RuleSet) -> None:
    given = StaticPrecedent({"near_top": 12})
    assert trace(PROPOSAL, ruleset, _FinderWithPrecedent(), precedent=given).facts.signals["near_top"] == 12
