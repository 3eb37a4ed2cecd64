"""One proposal -> one decision: facts, the rule engine, precedence, flags, questions, reasons.

Related work comes from whatever `RelatedWorkFinder` the caller passes (the registry of existing
work, in practice); the core only knows the protocol.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol, cast

from engine import flags as flag_texts
from engine import precedent as _precedent
from engine.facts import Ev, Facts, extract
from engine.labels import home_label
from engine.models import Decision, Flag, Proposal, RelatedWork
from engine.precedence import Candidate, Outcome, candidate, decide
from engine.ruleset import Rule, RuleSet

MAX_EVIDENCE_PER_REASON = 6


class RelatedWorkFinder(Protocol):
    """Finds the existing work a decided proposal overlaps, and the flags that overlap raises."""

    def related(
        self, proposal: Proposal, facts: Facts, home: str, lead: str | None, rs: RuleSet
    ) -> tuple[list[RelatedWork], list[Flag]]: ...


@dataclass
class Trace:
    """Everything behind a decision, for `explain`: facts, fired rules, precedence steps."""

    facts: Facts
    fired: list[str]
    derived: dict[str, list[str]]
    candidates: list[Candidate]
    outcome: Outcome
    decision: Decision
    related: list[RelatedWork] = field(default_factory=list)


def rule_evidence(rule: Rule, rs: RuleSet, facts: Facts) -> list[Ev]:
    """The proposal's words behind each positive condition of a rule on concepts and categories.
    A derived fact has no words of its own: the reasons of the rules that derived it show them."""
    evidence, shown = facts.evidence, facts.precedent_evidence
    out: list[Ev] = []
    for name, is_category in rule.evidence_plan:
        if is_category:  # the first words of each of its concepts the proposal has, in lexicon order
            out += [evidence[c][0] for c in facts.concepts_of(name, rs)]
        else:
            words = evidence.get(name) or shown.get(name)  # the proposal's words, or what precedent shows
            if words:
                out += words[:2]
    return list(dict.fromkeys(out))[:MAX_EVIDENCE_PER_REASON]


def _effect(rule: Rule, outcome: Outcome, cand: Candidate | None) -> str:
    if cand is None:
        return rule.effect_tail
    target = home_label(cand.home, cand.lead, cand.other_sg)
    verdict = "chosen" if rule.id in outcome.winners else ("outranked: " + outcome.losers.get(rule.id, "not chosen"))
    head = f"recommends {target} [{cand.stage}, weight {cand.weight}] - {verdict}"
    return f"{head}; {rule.effect_tail}" if rule.effect_tail else head


def _outcome(rule: Rule, outcome: Outcome, by_rule: dict[str, Candidate]) -> str:
    if rule.id in by_rule:
        return "chosen" if rule.id in outcome.winners else "outranked"
    return "derived" if rule.definition.then.derive else "advisory"


def _sgs_of(home: str, lead: str | None, other_sg: str | None) -> list[str]:
    if home == "joint":
        return [lead or "SG17", "SG20" if lead == "SG17" else "SG17"]
    if home in ("SG17", "SG20"):
        return [home]
    if home == "other" and other_sg:
        return [other_sg]
    return []


def _questions(rs: RuleSet, fired: list[Rule], outcome: Outcome, proposal: Proposal, facts: Facts) -> list[str]:
    sgs = _sgs_of(outcome.home, outcome.lead, outcome.other_sg)
    suffixes = {sg: "/" + sg[2:] for sg in sgs}
    winners = outcome.winners
    # `fired` is in (stage, file order): stable sorts keep that order among equals.
    ordered = sorted(fired, key=lambda r: (r.id not in winners, r.stage_rank, -r.weight))
    picked: list[str] = []
    if outcome.stage == "continuity":
        # Continuity keeps the Question that owns the revised Recommendation's series.
        for c in facts.citations:
            if (c.revised or c.subject) and c.question and c.sg in sgs and c.question not in picked:
                picked.append(c.question)
    for sg in sgs:
        for r in ordered:
            for q in r.definition.then.questions:
                if q.endswith(suffixes[sg]) and q not in picked:
                    picked.append(q)
        for q in proposal.questions:
            if q.endswith(suffixes[sg]) and q not in picked and q in rs.questions:
                picked.append(q)
        default = rs.catalogue.study_groups.get(sg)
        if default and default.default_question and not any(q.endswith(suffixes[sg]) for q in picked):
            picked.append(default.default_question)
    return picked


def _flags(
    rs: RuleSet, fired: list[Rule], outcome: Outcome, candidates: list[Candidate], facts: Facts | None = None
) -> list[Flag]:
    texts = rs.catalogue.flags
    fill = flag_texts.fill
    flags: dict[str, Flag] = {}

    def add(code: str, text: str) -> None:
        if code not in flags:
            flags[code] = Flag(code=code, text=text)

    if outcome.home == "joint":
        add("JOINT_WORK", fill(texts, "JOINT_WORK", "Joint work led by {lead}{detail}.", lead=outcome.lead or ""))
    else:
        # A joint trigger fired but an earlier stage (precedent, continuity, another SG) decided:
        # joint work is still called for, and the home stays where that stage puts it.
        triggers = [c for c in candidates if c.stage == "joint"]
        if triggers:
            where = home_label(outcome.home, outcome.lead, outcome.other_sg)
            detail = (
                f"; the home stays {where}, where the {outcome.stage} stage puts it ({', '.join(outcome.winners)}), "
                f"and the joint trigger is {', '.join(c.rule for c in triggers)}"
            )
            add(
                "JOINT_WORK",
                fill(
                    texts, "JOINT_WORK", "Joint work led by {lead}{detail}.", lead=triggers[0].lead or "", detail=detail
                ),
            )
    stakes: dict[str, list[str]] = {}
    for c in candidates:
        # A stake is a candidate that counted: one in the deciding stage, or any joint trigger.
        if c.stage != outcome.stage and c.stage != "joint":
            continue
        for sg in ["SG17", "SG20"] if c.home == "joint" else [c.home]:
            stakes.setdefault(sg, []).append(c.rule)
    for r in fired:
        for f in r.definition.then.flags:
            if f.code == "COORDINATE_Q6_17_Q6_20":
                stakes.setdefault("SG17", []).append(r.id)
                stakes.setdefault("SG20", []).append(r.id)
    if outcome.home == "joint" or ("SG17" in stakes and "SG20" in stakes):
        rules = sorted(set(stakes.get("SG17", []) + stakes.get("SG20", [])), key=lambda i: rs.rules[i].order)
        add(
            "COORDINATE_Q6_17_Q6_20",
            fill(
                texts,
                "COORDINATE_Q6_17_Q6_20",
                "Coordinate Q6/17 and Q6/20 ({detail}).",
                detail="rules: " + ", ".join(rules),
            ),
        )
    for r in fired:
        for f in r.definition.then.flags:
            if f.code != "COORDINATE_Q6_17_Q6_20":
                add(f.code, f.text)
    if outcome.home == "other":
        add("OUT_OF_SCOPE", fill(texts, "OUT_OF_SCOPE", "Consider {other_sg}.", other_sg=outcome.other_sg or ""))
    why: list[str] = []
    if outcome.home == "undetermined" or outcome.confidence < rs.catalogue.review_below:
        why += outcome.steps[-1:]
    cfg = rs.catalogue.review
    home_sgs = _sgs_of(outcome.home, outcome.lead, outcome.other_sg)
    if cfg.contested and outcome.stage in ("principle", "default") and outcome.home != "joint":
        sides = {c.home for c in candidates if c.stage == outcome.stage}
        if {"SG17", "SG20"} <= sides:
            why.append(f"both SG17 and SG20 have strong signals and the {outcome.stage} stage decides")
    if facts is not None:
        why += _precedent.review_reasons(facts.signals, home_sgs, outcome.stage, cfg, facts.precedent_evidence)
    if why:
        add("NEEDS_REVIEW", fill(texts, "NEEDS_REVIEW", "Needs review ({detail}).", detail="; ".join(why)))
    return list(flags.values())


def _calibrated(outcome: Outcome, signals: dict[str, int], rs: RuleSet) -> float:
    """The rules' confidence blended with how strongly existing work points to the decided home
    (catalogue review.precedent_weight); unchanged without precedent signals or when undetermined."""
    w = rs.catalogue.review.precedent_weight
    if not w or outcome.home == "undetermined" or not any(signals.get(n) for n in rs.precedent_signals):
        return outcome.confidence
    agree = max(
        (signals.get("prec_" + sg.lower(), 0) for sg in _sgs_of(outcome.home, outcome.lead, outcome.other_sg)),
        default=0,
    )
    return round((1 - w) * outcome.confidence + w * agree / 100, 3)


def run_rules(
    rs: RuleSet, proposal: Proposal, precedent: _precedent.PrecedentSource | None = None
) -> tuple[Facts, list[str]]:
    facts = extract(proposal, rs)
    if precedent is not None:
        _precedent.apply(facts, precedent.precedent(proposal, facts, rs), rs)
    return facts, rs.host.evaluate(facts.signals)


def _source(
    registry: RelatedWorkFinder | None, precedent: _precedent.PrecedentSource | None
) -> _precedent.PrecedentSource | None:
    """Precedent from the caller's source, else from the registry when it is one too."""
    if precedent is not None:
        return precedent
    if registry is None:
        return None
    # What isinstance() with the runtime-checkable protocol checks (the method is there), without
    # its cost: 5-10 us a decision, the rules-only ones included.
    return cast(_precedent.PrecedentSource, registry) if callable(getattr(registry, "precedent", None)) else None


