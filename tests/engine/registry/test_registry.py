"""The registry: loading (with located errors), related-work ranking, the flags it raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Proposal, RuleSet, triage
from engine.errors import RegistryLoadError
from engine.facts import extract
from engine.maintainer.evaluation import default_pairs_file, evaluate_pairs, load_pairs
from engine.registry import Registry, load_default_registry, load_registry
from engine.registry.text import tokens


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_default_registry()


GOOD_ITEM = """\
  - id: X.9999
    title: Security of something
    study_group: SG17
    question: Q6/17
    status: in_force
    year: 2024
    topics: [iot-device]
    description: A test item.
"""


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "work_items.yaml"
    p.write_text(body, encoding="utf-8")
    return p


def _issues(path: Path) -> list[str]:
    with pytest.raises(RegistryLoadError) as info:
        load_registry(path)
    return [str(i) for i in info.value.issues]


def test_bundled_registry_loads_with_enough_items(registry: Registry) -> None:
    assert len(registry) >= 80
    owners = registry.owners()
    assert owners["X.1352"] == "SG17" and owners["Y.4806"] == "SG20" and owners["Q.5050"] == "SG11"
    sgs = {it.study_group for it in registry.items}
    assert {"SG17", "SG20", "SG13", "SG11", "SG2", "SG21"} <= sgs


def test_unknown_field_is_located_with_a_suggestion(tmp_path: Path) -> None:
    body = "schema: iotsec-triage/registry@1\nitems:\n" + GOOD_ITEM.replace("    title:", "    titel:")
    issues = _issues(_write(tmp_path, body))
    assert any(":4:5:" in i and "unknown field 'titel'" in i and "did you mean 'title'" in i for i in issues), issues


def test_bad_status_and_year_are_located(tmp_path: Path) -> None:
    body = "schema: iotsec-triage/registry@1\nitems:\n" + GOOD_ITEM.replace("in_force", "in_forse").replace(
        "2024", "20245"
    )
    issues = _issues(_write(tmp_path, body))
    assert any(":7:" in i and "status" in i and "did you mean 'in_force'" in i for i in issues), issues
    assert any(":8:" in i and "year" in i for i in issues), issues


def test_duplicate_id_and_foreign_question_are_reported(tmp_path: Path) -> None:
    second = GOOD_ITEM.replace("question: Q6/17", "question: Q6/20")
    issues = _issues(_write(tmp_path, "schema: iotsec-triage/registry@1\nitems:\n" + GOOD_ITEM + second))
    assert any("duplicate work item 'X.9999' (first at line 3)" in i and ":11:" in i for i in issues), issues
    assert any("Question Q6/20 is not in SG17" in i for i in issues), issues


@pytest.mark.parametrize(
    "body, words",
    [
        ("schema: iotsec-triage/registry@1\nitems: [\n", "invalid YAML"),
        ("schema: iotsec-triage/registry@1\nitems:\n  - &a {id: X.1}\n", "anchors"),
        ("schema: iotsec-triage/registry@2\nitems: []\n", "schema"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_unreadable_files_are_refused_with_a_location(tmp_path: Path, body: str, words: str) -> None:
    issues = _issues(_write(tmp_path, body))
    assert issues and any(words in i for i in issues), issues
    assert all(i.startswith(str(tmp_path)) for i in issues)


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    issues = _issues(tmp_path / "nope.yaml")
    assert "cannot read file" in issues[0]


def test_tokens_fold_long_forms_plurals_and_stop_words() -> None:
    assert tokens("Security of the Internet of Things devices") == ["security", "iot", "device"]
    assert tokens("vehicle-to-everything (V2X) communications") == ["v2x", "v2x", "communication"]


def _related(
    registry: Registry, rs: RuleSet, proposal: Proposal, home: str = "SG17"
) -> tuple[list[str], list[tuple[str, str]]]:
    related, flags = registry.related(
        proposal, extract(proposal, rs), home, home if home in ("SG17", "SG20") else None, rs
    )
    return [r.id for r in related], [(f.code, f.text) for f in flags]


def test_a_restatement_ranks_its_item_first(registry: Registry, ruleset: RuleSet) -> None:
    ids, _ = _related(
        registry,
        ruleset,
        Proposal(
            title="Baseline security requirements for IoT devices and IoT gateways",
            summary="Authentication, cryptography, data protection and physical protection of devices and gateways.",
        ),
    )
    assert ids[0] == "X.1352"
    ids, _ = _related(registry, ruleset, Proposal(title="Detecting intrusions on the CAN bus of in-vehicle networks"))
    assert ids[0] == "X.1375"


def test_unrelated_proposal_finds_nothing(registry: Registry, ruleset: RuleSet) -> None:
    ids, flags = _related(registry, ruleset, Proposal(title="Privacy of pupils in online education platforms"))
    assert ids == [] and flags == []


def test_overlap_flag_names_the_items(registry: Registry, ruleset: RuleSet) -> None:
    ids, flags = _related(
        registry, ruleset, Proposal(title="Security guidelines for smart metering services in the smart grid")
    )
    assert "X.1332" in ids
    overlap = dict(flags)["OVERLAP_EXISTING_WORK"]
    assert overlap.startswith("Overlaps existing work:") and "X.1332 (SG17)" in overlap
    assert "COORDINATE_Q6_17_Q6_20" not in dict(flags)  # same SG as the home


def test_overlap_with_the_other_sg_asks_for_coordination(registry: Registry, ruleset: RuleSet) -> None:
    proposal = Proposal(title="Zero trust access control service for decentralised IoT platforms")
    _, flags = _related(registry, ruleset, proposal, home="SG17")
    text = dict(flags)["COORDINATE_Q6_17_Q6_20"]
    assert "Y.4814" in text and "SG20" in text
    _, flags = _related(registry, ruleset, proposal, home="SG20")
    assert "COORDINATE_Q6_17_Q6_20" not in dict(flags)
    _, flags = _related(registry, ruleset, proposal, home="joint")
    assert "Y.4814" in dict(flags)["COORDINATE_Q6_17_Q6_20"]
    _, flags = _related(registry, ruleset, proposal, home="other")
    assert "COORDINATE_Q6_17_Q6_20" not in dict(flags)


def test_cited_and_revised_items_are_explicit_relations(registry: Registry, ruleset: RuleSet) -> None:
    p = Proposal(title="Extension of the gateway-model framework to edge nodes", relations=["revision of X.1361"])
    related, _ = registry.related(p, extract(p, ruleset), "SG17", "SG17", ruleset)
    first = related[0]
    assert (first.id, first.relation, first.question) == ("X.1361", "revised", "Q6/17") and first.score >= 0.9
    p = Proposal(title="Security for kiosks", summary="This builds on Y.4806 for public kiosks.")
    related, _ = registry.related(p, extract(p, ruleset), "SG20", "SG20", ruleset)
    assert [(r.id, r.relation) for r in related if r.id == "Y.4806"] == [("Y.4806", "cited")]


def test_decision_names_the_restated_item_only_with_the_registry(registry: Registry, ruleset: RuleSet) -> None:
    item = registry.by_id["Y.4806"]
    proposal = Proposal(title=item.title, summary=item.description)
    with_registry = triage(proposal, ruleset, registry)
    assert with_registry.related_work[0].id == "Y.4806"
    assert "OVERLAP_EXISTING_WORK" in with_registry.flag_codes()
    without = triage(proposal, ruleset, None)
    assert without.related_work == [] and "OVERLAP_EXISTING_WORK" not in without.flag_codes()
    assert without.home == with_registry.home


def test_registry_coordination_text_joins_the_rules_flag(registry: Registry, ruleset: RuleSet) -> None:
    # A hot-spot proposal: the rules raise the coordination flag and the registry adds the item to it.
    d = triage(Proposal(title="Digital twin security framework for water conservancy systems"), ruleset, registry)
    assert d.home == "SG17" and d.related_work[0].id == "Y.4237"
    coordinate = [f.text for f in d.flags if f.code == "COORDINATE_Q6_17_Q6_20"]
    assert len(coordinate) == 1
    assert "(rules: " in coordinate[0] and "; existing work: Y.4237 " in coordinate[0]
    assert coordinate[0].count("Both SG17 and SG20") == 1


def test_concept_index_is_built_once_per_revision(registry: Registry, ruleset: RuleSet) -> None:
    assert registry.concept_index(ruleset) is registry.concept_index(ruleset)


def test_labelled_pairs_reach_the_bar(registry: Registry, ruleset: RuleSet) -> None:
    pairs = load_pairs(default_pairs_file(), registry)
    assert len(pairs) >= 30 and sum(1 for p in pairs if not p.expect) >= 3
    report = evaluate_pairs(pairs, registry, ruleset)
    assert report.precision >= 0.8 and report.recall >= 0.8, [r for r in report.results if r.missed or r.extra]


def test_pairs_naming_unknown_items_are_refused(tmp_path: Path, registry: Registry) -> None:
    p = tmp_path / "pairs.yaml"
    p.write_text(
        "schema: iotsec-triage/related-pairs@1\npairs:\n  - id: a\n    proposal: {title: x}\n    expect: [X.0000]\n"
    )
    with pytest.raises(RegistryLoadError) as info:
        load_pairs(p, registry)
    assert "5:" in str(info.value.issues[0]) and "not in the registry" in str(info.value.issues[0])


def test_work_item_life_dates_history_and_checks(tmp_path: Path) -> None:
    from engine.errors import RegistryLoadError
    from engine.registry.items import date_key, read_items

    good = tmp_path / "good.yaml"
    good.write_text(
        "schema: iotsec-triage/registry@1\nitems:\n- id: X.new-thing\n  title: A draft\n  study_group: SG17\n"
        "  status: consented\n  description: A draft.\n  start_date: 2025-04-22\n  target: 2027-Q4\n"
        "  history:\n  - {date: 2025-04-22, status: under_study, source: https://example.org/a, question: Q6/17}\n"
        "  - {date: 2025-12, status: consented, source: https://example.org/b}\n"
    )
    items, _ = read_items(good)
    it = items[0]
    assert (it.start_date, it.target, it.ongoing, it.question) == (
        "2025-04-22",
        "2027-Q4",
        True,
        "",
    )  # unquoted YAML dates read as text
    assert [e.date for e in it.history] == ["2025-04-22", "2025-12"] and date_key("2025-12") == "2025-12-01"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schema: iotsec-triage/registry@1\nitems:\n- id: X.new-thing\n  title: A draft\n  study_group: SG17\n"
        "  status: sleeping\n  description: A draft.\n  target: 2027-13\n"
        "  history:\n  - {date: '2025-12', status: consented, source: https://example.org/b, question: Q6/20, "
        "study_group: SG17}\n"
        "  - {date: '2025-04-22', status: under_study, source: https://example.org/a}\n"
    )
    with pytest.raises(RegistryLoadError) as err:
        read_items(bad)
    text = str(err.value)
    assert "status" in text and "target" in text
    bad.write_text(bad.read_text().replace("sleeping", "consented").replace("2027-13", "2027-12"))
    with pytest.raises(RegistryLoadError) as err:
        read_items(bad)
    assert "not in date order" in str(err.value) and "Question Q6/20 is not in SG17" in str(err.value)
