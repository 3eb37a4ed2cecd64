"""Proposal -> facts: concepts with the field and words that produced them, citations, signals.

Signals are integers by name, the only thing the rules see:
- a concept: its level, the weight of the strongest field it appeared in (title highest);
- a category: the sum over its concepts of level x concept weight, and <category>_top, the
  highest level of any of its concepts (3 = some concept of it is in the title);
- system signals: cites_<sg> / revises_<sg> / names_<sg> (cited Recommendations by owner),
  proposes_<sg> (Questions the submitter proposes), reference_<sg> (series of the provisional
  name), liaises_<sg> (liaisons naming a Study Group or Question).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from engine.citations import Citation, find_citations, provisional_sg
from engine.lexicon import MAX_EVIDENCE, Matcher, prepare_joined, replace_prepared
from engine.models import Proposal
from engine.vocabulary import BODY_FIELDS, EXCLUDABLE, FIELDS, TOP

if TYPE_CHECKING:
    from engine.ruleset import RuleSet

_SENTENCE = re.compile(r"(?<=[.;!?])\s+|\n+")
_MAYBE_REC = re.compile(r"[A-Z]\.\d")
_SG_IN_TEXT = re.compile(r"\b(?:SG|Study Group\s*)(\d{1,2})\b|\bQ\d{1,2}/(\d{1,2})\b", re.IGNORECASE)


class Ev(NamedTuple):
    """Words of the proposal behind a fact (a plain tuple on the hot path; Evidence in decisions)."""

    field: str
    words: str
    concept: str


@dataclass
class Facts:
    signals: dict[str, int]
    evidence: dict[str, list[Ev]] = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)
    # The lower-cased normalised text of the fields, in FIELDS order, joined by lexicon.SEPARATOR.
    prepared: str = ""
    # The evidence of the precedent signals, as the source gave it (engine/precedent.py: apply): a
    # source may work an entry out only when a reason first reads it.
    precedent_evidence: Mapping[str, list[Ev]] = field(default_factory=dict)
    _by_category: dict[str, list[str]] | None = field(default=None, repr=False)

    def words(self, name: str) -> list[Ev]:
        """The evidence behind a signal: the proposal's own words, or what a precedent source shows."""
        return self.evidence.get(name) or self.precedent_evidence.get(name) or []

    def concepts_of(self, category: str, rs: RuleSet) -> list[str]:
        """The concepts of a category that the proposal has, in lexicon order (worked out once)."""
        if self._by_category is None:
            by_category: dict[str, list[str]] = {}
            for concept in self.evidence:
                cat = rs.concept_category.get(concept)
                if cat is not None:
                    by_category.setdefault(cat, []).append(concept)
            order = rs.concept_order
            for names in by_category.values():
                names.sort(key=order.__getitem__)
            self._by_category = by_category
        return self._by_category.get(category, [])


def _drop_excluded(text: str, cues: Matcher) -> str:
    """Blank the sentences that say what the work does NOT cover (and a list they introduce)."""
    out: list[str] = []
    skipping_list = False
    for part in re.split(r"(\n\s*\n)", text):
        kept: list[str] = []
        for sentence in _SENTENCE.split(part):
            if skipping_list:
                continue
            if cues.spans(sentence):
                skipping_list = sentence.rstrip().endswith(":")
                continue
            kept.append(sentence)
        out.append(" ".join(kept))
        skipping_list = False
    return "\n".join(out)


