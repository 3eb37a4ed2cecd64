"""The landscape: nature apart from holder and answer, left-out decisions, matrix, side by side,
contested items, intersections, gaps, filters, what changed, every format, and the HTML in chromium."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from engine import RuleSet
from engine.registry import Registry, load_default_registry, load_registry
from engine.registry.landscape import (CROSS_SECTOR, Change, Changes, Landscape, as_of, build_landscape, changes_since, diff_items,
                                       filter_landscape)
from engine.registry.reports import (FORMATS, asset, heatmap_png, render, render_changes, report_body, script_hash,
                                     status_png)

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    # The landscape maps the hand-kept IoT-security work, not every imported Recommendation.
    return load_default_registry().curated()


@pytest.fixture(scope="module")
def land(registry: Registry, ruleset: RuleSet) -> Landscape:
    return build_landscape(registry.curated(), ruleset)


@pytest.fixture(scope="module")
def html(land: Landscape) -> str:
    return render(land, "html")


def test_every_item_is_classified_next_to_its_holder(land: Landscape, registry: Registry) -> None:
    assert [r.id for r in land.items] == [it.id for it in registry.curated().items]
    assert {r.classification for r in land.items} <= {"horizontal", "vertical", "joint", "other", "undetermined"}
    x1352 = land.row("X.1352")
    assert (x1352.study_group, x1352.home, x1352.classification, x1352.agrees, x1352.nature) == ("SG17", "SG17", "horizontal", True, "horizontal")
    q5050 = land.row("Q.5050")
    assert (q5050.home, q5050.other_sg, q5050.classification) == ("other", "SG11", "other")


def test_nature_comes_from_the_item_not_from_the_answer(land: Landscape) -> None:
    # The rules keep the home-network and vehicle series in SG17, yet the items are sector work.
    for rec, sector in (("X.1111", "home_network"), ("X.1371", "its_vehicle")):
        r = land.row(rec)
        assert r.home == "SG17" and r.classification == "horizontal"
        assert r.nature == "vertical" and sector in r.sectors and not r.aspects
    both = land.row("X.1332")
    assert both.nature == "both" and "smart_grid" in both.sectors and both.aspects
    assert land.row("Y.4000").nature == "neither"


def test_a_precedent_written_from_the_item_alone_does_not_count_for_it(land: Landscape) -> None:
    # Y.4814 is the only registry item the platform-access-control precedent names: left out, the rules
    # fall back to the stages below it, which see a horizontal zero-trust mechanism meeting an SG20 platform.
    y4814 = land.row("Y.4814")
    assert y4814.self_sourced and all(r.startswith("precedent.") for r in y4814.self_sourced)
    assert y4814.home != "SG20" or y4814.deciding_rule not in y4814.self_sourced
    # The smart-grid precedent names a range that holds two items: leaving one out, the other backs it.
    for rec in ("X.1331", "X.1332"):
        assert land.row(rec).self_sourced == [] and land.row(rec).home == "SG17"


def test_contested_items_are_not_circular(land: Landscape) -> None:
    assert "Y.4812" in land.contested and "SG17" in land.row("Y.4812").why
    assert "Y.IoT-FETA" in land.contested
    for rec in land.contested:
        r = land.row(rec)
        assert not r.agrees and r.study_group in ("SG17", "SG20")
    # The precedents against the principle that the rules uphold are no longer candidates.
    assert not {"X.1331", "X.1372", "X.1311", "X.1352", "Y.4482"} & set(land.candidates)


def test_intersections_and_joint_arrangements(land: Landscape) -> None:
    assert "X.1332" in land.intersections and "X.1332" in land.candidates
    assert "no liaison with SG20" in land.row("X.1332").why
    # Y.4814 sits at the meeting point too, but its record names SG17 for liaison: not a candidate.
    assert "Y.4814" in land.intersections and "Y.4814" not in land.candidates
    assert "liaises with SG17" in land.row("Y.4814").why
    assert set(land.candidates) == set(land.contested) | {i for i in land.intersections if i != "Y.4814"}


def test_aspect_by_sector_matrix_and_gaps(land: Landscape) -> None:
    aspects = {a.id for a in land.aspects}
    sectors = {s.id for s in land.sectors}
    assert {"authentication", "cryptography", "pki", "secure_update", "privacy", "zero_trust", "trust", "data_security"} <= aspects
    assert {"smart_grid", "its_vehicle", "home_network", "digital_twin", "metaverse"} <= sectors
    assert not aspects & sectors
    cell = land.cell("secure_update", "its_vehicle")
    assert cell is not None and "X.1373" in cell.sg17 and "X.ececu-sec" in cell.sg17 and cell.ongoing == ["X.ececu-sec"]
    dlt = land.cell("dlt", CROSS_SECTOR)
    assert dlt is not None and dlt.sg17 and dlt.sg20
    # Only SG17 and SG20 items appear in the matrix.
    everyone = {i for c in land.cells for i in c.sg17 + c.sg20}
    assert "Q.5050" not in everyone and "Y.3800" not in everyone
    filled = {(c.aspect, c.sector) for c in land.cells}
    gaps = {(g["aspect"], g["sector"]) for g in land.cell_gaps}
    assert not gaps & filled and ("pki", "agriculture") in gaps
    assert len(gaps) == len(land.aspects) * len(land.sectors) - len({k for k in filled if k[0] in aspects and k[1] in sectors})


def test_q6_17_and_q6_20_side_by_side(land: Landscape) -> None:
    q617, q620 = land.side_by_side
    assert (q617.question, q620.question) == ("Q6/17", "Q6/20")
    assert q617.ongoing == ["X.iot-dt"] and q617.items[0] == "X.iot-dt"
    assert {"Y.4814", "Y.4806"} <= set(q620.items)
    assert {"X.sgAIoT", "Y.IoT-FETA", "X.ececu-sec"} <= set(land.ongoing_elsewhere)
    assert all(o.sg17 in q617.items and o.sg20 in q620.items for o in land.cross_question_overlaps)


def test_clusters_overlaps_and_topic_gaps(land: Landscape) -> None:
    dlt = next(c for c in land.clusters if c.concept == "dlt")
    assert dlt.by_sg.get("SG17", 0) >= 5 and dlt.by_sg.get("SG20", 0) >= 1
    assert land.matrix["dlt"]["SG17"] == dlt.by_sg["SG17"]
    assert ("X.1332", "Y.4235") in {(o.sg17, o.sg20) for o in land.overlaps}
    assert all(o.score >= land.threshold for o in land.overlaps)
    assert "smart_grid" not in {g["concept"] for g in land.gaps}


def test_filters(land: Landscape) -> None:
    view = filter_landscape(land, sg="SG20", status="ongoing")
    assert {r.id for r in view.items} == {"Y.IoT-FETA", "Y.4477rev"} and view.filters == {"sg": "SG20", "status": "ongoing"}
    assert all(not c.sg17 for c in view.cells)
    unknown = filter_landscape(land, question="unknown", sg="SG17")
    assert "X.ececu-sec" in {r.id for r in unknown.items} and all(not r.question for r in unknown.items)
    grid = filter_landscape(land, sector="smart_grid")
    assert {c.sector for c in grid.cells} == {"smart_grid"} and "X.1331" in {r.id for r in grid.items}
    assert filter_landscape(land) is land


def test_the_registry_as_it_stood_on_a_date(registry: Registry) -> None:
    then = {it.id: it for it in as_of(registry.items, "2016-06-30")}
    assert then["X.1372"].question == "Q6/17" and "X.iot-dt" not in then
    later = {it.id: it for it in as_of(registry.items, "2018-01-01")}
    assert later["X.1372"].question == "Q13/17"
    mid = {it.id: it for it in as_of(registry.items, "2025-10-01")}
    assert mid["X.2014"].status == "under_study" and mid["Y.4814"].status == "in_force"  # no later step: as it is now
    assert {it.id: it for it in as_of(registry.items, "2025-08-31")}["Y.4814"].status == "under_study"
    assert "Y.IoT-FETA" not in mid and "X.iot-dt" in mid


def test_what_changed_between_two_meetings(registry: Registry, ruleset: RuleSet) -> None:
    autumn = changes_since(registry.items, ruleset, "2025-09-01", "2025-12-31", "work_items.yaml")
    kinds = {(c.kind, c.id) for c in autumn.changes}
    assert {("new", "Y.IoT-FETA"), ("consented", "X.2014"), ("consented", "Y.4477rev"), ("approved", "Y.4814"),
            ("approved", "XSTR.dpama")} <= kinds
    assert not {c.id for c in autumn.changes} & {"X.sgAIoT", "X.1355"}  # before or after the window
    trust = next(c for c in autumn.cells if (c.aspect, c.sector) == ("trust", CROSS_SECTOR))
    assert trust.before == {"SG17": ["X.vctp"], "SG20": ["Y.4814"]}
    assert trust.after == {"SG17": ["X.vctp"], "SG20": ["Y.4814", "Y.IoT-FETA"]} and trust.shared_after
    spring = changes_since(registry.items, ruleset, "2026-01-01", "", "work_items.yaml")
    assert {(c.kind, c.id) for c in spring.changes} >= {("new", "X.sgAIoT"), ("approved", "X.2014")}
    assert "Y.IoT-FETA" not in {c.id for c in spring.changes}
    moved = changes_since(registry.items, ruleset, "2017-01-01", "2017-12-31").of_kind("moved")
    assert [(c.id, c.before, c.after, c.date) for c in moved] == [("X.1372", "SG17 Q6/17", "SG17 Q13/17", "2017-03")]
    md = render_changes(autumn, "md")
    assert md.startswith("# What changed between 2025-09-01 and 2025-12-31") and "## Consented (AAP) (2)" in md
    data = json.loads(render_changes(autumn, "json"))
    assert data["counts"]["approved"] == 2 and data["since"] == "2025-09-01"
    rows = list(csv.DictReader(io.StringIO(render_changes(autumn, "csv"))))
    assert {"kind", "id", "before", "after", "date", "source"} <= set(rows[0])


def test_what_changed_between_two_registry_files(registry: Registry, ruleset: RuleSet, tmp_path: Path) -> None:
    text = Path(registry.file).read_text(encoding="utf-8")
    start = text.index("- id: Y.IoT-FETA\n")
    old_text = text[:start] + text[text.index("\n- id: ", start + 1) + 1:]           # not yet registered
    old_text = old_text.replace("  question: Q13/17\n  status: in_force\n  year: 2020\n", "  question: Q6/17\n  status: in_force\n  year: 2020\n", 1)
    old_text = old_text.replace("- id: X.2014\n  title: Guidelines of using digital twin of network for network security\n  study_group: SG17\n"
                                "  question: Q4/17\n  status: approved", "- id: X.2014\n  title: Guidelines of using digital twin of network "
                                "for network security\n  study_group: SG17\n  question: Q4/17\n  status: consented", 1)
    old_text += "- id: X.gone\n  title: A draft that was dropped\n  study_group: SG17\n  status: under_study\n  description: A draft withdrawn later.\n"
    old_file = tmp_path / "old.yaml"
    old_file.write_text(old_text, encoding="utf-8")
    for beside in Path(registry.file).parent.glob("*.jsonl"):  # the imported Recommendations it names
        (tmp_path / beside.name).write_bytes(beside.read_bytes())
    old = load_registry(old_file).curated()
    ch = diff_items(old.items, registry.items, ruleset, old_name="old.yaml", new_name="work_items.yaml")
    kinds = {(c.kind, c.id) for c in ch.changes}
    assert {("new", "Y.IoT-FETA"), ("approved", "X.2014"), ("moved", "X.1372"), ("withdrawn", "X.gone")} <= kinds
    assert len(ch.changes) == 4 and ch.cells


def test_json_markdown_and_csv(land: Landscape) -> None:
    data = json.loads(render(land, "json"))
    assert len(data["items"]) == len(land.items) and data["summary"]["items"] == len(land.items)
    assert {"clusters", "overlaps", "candidates", "gaps", "matrix", "ruleset", "registry", "cells", "cell_gaps", "contested",
            "intersections", "side_by_side", "aspects", "sectors"} <= set(data)
    assert {"nature", "aspects", "sectors", "ongoing", "url", "self_sourced"} <= set(data["items"][0])
    assert "X.1355" not in data["summary"]["unknown_question"] and "X.1371" in data["summary"]["unknown_question"]
    md = render(land, "md")
    assert md.startswith("# Landscape")
    for heading in ("## Ongoing and recent work items", "## Q6/17 and Q6/20 side by side", "## Aspect x sector matrix",
                    "## Candidates for the demarcation discussion", "## Gaps", "## Topic clusters", "## Overlapping SG17 and SG20 items"):
        assert heading in md
    assert "| [X.iot-dt](https://www.itu.int/ITU-T/workprog/wp_search.aspx?isn_task=22295) |" in md
    rows = list(csv.DictReader(io.StringIO(render(land, "csv"))))
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == len(land.items)
    assert by_id["X.1332"]["candidate"] == "yes" and by_id["X.1331"]["candidate"] == "no"
    assert by_id["X.1111"]["nature"] == "vertical" and by_id["X.iot-dt"]["ongoing"] == "yes"
    assert "Y.4235" in by_id["X.1332"]["overlaps_with"]


def test_landscape_csv_cells_a_spreadsheet_would_run_come_out_as_text(land: Landscape) -> None:
    first = replace(land.items[0], title='=HYPERLINK("http://example.invalid","open me")', why="-1+2")
    rows = list(csv.DictReader(io.StringIO(render(replace(land, items=[first]), "csv"))))
    assert rows[0]["title"] == "'=HYPERLINK(\"http://example.invalid\",\"open me\")" and rows[0]["why"] == "'-1+2"
    assert rows[0]["id"] == first.id  # ordinary cells are left alone


def test_changes_csv_cells_a_spreadsheet_would_run_come_out_as_text() -> None:
    ch = Changes(since="2025-01-01", until="", old="a.yaml", new="b.yaml", cells=[],
                 changes=[Change(id="X.new", kind="new", title="@SUM(A1:A9)", study_group="SG17", question="Q6/17",
                                 before="", after="+under study", date="2025-03", source="b.yaml")])
    [row] = list(csv.DictReader(io.StringIO(render_changes(ch, "csv"))))
    assert row["title"] == "'@SUM(A1:A9)" and row["after"] == "'+under study" and row["id"] == "X.new"


def test_unknown_format_is_refused(land: Landscape) -> None:
    with pytest.raises(ValueError, match="unknown landscape format"):
        render(land, "pdf")
    assert set(FORMATS) == {"json", "md", "html", "csv"}


def test_charts_are_pngs(land: Landscape) -> None:
    for png in (heatmap_png(land), status_png(land)):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_html_is_self_contained(html: str, land: Landscape) -> None:
    assert f"<b>{len(land.items)}</b> items" in html
    assert re.search(r'<img id="heatmap"[^>]+src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', html)
    assert re.search(r'<img id="status-chart"[^>]+src="data:image/png;base64,', html)
    # Readable offline: nothing is loaded from anywhere (links to the public records are plain anchors).
    assert not re.search(r'<(script|img|link)[^>]+(src|href)\s*=\s*"(https?:)?//', html)
    assert '<a class="chip sg17 ongoing" href="https://www.itu.int/ITU-T/workprog/wp_search.aspx?isn_task=22295"' in html
    # The one inline script is the filter script, and the policy hash names exactly it.
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert scripts == [asset("landscape.js")]
    assert script_hash() == "'sha256-" + base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode() + "'"
    assert "<script" not in report_body(land)
    assert "built-in method" not in html and "Candidates for the demarcation discussion" in html


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_html_report_renders_and_filters_in_headless_chromium(html: str, land: Landscape, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "landscape.html"
    page_file.write_text(html, encoding="utf-8")
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    total = len({i for i in (r.id for r in land.items)})
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_file.as_uri(), wait_until="load", timeout=30_000)
            natural = page.evaluate("() => ['heatmap', 'status-chart'].map(id => { const i = document.getElementById(id); "
                                    "return [i.complete, i.naturalWidth, i.naturalHeight]; })")
            assert page.is_visible("#landscape-filters")  # the script ran and showed the filters
            assert page.text_content("#landscape-count") == f"{total} of {total} items shown"
            gap_bg = page.evaluate("() => getComputedStyle(document.querySelector('td.empty')).backgroundColor")
            gap_fg = page.evaluate("() => getComputedStyle(document.querySelector('td.empty .gap')).color")
            page.screenshot(path=str(artifacts / "landscape.png"), full_page=False)
            page.select_option("select[name=status]", "ongoing")
            ongoing = sum(r.ongoing for r in land.items)
            assert page.text_content("#landscape-count") == f"{ongoing} of {total} items shown"
            assert page.is_visible("a.chip:has-text('X.iot-dt')") and not page.is_visible("tr[data-item] >> text=X.1352")
            page.select_option("select[name=status]", "")
            page.select_option("select[name=sector]", "smart_grid")
            assert page.is_hidden("th[data-sector-col='its_vehicle']") and page.is_visible("th[data-sector-col='smart_grid']")
            page.locator("#matrix").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / "landscape-matrix.png"), full_page=False)
        finally:
            browser.close()
    assert errors == []
    assert all(n[0] is True and n[1] > 0 and n[2] > 0 for n in natural)
    assert gap_bg == "rgb(236, 239, 243)" and gap_fg == "rgb(75, 85, 99)"  # contrast about 6.6:1
    assert (artifacts / "landscape.png").stat().st_size > 10_000
