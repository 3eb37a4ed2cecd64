"""The landscape's renderings: JSON-ready data, Markdown, CSV and an interactive, self-contained HTML
page (templates `landscape.html` around `landscape_body.html`, with `landscape.css` and
`landscape.js` embedded), with charts drawn by matplotlib (Agg, imported on first use) and embedded
as PNG data URIs. The web app shows the same body and loads the same script and styles from its
own address (its pages allow no inline script). What changed between two meetings renders as
Markdown, JSON or CSV."""
from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import asdict
from importlib import resources
from typing import Any

from engine.csvcells import safe_row
from engine.labels import label_of
from engine.registry.items import ONGOING, STATUSES
from engine.registry.landscape import CROSS_SECTOR, NO_ASPECT, PAIR, Changes, Landscape

FORMATS = ("json", "md", "html", "csv")
CHANGE_FORMATS = ("json", "md", "csv")
ASSETS = ("landscape.js", "landscape.css")


def to_dict(land: Landscape) -> dict[str, Any]:
    """The landscape as plain JSON-ready data."""
    data = asdict(land)
    data["summary"] = summary(land)
    return data


def summary(land: Landscape) -> dict[str, Any]:
    """Counts: items by holding SG and by classification, by status and nature, agreements, overlaps, candidates, gaps."""
    by_class: dict[str, dict[str, int]] = {}
    by_status: dict[str, int] = {}
    by_nature: dict[str, dict[str, int]] = {}
    for r in land.items:
        by_class.setdefault(r.study_group, {}).setdefault(r.classification, 0)
        by_class[r.study_group][r.classification] += 1
        by_status[r.status] = by_status.get(r.status, 0) + 1
        if r.study_group in PAIR:
            by_nature.setdefault(r.study_group, {}).setdefault(r.nature, 0)
            by_nature[r.study_group][r.nature] += 1
    return {
        "items": len(land.items),
        "agree": sum(r.agrees for r in land.items),
        "by_study_group": by_class,
        "by_status": {s: by_status[s] for s in STATUSES if s in by_status},
        "by_nature": by_nature,
        "ongoing": sum(r.ongoing for r in land.items),
        "overlaps": len(land.overlaps),
        "candidates": len(land.candidates),
        "contested": len(land.contested),
        "intersections": len(land.intersections),
        "gaps": len(land.gaps),
        "cell_gaps": len(land.cell_gaps),
        "unknown_question": sorted(r.id for r in land.items if r.study_group in PAIR and not r.question),
    }


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_id(r: Any) -> str:
    return f"[{r.id}]({r.url})" if r.url else r.id


def _status(r: Any) -> str:
    if r.status_date:
        return f"{r.status.replace('_', ' ')} ({r.status_date})"
    return "under study" + (f" since {r.start_date}" if r.start_date else "") if r.status == "under_study" else r.status.replace("_", " ")


def _axis_label(land: Landscape, axis_id: str) -> str:
    if axis_id == NO_ASPECT:
        return "no named aspect"
    if axis_id == CROSS_SECTOR:
        return "cross-sector"
    return next((a.label for a in [*land.aspects, *land.sectors] if a.id == axis_id), axis_id)


def _chips(land: Landscape, ids: list[str], ongoing: list[str]) -> str:
    return ", ".join(f"**{i}**\\*" if i in ongoing else i for i in ids)


def ongoing_markdown(land: Landscape) -> list[str]:
    """The table of ongoing and recently approved (not yet in force) items."""
    rows = [r for r in land.items if r.ongoing or r.status == "approved"]
    rows.sort(key=lambda r: (r.study_group, r.question or "~", STATUSES.index(r.status), r.id))
    out = ["| id | title | SG | Question | status | started | target | nature | rules say (item left out) |",
           "|---|---|---|---|---|---|---|---|---|"]
    out += [f"| {_md_id(r)} | {_md_cell(r.title)} | {r.study_group} | {r.question or 'unknown'} | {_status(r)} | "
            f"{r.start_date or '-'} | {r.target or '-'} | {r.nature} | {label_of(r)} |" for r in rows]
    return out if rows else ["None."]


