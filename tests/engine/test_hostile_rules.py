"""Hostile rule sets: what loads must be safe to run. Pathological lexicon entries, deep or huge
YAML and rule sets the engine cannot run are refused at load (and by lint), each located."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import RuleLoadError, load_rules
from engine.errors import RuleIssue
from engine.lint import lint_directory


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

@pytest.mark.parametrize("entry", ["    not_within: [the, of, and]", "    not_within: [of the]", "    not_within: [\"in\"]"])
def test_stop_words_as_blockers_are_refused_where_they_stand(rules_copy: Path, entry: str) -> None:
    lexicon, line = _add_to_privacy(rules_copy, entry)
    issues = _refused(rules_copy)
    assert issues and all(i.file.endswith("lexicon.yaml") and i.line == line and i.code == "lexicon" for i in issues), issues
    assert "not_within phrase" in issues[0].message and "nearly every text" in issues[0].message
    findings = lint_directory(rules_copy).findings
    assert any(f.code == "lexicon" and f.line == line and f.file.endswith("lexicon.yaml") for f in findings)


@pytest.mark.parametrize("phrase, why", [("the", "common words"), ("and the", "common words"), ("Of The", "common words"),
                                         ("ox", "shorter than 3"), ("t-t", "shorter than 3")])
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
