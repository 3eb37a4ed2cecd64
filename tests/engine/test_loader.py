"""Loading rule files: every error located (file:line:column) with a suggestion; all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.runtime.holder import RuleHolder
from engine import RuleLoadError, load_rules


def _issues(directory: Path) -> list[str]:
    with pytest.raises(RuleLoadError) as info:
        load_rules(directory)
    return [str(i) for i in info.value.issues]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_misspelt_field_is_located_with_suggestion(rules_copy: Path) -> None:
    _edit(rules_copy / "precedents.yaml", '    source: "SG17 precedent: X.1330', '    sorce: "SG17 precedent: X.1330')
    issues = _issues(rules_copy)
    line = next(n for n, t in enumerate((rules_copy / "precedents.yaml").read_text().splitlines(), 1) if "sorce:" in t)
    assert any(
        f"precedents.yaml:{line}:5:" in i and "unknown field 'sorce'" in i and "did you mean 'source'" in i
        for i in issues
    ), issues
    assert any("missing required field 'source'" in i for i in issues)


def test_unknown_signal_suggests_the_concept(rules_copy: Path) -> None:
    _edit(rules_copy / "precedents.yaml", "min: {smart_grid: 2}", "min: {smart_gird: 2}")
    issues = _issues(rules_copy)
    assert any("unknown signal 'smart_gird'" in i and "did you mean 'smart_grid'" in i for i in issues), issues


def test_yaml_syntax_error_has_its_line(rules_copy: Path) -> None:
    (rules_copy / "joint.yaml").write_text("schema: iotsec-triage/rules@1\nrules:\n  - id: [unclosed\n")
    issues = _issues(rules_copy)
    assert any(i.startswith(str(rules_copy / "joint.yaml")) or "joint.yaml:" in i for i in issues), issues
    assert any("invalid YAML" in i for i in issues)


def test_aliases_and_tags_are_refused(rules_copy: Path) -> None:
    (rules_copy / "extra.yaml").write_text("schema: iotsec-triage/rules@1\nrules: &r []\nmore: *r\n")
    assert any("anchors" in i for i in _issues(rules_copy))
    (rules_copy / "extra.yaml").write_text(
        "schema: iotsec-triage/rules@1\nrules: !!python/object/apply:os.system [echo]\n"
    )
    assert any("tags are not allowed" in i for i in _issues(rules_copy))


def test_yaml_bomb_is_refused_without_expanding(rules_copy: Path) -> None:
    bomb = ["schema: iotsec-triage/rules@1", "a: &a [x, x, x, x, x, x, x, x, x]"]
    bomb += [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(8)
    ]
    (rules_copy / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    assert any("not allowed" in i for i in _issues(rules_copy))


def test_unknown_schema_and_question_and_duplicate_id(rules_copy: Path) -> None:
    _edit(rules_copy / "joint.yaml", "schema: iotsec-triage/rules@1", "schema: iotsec-triage/rule@1")
    assert any("unknown or missing schema" in i and "iotsec-triage/rules@1" in i for i in _issues(rules_copy))
    _edit(rules_copy / "joint.yaml", "schema: iotsec-triage/rule@1", "schema: iotsec-triage/rules@1")
    _edit(rules_copy / "precedents.yaml", "questions: [Q13/17]", "questions: [Q31/17]")
    _edit(rules_copy / "principles.yaml", "id: default.security-lead", "id: principle.horizontal")
    issues = _issues(rules_copy)
    assert any("unknown Question 'Q31/17'" in i for i in issues)
    assert any("duplicate rule id 'principle.horizontal'" in i for i in issues)


def test_cycle_of_derived_facts_is_refused(rules_copy: Path) -> None:
    (rules_copy / "cycle.yaml").write_text("""schema: iotsec-triage/rules@1
rules:
  - {id: cycle.a, description: "A.", source: "test", stage: advisory, when: {all: [fact_b]}, then: {derive: [fact_a]}}
  - {id: cycle.b, description: "B.", source: "test", stage: advisory, when: {all: [fact_a]}, then: {derive: [fact_b]}}
""")
    assert any("cycle" in i for i in _issues(rules_copy))


def test_missing_directory_and_empty_rules(tmp_path: Path) -> None:
    assert any("not found" in i for i in _issues(tmp_path / "nowhere"))
    assert any("catalogue" in i for i in _issues(tmp_path))


def test_broken_reload_keeps_the_working_rules(rules_copy: Path) -> None:
    holder = RuleHolder(rules_copy)
    good = holder.load()
    _edit(rules_copy / "lexicon.yaml", "  - id: smart_grid\n", "  - id: smart_grid\n    colour: blue\n")
    fresh, issues = holder.reload()
    assert fresh is None and issues and holder.current is good
    assert holder.status()["last_failure"]["errors"][0]["message"].startswith("concepts.")
    _edit(rules_copy / "lexicon.yaml", "    colour: blue\n", "")
    fresh, issues = holder.reload()
    assert fresh is not None and not issues and holder.current is fresh


def test_revision_is_a_content_hash(rules_copy: Path) -> None:
    a = load_rules(rules_copy)
    b = load_rules(rules_copy)
    assert a.revision == b.revision
    _edit(rules_copy / "catalogue.yaml", 'version: "', 'version: "x')
    assert load_rules(rules_copy).revision != a.revision


def test_watcher_reloads_on_change_and_keeps_serving_on_a_broken_edit(rules_copy: Path) -> None:
    import time

    holder = RuleHolder(rules_copy)
    first = holder.load()
    stop = holder.watch(interval=0.05)
    try:
        _edit(rules_copy / "catalogue.yaml", 'version: "', 'version: "w')
        deadline = time.time() + 10
        while holder.current is first and time.time() < deadline:
            time.sleep(0.05)
        second = holder.current
        assert second is not first and second.version.startswith("w")
        (rules_copy / "joint.yaml").write_text("schema: iotsec-triage/rules@1\nrules: [\n")
        deadline = time.time() + 10
        while holder.failures == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert holder.failures == 1 and holder.current is second
    finally:
        stop.set()
