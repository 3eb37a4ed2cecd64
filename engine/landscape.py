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

Renderings: JSON (a dict), Markdown, CSV (one row per item) and a self-contained HTML page with
a topics x Study Group heat map drawn with matplotlib (Agg) and embedded as a PNG data URI.
"""
from __future__ import annotations

import base64
import csv
import io
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from engine.models import Proposal
from engine.registry import Registry
from engine.triage import trace

if TYPE_CHECKING:
    from engine.ruleset import RuleSet

FORMATS = ("json", "md", "html", "csv")
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
        chosen = next((r.rule for r in d.reasons if "chosen" in r.effect), "")
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


# ---------------------------------------------------------------------- renderings
def to_dict(land: Landscape) -> dict[str, Any]:
    """The landscape as plain JSON-ready data."""
    data = asdict(land)
    data["summary"] = summary(land)
    return data


def summary(land: Landscape) -> dict[str, Any]:
    """Counts: items by holding SG and by classification, agreements, overlaps, candidates, gaps."""
    by_class: dict[str, dict[str, int]] = {}
    for r in land.items:
        by_class.setdefault(r.study_group, {}).setdefault(r.classification, 0)
        by_class[r.study_group][r.classification] += 1
    return {
        "items": len(land.items),
        "agree": sum(r.agrees for r in land.items),
        "by_study_group": by_class,
        "overlaps": len(land.overlaps),
        "candidates": len(land.candidates),
        "gaps": len(land.gaps),
    }


def _home_label(r: ItemRow) -> str:
    return {"joint": f"joint ({r.lead} leads)", "other": f"other ({r.other_sg})"}.get(r.home, r.home)


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(land: Landscape) -> str:
    """The landscape as a Markdown report."""
    s = summary(land)
    out = [
        "# Landscape of IoT-security work items (SG17, SG20 and neighbours)",
        "",
        f"Rules {land.ruleset['version']} (revision {land.ruleset['revision']}); registry {land.registry['file']} "
        f"({s['items']} items, revision {land.registry['revision']}). The rules agree with the holding SG on "
        f"{s['agree']} of {s['items']} items.",
        "",
        "## Items: holding SG and the rules' answer",
        "",
        "| id | title | held by | Question | rules say | class | agrees |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in land.items:
        out.append(f"| {r.id} | {_md_cell(r.title)} | {r.study_group} | {r.question or '-'} | {_home_label(r)} | "
                   f"{r.classification} | {'yes' if r.agrees else '**no**'} |")
    out += ["", "## Topic clusters", "", "| topic | category | " + " | ".join(land.study_groups) + " | items |",
            "|---|---|" + "---|" * len(land.study_groups) + "---|"]
    for c in land.clusters:
        counts = " | ".join(str(c.by_sg.get(sg, 0) or "") for sg in land.study_groups)
        out.append(f"| {_md_cell(c.label)} | {c.category} | {counts} | {', '.join(c.items)} |")
    out += ["", f"## Overlapping SG17 and SG20 items (similarity >= {land.threshold})", ""]
    if land.overlaps:
        out += ["| SG17 item | SG20 item | score |", "|---|---|---|"]
        out += [f"| {o.sg17} {_md_cell(o.sg17_title)} | {o.sg20} {_md_cell(o.sg20_title)} | {o.score} |" for o in land.overlaps]
    else:
        out.append("None above the threshold.")
    out += ["", "## Candidates for the demarcation discussion", "",
            "Items one SG holds that the rules, or the JCG principle alone, would give to the other.", ""]
    for r in (land.row(i) for i in land.candidates):
        out.append(f"- {r.id} {r.title}: held by {r.study_group}; {r.why}")
    if land.candidate_topics:
        out += ["", "By topic: " + "; ".join(f"{t} ({', '.join(ids)})" for t, ids in land.candidate_topics.items())]
    out += ["", "## Gaps: sector and hot-spot topics with no item", ""]
    out += [f"- {g['label']} ({g['category']})" for g in land.gaps] or ["None."]
    return "\n".join(out) + "\n"


CSV_COLUMNS = ["id", "title", "study_group", "question", "status", "year", "topics", "home", "lead", "other_sg",
               "questions", "confidence", "classification", "deciding_rule", "agrees", "principle", "concepts",
               "candidate", "why", "overlaps_with"]


def to_csv(land: Landscape) -> str:
    """One row per registry item."""
    partners: dict[str, list[str]] = {}
    for o in land.overlaps:
        partners.setdefault(o.sg17, []).append(o.sg20)
        partners.setdefault(o.sg20, []).append(o.sg17)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in land.items:
        w.writerow([r.id, r.title, r.study_group, r.question, r.status, "" if r.year is None else r.year, ";".join(r.topics),
                    r.home, r.lead or "", r.other_sg or "", ";".join(r.questions), r.confidence, r.classification,
                    r.deciding_rule, "yes" if r.agrees else "no", r.principle or "", ";".join(r.concepts),
                    "yes" if r.id in land.candidates else "no", r.why, ";".join(partners.get(r.id, []))])
    return buf.getvalue()


def heatmap_png(land: Landscape) -> bytes:
    """The topics x Study Group matrix as a PNG (matplotlib, Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    topics = [c for c in land.clusters if c.category != "other_sg"] or land.clusters
    labels = [c.label if len(c.label) <= 48 else c.label[:45] + "..." for c in topics]
    sgs = land.study_groups
    values = [[c.by_sg.get(sg, 0) for sg in sgs] for c in topics]
    # Figure() without pyplot: no global state, safe in a server thread.
    fig = Figure(figsize=(2.2 + 0.9 * len(sgs), 1.2 + 0.32 * max(len(topics), 1)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values or [[0] * len(sgs)], cmap="YlOrRd", aspect="auto", vmin=0)
    ax.set_xticks(range(len(sgs)), labels=sgs)
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    ax.xaxis.tick_top()
    top = max((v for row in values for v in row), default=0)
    for y, row in enumerate(values):
        for x, v in enumerate(row):
            if v:
                ax.text(x, y, str(v), ha="center", va="center", fontsize=8, color="white" if v > top / 2 else "black")
    ax.set_title("Registry items by topic (lexicon concept) and holding Study Group", fontsize=10, pad=24)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="items")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Landscape of IoT-security work items</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 75rem; color: #1d1d1f; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { border: 1px solid #ddd; padding: .25rem .4rem; text-align: left; vertical-align: top; }
th { background: #f4f4f6; }
tr.disagree td { background: #fff4e5; }
.figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.muted { color: #666; font-size: .85rem; }
.stats span { display: inline-block; margin-right: 1.5rem; }
</style></head>
<body>
<h1>Landscape of IoT-security work items in SG17, SG20 and neighbouring Study Groups</h1>
<p class="muted">Rules {{ land.ruleset.version }} (revision {{ land.ruleset.revision }}) &middot; registry {{ land.registry.file }}
(revision {{ land.registry.revision }}). Each item is classified by the rules alone from its title and description.</p>
<p class="stats"><span><b>{{ s['items'] }}</b> items</span><span><b>{{ s.agree }}</b> where the rules agree with the holding SG</span>
<span><b>{{ s.overlaps }}</b> SG17/SG20 overlaps</span><span><b>{{ s.candidates }}</b> demarcation candidates</span><span><b>{{ s.gaps }}</b> gaps</span></p>

<h2>Topics x Study Groups</h2>
<div class="figure"><img id="heatmap" alt="Heat map of registry items by topic and holding Study Group" src="data:image/png;base64,{{ png }}"></div>

<h2>Candidates for the demarcation discussion</h2>
<p class="muted">Items one SG holds that the rules, or the JCG principle alone, would give to the other.</p>
{% if land.candidates %}<table><tr><th>id</th><th>title</th><th>held by</th><th>rules say</th><th>why</th></tr>
{% for r in candidates %}<tr><td>{{ r.id }}</td><td>{{ r.title }}</td><td>{{ r.study_group }}</td><td>{{ home(r) }}</td><td>{{ r.why }}</td></tr>
{% endfor %}</table>{% else %}<p>None.</p>{% endif %}

<h2>Overlapping SG17 and SG20 items (similarity &ge; {{ land.threshold }})</h2>
{% if land.overlaps %}<table><tr><th>SG17 item</th><th>SG20 item</th><th>score</th></tr>
{% for o in land.overlaps %}<tr><td>{{ o.sg17 }} {{ o.sg17_title }}</td><td>{{ o.sg20 }} {{ o.sg20_title }}</td><td>{{ o.score }}</td></tr>
{% endfor %}</table>{% else %}<p>None above the threshold.</p>{% endif %}

<h2>Gaps: sector and hot-spot topics with no item</h2>
{% if land.gaps %}<ul>{% for g in land.gaps %}<li>{{ g.label }} <span class="muted">({{ g.category }})</span></li>{% endfor %}</ul>{% else %}<p>None.</p>{% endif %}

<h2>Topic clusters</h2>
<table><tr><th>topic</th><th>category</th>{% for sg in land.study_groups %}<th>{{ sg }}</th>{% endfor %}<th>items</th></tr>
{% for c in land.clusters %}<tr><td>{{ c.label }}</td><td>{{ c.category }}</td>{% for sg in land.study_groups %}<td>{{ c.by_sg.get(sg, '') }}</td>{% endfor %}<td>{{ c.items | join(', ') }}</td></tr>
{% endfor %}</table>

<h2>All items</h2>
<table><tr><th>id</th><th>title</th><th>held by</th><th>Question</th><th>status</th><th>rules say</th><th>class</th><th>confidence</th></tr>
{% for r in land.items %}<tr{% if not r.agrees %} class="disagree"{% endif %}><td>{{ r.id }}</td><td>{{ r.title }}</td><td>{{ r.study_group }}</td><td>{{ r.question }}</td><td>{{ r.status }}</td><td>{{ home(r) }}</td><td>{{ r.classification }}</td><td>{{ r.confidence }}</td></tr>
{% endfor %}</table>
</body></html>
"""


def to_html(land: Landscape) -> str:
    """A self-contained HTML page (no external resources) with the heat map embedded."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    png = base64.b64encode(heatmap_png(land)).decode("ascii")
    return env.from_string(_HTML).render(land=land, s=summary(land), png=png, home=_home_label,
                                         candidates=[land.row(i) for i in land.candidates])


def render(land: Landscape, fmt: str) -> str:
    """The landscape in one of FORMATS (json is pretty-printed)."""
    import json

    if fmt == "json":
        return json.dumps(to_dict(land), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return to_markdown(land)
    if fmt == "csv":
        return to_csv(land)
    if fmt == "html":
        return to_html(land)
    raise ValueError(f"unknown landscape format {fmt!r}; one of {', '.join(FORMATS)}")
