"""The landscape of IoT-security work for a JCG meeting: one model, every rendering in engine.registry.reports.

Each registry item gets three things that are kept apart:

- its holder: the Study Group and Question of the public record ('' = no record names the Question);
- its nature, from the lexicon concepts in its title, description and topics: `horizontal` (a
  security aspect, no sector), `vertical` (a sector, no security aspect), `both`, or `neither`;
- the rules' answer, decided from the item's title (title) and description (summary) with the item
  itself left out: the registry the rules may consult lacks it, and a precedent rule whose `source`
  names no registry item but this one does not count for it (that rule was written from the item, so
  it cannot confirm where the item sits). `classification` is the class of that answer (horizontal =
  the rules say SG17, vertical = SG20, joint, other, undetermined), as before.

Views, all over SG17 and SG20 items unless said otherwise:

- the aspect x sector matrix: rows are security aspects (the lexicon's `horizontal` concepts, with
  privacy and the hot spots that are properties of security: zero trust, identity, data security,
  trust, ledgers), columns are sectors (the `sector` concepts, with the settings digital twin and
  metaverse) and `cross-sector` (an item naming no sector); an item sits in every cell of its
  aspects x its sectors, and in the `no named aspect` row when it names none;
- gaps: aspect x sector cells with no item of either SG (the cross-sector column and the
  no-aspect row are not gaps);
- Q6/17 and Q6/20 side by side: the items of each Question (ongoing first), the ongoing SG17/SG20
  items of other or unknown Questions, and the pairs that overlap across the two sides;
- overlaps: SG17 x SG20 item pairs whose similarity (engine.registry's score, each item the other's
  query with title weight 3 and description weight 1, the higher of the two) reaches
  OVERLAP_THRESHOLD (0.33: two registry entries are short and in different house styles);
- contested: items whose holder the rules, with the item left out, would not choose: the other of
  SG17/SG20, or another SG;
- intersections: items at the meeting point of a security aspect and a sector (nature `both`) or
  that the rules answer with joint work, that overlap an item of the other SG or are answered
  joint; those whose record names no liaison with the other SG (no joint arrangement) are
  demarcation candidates too (`candidates` = contested + unarranged intersections);
- what changed between two dates or two registry files (changes()): new, determined, consented,
  approved, moved (Question or SG changed) and withdrawn items, and the matrix cells whose items
  changed. An item's state on a date comes from its history (start date, dated steps); a partial
  date counts as the first day of its month or year; an item with no dates is taken as older than
  any date asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.models import Flag, Proposal, RelatedWork
from engine.precedence import decide
from engine.registry.index import Registry
from engine.registry.items import ONGOING, WorkItem, date_key
from engine.triage import trace

if TYPE_CHECKING:
    from engine.facts import Facts
    from engine.ruleset import RuleSet

CLASS_OF_HOME = {
    "SG17": "horizontal",
    "SG20": "vertical",
    "joint": "joint",
    "other": "other",
    "undetermined": "undetermined",
}
CLUSTER_CATEGORIES = ("hotspot", "sector", "horizontal", "iot_service", "other_sg")
GAP_CATEGORIES = ("sector", "hotspot")
SG_ORDER = ("SG17", "SG20", "SG13", "SG11", "SG2", "SG21", "SG5")
PAIR = ("SG17", "SG20")
MAX_OVERLAPS = 200
OVERLAP_THRESHOLD = 0.33
# The axes of the matrix, from the lexicon's categories: what protection is applied (aspects) and where (sectors).
ASPECT_CATEGORIES = ("horizontal",)
EXTRA_ASPECTS = ("privacy",)  # a security-category concept that is an aspect of its own
SETTING_HOTSPOTS = ("digital_twin", "metaverse")  # hot spots that are settings (columns), not aspects
NO_ASPECT = "-"
CROSS_SECTOR = "cross_sector"
QUESTIONS_SIDE_BY_SIDE = ("Q6/17", "Q6/20")
_REC = re.compile(r"\b([A-Z]{1,4})\.(\d{3,4})(?:\.(\d+|x))?(?:\s*-\s*(?:[A-Z]{1,4}\.)?(\d{3,4}))?")


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
    nature: str = "neither"
    aspects: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    ongoing: bool = False
    start_date: str = ""
    status_date: str = ""
    target: str = ""
    url: str = ""
    liaisons: list[str] = field(default_factory=list)
    self_sourced: list[str] = field(default_factory=list)
    coordinate_with: list[str] = field(default_factory=list)


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
class Axis:
    id: str
    label: str
    category: str


@dataclass
class Cell:
    aspect: str
    sector: str
    sg17: list[str]
    sg20: list[str]
    ongoing: list[str]


@dataclass
class Side:
    question: str
    items: list[str]
    ongoing: list[str]


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
    aspects: list[Axis] = field(default_factory=list)
    sectors: list[Axis] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    cell_gaps: list[dict[str, str]] = field(default_factory=list)
    contested: list[str] = field(default_factory=list)
    intersections: list[str] = field(default_factory=list)
    side_by_side: list[Side] = field(default_factory=list)
    ongoing_elsewhere: list[str] = field(default_factory=list)
    cross_question_overlaps: list[Overlap] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)

    def row(self, item_id: str) -> ItemRow:
        """The row of one registry item."""
        return next(r for r in self.items if r.id == item_id)

    def cell(self, aspect: str, sector: str) -> Cell | None:
        """The matrix cell of an aspect and a sector, None when it holds no item."""
        return next((c for c in self.cells if c.aspect == aspect and c.sector == sector), None)


def _sg_sort_key(sg: str) -> tuple[int, str]:
    return (SG_ORDER.index(sg) if sg in SG_ORDER else len(SG_ORDER), sg)


def first_url(source: str) -> str:
    """The first web address in a source text (the item's public record)."""
    m = re.search(r"https?://[^\s;,)]+", source)
    return m.group(0) if m else ""


# ---------------------------------------------------------------------- axes and concepts


def axes(rs: RuleSet) -> tuple[list[Axis], list[Axis]]:
    """The matrix's rows (security aspects) and columns (sectors and settings), in lexicon order."""
    aspects = [
        Axis(c, rs.concepts[c].label, rs.concept_category[c])
        for c in rs.concepts
        if (
            rs.concept_category[c] in ASPECT_CATEGORIES
            or c in EXTRA_ASPECTS
            or (rs.concept_category[c] == "hotspot" and c not in SETTING_HOTSPOTS)
        )
    ]
    sectors = [
        Axis(c, rs.concepts[c].label, rs.concept_category[c])
        for c in rs.concepts
        if rs.concept_category[c] == "sector" or c in SETTING_HOTSPOTS
    ]
    return aspects, sectors


def item_concepts(it: WorkItem, rs: RuleSet) -> set[str]:
    """The lexicon concepts of an item: those in its title and description, and its topics that name a concept."""
    found = {
        h.concept
        for name, text in (("title", it.title), ("description", it.description))
        for h in rs.matcher.scan(name, text)
    }
    return found | {t.replace("-", "_") for t in it.topics if t.replace("-", "_") in rs.concepts}


def nature_of(aspects: Sequence[str], sectors: Sequence[str]) -> str:
    """horizontal (aspects, no sector), vertical (a sector, no aspect), both, or neither."""
    return {(True, False): "horizontal", (False, True): "vertical", (True, True): "both"}.get(
        (bool(aspects), bool(sectors)), "neither"
    )


def _place(concepts: set[str], aspect_ids: Sequence[str], sector_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    return [a for a in aspect_ids if a in concepts], [s for s in sector_ids if s in concepts]


def matrix_cells(
    items: Iterable[WorkItem],
    rs: RuleSet,
    aspect_ids: Sequence[str],
    sector_ids: Sequence[str],
    concepts: dict[str, set[str]] | None = None,
) -> list[Cell]:
    """The cells of the aspect x sector matrix that hold SG17 or SG20 items, row by row."""
    cells: dict[tuple[str, str], Cell] = {}
    for it in items:
        if it.study_group not in PAIR:
            continue
        found = concepts[it.id] if concepts is not None and it.id in concepts else item_concepts(it, rs)
        aspects, sectors = _place(found, aspect_ids, sector_ids)
        for a in aspects or [NO_ASPECT]:
            for s in sectors or [CROSS_SECTOR]:
                c = cells.setdefault((a, s), Cell(a, s, [], [], []))
                (c.sg17 if it.study_group == "SG17" else c.sg20).append(it.id)
                if it.status in ONGOING:
                    c.ongoing.append(it.id)
    rows = {a: i for i, a in enumerate([*aspect_ids, NO_ASPECT])}
    cols = {s: i for i, s in enumerate([*sector_ids, CROSS_SECTOR])}
    return sorted(cells.values(), key=lambda c: (rows[c.aspect], cols[c.sector]))


# ---------------------------------------------------------------------- the rules' answer, item left out


class _LeftOut:
    """The registry as a RelatedWorkFinder without one item (the item being decided)."""

    def __init__(self, registry: Registry, item_id: str) -> None:
        self.registry, self.item_id = registry, item_id

    def related(
        self, proposal: Proposal, facts: Facts, home: str, lead: str | None, rs: RuleSet
    ) -> tuple[list[RelatedWork], list[Flag]]:
        from engine.registry.related import flags_for

        found = [r for r in self.registry.scores(proposal, facts, rs) if r.id != self.item_id]
        return found, flags_for(found, home, rs.catalogue.flags)


def _source_ids(source: str, known: dict[str, WorkItem]) -> set[str]:
    """The registry items a rule's `source` names: ids ('Y.4814'), ranges ('X.1330-X.1339') and series ('Y.4500.x')."""
    out: set[str] = set()
    for m in _REC.finditer(source):
        series, number, sub, upto = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        if upto:
            lo, hi = number, int(upto)
            out |= {i for i in known if (p := _rec_number(i)) and p[0] == series and lo <= p[1] <= hi}
        elif sub == "x":
            out |= {i for i in known if i.startswith(f"{series}.{number}.")}
        else:
            rec = f"{series}.{number}" + (f".{sub}" if sub else "")
            if rec in known:
                out.add(rec)
    return out


def _rec_number(item_id: str) -> tuple[str, int] | None:
    m = re.match(r"^([A-Z]{1,4})\.(\d{3,4})", item_id)
    return (m.group(1), int(m.group(2))) if m else None


def _self_sourced_rules(rs: RuleSet, known: dict[str, WorkItem]) -> dict[str, set[str]]:
    """Precedent and continuity rules -> the registry items their source names (only rules naming some)."""
    out: dict[str, set[str]] = {}
    for rid, rule in rs.rules.items():
        if rule.definition.stage in ("precedent",) and rule.definition.then.recommend is not None:
            ids = _source_ids(rule.definition.source, known)
            if ids:
                out[rid] = ids
    return out


def _principle_home(candidates: Sequence[Any]) -> str | None:
    weights: dict[str, int] = {}
    for c in candidates:
        if c.stage == "principle" and c.home in PAIR:
            weights[c.home] = weights.get(c.home, 0) + c.weight
    if weights and len(set(weights.values())) == len(weights):
        return max(weights, key=lambda k: (weights[k], k))
    return None


# ---------------------------------------------------------------------- the landscape


def build_landscape(registry: Registry, rs: RuleSet) -> Landscape:
    """Classify every registry item (left out of the registry), and build the matrix, the side-by-side
    Questions, the contested items, the intersections, the overlaps and the gaps."""
    cidx = registry.concept_index(rs)
    aspect_axes, sector_axes = axes(rs)
    aspect_ids, sector_ids = [a.id for a in aspect_axes], [s.id for s in sector_axes]
    sourced = _self_sourced_rules(rs, registry.by_id)
    overlaps = _overlaps(registry, rs)
    partners: dict[str, set[str]] = {}
    for o in overlaps:
        partners.setdefault(o.sg17, set()).add(o.sg20)
        partners.setdefault(o.sg20, set()).add(o.sg17)
    rows: list[ItemRow] = []
    concepts_of: dict[str, set[str]] = {}
    for i, it in enumerate(registry.items):
        t = trace(
            Proposal(title=it.title, summary=it.description),
            rs,
            registry=_LeftOut(registry, it.id),
            decision_id=f"landscape-{it.id}",
        )
        d, outcome = t.decision, t.outcome
        # A precedent written from this item alone (its source names no other registry item) cannot confirm it.
        own = [
            c.rule
            for c in t.candidates
            if c.rule in sourced and it.id in sourced[c.rule] and not (sourced[c.rule] - {it.id})
        ]
        home: str = d.home
        lead: str | None = d.lead
        other_sg, confidence = d.other_sg, d.confidence
        chosen = d.deciding_rules[0] if d.deciding_rules else ""
        if own:
            outcome = decide([c for c in t.candidates if c.rule not in own], t.facts.signals, rs.catalogue)
            home, lead, other_sg, confidence = outcome.home, outcome.lead, outcome.other_sg, outcome.confidence
            chosen = outcome.winners[0] if outcome.winners else ""
        held = it.study_group
        agrees = home == held or (home == "joint" and held in PAIR) or (home == "other" and other_sg == held)
        principle = _principle_home(t.candidates)
        found = item_concepts(it, rs) | set(cidx.found[i])
        concepts_of[it.id] = found
        aspects, sectors = _place(found, aspect_ids, sector_ids)
        coordinate = sorted(r.id for r in d.related_work if r.study_group in PAIR and r.study_group != held)
        why = ""
        if held in PAIR:
            if home in PAIR and home != held:
                why = f"with the item left out, the rules give it to {home} ({chosen or 'no deciding rule'})"
            elif home == "other":
                why = f"with the item left out, the rules give it to {other_sg} ({chosen or 'no deciding rule'})"
            if own and why:
                why += f"; {', '.join(own)} was written from this item alone and does not count for it"
        rows.append(
            ItemRow(
                it.id,
                it.title,
                held,
                it.question,
                it.status,
                it.year,
                list(it.topics),
                home,
                lead,
                other_sg,
                list(d.questions),
                confidence,
                CLASS_OF_HOME[home],
                chosen,
                agrees,
                sorted(c for c in found if rs.concept_category.get(c) in CLUSTER_CATEGORIES),
                principle,
                why,
                nature_of(aspects, sectors),
                aspects,
                sectors,
                it.ongoing,
                it.start_date,
                it.status_date,
                it.target,
                first_url(it.source),
                list(it.liaisons),
                own,
                coordinate,
            )
        )

    contested = [r.id for r in rows if r.why]
    intersections = [
        r.id for r in rows if r.study_group in PAIR and r.id not in contested and _at_intersection(r, partners)
    ]
    for r in rows:
        if r.id in intersections:
            other = PAIR[1 - PAIR.index(r.study_group)]
            near = sorted(partners.get(r.id, set()) | set(r.coordinate_with))
            r.why = (
                f"{r.nature} in nature ({', '.join(r.aspects) or 'no aspect'} x "
                f"{', '.join(r.sectors) or 'no sector'}); "
                f"rules say {_label(r)}"
                + (f"; overlaps {other}'s {', '.join(near[:4])}" if near else "")
                + (f"; liaises with {other}" if other in r.liaisons else f"; no liaison with {other} on record")
            )

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

    candidate_topics: dict[str, list[str]] = {}
    for r in rows:
        if r.id in contested or r.id in intersections:
            for topic in r.concepts:
                if rs.concept_category[topic] in ("sector", "hotspot", "horizontal", "iot_service"):
                    candidate_topics.setdefault(topic, []).append(r.id)
    held_topics = {topic for r in rows for topic in r.concepts}
    gaps = [
        {"concept": c, "label": rs.concepts[c].label, "category": rs.concept_category[c]}
        for c in rs.concepts
        if rs.concept_category[c] in GAP_CATEGORIES and c not in held_topics
    ]

    cells = matrix_cells(registry.items, rs, aspect_ids, sector_ids, concepts_of)
    filled = {(c.aspect, c.sector) for c in cells}
    cell_gaps = [
        {"aspect": a.id, "aspect_label": a.label, "sector": s.id, "sector_label": s.label}
        for s in sector_axes
        for a in aspect_axes
        if (a.id, s.id) not in filled
    ]

    sides, elsewhere, cross = _side_by_side(rows, overlaps)
    return Landscape(
        ruleset={"version": rs.version, "revision": rs.revision},
        registry={"file": registry.file.rsplit("/", 1)[-1], "revision": registry.revision, "items": len(registry)},
        threshold=OVERLAP_THRESHOLD,
        items=rows,
        clusters=clusters,
        overlaps=overlaps,
        candidates=contested + [i for i in intersections if not _arranged(i, rows)],
        candidate_topics=dict(sorted(candidate_topics.items(), key=lambda kv: (-len(kv[1]), kv[0]))),
        gaps=gaps,
        study_groups=sgs,
        matrix=matrix,
        aspects=aspect_axes,
        sectors=sector_axes,
        cells=cells,
        cell_gaps=cell_gaps,
        contested=contested,
        intersections=intersections,
        side_by_side=sides,
        ongoing_elsewhere=elsewhere,
        cross_question_overlaps=cross,
    )


def _label(r: ItemRow) -> str:
    from engine.labels import label_of

    return label_of(r)


def _arranged(item_id: str, rows: list[ItemRow]) -> bool:
    """Whether the item's record names a liaison with the other of SG17 and SG20 (a joint arrangement)."""
    r = next(x for x in rows if x.id == item_id)
    return PAIR[1 - PAIR.index(r.study_group)] in r.liaisons


def _at_intersection(r: ItemRow, partners: dict[str, set[str]]) -> bool:
    """Where a security aspect meets a sector (or the rules answer joint work), near the other SG's work."""
    meets = r.home == "joint" or r.nature == "both"
    near = bool(partners.get(r.id)) or bool(r.coordinate_with) or r.home == "joint"
    return meets and near


def _status_rank(r: ItemRow) -> tuple[int, str, str]:
    order = ("consented", "determined", "under_study", "approved", "in_force", "superseded", "withdrawn")
    return (order.index(r.status) if r.status in order else len(order), _neg(r.status_date or r.start_date), r.id)


def _neg(date: str) -> str:
    """Newest first in an ascending sort."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in date_key(date)) if date else "\U0010ffff"


def _side_by_side(rows: list[ItemRow], overlaps: list[Overlap]) -> tuple[list[Side], list[str], list[Overlap]]:
    sides = []
    for q in QUESTIONS_SIDE_BY_SIDE:
        members = sorted((r for r in rows if r.question == q), key=_status_rank)
        sides.append(Side(q, [r.id for r in members], [r.id for r in members if r.ongoing]))
    elsewhere = [
        r.id
        for r in sorted(rows, key=_status_rank)
        if r.ongoing and r.study_group in PAIR and r.question not in QUESTIONS_SIDE_BY_SIDE
    ]
    left, right = set(sides[0].items), set(sides[1].items)
    cross = [o for o in overlaps if (o.sg17 in left and o.sg20 in right)]
    return sides, elsewhere, cross


def _overlaps(registry: Registry, rs: RuleSet) -> list[Overlap]:
    cidx = registry.concept_index(rs)
    fields = {"title": 3, "summary": 1}
    side17 = [i for i, it in enumerate(registry.items) if it.study_group == "SG17"]
    side20 = [i for i, it in enumerate(registry.items) if it.study_group == "SG20"]
    sims = {
        i: registry.similar(
            {"title": registry.items[i].title, "summary": registry.items[i].description}, cidx.found[i], rs, fields
        )
        for i in side17 + side20
    }
    out: list[Overlap] = []
    for a in side17:
        for b in side20:
            score = max(float(sims[a][b]), float(sims[b][a]))
            if score >= OVERLAP_THRESHOLD:
                ia, ib = registry.items[a], registry.items[b]
                out.append(Overlap(ia.id, ib.id, round(score, 3), ia.title, ib.title))
    out.sort(key=lambda o: (-o.score, o.sg17, o.sg20))
    return out[:MAX_OVERLAPS]


# ---------------------------------------------------------------------- filters

FILTERS = ("sg", "question", "status", "aspect", "sector")


def filter_landscape(
    land: Landscape,
    *,
    sg: str | None = None,
    question: str | None = None,
    status: str | None = None,
    aspect: str | None = None,
    sector: str | None = None,
) -> Landscape:
    """The landscape restricted to the items that match every filter given (status 'ongoing' = any ongoing status;
    question 'unknown' = no Question on record); the matrix keeps only their cells."""
    wanted = {
        k: v
        for k, v in (("sg", sg), ("question", question), ("status", status), ("aspect", aspect), ("sector", sector))
        if v
    }
    if not wanted:
        return land

    def keep(r: ItemRow) -> bool:
        return (
            (not sg or r.study_group == sg)
            and (not question or r.question == ("" if question == "unknown" else question))
            and (not status or (r.ongoing if status == "ongoing" else r.status == status))
            and (not aspect or aspect in r.aspects or (aspect == NO_ASPECT and not r.aspects))
            and (not sector or sector in r.sectors or (sector == CROSS_SECTOR and not r.sectors))
        )

    ids = {r.id for r in land.items if keep(r)}
    cells = []
    for c in land.cells:
        if (aspect and c.aspect != aspect) or (sector and c.sector != sector):
            continue
        c2 = Cell(
            c.aspect,
            c.sector,
            [i for i in c.sg17 if i in ids],
            [i for i in c.sg20 if i in ids],
            [i for i in c.ongoing if i in ids],
        )
        if c2.sg17 or c2.sg20:
            cells.append(c2)
    sides = [
        Side(s.question, [i for i in s.items if i in ids], [i for i in s.ongoing if i in ids])
        for s in land.side_by_side
    ]
    return Landscape(
        ruleset=land.ruleset,
        registry=land.registry,
        threshold=land.threshold,
        items=[r for r in land.items if r.id in ids],
        clusters=[
            Cluster(c.concept, c.label, c.category, [i for i in c.items if i in ids], c.by_sg)
            for c in land.clusters
            if any(i in ids for i in c.items)
        ],
        overlaps=[o for o in land.overlaps if o.sg17 in ids or o.sg20 in ids],
        candidates=[i for i in land.candidates if i in ids],
        candidate_topics={
            t: [i for i in v if i in ids] for t, v in land.candidate_topics.items() if any(i in ids for i in v)
        },
        gaps=land.gaps,
        study_groups=land.study_groups,
        matrix=land.matrix,
        aspects=land.aspects,
        sectors=land.sectors,
        cells=cells,
        cell_gaps=land.cell_gaps,
        contested=[i for i in land.contested if i in ids],
        intersections=[i for i in land.intersections if i in ids],
        side_by_side=sides,
        ongoing_elsewhere=[i for i in land.ongoing_elsewhere if i in ids],
        cross_question_overlaps=[o for o in land.cross_question_overlaps if o.sg17 in ids or o.sg20 in ids],
        filters=wanted,
    )


# ---------------------------------------------------------------------- what changed


@dataclass
class Change:
    id: str
    kind: str  # new | determined | consented | approved | moved | withdrawn | status
    title: str
    study_group: str
    question: str
    before: str  # the status, Question or SG before ('' for a new item)
    after: str
    date: str  # when the record dates the step ('' when not dated)
    source: str


@dataclass
class CellChange:
    aspect: str
    sector: str
    before: dict[str, list[str]]
    after: dict[str, list[str]]
    shared_before: bool
    shared_after: bool


@dataclass
class Changes:
    """What changed between two states of the registry: two dates of one file, or two files."""

    since: str
    until: str
    old: str
    new: str
    changes: list[Change]
    cells: list[CellChange]

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


CHANGE_KINDS = ("new", "determined", "consented", "approved", "moved", "withdrawn", "status")


def _first_date(it: WorkItem) -> str:
    """When the item entered the work programme: its start date, else the date of a first history step
    that registers it (under study); '' (older than any date) when the record does not say."""
    if it.start_date:
        return date_key(it.start_date)
    first = it.history[0] if it.history else None
    return date_key(first.date) if first is not None and first.status == "under_study" and first.date else ""


def as_of(items: Iterable[WorkItem], date: str) -> list[WorkItem]:
    """The registry as it stood at the end of `date`: items not yet registered are left out; each other
    item has the status, Question and SG of its last dated step by then (its present ones when none)."""
    day = date_key(date)
    out: list[WorkItem] = []
    for it in items:
        first = _first_date(it)
        if first and first > day:
            continue
        steps = [ev for ev in it.history if ev.date and date_key(ev.date) <= day]
        later = [ev for ev in it.history if ev.date and date_key(ev.date) > day]
        if not later:
            out.append(it)
            continue
        status = steps[-1].status if steps else "under_study"
        # The Question and SG of the last step by then that names them; else of the first later one (held
        # until then as far as the record says); else the present ones.
        question = next((ev.question for ev in reversed(steps) if ev.question), "") or next(
            (ev.question for ev in later if ev.question), it.question
        )
        sg = next((ev.study_group for ev in reversed(steps) if ev.study_group), "") or next(
            (ev.study_group for ev in later if ev.study_group), it.study_group
        )
        status_date = steps[-1].date if steps else it.start_date
        out.append(
            it.model_copy(
                update={"status": status, "question": question, "study_group": sg, "status_date": status_date}
            )
        )
    return out


def _kind(before: str, after: str) -> str:
    if after in ("determined", "consented", "withdrawn"):
        return after
    if after in ("approved", "in_force") and before not in ("approved", "in_force"):
        return "approved"
    return "status"


def _step(it: WorkItem, status: str, since: str, until: str) -> tuple[str, str]:
    """The date and source of the step that brought `it` to `status` inside (since, until], else the item's."""
    for ev in reversed(it.history):
        if (
            ev.status == status
            and ev.date
            and (not since or date_key(ev.date) >= date_key(since))
            and (not until or date_key(ev.date) <= date_key(until))
        ):
            return ev.date, ev.source
    return it.status_date, first_url(it.source)


def diff_items(
    old: Sequence[WorkItem],
    new: Sequence[WorkItem],
    rs: RuleSet,
    *,
    since: str = "",
    until: str = "",
    old_name: str = "",
    new_name: str = "",
) -> Changes:
    """Items new, determined, consented, approved, moved or withdrawn between two registries, and the
    cells that changed."""
    before = {it.id: it for it in old}
    changes: list[Change] = []
    for it in new:
        was = before.get(it.id)
        if was is None:
            date = _first_date(it)
            changes.append(
                Change(
                    it.id,
                    "new",
                    it.title,
                    it.study_group,
                    it.question,
                    "",
                    it.status,
                    next((d for d in [it.start_date, *(e.date for e in it.history)] if d and date_key(d) == date), ""),
                    first_url(it.source),
                )
            )
            # A new item can also have been consented or approved in the window (two dates of one registry).
            if (
                since
                and it.status in ("determined", "consented", "approved", "withdrawn")
                or any(
                    e.status in ("consented", "approved")
                    and e.date
                    and (not since or date_key(e.date) >= date_key(since))
                    for e in it.history
                )
            ):
                for status in ("determined", "consented", "approved", "withdrawn"):
                    if any(
                        e.status == status
                        and e.date
                        and (not since or date_key(e.date) >= date_key(since))
                        and (not until or date_key(e.date) <= date_key(until))
                        for e in it.history
                    ):
                        d, s = _step(it, status, since, until)
                        changes.append(Change(it.id, status, it.title, it.study_group, it.question, "", status, d, s))
            continue
        if was.status != it.status:
            kind = _kind(was.status, it.status)
            d, s = _step(
                it,
                it.status
                if kind != "approved"
                else ("approved" if any(e.status == "approved" for e in it.history) else it.status),
                since,
                until,
            )
            changes.append(Change(it.id, kind, it.title, it.study_group, it.question, was.status, it.status, d, s))
        if (was.question and it.question and was.question != it.question) or was.study_group != it.study_group:
            moved_at = next(
                (
                    e
                    for e in it.history
                    if e.date
                    and (
                        e.question and e.question != was.question or e.study_group and e.study_group != was.study_group
                    )
                    and (not since or date_key(e.date) >= date_key(since))
                ),
                None,
            )
            changes.append(
                Change(
                    it.id,
                    "moved",
                    it.title,
                    it.study_group,
                    it.question,
                    f"{was.study_group} {was.question or '(Question unknown)'}",
                    f"{it.study_group} {it.question or '(Question unknown)'}",
                    moved_at.date if moved_at else "",
                    moved_at.source if moved_at else first_url(it.source),
                )
            )
    now = {it.id for it in new}
    for it in old:
        if it.id not in now:
            changes.append(
                Change(
                    it.id,
                    "withdrawn",
                    it.title,
                    it.study_group,
                    it.question,
                    it.status,
                    "(not in the newer registry)",
                    "",
                    first_url(it.source),
                )
            )
    changes.sort(key=lambda c: (CHANGE_KINDS.index(c.kind), date_key(c.date), c.id))

    aspect_axes, sector_axes = axes(rs)
    a_ids, s_ids = [a.id for a in aspect_axes], [s.id for s in sector_axes]
    concepts = {it.id: item_concepts(it, rs) for it in [*old, *new]}
    cells_before = {(c.aspect, c.sector): c for c in matrix_cells(old, rs, a_ids, s_ids, concepts)}
    cells_after = {(c.aspect, c.sector): c for c in matrix_cells(new, rs, a_ids, s_ids, concepts)}
    cell_changes: list[CellChange] = []
    order = {k: i for i, k in enumerate((a, s) for a in [*a_ids, NO_ASPECT] for s in [*s_ids, CROSS_SECTOR])}
    for key in sorted(set(cells_before) | set(cells_after), key=lambda k: order.get(k, len(order))):
        b, a = cells_before.get(key), cells_after.get(key)
        sides_b = {"SG17": sorted(b.sg17) if b else [], "SG20": sorted(b.sg20) if b else []}
        sides_a = {"SG17": sorted(a.sg17) if a else [], "SG20": sorted(a.sg20) if a else []}
        if sides_b != sides_a:
            cell_changes.append(
                CellChange(
                    key[0],
                    key[1],
                    sides_b,
                    sides_a,
                    bool(sides_b["SG17"] and sides_b["SG20"]),
                    bool(sides_a["SG17"] and sides_a["SG20"]),
                )
            )
    return Changes(since, until, old_name, new_name, changes, cell_changes)


def changes_since(items: Sequence[WorkItem], rs: RuleSet, since: str, until: str = "", name: str = "") -> Changes:
    """What changed in one registry between `since` and `until` (default: the registry as it is), from its dates."""
    old = as_of(items, _day_before(since))
    new = as_of(items, until) if until else list(items)
    return diff_items(
        old,
        new,
        rs,
        since=since,
        until=until,
        old_name=f"{name} as of {since}",
        new_name=f"{name} as of {until or 'now'}",
    )


def _day_before(date: str) -> str:
    """The last day before `date` (a step dated `date` is a change since `date`)."""
    import datetime as dt

    day = dt.date.fromisoformat(date_key(date)) - dt.timedelta(days=1)
    return day.isoformat()