def triage(
    proposal: Proposal,
    rs: RuleSet,
    registry: RelatedWorkFinder | None = None,
    *,
    decision_id: str | None = None,
    precedent: _precedent.PrecedentSource | None = None,
) -> Decision:
    """The recommended home of one proposal, with its reasons. Pure apart from the id.
    Precedent signals come from `precedent`, else from the registry; without either they are 0."""
    return trace(proposal, rs, registry, decision_id=decision_id, precedent=precedent).decision


def trace(
    proposal: Proposal,
    rs: RuleSet,
    registry: RelatedWorkFinder | None = None,
    *,
    decision_id: str | None = None,
    precedent: _precedent.PrecedentSource | None = None,
) -> Trace:
    """triage(), keeping every intermediate step for explanation."""
    facts, fired_ids = run_rules(rs, proposal, _source(registry, precedent))
    fired = sorted((rs.rules[i] for i in fired_ids), key=lambda r: (r.stage_rank, r.order))
    candidates: list[Candidate] = []
    by_rule: dict[str, Candidate] = {}
    for r in fired:
        rec = r.definition.then.recommend
        if rec is not None:
            c = candidate(r.id, r.definition.stage, rec, facts.signals, rs.catalogue)
            candidates.append(c)
            by_rule[r.id] = c
    outcome = decide(candidates, facts.signals, rs.catalogue)
    outcome.confidence = _calibrated(outcome, facts.signals, rs)
    related: list[RelatedWork] = []
    extra_flags: list[Flag] = []
    if registry is not None:
        related, extra_flags = registry.related(proposal, facts, outcome.home, outcome.lead, rs)
    flags = _flags(rs, fired, outcome, candidates, facts)
    known = {f.code for f in flags}
    for f in extra_flags:
        if f.code not in known:
            flags.append(f)
            known.add(f.code)
        else:
            # The rules raised it too; keep their words and add the registry's (the item to coordinate on).
            i = next(j for j, g in enumerate(flags) if g.code == f.code)
            if f.text not in flags[i].text:
                flags[i] = Flag(code=f.code, text=flag_texts.merge(flags[i].text, f.text))
    winners = outcome.winners
    order = sorted(fired, key=lambda r: r.id not in winners)  # stable: winners first, then (stage, file order)
    # One validation of the whole decision (fast, in pydantic-core) rather than a model per piece.
    decision = Decision.model_validate(
        {
            "home": outcome.home,
            "lead": outcome.lead,
            "other_sg": outcome.other_sg,
            "questions": _questions(rs, fired, outcome, proposal, facts),
            "confidence": outcome.confidence,
            "flags": flags,
            "reasons": [
                {
                    "rule": r.id,
                    "text": r.definition.description,
                    "effect": _effect(r, outcome, by_rule.get(r.id)),
                    "evidence": [{"field": e[0], "words": e[1], "concept": e[2]} for e in rule_evidence(r, rs, facts)],
                    "stage": r.definition.stage,
                    "outcome": _outcome(r, outcome, by_rule),
                }
                for r in order
            ],
            "deciding_rules": [r.id for r in order if r.id in winners],
            "related_work": related,
            "ruleset": {"version": rs.version, "revision": rs.revision},
            "decision_id": decision_id or uuid.uuid4().hex,
        }
    )
    derived = {r.id: list(r.definition.then.derive) for r in fired if r.definition.then.derive}
    return Trace(facts, fired_ids, derived, candidates, outcome, decision, related)
