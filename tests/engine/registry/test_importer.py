"""`registry import`: JSON Lines and relaton YAML records, owners by series range, merge, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from engine.errors import RegistryLoadError
from engine.registry import load_registry
from engine.registry.importer import dump_jsonl, import_records, infer_owner, read_relaton
from engine.registry.items import WorkItem, read_imported

# Made-up records in the two public shapes (titles in our own words; nothing here is ITU text).
JSONL = [
    {
        "id": "X.9101",
        "title": "Example security guideline for test gadgets",
        "study_group": "SG17",
        "owner_from": "record",
        "published": "2021-03-04",
        "status": "Published",
        "editions": 1,
        "source": "https://example.org/x9101",
        "abstract": "A sentence that must never reach the registry.",
    },
    {
        "id": "X.9102",
        "title": "Second example of a security text",
        "study_group": "SG17",
        "owner_from": "record",
        "published": "2022-01-02",
        "status": "Withdrawal",
        "editions": 2,
        "source": "https://example.org/x9102",
        "abstract": "",
    },
    {
        "id": "Y.9401",
        "title": "Example requirements for a city sensor service",
        "study_group": "SG20",
        "owner_from": "record",
        "published": "2020-05-06",
        "status": None,
        "editions": 1,
        "source": "https://example.org/y9401",
        "abstract": "Not kept.",
    },
]

RELATON_WITH_SG = """\
---
id: ITUTY9402012023
type: standard
title:
- language: en
  content: Example framework for city data exchange
  type: main
source:
- type: src
  content: https://example.org/y9402
docidentifier:
- content: ITU-T Y.9402 (01/2023)
  type: ITU
  primary: true
date:
- type: published
  at: '2023-01-20'
contributor:
- role:
  - type: author
  organization:
    name:
    - content: International Telecommunication Union
    subdivision:
    - name:
      - content: ITU-T Study Group 20
      type: technical-committee
      subtype: study-group
abstract:
- language: en
  content: "An abstract that is never kept."
status:
  stage:
    content: Published
ext:
  doctype:
    content: recommendation
"""

RELATON_NO_SG = """\
---
id: ITUTX9105062026
type: standard
title:
- language: en
  content: Example security requirements with no committee named
  type: main
source:
- type: src
  content: https://example.org/x9105
docidentifier:
- content: ITU-T X.9105 (06/2026)
  type: ITU
  primary: true
date:
- type: published
  at: '2026-06-10'
ext:
  doctype:
    content: recommendation
"""

RELATON_AMENDMENT = """\
---
id: ITUTX91012021Amd1
type: standard
title:
- language: en
  content: 'Amendment 1: example additions'
  type: main
docidentifier:
- content: ITU-T X.9101 (2021) Amd. 1 (03/2024)
  type: ITU
  primary: true
ext:
  doctype:
    content: recommendation-amendment