def to_markdown(land: Landscape) -> str:
    """The landscape as a Markdown report."""
    s = summary(land)
    flt = "; filtered by " + ", ".join(f"{k}={v}" for k, v in land.filters.items()) if land.filters else ""
    out = [
        "# Landscape of IoT-security work items (SG17, SG20 and neighbours)",
        "",
        f"Rules {land.ruleset['version']} (revision {land.ruleset['revision']}); registry {land.registry['file']} "
        f"({land.registry['items']} items, revision {land.registry['revision']}){flt}. {s['items']} items shown, "
        f"{s['ongoing']} ongoing; each is decided by the rules with the item itself left out of the registry, "
        f"and they agree with the holding SG on {s['agree']} of {s['items']}.",
        "",
        "Status: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s["by_status"].items()) + ".",
        "",
        "## Ongoing and recent work items",
        "",
        *ongoing_markdown(land),
        "",
        "## Q6/17 and Q6/20 side by side",
        "",
    ]
    sides = land.side_by_side
    if sides:
        out += ["| " + " | ".join(side.question for side in sides) + " |", "|" + "---|" * len(sides)]
        depth = max(len(side.items) for side in sides)
        for k in range(depth):
            cells = []
            for side in sides:
                if k < len(side.items):
                    r = land.row(side.items[k])
                    cells.append(f"{'**' + r.id + '**' if r.ongoing else r.id} {_md_cell(r.title)} ({_status(r)})")
                else:
                    cells.append("")
            out.append("| " + " | ".join(cells) + " |")
        out += ["", "Ongoing: " + "; ".join(f"{side.question} {len(side.ongoing)} ({', '.join(side.ongoing) or 'none'})" for side in sides) + "."]
    out += ["", "Ongoing SG17 and SG20 work in other or unknown Questions:", ""]
    out += [f"- {r.id} ({r.study_group} {r.question or 'Question unknown'}, {_status(r)}): {r.title}"
            for r in (land.row(i) for i in land.ongoing_elsewhere)] or ["- none"]
    out += ["", "Pairs that overlap across the two Questions:", ""]
    if land.cross_question_overlaps:
        out += ["| Q6/17 item | Q6/20 item | score |", "|---|---|---|"]
        out += [f"| {o.sg17} {_md_cell(o.sg17_title)} | {o.sg20} {_md_cell(o.sg20_title)} | {o.score} |" for o in land.cross_question_overlaps]
    else:
        out.append(f"None above the similarity threshold ({land.threshold}).")
    out += ["", "## Aspect x sector matrix", "",
            "Cells that hold SG17 or SG20 items (ongoing items in bold with *); every other aspect x sector cell is a gap.", "",
            "| aspect | sector | SG17 | SG20 |", "|---|---|---|---|"]
    for c in land.cells:
        out.append(f"| {_md_cell(_axis_label(land, c.aspect))} | {_md_cell(_axis_label(land, c.sector))} | "
                   f"{_chips(land, c.sg17, c.ongoing)} | {_chips(land, c.sg20, c.ongoing)} |")
    out += ["", "## Candidates for the demarcation discussion", "",
            "Contested: the rules, deciding each item with the item itself left out of the registry (and not counting a "
            "precedent written from that item alone), would not place it with its holder.", ""]
    out += [f"- {r.id} {r.title}: held by {r.study_group} {r.question or '(Question unknown)'}; {r.why}"
            for r in (land.row(i) for i in land.contested)] or ["- none"]
    out += ["", "At an intersection (a security aspect meets a sector, or the rules answer joint work) next to the other SG's work:", ""]
    out += [f"- {r.id} {r.title}: held by {r.study_group}; {r.why}" for r in (land.row(i) for i in land.intersections)] or ["- none"]
    if land.candidate_topics:
        out += ["", "By topic: " + "; ".join(f"{t} ({', '.join(ids)})" for t, ids in land.candidate_topics.items())]
    out += ["", "## Gaps", "", f"Aspect x sector cells with no item in either SG: {len(land.cell_gaps)} of "
            f"{len(land.aspects) * len(land.sectors)}. By sector, the aspects no item covers:", ""]
    by_sector: dict[str, list[str]] = {}
    for g in land.cell_gaps:
        by_sector.setdefault(g["sector_label"], []).append(g["aspect_label"])
    out += [f"- {_md_cell(sec)}: {len(asp)} ({', '.join(asp)})" for sec, asp in by_sector.items()] or ["- none"]
    out += ["", "Sector and hot-spot topics with no item at all:", ""]
    out += [f"- {g['label']} ({g['category']})" for g in land.gaps] or ["- none"]
    out += ["", "## Items: holder, nature and the rules' answer", "",
            "| id | title | held by | Question | status | nature | rules say | agrees |",
            "|---|---|---|---|---|---|---|---|"]
    for r in land.items:
        out.append(f"| {r.id} | {_md_cell(r.title)} | {r.study_group} | {r.question or '-'} | {r.status.replace('_', ' ')} | "
                   f"{r.nature} | {label_of(r)} | {'yes' if r.agrees else '**no**'} |")
    out += ["", "## Topic clusters", "", "| topic | category | " + " | ".join(land.study_groups) + " | items |",
            "|---|---|" + "---|" * len(land.study_groups) + "---|"]
    for cl in land.clusters:
        counts = " | ".join(str(cl.by_sg.get(sg, 0) or "") for sg in land.study_groups)
        out.append(f"| {_md_cell(cl.label)} | {cl.category} | {counts} | {', '.join(cl.items)} |")
    out += ["", f"## Overlapping SG17 and SG20 items (similarity >= {land.threshold})", ""]
    if land.overlaps:
        out += ["| SG17 item | SG20 item | score |", "|---|---|---|"]
        out += [f"| {o.sg17} {_md_cell(o.sg17_title)} | {o.sg20} {_md_cell(o.sg20_title)} | {o.score} |" for o in land.overlaps]
    else:
        out.append("None above the threshold.")
    return "\n".join(out) + "\n"


