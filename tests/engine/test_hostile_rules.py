"""Hostile rule sets: what loads must be safe to run. Pathological lexicon entries, deep or huge
YAML and rule sets the engine cannot run are refused at load (and by lint), each located."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import RuleLoadError, load_rules
from engine.errors import RuleIssue
from engine.maintainer.lint import lint_directory


def _refused(directory: Path) -> list[RuleIssue]:
    with pytest.raises(RuleLoadError) as caught:
        load_rules(directory)
    return caught.value.issues


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def _add_to_privacy(rules_copy: Path, addition: str) -> tuple[Path, int]:
    lexicon = rules_copy / "lexicon.yaml"
    text = lexicon.read_text()
    marker = "    phrases: [privacy, "
    assert marker in text
    lexicon.write_text(text.replace(marker, addition + "\n" + marker, 1))
    return lexicon, _line_of(lexicon, addition.strip())


# -- finding 2: pathological lexicon entries ------------------------------------------------------


@pytest.mark.parametrize(
    "entry", ["    not_within: [the, of, and]", "    not_within: [of the]", '    not_within: ["in"]']
)
def test_stop_words_as_blockers_are_refused_where_they_stand(rules_copy: Path, entry: str) -> None:
    lexicon, line = _add_to_privacy(rules_copy, entry)
    issues = _refused(rules_copy)
    assert issues and all(i.file.endswith("lexicon.yaml") and i.line == line and i.code == "lexicon" for i in issues), (
        issues
    )
    assert "not_within phrase" in issues[0].message and "nearly every text" in issues[0].message
    findings = lint_directory(rules_copy).findings
    assert any(f.code == "lexicon" and f.line == line and f.file.endswith("lexicon.yaml") for f in findings)


@pytest.mark.parametrize(
    "phrase, why",
    [
        ("the", "common words"),
        ("and the", "common words"),
        ("Of The", "common words"),
        ("ox", "shorter than 3"),
        ("t-t", "shorter than 3"),
    ],
)
def test_phrases_that_match_nearly_everything_are_refused(rules_copy: Path, phrase: str, why: str) -> None:
    lexicon = rules_copy / "lexicon.yaml"
    text = lexicon.read_text()
    marker = "phrases: [privacy, "
    lexicon.write_text(text.replace(marker, f"phrases: [privacy, {phrase!r}, ".replace("'", '"'), 1))
    line = _line_of(lexicon, "phrases: [privacy, ")
    issues = _refused(rules_copy)
    assert [(i.line, i.code) for i in issues] == [(line, "lexicon")], issues
    assert why in issues[0].message and str(issues[0]).startswith(f"{issues[0].file}:{line}:")


def test_short_abbreviations_and_digit_names_still_load(rules_copy: Path) -> None:
    lexicon = rules_copy / "lexicon.yaml"
    text = lexicon.read_text()
    lexicon.write_text(text.replace("phrases: [privacy, ", "phrases: [privacy, PQ, 4G, ", 1))
    load_rules(rules_copy).close()


def test_too_many_blockers_or_phrases_for_one_concept_are_refused(rules_copy: Path) -> None:
    blockers = ", ".join(f"privacy case {i}" for i in range(11))
    _, line = _add_to_privacy(rules_copy, f"    not_within: [{blockers}]")
    issues = _refused(rules_copy)
    assert [(i.line, i.code) for i in issues] == [(line, "limit")] and "more than 10" in issues[0].message


def test_weak_exclusion_cues_are_refused(rules_copy: Path) -> None:
    catalogue = rules_copy / "catalogue.yaml"
    text = catalogue.read_text()
    assert "exclusion_cues:" in text
    catalogue.write_text(text.replace("exclusion_cues:\n", "exclusion_cues:\n  - the\n", 1))
    issues = _refused(rules_copy)
    line = _line_of(catalogue, "exclusion_cues:") + 1
    assert [(i.code, i.line) for i in issues] == [("lexicon", line)] and issues[0].file.endswith("catalogue.yaml")


# -- finding 3: deep and huge YAML ----------------------------------------------------------------

DEEP = {
    "flow sequences": "rules: " + "[" * 4000 + "]" * 4000 + "\n",
    "flow mappings": "rules: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n",
    "flow over lines": "rules: [\n" + "  [\n" * 3000 + "  ]\n" * 3001,
    "block sequences": "rules:\n" + "".join(" " * i + "-\n" for i in range(300)),
    "compact sequences": "rules:\n" + "- " * 300 + "x\n",
}


class _NoParser:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the YAML parser ran on a file the nesting scan should have refused")


@pytest.mark.parametrize("kind", ["flow sequences", "flow mappings", "flow over lines"])
def test_deep_flow_nesting_is_refused_by_a_linear_scan_before_the_parser_runs(
    rules_copy: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.yamlfile as yamlfile

    path = rules_copy / "deep.yaml"
    path.write_text("schema: iotsec-triage/rules@1\n" + DEEP[kind])
    # work count: zero parser events (engine.yamlfile imports the parser where it parses)
    monkeypatch.setattr("ruamel.yaml.YAML", _NoParser)
    with pytest.raises(yamlfile.YamlFileError) as caught:
        yamlfile.read_yaml(path, "deep.yaml")
    [issue] = caught.value.issues
    assert issue.code == "limit" and "nested too deeply" in issue.message and issue.line >= 2, issue


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deep_nesting_is_refused_at_load_and_lint_where_it_starts(rules_copy: Path, kind: str) -> None:
    (rules_copy / "deep.yaml").write_text("schema: iotsec-triage/rules@1\n" + DEEP[kind])
    issues = _refused(rules_copy)
    assert [(i.file.endswith("deep.yaml"), i.code) for i in issues] == [(True, "limit")], issues
    assert "nested too deeply (more than 32 levels)" in issues[0].message and issues[0].line >= 2
    findings = lint_directory(rules_copy).findings
    assert [f.code for f in findings] == ["limit"]


def test_nesting_hidden_from_the_scan_is_still_refused_by_the_parsers_depth_count(rules_copy: Path) -> None:
    # A quote the scan takes for the start of a quoted scalar (YAML reads it as plain text)
    # hides the brackets after it from the scan; the event stream's depth counter still stops it.
    text = "schema: iotsec-triage/rules@1\na: foo, 'x\nrules: " + '["]", ' * 300 + "\n'\n"
    from engine.yamlfile import nesting_scan

    assert nesting_scan(text) is None
    (rules_copy / "deep.yaml").write_text(text)
    issues = _refused(rules_copy)
    assert [(i.line, i.code) for i in issues] == [(3, "limit")] and "nested too deeply" in issues[0].message


def test_quotes_and_comments_do_not_count_as_nesting() -> None:
    from engine.yamlfile import nesting_scan

    text = (
        "a: 'it''s " + "[" * 40 + "' # " + "{" * 40 + "\n"
        'b: "x\\" ' + "[" * 40 + "\"\nc: don't [1] {2}\nd: [" + "'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['" + "]\n"
    )
    assert nesting_scan(text) is None


def test_a_huge_sparse_rule_file_is_refused_from_its_size_without_being_read(rules_copy: Path) -> None:
    import tracemalloc

    huge = rules_copy / "huge.yaml"
    with huge.open("wb") as f:  # 60 MB of holes: no disk used
        f.truncate(60_000_000)
    tracemalloc.start()
    try:
        issues = _refused(rules_copy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(i.code, i.file.endswith("huge.yaml")) for i in issues] == [("limit", True)]
    assert "60000000 bytes" in issues[0].message
    assert peak < 20_000_000, f"{peak} bytes allocated: the file was read"


def test_a_rule_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    import os

    from engine.yamlfile import YamlFileError, read_yaml

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YamlFileError) as caught:
        read_yaml(fifo)  # opened without blocking, refused from fstat
    assert [i.code for i in caught.value.issues] == ["io"] and "not a regular file" in caught.value.issues[0].message


# -- finding 4: a rule set that loads must run ----------------------------------------------------


def _wide_rules(rules_copy: Path, reads: int) -> int:
    """Rules deriving `reads` facts from access_control, and one rule reading them all; its line."""
    facts = [f"fx_{i}" for i in range(reads)]
    lines = ["schema: iotsec-triage/rules@1", "rules:"]
    for i in range(0, reads, 5):
        lines.append(
            f'  - {{id: gen.d{i:04d}, description: "Derives {i}.", source: "test", stage: advisory, '
            f"when: {{all: [access_control]}}, then: {{derive: [{', '.join(facts[i : i + 5])}]}}}}"
        )
    lines.append(
        f'  - {{id: gen.wide, description: "Reads them all.", source: "test", stage: advisory, '
        f"when: {{all: [access_control], max: {{{', '.join(f'{x}: 9' for x in facts)}}}}}, then: "
        f"{{questions: [Q6/17]}}}}"
    )
    (rules_copy / "zz_wide.yaml").write_text("\n".join(lines) + "\n")
    return len(lines)


def test_a_rule_reading_too_many_signals_is_refused_at_load_and_lint(rules_copy: Path) -> None:
    line = _wide_rules(rules_copy, 600)  # 600 signals in one fact: the engine refuses it (code 302)
    issues = _refused(rules_copy)
    assert [(i.file.endswith("zz_wide.yaml"), i.line, i.code) for i in issues] == [(True, line, "limit")], issues
    assert "reads 601 signals, more than 32" in issues[0].message
    assert [(f.line, f.code) for f in lint_directory(rules_copy).findings] == [(line, "limit")]


def test_a_rule_at_the_signal_bound_loads_and_fires(rules_copy: Path) -> None:
    from engine import Proposal, triage

    _wide_rules(rules_copy, 31)  # 31 derived facts + access_control: 32 signals
    rs = load_rules(rules_copy)
    try:
        decision = triage(Proposal(title="Access control for IoT devices"), rs)
        assert "gen.wide" in {r.rule for r in decision.reasons} or "Q6/17" in decision.questions
    finally:
        rs.close()


def test_loading_runs_every_part_and_every_rule_in_the_engine(
    rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import adapter

    asserted: list[str] = []
    real = adapter._dre.assert_fact

    def counting(handle: int, fact: str) -> object:
        asserted.append(fact)
        return real(handle, fact)

    monkeypatch.setattr(adapter._dre, "assert_fact", counting)
    rs = load_rules(rules_copy)
    try:
        parts = [p for s in rs.host.shards for p in s.parts]
        enabled = [r for r in rs.rules.values() if r.definition.enabled]
        assert len(asserted) == len(parts) + len(enabled)  # the largest fact of each part, one fact per rule
        assert rs.host.evaluations == 0 and all(s.sid is None for s in rs.host.shards)  # no session kept
    finally:
        rs.close()


def test_a_fact_the_engine_refuses_is_a_load_error_at_its_rule(
    rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import adapter

    real = adapter._dre.assert_fact

    def refusing(handle: int, fact: str) -> object:
        if '"smart_grid":' in fact:  # as durable_rules refuses a fact it cannot hold
            raise Exception("Could not assert fact, error code: 302")
        return real(handle, fact)

    monkeypatch.setattr(adapter._dre, "assert_fact", refusing)
    issues = _refused(rules_copy)
    assert issues and all(i.code == "engine" and "error code: 302" in i.message for i in issues)
    precedents = rules_copy / "precedents.yaml"
    rule_line = _line_of(precedents, "id: precedent.smart-grid")
    assert any(i.file.endswith("precedents.yaml") and i.line == rule_line for i in issues), issues
    assert all(str(i).startswith(f"{i.file}:{i.line}:") and i.line > 1 for i in issues)


def test_a_rule_the_engine_compiles_but_never_fires_is_a_load_error(
    rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import adapter

    real = adapter._expression

    def miscompiled(c: adapter.Condition, title_level: int) -> dict[str, object]:
        expr = real(c, title_level)
        if c.rule_id == "precedent.smart-grid":  # an expression the engine accepts but that never holds
            expr["$and"].append({"k": "never"})
        return expr

    monkeypatch.setattr(adapter, "_expression", miscompiled)
    issues = _refused(rules_copy)
    line = _line_of(rules_copy / "precedents.yaml", "id: precedent.smart-grid")
    assert [(i.line, i.code) for i in issues] == [(line, "engine")] and "did not fire" in issues[0].message


def test_a_shard_whose_largest_fact_is_refused_is_a_load_error_at_its_widest_rule(
    rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import adapter

    real = adapter._dre.assert_fact

    def small_facts_only(handle: int, fact: str) -> object:
        if fact.count(":") > 30:  # as the engine refuses facts with too many properties
            raise Exception("Could not assert fact, error code: 303")
        return real(handle, fact)

    monkeypatch.setattr(adapter._dre, "assert_fact", small_facts_only)
    issues = _refused(rules_copy)
    assert issues and all(
        i.code == "engine" and "largest fact" in i.message and "error code: 303" in i.message for i in issues
    )
    assert all(i.line > 1 and not i.file.endswith(("lexicon.yaml", "catalogue.yaml")) for i in issues)
