"""The landscape of existing IoT-security work: every registry item classified by the rules.

For each item the engine decides a Proposal made of the item's title (title) and description
(summary), without the registry (so the rules alone answer), and the answer is set next to the
Study Group that holds the item:

- classification: horizontal (the rules say SG17), vertical (SG20), joint, other (another SG),
  undetermined;
- topic clusters: items grouped by the lexicon concepts found in their title and description;
- overlaps: pairs of an SG17 item and an SG20 item whose similarity (engine.registry's score,
  each item taken as the other's query with title weight 3 and description weight 1, the higher
  of the two) reaches OVERLAP_THRESHOLD (0.33: lower than the proposal threshold because two
  registry entries are both short and written in different house styles);
- candidates for the demarcation discussion: items held by SG17 or SG20 that the rules would
  give to the other of the two, or that the JCG principle alone (the rules of the `principle`
  stage: horizontal -> SG17, vertical -> SG20) would give to the other while a precedent or
  continuity rule keeps them where they are;
- gaps: sector and hot-spot concepts of the lexicon that no item carries, neither in its title
  and description nor as a topic (the concept id with '-' for '_').

Its renderings are in engine.registry.reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.models import Proposal
from engine.registry.index import Registry
from engine.triage import trace

if TYPE_CHECKING:
    from engine.ruleset import RuleSet

CLASS_OF_HOME = {"SG17": "horizontal", "SG20": "vertical", "joint": "joint", "other": "other", "undetermined": "undetermined"}
CLUSTER_CATEGORIES = ("hotspot", "sector", "horizontal", "iot_service", "other_sg")
GAP_CATEGORIES = ("sector", "hotspot")
SG_ORDER = ("SG17", "SG20", "SG13", "SG11", "SG2", "SG21", "SG5")
MAX_OVERLAPS = 200
OVERLAP_THRESHOLD = 0.33


@dataclass
class ItemRow:
    id: str
    title: str
    study_group: str
    question: str
    status: str
    year: int | None
    topics: list[str]
    home: str
    lead: str | None
    other_sg: str | None
    questions: list[str]
    confidence: float
    classification: str
    deciding_rule: str
    agrees: bool
    concepts: list[str]
    principle: str | None = None
    why: str = ""


@dataclass
class Cluster:
    concept: str
    label: str
    category: str
    items: list[str]
    by_sg: dict[str, int]


@dataclass
class Overlap:
    sg17: str
    sg20: str
    score: float
    sg17_title: str
    sg20_title: str


@dataclass
class Landscape:
    """Everything the landscape report shows, independent of the rendering."""

    ruleset: dict[str, str]
    registry: dict[str, Any]
    threshold: float
    items: list[ItemRow]
    clusters: list[Cluster]
    overlaps: list[Overlap]
    candidates: list[str]
    candidate_topics: dict[str, list[str]]
    gaps: list[dict[str, str]]
    study_groups: list[str]
    matrix: dict[str, dict[str, int]] = field(default_factory=dict)

    def row(self, item_id: str) -> ItemRow:
        """The row of one registry item."""
        return next(r for r in self.items if r.id == item_id)


def _sg_sort_key(sg: str) -> tuple[int, str]:
    return (SG_ORDER.index(sg) if sg in SG_ORDER else len(SG_ORDER), sg)


def build_landscape(registry: Registry, rs: "RuleSet") -> Landscape:
    """Classify every registry item with the rules alone and map topics, overlaps, candidates and gaps."""
    cidx = registry.concept_index(rs)
    rows: list[ItemRow] = []
    for i, it in enumerate(registry.items):
        t = trace(Proposal(title=it.title, summary=it.description), rs, registry=None, decision_id=f"landscape-{it.id}")
        d = t.decision
        chosen = d.deciding_rules[0] if d.deciding_rules else ""
        held = it.study_group
        agrees = d.home == held or (d.home == "joint" and held in ("SG17", "SG20")) or (d.home == "other" and d.other_sg == held)
        weights: dict[str, int] = {}
        for c in t.candidates:
            if c.stage == "principle" and c.home in ("SG17", "SG20"):
                weights[c.home] = weights.get(c.home, 0) + c.weight
        principle = max(weights, key=lambda k: (weights[k], k)) if weights and len(set(weights.values())) == len(weights) else None
        why = ""
        if held in ("SG17", "SG20"):
            if d.home in ("SG17", "SG20") and d.home != held:
                why = f"the rules give it to {d.home} ({chosen or 'no deciding rule'})"
            elif principle and principle != held:
                why = f"the principle alone gives it to {principle}; {chosen or 'another stage'} keeps it in {d.home}"
        concepts = sorted(c for c in cidx.found[i] if rs.concept_category.get(c) in CLUSTER_CATEGORIES)
        rows.append(ItemRow(it.id, it.title, held, it.question, it.status, it.year, list(it.topics), d.home, d.lead,
                            d.other_sg, d.questions, d.confidence, CLASS_OF_HOME[d.home], chosen, agrees, concepts,
                            principle, why))

    sgs = sorted({r.study_group for r in rows}, key=_sg_sort_key)
    clusters: list[Cluster] = []
    for concept in rs.concepts:
        category = rs.concept_category[concept]
        if category not in CLUSTER_CATEGORIES:
            continue
        members = [r for r in rows if concept in r.concepts]
        if not members:
            continue
        by_sg: dict[str, int] = {}
        for r in members:
            by_sg[r.study_group] = by_sg.get(r.study_group, 0) + 1
        clusters.append(Cluster(concept, rs.concepts[concept].label, category, [r.id for r in members], by_sg))
    clusters.sort(key=lambda c: (CLUSTER_CATEGORIES.index(c.category), -len(c.items), c.concept))
    matrix = {c.concept: {sg: c.by_sg.get(sg, 0) for sg in sgs} for c in clusters}

    overlaps = _overlaps(registry, rs)
    candidates = [r.id for r in rows if r.why]
    candidate_topics: dict[str, list[str]] = {}
    for r in rows:
        if r.id in candidates:
            for topic in r.concepts:
                if rs.concept_category[topic] in ("sector", "hotspot", "horizontal", "iot_service"):
                    candidate_topics.setdefault(topic, []).append(r.id)
    held_topics = {topic for r in rows for topic in r.concepts} | {t.replace("-", "_") for r in rows for t in r.topics}
    gaps = [{"concept": c, "label": rs.concepts[c].label, "category": rs.concept_category[c]}
            for c in rs.concepts if rs.concept_category[c] in GAP_CATEGORIES and c not in held_topics]
    return Landscape(
        ruleset={"version": rs.version, "revision": rs.revision},
        registry={"file": registry.file.rsplit("/", 1)[-1], "revision": registry.revision, "items": len(registry)},
        threshold=OVERLAP_THRESHOLD, items=rows, clusters=clusters, overlaps=overlaps, candidates=candidates,
        candidate_topics=dict(sorted(candidate_topics.items(), key=lambda kv: (-len(kv[1]), kv[0]))),
        gaps=gaps, study_groups=sgs, matrix=matrix,
    )


def _overlaps(registry: Registry, rs: "RuleSet") -> list[Overlap]:
    cidx = registry.concept_index(rs)
    fields = {"title": 3, "summary": 1}
    sims = [registry.similar({"title": it.title, "summary": it.description}, cidx.found[i], rs, fields)
            for i, it in enumerate(registry.items)]
    side17 = [i for i, it in enumerate(registry.items) if it.study_group == "SG17"]
    side20 = [i for i, it in enumerate(registry.items) if it.study_group == "SG20"]
    out: list[Overlap] = []
    for a in side17:
        for b in side20:
            score = max(float(sims[a][b]), float(sims[b][a]))
            if score >= OVERLAP_THRESHOLD:
                ia, ib = registry.items[a], registry.items[b]
                out.append(Overlap(ia.id, ib.id, round(score, 3), ia.title, ib.title))
    out.sort(key=lambda o: (-o.score, o.sg17, o.sg20))
    return out[:MAX_OVERLAPS]
