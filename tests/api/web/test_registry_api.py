"""GET /v1/work-items, GET /v1/landscape, registry=false, and the registry commands."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.cli import main
from api.runtime.settings import Settings
from api.web.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for this module: these endpoints only read, so tests cannot disturb each other."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        yield c


RESTATED = {
    "title": "Security capabilities supporting safety of the Internet of things",
    "summary": "Classifies IoT security issues by their effect on functional safety and the capabilities "
    "that keep cyber-physical systems safe.",
}


def test_work_items_unfiltered_and_paged(client: TestClient) -> None:
    r = client.get("/v1/work-items")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] >= 80 and len(body["items"]) == 100 and body["offset"] == 0
    assert {"id", "title", "study_group", "question", "status", "year", "topics", "description"} <= set(
        body["items"][0]
    )
    page = client.get("/v1/work-items", params={"limit": 5, "offset": 3}).json()
    assert [i["id"] for i in page["items"]] == [i["id"] for i in body["items"][3:8]]


@pytest.mark.parametrize(
    "params, check",
    [
        ({"sg": "SG20"}, lambda it: it["study_group"] == "SG20"),
        ({"question": "Q14/17"}, lambda it: it["question"] == "Q14/17"),
        ({"topic": "smart-grid"}, lambda it: "smart-grid" in it["topics"]),
        ({"q": "zero trust"}, lambda it: "zero" in (it["title"] + it["description"]).lower()),
        (
            {"sg": "SG17", "q": "vehicle"},
            lambda it: it["study_group"] == "SG17" and "vehicle" in (it["title"] + it["description"]).lower(),
        ),
    ],
)
def test_work_items_filters(client: TestClient, params: dict[str, str], check: object) -> None:
    body = client.get("/v1/work-items", params=params).json()
    assert body["total"] >= 1 and len(body["items"]) == min(body["total"], body["limit"])
    assert all(check(it) for it in body["items"])  # type: ignore[operator]


def test_work_items_filter_with_no_match_is_empty(client: TestClient) -> None:
    body = client.get("/v1/work-items", params={"sg": "SG99"}).json()
    assert body == {"total": 0, "limit": 100, "offset": 0, "items": []}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"sg": "seventeen"}, "sg"),
        ({"question": "6/17"}, "question"),
        ({"topic": "Smart Grid!"}, "topic"),
        ({"q": "x" * 201}, "q"),
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_bad_filters_are_422_with_the_parameter_named(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    r = client.get("/v1/work-items", params=params)
    assert r.status_code == 422
    assert any(d["loc"] == ["query", field] for d in r.json()["detail"])


def test_landscape_json_is_the_default(client: TestClient) -> None:
    r = client.get("/v1/landscape")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["summary"]["items"] == len(body["items"]) >= 80
    assert "Y.4812" in body["candidates"] and "Y.4814" in body["intersections"]
    assert {"cells", "cell_gaps", "side_by_side", "contested"} <= set(body)


def test_landscape_filters(client: TestClient) -> None:
    body = client.get("/v1/landscape", params={"sg": "SG17", "question": "Q6/17", "status": "ongoing"}).json()
    assert [i["id"] for i in body["items"]] == ["X.iot-dt"] and body["filters"]["status"] == "ongoing"
    md = client.get("/v1/landscape", params={"format": "md", "sector": "smart_grid"}).text
    assert "filtered by sector=smart_grid" in md and "X.1331" in md and "X.1352 " not in md
    assert client.get("/v1/landscape", params={"aspect": "nope"}).status_code == 422
    r = client.get("/v1/landscape", params={"status": "sleeping"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "status"]


def test_landscape_since(client: TestClient) -> None:
    r = client.get("/v1/landscape", params={"since": "2025-09-01", "until": "2025-12-31"})
    assert r.status_code == 200
    body = r.json()
    assert body["counts"]["consented"] == 2 and {c["id"] for c in body["changes"]} >= {"X.2014", "Y.IoT-FETA", "Y.4814"}
    md = client.get("/v1/landscape", params={"since": "2026-01-01", "format": "md"}).text
    assert md.startswith("# What changed between 2026-01-01 and now") and "X.sgAIoT" in md
    for params in (
        {"since": "2025-02-30"},
        {"until": "2025-01-01"},
        {"since": "2025-09-01", "until": "2025-01-01"},
        {"since": "2025-01-01", "format": "html"},
    ):
        assert client.get("/v1/landscape", params=params).status_code == 422, params


def test_landscape_page_in_the_app(client: TestClient) -> None:
    home = client.get("/").text
    assert '<a href="/landscape">Landscape</a>' in home
    r = client.get("/landscape")
    assert r.status_code == 200 and "Q6/17 and Q6/20 side by side" in r.text
    assert '<script src="/landscape/assets/landscape.js" defer></script>' in r.text
    assert "<script>" not in r.text and "<style>" not in r.text  # the app's pages allow no inline script or style
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "img-src 'self' data:" in csp and "unsafe-inline" not in csp
    js = client.get("/landscape/assets/landscape.js")
    assert (
        js.status_code == 200
        and js.headers["content-type"].startswith("text/javascript")
        and "landscape-filters" in js.text
    )
    assert client.get("/landscape/assets/landscape.css").headers["content-type"].startswith("text/css")
    assert client.get("/landscape/assets/other.js").status_code == 404


@pytest.mark.parametrize(
    "fmt, media, start",
    [
        ("md", "text/markdown", "# Landscape"),
        ("csv", "text/csv", "id,title,study_group"),
        ("html", "text/html", "<!doctype html>"),
    ],
)
def test_landscape_text_formats(client: TestClient, fmt: str, media: str, start: str) -> None:
    r = client.get("/v1/landscape", params={"format": fmt})
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    assert r.text.startswith(start)
    again = client.get("/v1/landscape", params={"format": fmt})
    assert again.text == r.text


def test_landscape_bad_format_is_422(client: TestClient) -> None:
    r = client.get("/v1/landscape", params={"format": "pdf"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]


def test_triage_names_the_restated_item_unless_registry_false(client: TestClient) -> None:
    d = client.post("/v1/triage", json=RESTATED).json()
    assert d["related_work"][0]["id"] == "Y.4806" and d["related_work"][0]["study_group"] == "SG20"
    assert "OVERLAP_EXISTING_WORK" in [f["code"] for f in d["flags"]]
    bare = client.post("/v1/triage", params={"registry": "false"}, json=RESTATED).json()
    assert bare["related_work"] == [] and "OVERLAP_EXISTING_WORK" not in [f["code"] for f in bare["flags"]]
    assert bare["home"] == d["home"]


def test_a_broken_registry_file_stops_the_app_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "items.yaml"
    bad.write_text("schema: iotsec-triage/registry@1\nitems:\n  - id: X.1\n    titel: t\n")
    from engine.errors import RegistryLoadError

    with pytest.raises(RegistryLoadError) as info:
        create_app(Settings(data_dir=tmp_path / "data", registry_file=bad))  # type: ignore[arg-type]
    assert any(i.line == 4 and "titel" in i.message for i in info.value.issues)


# ---------------------------------------------------------------------- command line
def test_cli_triage_with_and_without_registry(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps(RESTATED))
    runner = CliRunner()
    with_reg = runner.invoke(main, ["triage", str(f)])
    assert with_reg.exit_code == 0, with_reg.output
    assert json.loads(with_reg.output)["related_work"][0]["id"] == "Y.4806"
    without = runner.invoke(main, ["triage", "--no-registry", str(f)])
    assert without.exit_code == 0, without.output
    assert json.loads(without.output)["related_work"] == []


def test_cli_related_eval_reaches_the_bar() -> None:
    r = CliRunner().invoke(main, ["related-eval"])
    assert r.exit_code == 0, r.output
    precision = float(r.output.split("precision:")[1].split("=")[1].split()[0])
    recall = float(r.output.split("recall:")[1].split("=")[1].split()[0])
    assert precision >= 0.8 and recall >= 0.8


def test_cli_related_eval_exits_1_below_the_bar(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.yaml"
    pairs.write_text(
        "schema: iotsec-triage/related-pairs@1\npairs:\n"
        "  - id: wrong-label\n    proposal: {title: Security guidelines for V2X communication}\n    expect: [Y.4482]\n"
    )
    r = CliRunner().invoke(main, ["related-eval", str(pairs)])
    assert r.exit_code == 1 and "wrong-label: not found Y.4482" in r.output


def test_cli_related_eval_bad_file_is_exit_2(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.yaml"
    pairs.write_text("schema: iotsec-triage/related-pairs@1\npairs:\n  - id: a\n    proposal: {titel: x}\n")
    r = CliRunner().invoke(main, ["related-eval", str(pairs)])
    assert r.exit_code == 2 and "pairs.yaml:4:" in r.output


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "html"])
def test_cli_landscape_every_format(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"landscape.{fmt}"
    r = CliRunner().invoke(main, ["landscape", "--format", fmt, "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        assert len(json.loads(text)["items"]) >= 80
    elif fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(text)))) >= 80
    elif fmt == "html":
        assert "data:image/png;base64," in text
    else:
        assert text.startswith("# Landscape")


def test_cli_landscape_since_and_compare(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["landscape", "--since", "2025-09-01", "--until", "2025-12-31"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("# What changed between 2025-09-01 and 2025-12-31") and "| X.2014 |" in r.output
    r = CliRunner().invoke(main, ["landscape", "--since", "2017-01", "--until", "2017-12", "--format", "json"])
    assert r.exit_code == 0 and [c["id"] for c in json.loads(r.output)["changes"]] == ["X.1372"]
    old = tmp_path / "old.yaml"
    old.write_text(
        "schema: iotsec-triage/registry@1\nitems:\n- id: X.1372\n  title: Security guidelines for V2X communication\n"
        "  study_group: SG17\n  question: Q6/17\n  status: under_study\n  description: V2X security draft.\n"
    )
    r = CliRunner().invoke(main, ["landscape", "--compare", str(old), "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    kinds = {(row["kind"], row["id"]) for row in rows}
    assert {("approved", "X.1372"), ("moved", "X.1372"), ("new", "X.iot-dt")} <= kinds
    for args in (
        ["--since", "yesterday"],
        ["--until", "2025-01-01"],
        ["--since", "2025-01-01", "--compare", str(old)],
        ["--since", "2025-01-01", "--format", "html"],
    ):
        assert CliRunner().invoke(main, ["landscape", *args]).exit_code == 2, args
    r = CliRunner().invoke(main, ["landscape", "--sg", "SG20", "--status", "ongoing", "--format", "csv"])
    assert r.exit_code == 0 and {row["id"] for row in csv.DictReader(io.StringIO(r.output))} == {
        "Y.IoT-FETA",
        "Y.4477rev",
    }


def test_cli_landscape_to_stdout_and_bad_registry(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["landscape", "--format", "md"])
    assert r.exit_code == 0 and r.output.startswith("# Landscape")
    bad = tmp_path / "reg.yaml"
    bad.write_text("schema: iotsec-triage/registry@1\nitems: {}\n")
    r = CliRunner().invoke(main, ["landscape", "--registry", str(bad)])
    assert r.exit_code == 2 and "reg.yaml:2:" in r.output
