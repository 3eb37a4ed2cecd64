"""The landscape's renderings: JSON-ready data, Markdown, CSV and a self-contained HTML page
(template `templates/landscape.html`) with a topics x Study Group heat map drawn with matplotlib
(Agg) and embedded as a PNG data URI."""
from __future__ import annotations

import base64
import csv
import io
from dataclasses import asdict
from typing import Any

from engine.labels import label_of
from engine.registry.landscape import Landscape

FORMATS = ("json", "md", "html", "csv")


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
        out.append(f"| {r.id} | {_md_cell(r.title)} | {r.study_group} | {r.question or '-'} | {label_of(r)} | "
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


def to_html(land: Landscape) -> str:
    """A self-contained HTML page (no external resources) with the heat map embedded."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("engine.registry", "templates"), autoescape=select_autoescape(default=True))
    png = base64.b64encode(heatmap_png(land)).decode("ascii")
    return env.get_template("landscape.html").render(land=land, s=summary(land), png=png, home=label_of,
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
