"""Precedence: from the rules that fired to one recommended home. Written down in rules/README.md.

1. Every fired rule that recommends a home is a candidate, with its stage and weight. A joint
   candidate whose lead is "stronger" takes the lead whose lead signals (catalogue) sum higher,
   the catalogue's tie_lead on a tie.
2. The earliest stage with any candidate decides:
   continuity > other_sg > precedent > joint > principle > default.
3. Within that stage the weights of candidates for the same home are added; the heaviest wins.
4. A tie between SG17 and SG20 in that stage is where horizontal and vertical meet: the result is
   joint work, led as in 1. Any other tie is undetermined, with NEEDS_REVIEW.
5. No candidate at all: undetermined, with NEEDS_REVIEW.
6. confidence = the deciding stage's base confidence (catalogue) x the winner's share of the
   weight in that stage (halved for a tie turned joint); 0 when undetermined. Below the
   catalogue's review_below the decision carries NEEDS_REVIEW.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.schema import CatalogueFile, Recommend
from engine.vocabulary import STAGES


@dataclass(frozen=True)
class Candidate:
    rule: str
    stage: str
    home: str
    lead: str | None
    other_sg: str | None
    weight: int

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        return (self.home, self.lead, self.other_sg)


@dataclass
class Outcome:
    home: str
    lead: str | None
    other_sg: str | None
    confidence: float
    stage: str | None
    winners: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    losers: dict[str, str] = field(default_factory=dict)
    tie: bool = False


def stronger_lead(signals: dict[str, int], cat: CatalogueFile) -> str:
    scores = {sg: sum(signals.get(s, 0) for s in names) for sg, names in cat.joint.lead_signals.items()}
    s17, s20 = scores.get("SG17", 0), scores.get("SG20", 0)
    if s17 == s20:
        return cat.joint.tie_lead
    return "SG17" if s17 > s20 else "SG20"


def candidate(rule_id: str, stage: str, rec: Recommend, signals: dict[str, int], cat: CatalogueFile) -> Candidate:
    lead: str | None = None
    if rec.home == "joint":
        lead = stronger_lead(signals, cat) if rec.lead == "stronger" else rec.lead
    return Candidate(rule_id, stage, rec.home, lead, rec.other_sg, rec.weight)


def _label(key: tuple[str, str | None, str | None]) -> str:
    home, lead, other = key
    if home == "joint":
        return f"joint (lead {lead})"
    if home == "other":
        return f"other ({other})"
    return home


def decide(candidates: list[Candidate], signals: dict[str, int], cat: CatalogueFile) -> Outcome:
    """Apply the precedence above; the steps say in words what was compared."""
    steps: list[str] = []
    by_stage: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_stage.setdefault(c.stage, []).append(c)
    deciding = next((s for s in STAGES if s in by_stage), None)
    if deciding is None:
        steps.append("no rule recommended a home: undetermined")
        return Outcome("undetermined", None, None, 0.0, None, steps=steps)
    for s in STAGES:
        if s == deciding:
            break
        steps.append(f"stage {s}: no candidate")
    totals: dict[tuple[str, str | None, str | None], int] = {}
    for c in by_stage[deciding]:
        totals[c.key] = totals.get(c.key, 0) + c.weight
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    steps.append(f"stage {deciding} decides: " + ", ".join(f"{_label(k)} weight {w}" for k, w in ranked))
    stage_total = sum(totals.values())
    base = cat.stages[deciding].confidence if deciding in cat.stages else 0.5
    losers: dict[str, str] = {}
    for c in candidates:
        if c.stage != deciding:
            losers[c.rule] = (
                f"stage {c.stage} comes after stage {deciding}"
                if STAGES.index(c.stage) > STAGES.index(deciding)
                else ""
            )
    top_key, top_w = ranked[0]
    tied = [k for k, w in ranked if w == top_w]
    if len(tied) > 1:
        homes = {k[0] for k in tied}
        if homes <= {"SG17", "SG20", "joint"} and len(homes) > 1:
            tie_lead = stronger_lead(signals, cat)
            steps.append(
                f"tie between {', '.join(_label(k) for k in tied)}: horizontal meets vertical, joint work led by "
                f"{tie_lead}"
            )
            for c in by_stage[deciding]:
                if c.key not in tied:
                    losers[c.rule] = f"weight {totals[c.key]} below the tied {top_w}"
            winners = [c.rule for c in by_stage[deciding] if c.key in tied]
            return Outcome(
                "joint",
                tie_lead,
                None,
                round(base * top_w * len(tied) / stage_total / 2, 3),
                deciding,
                winners,
                steps,
                {k: v for k, v in losers.items() if v},
                tie=True,
            )
        steps.append(f"tie between {', '.join(_label(k) for k in tied)}: undetermined")
        for c in by_stage[deciding]:
            losers[c.rule] = f"tied at weight {top_w}; no precedence between them"
        return Outcome("undetermined", None, None, 0.0, deciding, [], steps, losers, tie=True)
    for c in by_stage[deciding]:
        if c.key != top_key:
            losers[c.rule] = (
                f"{_label(c.key)} weight {totals[c.key]} is below {_label(top_key)} weight {top_w} in stage {deciding}"
            )
    home, lead, other = top_key
    if home in ("SG17", "SG20"):
        lead = home
    confidence = round(base * top_w / stage_total, 3)
    steps.append(f"{_label(top_key)} wins with confidence {base} x {top_w}/{stage_total} = {confidence}")
    winners = [c.rule for c in by_stage[deciding] if c.key == top_key]
    return Outcome(home, lead, other, confidence, deciding, winners, steps, {k: v for k, v in losers.items() if v})