CSV_COLUMNS = ["id", "title", "study_group", "question", "status", "year", "topics", "home", "lead", "other_sg",
               "questions", "confidence", "classification", "deciding_rule", "agrees", "principle", "concepts",
               "candidate", "why", "overlaps_with", "nature", "aspects", "sectors", "ongoing", "start_date", "status_date",
               "target", "url", "liaisons", "contested", "intersection"]


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
        w.writerow(safe_row([r.id, r.title, r.study_group, r.question, r.status, "" if r.year is None else r.year, ";".join(r.topics),
                    r.home, r.lead or "", r.other_sg or "", ";".join(r.questions), r.confidence, r.classification,
                    r.deciding_rule, "yes" if r.agrees else "no", r.principle or "", ";".join(r.concepts),
                    "yes" if r.id in land.candidates else "no", r.why, ";".join(partners.get(r.id, [])),
                    r.nature, ";".join(r.aspects), ";".join(r.sectors), "yes" if r.ongoing else "no", r.start_date,
                    r.status_date, r.target, r.url, ";".join(r.liaisons), "yes" if r.id in land.contested else "no",
                    "yes" if r.id in land.intersections else "no"]))
    return buf.getvalue()


# ---------------------------------------------------------------------- charts (matplotlib, lazily)

def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Figure() without pyplot: no global state, safe in a server thread.
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def heatmap_png(land: Landscape) -> bytes:
    """The aspect x sector matrix as a PNG: items of SG17 and SG20 per cell; empty cells (gaps) light grey."""
    from matplotlib.colors import ListedColormap

    rows = [a.id for a in land.aspects] + [NO_ASPECT]
    cols = [s.id for s in land.sectors] + [CROSS_SECTOR]
    counts = {(c.aspect, c.sector): len(c.sg17) + len(c.sg20) for c in land.cells}
    values = [[counts.get((a, s), 0) for s in cols] for a in rows]
    top = max((v for row in values for v in row), default=0)
    fig = _figure(3.5 + 0.42 * len(cols), 2.0 + 0.3 * len(rows))
    ax = fig.add_subplot(1, 1, 1)
    # 0 = a gap, drawn light grey; counts on a blue scale that keeps dark text legible up to the middle.
    shades = ["#eceff3", "#dbe9f6", "#b8d5ee", "#8dbbe2", "#5b9bd1", "#2f78b9", "#175797", "#0b3a6b"]
    cmap = ListedColormap(shades[: max(2, min(len(shades), top + 1))])
    image = ax.imshow(values, cmap=cmap, aspect="auto", vmin=-0.5, vmax=max(1, min(len(shades) - 1, top)) + 0.5)
    ax.set_xticks(range(len(cols)), labels=[_short(_axis_label(land, s)) for s in cols], rotation=60, ha="left", fontsize=8)
    ax.set_yticks(range(len(rows)), labels=[_short(_axis_label(land, a)) for a in rows], fontsize=8)
    ax.xaxis.tick_top()
    for y, row in enumerate(values):
        for x, v in enumerate(row):
            if v:
                ax.text(x, y, str(v), ha="center", va="center", fontsize=7, color="white" if v >= 4 else "#111")
    ax.set_title("SG17 and SG20 items by security aspect and sector (grey: no item)", fontsize=10, pad=10)
    fig.colorbar(image, ax=ax, fraction=0.025, pad=0.02, label="items")
    return _png(fig)