"""


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    (d / "recs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in JSONL), encoding="utf-8")
    (d / "itu-t-y-9402.yaml").write_text(RELATON_WITH_SG, encoding="utf-8")
    (d / "itu-t-x-9105.yaml").write_text(RELATON_NO_SG, encoding="utf-8")
    (d / "itu-t-x-9101-amd-1.yaml").write_text(RELATON_AMENDMENT, encoding="utf-8")
    return d


def test_both_shapes_are_read_as_facts_only(sources: Path) -> None:
    report = import_records([sources], [])
    by_id = {it.id: it for it in report.items}
    assert sorted(by_id) == ["X.9101", "X.9102", "X.9105", "Y.9401", "Y.9402"]
    assert by_id["Y.9402"].study_group == "SG20" and by_id["Y.9402"].owner_from == "record"
    assert by_id["Y.9402"].published == "2023-01-20" and by_id["Y.9402"].source == "https://example.org/y9402"
    assert by_id["X.9102"].status == "withdrawn" and by_id["X.9101"].status == "in_force"
    text = dump_jsonl(report.items)
    assert "never" not in text and "Not kept" not in text and "abstract" not in text
    assert sorted(report.added) == sorted(by_id)


def test_an_amendment_is_not_an_item_and_a_record_without_sg_takes_its_series_owner(sources: Path) -> None:
    report = import_records([sources], [])
    x9105 = next(it for it in report.items if it.id == "X.9105")
    assert x9105.study_group == "SG17" and x9105.owner_from == "series range"
    assert report.inferred == ["X.9105"]
    assert any("amendment" in why for _, why in report.skipped)
    assert not any("Amd" in it.id for it in report.items)


def test_infer_owner_takes_the_nearest_owned_number_of_the_same_series() -> None:
    owned = [
        WorkItem(id="Y.3000", title="a", study_group="SG13", status="in_force", owner_from="record"),
        WorkItem(id="Y.4000", title="b", study_group="SG20", status="in_force", owner_from="record"),
    ]
    assert infer_owner("Y.3010", owned) == "SG13"
    assert infer_owner("Y.3990", owned) == "SG20"
    assert infer_owner("Q.1", owned) is None


def test_merge_keeps_hand_kept_fields_and_reports_changes(sources: Path) -> None:
    existing = [
        WorkItem(
            id="X.9101",
            title="Example security guideline for test gadgets",
            study_group="SG17",
            status="in_force",
            year=2021,
            question="Q6/17",
            topics=["iot-device"],
            description="Our own words.",
            source="https://example.org/x9101",
            published="2021-03-04",
            owner_from="record",
        ),
        WorkItem(id="Y.9401", title="An older title", study_group="SG13", status="in_force", owner_from="record"),
        WorkItem(id="X.9999", title="Only in the registry", study_group="SG17", status="in_force", owner_from="record"),
    ]
    report = import_records([sources], existing)
    by_id = {it.id: it for it in report.items}
    assert by_id["X.9101"].question == "Q6/17" and by_id["X.9101"].description == "Our own words."
    assert report.unchanged == ["X.9101"]
    assert "Y.9401" in report.updated and ("Y.9401", "SG13", "SG20") in report.owner_changes
    assert report.kept == ["X.9999"] and "X.9999" in by_id
    assert any("owner changed: Y.9401 SG13 -> SG20" in line for line in report.lines())


def test_a_malformed_record_stops_the_import_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(JSONL[0]) + "\n" + '{"id": "X.1", "title": ""}\n', encoding="utf-8")
    with pytest.raises(RegistryLoadError) as info:
        import_records([bad], [])
    assert any(i.line == 2 for i in info.value.issues)


def test_relaton_reader_gives_the_plain_number() -> None:
    it, why, issues = read_relaton_text(RELATON_WITH_SG)
    assert it is not None and it.id == "Y.9402" and why is None and not issues


def read_relaton_text(text: str) -> tuple[WorkItem | None, str | None, list[object]]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "r.yaml"
        p.write_text(text, encoding="utf-8")
        item, why, issues = read_relaton(p)
        return item, why, list(issues)


def test_cli_import_writes_the_file_the_registry_names_and_the_registry_loads_merged(
    sources: Path, tmp_path: Path
) -> None:
    reg = tmp_path / "work_items.yaml"
    reg.write_text(
        "schema: iotsec-triage/registry@1\nimported: recs.jsonl\nitems:\n"
        "  - id: X.9101\n    title: Hand-kept title\n    study_group: SG17\n    question: Q6/17\n"
        "    status: in_force\n    description: Kept by hand.\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    dry = runner.invoke(main, ["registry", "import", str(sources), "--registry", str(reg), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "added 5" in dry.output and not (tmp_path / "recs.jsonl").exists()
    done = runner.invoke(main, ["registry", "import", str(sources), "--registry", str(reg)])
    assert done.exit_code == 0, done.output
    assert len(read_imported(tmp_path / "recs.jsonl")) == 5
    registry = load_registry(reg)
    assert len(registry) == 5
    x9101 = registry.by_id["X.9101"]
    assert x9101.title == "Hand-kept title" and x9101.published == "2021-03-04"  # hand-kept wins; the date filled in
    assert [it.id for it in registry.curated().items] == ["X.9101"]
    again = runner.invoke(main, ["registry", "import", str(sources), "--registry", str(reg)])
    assert "added 0, updated 0, unchanged 5" in again.output
