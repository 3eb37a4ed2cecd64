"""What the pages show, worked out from a decision: the answer as a submitter reads it ("why" first,
what else was considered, what differs from what was proposed, what an undetermined answer lacks)
and the staff queue's grouping. Presentation only: every sentence of explanation is a rule's own
(`reasons[].text`); these helpers choose and order, they compose no reasons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import RuleSet
from engine.labels import home_label

GLOSS = {
    "SG17": "SG17 (Security)",
    "SG20": "SG20 (IoT and smart cities)",
    "undetermined": "Undetermined: a person decides",
}
# The fields a proposal can have, in the order a person reads them, with their names on the page.
FIELD_NAMES = {
    "title": "Title",
    "reference": "Provisional name",
    "questions": "Questions",
    "scope": "Scope",
    "summary": "Summary",
    "keywords": "Keywords",
    "relations": "Related Recommendations",
    "liaisons": "Liaisons",
    "submitter": "Submitter",
}
# What helps the rules place an item, asked for when they could not.
HELPFUL = ("summary", "scope", "keywords", "questions", "relations")
_URL = re.compile(r"https?://[^\s;,()]+")


def gloss(home: str, lead: str | None = None, other_sg: str | None = None) -> str:
    """The home for people: the one notation, with what it means."""
    label = home_label(home, lead, other_sg)
    if home == "joint":
        return f"{label} (joint work of SG17 and SG20, led by {lead})" if lead else label
    if home == "other":
        return f"{label} (another Study Group)" if other_sg else label
    return GLOSS.get(home, label)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    return obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)


@dataclass
class Answer:
    """One decision, as the submitter's page lays it out."""

    label: str
    gloss: str
    why: list[Any] = field(default_factory=list)  # reasons of the rules that chose the home
    considered: list[Any] = field(default_factory=list)  # reasons of rules whose home lost
    other: list[Any] = field(default_factory=list)  # advisory and derived reasons (folded)
    differs: list[str] = field(default_factory=list)  # where the answer departs from what was proposed
    missing: list[str] = field(default_factory=list)  # undetermined: what would help
    closest: list[str] = field(default_factory=list)  # undetermined: homes the rules came closest to
    rules_label: str = ""  # a review decided: what the rules said
    rules_gloss: str = ""


def _series_sg(reference: str, rs: RuleSet | None) -> str | None:
    letter = reference[:2]
    if rs is None or len(letter) != 2 or letter[1] != ".":
        return None
    return rs.catalogue.provisional.get(letter[0].upper())


def answer(decision: Any, proposal: Any, rs: RuleSet | None) -> Answer:
    """The submitter's view of a decision (a Decision, a ReviewedDecision or a stored result dict)."""
    home, lead, other_sg = _get(decision, "home"), _get(decision, "lead"), _get(decision, "other_sg")
    out = Answer(label=home_label(home, lead, other_sg), gloss=gloss(home, lead, other_sg))
    rules_now = _get(decision, "rules_now")
    reviewed_away = bool(_get(decision, "reviewed")) and rules_now is not None and not _get(decision, "deciding_rules")
    rules_deciding = set(
        _get(rules_now, "deciding_rules", []) if reviewed_away else _get(decision, "deciding_rules", [])
    )
    if rules_now is not None:
        out.rules_label = home_label(_get(rules_now, "home"), _get(rules_now, "lead"), _get(rules_now, "other_sg"))
        out.rules_gloss = gloss(_get(rules_now, "home"), _get(rules_now, "lead"), _get(rules_now, "other_sg"))
    for reason in _get(decision, "reasons", []):
        rule, outcome = _get(reason, "rule"), _get(reason, "outcome")
        if rule in rules_deciding:
            out.why.append(reason)
        elif outcome == "outranked":
            out.considered.append(reason)
        else:
            out.other.append(reason)
    sgs = {lead, other_sg} | ({home} if home in ("SG17", "SG20") else set())
    sgs.discard(None)
    if home == "joint":
        sgs |= {"SG17", "SG20"}
    proposed = list(_get(proposal, "questions", []) or [])
    recommended = list(_get(decision, "questions", []) or [])
    if proposed and recommended and not set(proposed) & set(recommended):
        out.differs.append(f"You proposed {', '.join(proposed)}; the answer is {', '.join(recommended)}.")
    elif proposed and recommended and set(proposed) - set(recommended):
        out.differs.append(
            f"Of the Questions you proposed, {', '.join(q for q in proposed if q not in recommended)} "
            f"is not among those recommended ({', '.join(recommended)})."
        )
    series = _series_sg(str(_get(proposal, "reference", "") or ""), rs)
    if series and home != "undetermined" and series not in sgs:
        out.differs.append(
            f"Your provisional name {_get(proposal, 'reference')} uses a series letter of {series}; "
            f"the answer is {out.label}."
        )
    if home == "undetermined":
        out.missing = [FIELD_NAMES[k] for k in HELPFUL if not _get(proposal, k)]
        if rs is not None:
            for reason in _get(decision, "reasons", []):
                rule = rs.rules.get(_get(reason, "rule"))
                rec = rule.definition.then.recommend if rule is not None else None
                if rec is not None:
                    label = home_label(rec.home, rec.lead if rec.lead in ("SG17", "SG20") else None, rec.other_sg)
                    if label not in out.closest:
                        out.closest.append(label)
    return out


def values_read(proposal: Any) -> list[tuple[str, str]]:
    """The proposal's fields as read (A.1 text, a file, the form), for the submitter to check."""
    rows: list[tuple[str, str]] = []
    for key, name in FIELD_NAMES.items():
        value = _get(proposal, key)
        if not value:
            continue
        text = "; ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
        rows.append((name, text if len(text) <= 600 else text[:600].rstrip() + " ..."))
    return rows


def source_link(item: Any) -> str:
    """The first web address of a work item's source, if it names one."""
    m = _URL.search(str(_get(item, "source", "") or ""))
    return m.group(0) if m else ""


def group_by_reference(items: list[Any]) -> list[list[Any]]:
    """Rows in order, those with the same reference together (where the first of them stood)."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        ref = _get(item, "reference") or ""
        groups.setdefault(ref or "#" + str(_get(item, "decision_id")), []).append(item)
    return list(groups.values())