def status_png(land: Landscape) -> bytes:
    """Items of SG17 and SG20 by Question and status, as stacked bars."""
    questions = sorted({r.question or f"{r.study_group} ?" for r in land.items if r.study_group in PAIR},
                       key=lambda q: (q.split("/")[-1] if "/" in q else q.split()[0][2:], q.split("/")[0].zfill(4)))
    statuses = [s for s in STATUSES if any(r.status == s for r in land.items if r.study_group in PAIR)]
    colours = {"under_study": "#c2410c", "determined": "#d97706", "consented": "#ca8a04", "approved": "#15803d",
               "withdrawn": "#6b7280", "in_force": "#1d4ed8", "superseded": "#9ca3af"}
    fig = _figure(max(6.0, 0.5 * len(questions) + 2.5), 3.6)
    ax = fig.add_subplot(1, 1, 1)
    bottom = [0] * len(questions)
    for s in statuses:
        heights = [sum(1 for r in land.items if r.study_group in PAIR and (r.question or f"{r.study_group} ?") == q and r.status == s)
                   for q in questions]
        ax.bar(range(len(questions)), heights, bottom=bottom, color=colours.get(s, "#444"), label=s.replace("_", " "))
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xticks(range(len(questions)), labels=[q.replace(" ?", " (Q unknown)") for q in questions], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("items")
    ax.set_title("SG17 and SG20 items by Question and status", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _short(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 3] + "..."


# ---------------------------------------------------------------------- HTML

def asset(name: str) -> str:
    """The text of one of the report's static files (ASSETS), shared by the standalone page and the web app."""
    if name not in ASSETS:
        raise ValueError(f"unknown landscape asset {name!r}")
    return resources.files("engine.registry").joinpath("templates", name).read_text(encoding="utf-8")


def script_hash() -> str:
    """The CSP source of the standalone report's inline script ('sha256-...'), for a server that sends it."""
    import hashlib

    return "'sha256-" + base64.b64encode(hashlib.sha256(asset("landscape.js").encode("utf-8")).digest()).decode("ascii") + "'"


def _env() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("engine.registry", "templates"), autoescape=select_autoescape(default=True))


def _context(land: Landscape) -> dict[str, Any]:
    cells = {(c.aspect, c.sector): c for c in land.cells}
    questions = sorted({r.question for r in land.items if r.study_group in PAIR and r.question},
                       key=lambda q: (q.split("/")[1], int(q[1:].split("/")[0])))
    return {
        "land": land, "s": summary(land), "home": label_of, "axis": lambda i: _axis_label(land, i),
        "rows": [*land.aspects], "cols": [*land.sectors], "cells": cells, "NO_ASPECT": NO_ASPECT, "CROSS_SECTOR": CROSS_SECTOR,
        "by_id": {r.id: r for r in land.items}, "questions": questions, "statuses": STATUSES, "ongoing_statuses": ONGOING,
        "heatmap": base64.b64encode(heatmap_png(land)).decode("ascii"),
        "status_chart": base64.b64encode(status_png(land)).decode("ascii"),
        "recent": sorted((r for r in land.items if r.ongoing or r.status == "approved"),
                         key=lambda r: (r.study_group, r.question or "~", STATUSES.index(r.status), r.id)),
        "contested": [land.row(i) for i in land.contested], "intersections": [land.row(i) for i in land.intersections],
        "elsewhere": [land.row(i) for i in land.ongoing_elsewhere],
    }


def report_body(land: Landscape) -> str:
    """The report's content (no <html>, styles or script): what the web app's /landscape page embeds."""
    return str(_env().get_template("landscape_body.html").render(**_context(land)))


def to_html(land: Landscape) -> str:
    """A self-contained HTML page (no external resources): charts as data URIs, styles and filter script embedded."""
    return str(_env().get_template("landscape.html").render(body=report_body(land), css=asset("landscape.css"),
                                                          js=asset("landscape.js"), land=land))


def render(land: Landscape, fmt: str) -> str:
    """The landscape in one of FORMATS (json is pretty-printed)."""
    if fmt == "json":
        return json.dumps(to_dict(land), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return to_markdown(land)
    if fmt == "csv":
        return to_csv(land)
    if fmt == "html":
        return to_html(land)
    raise ValueError(f"unknown landscape format {fmt!r}; one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------- what changed

CHANGE_HEADINGS = {"new": "New work items", "determined": "Determined (TAP)", "consented": "Consented (AAP)",
                   "approved": "Approved", "moved": "Moved (Question or Study Group changed)",
                   "withdrawn": "Withdrawn or gone", "status": "Other status changes"}


def changes_markdown(ch: Changes) -> str:
    """What changed between two meetings, as Markdown."""
    window = f"between {ch.since} and {ch.until or 'now'}" if ch.since else f"from {ch.old} to {ch.new}"
    out = [f"# What changed {window}", "", f"Compared: {ch.old} -> {ch.new}. {len(ch.changes)} changes, "
           f"{len(ch.cells)} matrix cells changed.", ""]
    for kind, heading in CHANGE_HEADINGS.items():
        found = ch.of_kind(kind)
        out += [f"## {heading} ({len(found)})", ""]
        if not found:
            out += ["None.", ""]
            continue
        out += ["| id | title | SG | Question | before | after | date | record |", "|---|---|---|---|---|---|---|---|"]
        out += [f"| {c.id} | {_md_cell(c.title)} | {c.study_group} | {c.question or 'unknown'} | {_md_cell(c.before.replace('_', ' ') or '-')} | "
                f"{_md_cell(c.after.replace('_', ' '))} | {c.date or '-'} | {c.source or '-'} |" for c in found]
        out.append("")
    out += [f"## Matrix cells whose items changed ({len(ch.cells)})", ""]
    if ch.cells:
        out += ["| aspect | sector | SG17 before | SG20 before | SG17 after | SG20 after | overlap |", "|---|---|---|---|---|---|---|"]
        for c in ch.cells:
            overlap = {(False, True): "now both SGs", (True, False): "no longer both", (True, True): "both, changed"}.get(
                (c.shared_before, c.shared_after), "one SG")
            out.append(f"| {c.aspect} | {c.sector} | {', '.join(c.before['SG17']) or '-'} | {', '.join(c.before['SG20']) or '-'} | "
                       f"{', '.join(c.after['SG17']) or '-'} | {', '.join(c.after['SG20']) or '-'} | {overlap} |")
    else:
        out.append("None.")
    return "\n".join(out) + "\n"


def render_changes(ch: Changes, fmt: str) -> str:
    """What changed, in one of CHANGE_FORMATS."""
    if fmt == "json":
        data = asdict(ch)
        data["counts"] = {k: len(ch.of_kind(k)) for k in CHANGE_HEADINGS}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return changes_markdown(ch)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["kind", "id", "title", "study_group", "question", "before", "after", "date", "source"])
        for c in ch.changes:
            w.writerow(safe_row([c.kind, c.id, c.title, c.study_group, c.question, c.before, c.after, c.date, c.source]))
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r} for changes; one of {', '.join(CHANGE_FORMATS)}")
