"""`rules lint`: each finding from a copy of the bundled rules broken by one added file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import bundled_rules_dir
from engine.errors import RuleIssue
from engine.maintainer.lint import lint_directory

RULE_HEAD = "schema: iotsec-triage/rules@1\nrules:\n"
GOOD_RULE = """  - id: zz.{name}
    description: "A rule added by a test to break the copy in one way."
    source: "tests/engine/test_lint.py"
    stage: {stage}
    when: {when}
    then: {then}
"""


def rule(
    name: str = "extra",
    *,
    stage: str = "precedent",
    when: str = "{all: [security_item], min: {smart_grid: 2}, max: {iptv: 0}}",
    then: str = "{recommend: {home: SG17, weight: 1}}",
) -> str:
    return GOOD_RULE.format(name=name, stage=stage, when=when, then=then)


def add_file(rules_copy: Path, text: str, name: str = "zz_broken.yaml") -> Path:
    path = rules_copy / name
    path.write_text(text, encoding="utf-8")
    return path


def only(findings: list[RuleIssue], code: str) -> list[RuleIssue]:
    return [f for f in findings if f.code == code]


def test_bundled_rules_are_clean() -> None:
    report = lint_directory(bundled_rules_dir())
    assert [str(f.as_dict()) for f in report.findings] == []
    assert report.rules > 0 and report.clean


def test_copy_with_a_good_extra_rule_is_clean(rules_copy: Path) -> None:
    add_file(rules_copy, RULE_HEAD + rule())
    assert lint_directory(rules_copy).findings == []


def test_unknown_field_located_with_suggestion(rules_copy: Path) -> None:
    path = add_file(rules_copy, RULE_HEAD + rule().replace("    when:", "    whn:"))
    findings = lint_directory(rules_copy).findings
    unknown = [f for f in findings if "unknown field 'whn'" in f.message]
    assert len(unknown) == 1
    assert unknown[0].file.endswith(path.name) and unknown[0].line == 7 and unknown[0].column == 5
    assert unknown[0].suggestion == "when"


def test_bad_stage_value_and_suggestion(rules_copy: Path) -> None:
    add_file(rules_copy, RULE_HEAD + rule(stage="precedant"))
    (f,) = [f for f in lint_directory(rules_copy).findings if "stage" in f.message]
    assert f.value == "'precedant'" and f.suggestion == "precedent" and f.line == 6


def test_blank_description_is_a_schema_error(rules_copy: Path) -> None:
    add_file(rules_copy, RULE_HEAD + rule().replace('"A rule added by a test to break the copy in one way."', '"   "'))
    (f,) = lint_directory(rules_copy).findings
    assert "description" in f.message and f.line == 4


def test_condition_on_a_concept_the_lexicon_never_produces(rules_copy: Path) -> None:
    add_file(rules_copy, RULE_HEAD + rule(when="{all: [security_item, acces_control]}"))
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "reference" and "unknown signal 'acces_control'" in f.message
    assert f.suggestion == "access_control" and (f.line, f.column) == (7, 33)


def test_unknown_question_and_sg(rules_copy: Path) -> None:
    add_file(rules_copy, RULE_HEAD + rule(then="{recommend: {home: other, other_sg: SG99}, questions: [Q99/17]}"))
    messages = sorted(f.message for f in lint_directory(rules_copy).findings)
    assert messages == ["unknown Question 'Q99/17'", "unknown study group 'SG99'"]


def test_duplicate_rule_id_reported_once(rules_copy: Path) -> None:
    add_file(rules_copy, RULE_HEAD + rule() + rule())
    dups = only(lint_directory(rules_copy).findings, "duplicate")
    assert len(dups) == 1 and "duplicate rule id 'zz.extra'" in dups[0].message and dups[0].line == 9


@pytest.mark.parametrize(
    "when, words",
    [
        (
            "{all: [security_item], min: {smart_grid: 3}, max: {smart_grid: 2}}",
            "min smart_grid 3 is above max smart_grid 2",
        ),
        ("{all: [security_item, smart_grid], none: [smart_grid]}", "'smart_grid' is both in 'all' and in 'none'"),
        ("{all: [security_item], min: {smart_grid: 2}, none: [smart_grid]}", "must be at least 2 and absent"),
        ("{all: [security_item, smart_grid], max: {smart_grid: 0}}", "'all' needs smart_grid >= 1 but max is 0"),
        ("{any: [smart_grid, iptv], none: [smart_grid], max: {iptv: 0}}", "every signal of 'any' is excluded"),
    ],
)
def test_contradictions(rules_copy: Path, when: str, words: str) -> None:
    add_file(rules_copy, RULE_HEAD + rule(when=when))
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "contradiction" and words in f.message and f.file.endswith("zz_broken.yaml")


def test_threshold_above_what_a_concept_can_reach(rules_copy: Path) -> None:
    add_file(rules_copy, RULE_HEAD + rule(when="{all: [security_item], min: {smart_grid: 4}}"))
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "never-fires" and "above 3" in f.message and f.line == 7


def test_category_without_concepts_never_fires(rules_copy: Path) -> None:
    add_file(
        rules_copy,
        'schema: iotsec-triage/lexicon@1\ncategories:\n  - {id: empty_cat, description: "Nothing yet."}\n',
        "zz_lexicon.yaml",
    )
    add_file(rules_copy, RULE_HEAD + rule(when="{all: [security_item, empty_cat]}"))
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "never-fires" and "'empty_cat'" in f.message and "no concept" in f.message


def test_derived_fact_no_live_rule_produces(rules_copy: Path) -> None:
    producer = rule("producer", stage="advisory", when="{min: {smart_grid: 2}}", then="{derive: [grid_item]}")
    producer = producer.replace("    then:", "    enabled: false\n    then:")
    consumer = rule("consumer", when="{all: [grid_item]}")
    add_file(rules_copy, RULE_HEAD + producer + consumer)
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "dead-fact" and "zz.consumer" in f.message and "zz.producer: it is disabled" in f.message


def test_dead_fact_through_a_contradictory_producer(rules_copy: Path) -> None:
    producer = rule(
        "producer", stage="advisory", when="{min: {smart_grid: 3}, max: {smart_grid: 1}}", then="{derive: [grid_item]}"
    )
    consumer = rule("consumer", when="{all: [grid_item]}")
    add_file(rules_copy, RULE_HEAD + producer + consumer)
    codes = sorted(f.code for f in lint_directory(rules_copy).findings)
    assert codes == ["contradiction", "dead-fact"]


def test_phrase_claimed_by_two_concepts(rules_copy: Path) -> None:
    add_file(
        rules_copy,
        'schema: iotsec-triage/lexicon@1\ncategories:\n  - {id: extra, description: "Test."}\n'
        "concepts:\n  - {id: gatekeeping, category: extra, label: gatekeeping, phrases: [gatekeeping, Access "
        "Control]}\n",
        "zz_lexicon.yaml",
    )
    findings = lint_directory(rules_copy).findings
    clashes = only(findings, "phrase-clash")
    assert clashes and all("'access_control'" in f.message and "'gatekeeping'" in f.message for f in clashes)
    assert clashes[0].file.endswith("zz_lexicon.yaml") and clashes[0].line == 5
    assert findings == clashes


def test_equal_stage_rules_with_different_homes_on_same_conditions(rules_copy: Path) -> None:
    same = "{all: [security_item], min: {smart_grid: 2}, max: {iptv: 0}}"
    add_file(
        rules_copy,
        RULE_HEAD
        + rule("one", when=same)
        + rule(
            "two",
            when="{max: {iptv: 0}, min: {smart_grid: 2}, all: [security_item]}",
            then="{recommend: {home: SG20, weight: 1}}",
        ),
    )
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "conflict" and "'zz.two' recommends SG20" in f.message and "'zz.one'" in f.message


def test_same_home_on_same_conditions_is_not_a_conflict(rules_copy: Path) -> None:
    same = "{all: [security_item], min: {smart_grid: 2}, max: {iptv: 0}}"
    add_file(rules_copy, RULE_HEAD + rule("one", when=same) + rule("two", when=same))
    assert lint_directory(rules_copy).findings == []


@pytest.mark.parametrize(
    "field, text", [("description", "TODO"), ("source", "tbd"), ("description", "Explain this later TODO")]
)
def test_placeholder_description_or_source(rules_copy: Path, field: str, text: str) -> None:
    body = rule()
    old = (
        '"A rule added by a test to break the copy in one way."'
        if field == "description"
        else '"tests/engine/test_lint.py"'
    )
    add_file(rules_copy, RULE_HEAD + body.replace(old, f'"{text}"'))
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "placeholder" and field in f.message and f.value == repr(text)


def test_missing_directory() -> None:
    (f,) = lint_directory(Path("/nonexistent/rules")).findings
    assert f.code == "io"


def test_concept_whose_phrases_cannot_match(rules_copy: Path) -> None:
    add_file(
        rules_copy,
        'schema: iotsec-triage/lexicon@1\ncategories:\n  - {id: extra, description: "Test."}\n'
        'concepts:\n  - {id: ghost, category: extra, label: ghost, phrases: ["--", "**"]}\n',
        "zz_lexicon.yaml",
    )
    add_file(rules_copy, RULE_HEAD + rule(when="{all: [security_item, ghost]}"))
    (f,) = lint_directory(rules_copy).findings
    assert f.code == "never-fires" and "'ghost'" in f.message and "no phrase" in f.message
