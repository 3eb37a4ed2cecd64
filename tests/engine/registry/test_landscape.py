"""The landscape: classification of every item, clusters, overlaps, candidates, gaps, every format."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from engine import RuleSet
from engine.registry.landscape import Landscape, build_landscape
from engine.registry.reports import FORMATS, heatmap_png, render
from engine.registry import Registry, load_default_registry

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_default_registry()


@pytest.fixture(scope="module")
def land(registry: Registry, ruleset: RuleSet) -> Landscape:
    return build_landscape(registry.curated(), ruleset)


@pytest.fixture(scope="module")
def html(land: Landscape) -> str:
    return render(land, "html")


def test_every_item_is_classified_next_to_its_holder(land: Landscape, registry: Registry) -> None:
    assert [r.id for r in land.items] == [it.id for it in registry.curated().items]
    classes = {r.classification for r in land.items}
    assert classes <= {"horizontal", "vertical", "joint", "other", "undetermined"}
    x1352 = land.row("X.1352")
    assert (x1352.study_group, x1352.home, x1352.classification, x1352.agrees) == ("SG17", "SG17", "horizontal", True)
    q5050 = land.row("Q.5050")
    assert (q5050.home, q5050.other_sg, q5050.classification) == ("other", "SG11", "other")


def test_candidates_are_the_precedents_against_the_principle(land: Landscape) -> None:
    # SG17's sector series and SG20's cross-domain texts: the known counter-examples to the principle.
    # (Y.4806, security capabilities, is SG20's by the principle too since principle.sg20-shaped-security.)
    assert {"X.1331", "X.1372", "X.1311"} <= set(land.candidates)
    assert "Y.4814" in land.candidates
    assert "X.1352" not in land.candidates and "Y.4482" not in land.candidates
    assert "SG20" in land.row("X.1331").why and "SG17" in land.row("Y.4814").why
    assert "smart_grid" in land.candidate_topics


def test_clusters_matrix_overlaps_and_gaps(land: Landscape) -> None:
    dlt = next(c for c in land.clusters if c.concept == "dlt")
    assert dlt.by_sg.get("SG17", 0) >= 5 and dlt.by_sg.get("SG20", 0) >= 1
    assert land.matrix["dlt"]["SG17"] == dlt.by_sg["SG17"]
    pairs = {(o.sg17, o.sg20) for o in land.overlaps}
    assert ("X.1332", "Y.4235") in pairs
    assert all(o.score >= land.threshold for o in land.overlaps)
    gap_ids = {g["concept"] for g in land.gaps}
    assert "metaverse" in gap_ids and "smart_grid" not in gap_ids


def test_json_and_markdown(land: Landscape) -> None:
    data = json.loads(render(land, "json"))
    assert len(data["items"]) == len(land.items) and data["summary"]["items"] == len(land.items)
    assert {"clusters", "overlaps", "candidates", "gaps", "matrix", "ruleset", "registry"} <= set(data)
    md = render(land, "md")
    assert md.startswith("# Landscape")
    for heading in ("## Topic clusters", "## Overlapping SG17 and SG20 items", "## Candidates for the demarcation discussion", "## Gaps"):
        assert heading in md
    assert "| X.1352 |" in md


def test_csv_has_one_row_per_item(land: Landscape) -> None:
    rows = list(csv.DictReader(io.StringIO(render(land, "csv"))))
    assert len(rows) == len(land.items)
    by_id = {r["id"]: r for r in rows}
    assert by_id["X.1331"]["candidate"] == "yes" and by_id["X.1352"]["candidate"] == "no"
    assert "Y.4235" in by_id["X.1332"]["overlaps_with"]


def test_unknown_format_is_refused(land: Landscape) -> None:
    with pytest.raises(ValueError, match="unknown landscape format"):
        render(land, "pdf")
    assert set(FORMATS) == {"json", "md", "html", "csv"}


def test_heatmap_is_a_png(land: Landscape) -> None:
    png = heatmap_png(land)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_html_is_self_contained(html: str, land: Landscape) -> None:
    assert f"<b>{len(land.items)}</b> items" in html
    assert re.search(r'<img id="heatmap"[^>]+src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', html)
    # Readable offline: nothing is fetched from anywhere.
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "<script" not in html
    assert "X.1331" in html and "Candidates for the demarcation discussion" in html
    assert "built-in method" not in html


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_html_report_renders_in_headless_chromium(html: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "landscape.html"
    page_file.write_text(html, encoding="utf-8")
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_file.as_uri(), wait_until="load", timeout=30_000)
            img = page.locator("#heatmap")
            box = img.bounding_box()
            natural = page.evaluate("() => { const i = document.getElementById('heatmap'); return [i.complete, i.naturalWidth, i.naturalHeight]; }")
            page.screenshot(path=str(artifacts / "landscape.png"), full_page=False)
        finally:
            browser.close()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    assert natural[0] is True and natural[1] > 0 and natural[2] > 0
    assert (artifacts / "landscape.png").stat().st_size > 10_000
