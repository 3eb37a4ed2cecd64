"""A.1 justification text -> Proposal: labels as people paste them, what was found, what was not."""
from __future__ import annotations

import pytest

from engine import InputError
from engine.facts import extract
from engine.intake.a1text import parse_a1, split_sections
from engine.ruleset import RuleSet

FULL = (
    "Question(s):\t6/20\tProposed new ITU-T Recommendation\tVirtual, 4-13 March 2026\n"
    "Reference and title:\tY.IoT-sec-irr \u201cSecurity requirements for smart irrigation gateways\u201d\n"
    "Base text:\tTD 512\tTiming:\t2027-06\n"
    "Editor(s):\tA. Person, Example Org\tApproval process:\tAAP\n"
    "Scope (defines the intent or object of the Recommendation and the aspects covered, thereby indicating the limits of its applicability):\n"
    "This Recommendation specifies security requirements for gateways that drive irrigation valves.\n"
    "It covers onboarding and command integrity.\n"
    "Summary (provides a brief overview of the purpose and contents of the Recommendation):\n"
    "Irrigation gateways take commands from a cloud platform.\n"
    "Summary of results: this line is body text, not a new label.\n"
    "Relations to ITU-T Recommendations or to other standards (approved or under development):\n"
    "Y.4806; revision of nothing\n"
    "X.1352\n"
    "Liaisons with other study groups or with other standard bodies:\n"
    "ITU-T SG17 (Q6/17); ISO/IEC JTC 1/SC 27\n"
    "Supporting members that are committing to contributing actively to the work item:\n"
    "Example Org, Another Org\n"
)


def test_full_a1_text_fills_every_field() -> None:
    parsed = parse_a1(FULL)
    p = parsed.proposal
    assert p.title == "Security requirements for smart irrigation gateways"
    assert p.reference == "Y.IoT-sec-irr"
    assert p.questions == ["Q6/20"]
    assert p.scope.startswith("This Recommendation specifies") and "command integrity" in p.scope
    assert "Summary of results" in p.summary  # a body line that only starts like a label stays content
    assert p.relations == ["Y.4806", "revision of nothing", "X.1352"]
    assert p.liaisons == ["ITU-T SG17 (Q6/17)", "ISO/IEC JTC 1/SC 27"]
    assert p.submitter == "Example Org, Another Org"
    assert p.text.startswith("This Recommendation specifies")  # the form's boxes, not its labels
    assert "Proposed new" not in p.text and "Example Org" not in p.text and "Scope" not in p.text
    assert parsed.found == ["title", "reference", "questions", "scope", "summary", "relations", "liaisons", "submitter"]
    assert parsed.missing == []
    assert {"base_text", "editors", "supporting_members"} <= set(parsed.sections)


@pytest.mark.parametrize("line, reference, title", [
    ('Reference and title: X.iot-lwma "Lightweight mutual authentication"', "X.iot-lwma", "Lightweight mutual authentication"),
    ("Reference and title: Draft new Recommendation ITU-T X.iot-gkm: Group key management", "X.iot-gkm", "Group key management"),
    ("Reference and title: X.1352rev \u2013 Security requirements for IoT, revised", "X.1352rev", "Security requirements for IoT, revised"),
    ("reference and title:\n  Y.4806-ext\n  \u201cSafety of IoT systems\u201d", "Y.4806-ext", "Safety of IoT systems"),
])
def test_reference_and_title_forms(line: str, reference: str, title: str) -> None:
    p = parse_a1(line).proposal
    assert (p.reference, p.title) == (reference, title)


def test_questions_are_normalised_and_deduplicated() -> None:
    p = parse_a1("Title: Something secure\nQuestion(s): 6/17, Q6/20 and q 6/17 (Geneva, 12/2025)").proposal
    assert p.questions == ["Q6/17", "Q6/20"]


def test_title_only_and_missing_fields_are_reported() -> None:
    parsed = parse_a1("Title: Security of smart meters\nScope: Meters in homes.")
    assert parsed.proposal.title == "Security of smart meters"
    assert parsed.found == ["title", "scope"]
    assert "questions" in parsed.missing and "summary" in parsed.missing


def test_unlabelled_text_uses_the_first_line_as_title() -> None:
    parsed = parse_a1("Firmware update security for constrained devices\nMore words here.")
    assert parsed.proposal.title == "Firmware update security for constrained devices"
    assert parsed.found == ["title"]


def test_long_relation_items_are_cut_to_fit() -> None:
    long_item = " ".join(["word"] * 120)
    p = parse_a1(f"Title: T\nRelations to ITU-T Recommendations:\n{long_item}").proposal
    assert len(p.relations) >= 2 and all(len(r) <= 200 for r in p.relations)


def test_none_placeholders_are_dropped() -> None:
    p = parse_a1("Title: T\nLiaisons: None\nRelations to other standards: N/A").proposal
    assert p.liaisons == [] and p.relations == []


@pytest.mark.parametrize("text", ["", "   \n\t", "Question(s): 6/17\nScope:\n"])
def test_no_title_is_an_input_error_located_in_the_text(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_a1(text)
    assert err.value.where == "text"


def test_bad_question_in_labels_is_ignored_not_fatal() -> None:
    parsed = parse_a1("Title: T\nQuestion(s): to be decided")
    assert parsed.proposal.questions == [] and "questions" in parsed.missing


def test_first_occurrence_of_a_label_wins() -> None:
    sections = split_sections("Scope: first\nSummary: s\nScope: second")
    assert sections["scope"] == "first"


# The Question's own title and the form's label hints are A.1 boilerplate: they say nothing about
# the work, so they must not reach the text the lexicon reads.
BOILERPLATE = (
    "Question(s): Q6/17 - Security for telecommunication services, networks and the Internet of things\n"
    "Reference and title: X.demo \u201cGuidelines for audit logs of payment terminals\u201d\n"
    "Scope (defines the intent or object of the Recommendation and the aspects covered, thereby indicating the limits of its applicability):\n"
    "Log records kept by card payment terminals and how they are retained.\n"
    "Relations to ITU-T Recommendations or to other standards (approved or under development):\n"
    "None\n"
    "Supporting members that are committing to contributing actively to the work item:\n"
    "Security Devices Inc.\n"
)


def test_a1_boilerplate_is_not_content() -> None:
    p = parse_a1(BOILERPLATE).proposal
    assert p.questions == ["Q6/17"]
    assert "Log records kept by card payment terminals" in p.text
    for boilerplate in ("Internet of things", "telecommunication", "Security Devices", "limits of its applicability",
                        "approved or under development", "Guidelines for audit logs"):
        assert boilerplate not in p.text


def test_a1_boilerplate_makes_no_facts(ruleset: RuleSet) -> None:
    facts = extract(parse_a1(BOILERPLATE).proposal, ruleset)
    assert facts.signals.get("internet_of_things", 0) == 0  # only the Question's title says "Internet of things"
    assert facts.signals.get("imt", 0) == 0
    assert facts.signals.get("incident", 0) > 0  # the title's audit logs are still read


def test_a1_text_after_a_title_paragraph_stays_content() -> None:
    p = parse_a1("Title: Secure pairing of hearing aids\n\nThe pairing of hearing aids with phones over Bluetooth.").proposal
    assert p.title == "Secure pairing of hearing aids"
    assert p.text == "The pairing of hearing aids with phones over Bluetooth."