def extract(proposal: Proposal, rs: RuleSet) -> Facts:
    """Everything the rules may look at, from one proposal."""
    weights: Mapping[str, int] = rs.catalogue.fields  # type: ignore[assignment]  # keys are field names
    texts = [proposal.title, " ; ".join(proposal.keywords), proposal.scope, proposal.summary, proposal.text]
    norm, low, ends = prepare_joined(texts)
    if rs.exclusion.found(low):
        # Some sentence says what is not covered: drop it from its field and prepare again.
        excluding = {bisect.bisect_left(ends, start) for _, _, start, _ in rs.exclusion.spans_prepared(norm, low)}
        for i in sorted(excluding):
            if FIELDS[i] in EXCLUDABLE:
                texts[i] = _drop_excluded(texts[i], rs.exclusion)
                norm, low, ends = replace_prepared(norm, ends, i, texts[i])
    levels: dict[str, int] = {}
    evidence: dict[str, list[Ev]] = {}
    body_counts: dict[str, int] = {}
    index = 0
    fname, end_of_field = FIELDS[0], ends[0]
    weight, body = weights.get(fname, 1), False
    for concept, words, start, _ in rs.matcher.spans_prepared(norm, low):
        if start > end_of_field:  # hits come in text order: move on to the field this one is in
            while start > ends[index]:
                index += 1
            fname, end_of_field = FIELDS[index], ends[index]
            weight, body = weights.get(fname, 1), fname in BODY_FIELDS
        if levels.get(concept, 0) < weight:
            levels[concept] = weight
        if body:
            body_counts[concept] = body_counts.get(concept, 0) + 1
        ev = evidence.get(concept)
        if ev is None:
            evidence[concept] = [Ev(fname, words, concept)]
        elif len(ev) < MAX_EVIDENCE:  # the first few distinct (field, words) of each concept
            one = Ev(fname, words, concept)
            if one not in ev:
                ev.append(one)

    repeat = rs.catalogue.repeat
    for concept, count in body_counts.items():
        # A body that keeps coming back to a concept makes it as strong as a keyword.
        if count >= repeat.count and levels[concept] < repeat.level:
            levels[concept] = repeat.level
    signals: dict[str, int] = dict(rs.zero_signals)
    for concept, level in levels.items():
        signals[concept] = level
        category = rs.concept_category[concept]
        signals[category] += level * rs.concept_weight[concept]
        if signals[category + TOP] < level:
            signals[category + TOP] = level

    citations: list[Citation] = []
    for fname, text in zip(FIELDS, texts):
        if _MAYBE_REC.search(text):  # most fields cite nothing: skip the full parse
            citations += find_citations(fname, text, rs.series, rs.known_owners)
    for rel in proposal.relations:
        citations += find_citations("relations", rel, rs.series, rs.known_owners, relation_field=True)
    counted: set[tuple[str, str]] = set()
    for c in citations:
        # A Recommendation counts once per signal however often it is cited (an A.1 paste lists
        # its relations twice: in the Relations section and again in the text).
        sg = (c.sg or "").lower()
        if ("cites", c.rec) not in counted:
            counted.add(("cites", c.rec))
            _bump(signals, f"cites_{sg}")
        if c.revised and ("revises", c.rec) not in counted:
            counted.add(("revises", c.rec))
            _bump(signals, f"revises_{sg}")
            _keep(evidence, f"revises_{sg}", Ev(field=c.field, words=c.rec, concept="revision"))
        if c.subject and ("names", c.rec) not in counted:
            counted.add(("names", c.rec))
            _bump(signals, f"names_{sg}")
            _keep(evidence, f"names_{sg}", Ev(field=c.field, words=c.rec, concept="named"))
        ev = evidence.setdefault(f"cites_{sg}", [])
        if len(ev) < MAX_EVIDENCE and not any(e.words == c.rec for e in ev):
            ev.append(Ev(field=c.field, words=c.rec, concept="citation"))

    for q in proposal.questions:
        sg = "sg" + q.split("/")[1]
        _bump(signals, f"proposes_{sg}")
        evidence.setdefault(f"proposes_{sg}", []).append(Ev(field="questions", words=q, concept="proposed"))
    ref_sg = provisional_sg(proposal.reference, rs.catalogue.provisional, rs.series, rs.known_owners)
    if ref_sg:
        signals[f"reference_{ref_sg.lower()}"] = 1
        evidence[f"reference_{ref_sg.lower()}"] = [Ev(field="reference", words=proposal.reference, concept="reference")]
    for liaison in proposal.liaisons:
        for m in _SG_IN_TEXT.finditer(liaison):
            sg = "sg" + str(int(m.group(1) or m.group(2)))
            _bump(signals, f"liaises_{sg}")
            evidence.setdefault(f"liaises_{sg}", []).append(Ev(field="liaisons", words=m.group(0), concept="liaison"))
    return Facts(signals, evidence, citations, low)


def _keep(evidence: dict[str, list[Ev]], name: str, one: Ev) -> None:
    """Evidence of a citation signal: the first MAX_EVIDENCE, so that a text citing the same
    Recommendation thousands of times keeps a few words, not thousands (cost O(1) per citation)."""
    ev = evidence.setdefault(name, [])
    if len(ev) < MAX_EVIDENCE:
        ev.append(one)


def _bump(signals: dict[str, int], name: str) -> None:
    signals[name] = signals.get(name, 0) + 1
