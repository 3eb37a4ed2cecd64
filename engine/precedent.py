"""Precedent signals: what existing work says about a proposal's home, as integers the rules read.

The core knows only this protocol and the signal names; where the precedent comes from (the
registry of existing Recommendations and a classifier fitted on it: engine/registry/precedent.py)
is the source's business. Without a source every precedent signal is 0, so a rule that reads one
does not fire (`--no-registry`, `registry=false`).

Signals, for each Study Group `sg` of the catalogue (lower case: `near_sg17`, ...), all 0..100:
- `near_<sg>`: the share of the K existing items most similar to the proposal that `sg` holds
  (each weighted by its similarity squared);
- `model_<sg>`: the probability a linear text classifier fitted on the existing items gives `sg`;
- `prec_<sg>`: the two together (their mean): how strongly existing work points to `sg`;
- `prec_lead`: how far the first Study Group by `prec_` is ahead of the second (`prec_` points);
- `near_top`: the similarity of the closest existing item.

A source also gives, per signal, the evidence behind it (the precedents by id and title, the
classifier's terms): the reasons of the rules that read a signal show it like any other words.
The evidence is a mapping the source may fill only as it is read (the registry's works out a
Study Group's when a reason first reads one of its signals), so it is kept as given, never copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.facts import Ev, Facts
from engine.vocabulary import PRECEDENT_PREFIXES

if TYPE_CHECKING:
    from engine.models import Proposal
    from engine.ruleset import RuleSet
    from engine.schema import ReviewDef

NEAR, MODEL, PREC = PRECEDENT_PREFIXES


@dataclass(frozen=True)
class Precedent:
    """A source's answer: signals by name and the evidence behind each."""

    signals: dict[str, int]
    evidence: Mapping[str, list[Ev]] = field(default_factory=dict)

    def best(self) -> tuple[str | None, int]:
        """The Study Group existing work points to most (by `prec_`), and how strongly."""
        prec = {n[len(PREC) :].upper(): v for n, v in self.signals.items() if n.startswith(PREC) and n != "prec_lead"}
        if not prec:
            return None, 0
        sg = max(sorted(prec), key=prec.__getitem__)
        return sg, prec[sg]


@runtime_checkable
class PrecedentSource(Protocol):
    """Anything that can say what existing work suggests for a proposal (its facts carry the
    prepared text, so a source need not normalise the proposal again)."""

    def precedent(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> Precedent: ...


NO_PRECEDENT = Precedent({}, {})


@dataclass(frozen=True)
class StaticPrecedent:
    """Fixed signals, as a rule fixture states them (no registry involved)."""

    signals: dict[str, int]

    def precedent(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> Precedent:
        return Precedent(
            dict(self.signals), {n: [Ev("registry", f"{n} = {v}", "precedent")] for n, v in self.signals.items()}
        )


def for_fixture(signals: dict[str, int]) -> StaticPrecedent | None:
    """The precedent source of a fixture that states signals; None (rules alone) when it states none."""
    return StaticPrecedent(signals) if signals else None


def apply(facts: Facts, p: Precedent, rs: RuleSet) -> None:
    """Add a source's signals (those the rule set knows) and their evidence to the facts."""
    known = rs.precedent_signals
    for name, value in p.signals.items():
        if value and name in known:
            facts.signals[name] = int(value)
    # Kept as the source gave it (reading a name may be what works it out): Facts.words reads it.
    # Iterating the names does not read the evidence; a name the rule set does not know is dropped.
    if all(name in known for name in p.evidence):
        facts.precedent_evidence = p.evidence
    else:
        facts.precedent_evidence = {name: evs for name, evs in p.evidence.items() if name in known}


def review_reasons(
    signals: dict[str, int], home_sgs: list[str], stage: str | None, cfg: ReviewDef, evidence: Mapping[str, list[Ev]]
) -> list[str]:
    """Why existing work or the submitter's own hints put a decision up for review (words for NEEDS_REVIEW)."""
    out: list[str] = []
    prec = {n[len(PREC) :].upper(): v for n, v in signals.items() if n.startswith(PREC) and n != "prec_lead" and v}
    if prec:
        best = max(sorted(prec), key=prec.__getitem__)
        if prec[best] >= cfg.disagree and best not in home_sgs:
            shown = "; ".join(e.words for e in evidence.get(PREC + best.lower(), [])[:2] if e.concept == "precedent")
            out.append(f"existing work points to {best} ({prec[best]}%{': ' + shown if shown else ''})")
        elif stage not in cfg.thin_lead_skip and signals.get("prec_lead", 0) < cfg.thin_lead:
            out.append(f"existing work is split (the first Study Group leads by {signals.get('prec_lead', 0)} points)")
    if cfg.proposed:
        for prefix, what in (("proposes_", "the proposed Question"), ("reference_", "the provisional name's series")):
            elsewhere = sorted(
                n[len(prefix) :].upper()
                for n, v in signals.items()
                if n.startswith(prefix) and v and n[len(prefix) :].upper() not in home_sgs
            )
            if elsewhere and not any(signals.get(prefix + sg.lower(), 0) for sg in home_sgs):
                out.append(f"{what} points to {', '.join(elsewhere)}")
    return out
