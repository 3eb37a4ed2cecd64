"""The lexicon matcher: whole words only, plurals, abbreviations by their capitals, punctuation as
space, blockers, and several fields prepared together without a phrase crossing between them."""
from __future__ import annotations

import pytest

from engine.lexicon import compile_matcher, prepare, prepare_joined, replace_prepared

MATCHER = compile_matcher(
    {"iot": ["Internet of things", "IoT"], "its": ["ITS", "intelligent transport system"],
     "weak": ["software weakness"], "policy": ["security policy"], "e2e": ["end-to-end security"],
     "identification": ["identification"]},
    {"identification": ["de-identification"]},
)


def concepts(text: str) -> list[str]:
    return [c for c, _, _, _ in MATCHER.spans(text)]


@pytest.mark.parametrize("text, expected", [
    ("Security of the Internet of Things", ["iot"]),
    ("IoT gateways", ["iot"]),
    ("idiot-proof design", []),                     # never inside a word
    ("its security", []),                           # an abbreviation needs its capitals
    ("ITS roadside units", ["its"]),
    ("intelligent transport systems", ["its"]),     # plural of the last word
    ("two software weaknesses", ["weak"]),          # -ss takes -es
    ("security policies", ["policy"]),              # consonant + y takes -ies
    ("end to end security", ["e2e"]),               # punctuation and spaces are equivalent
    ("end-to-end   security", ["e2e"]),
    ("de-identification of records", []),           # a blocker phrase hides the concept inside it
    ("identification of things", ["identification"]),
])
def test_matching(text: str, expected: list[str]) -> None:
    assert concepts(text) == expected


def test_words_are_reported_as_written() -> None:
    assert [(c, w) for c, w, _, _ in MATCHER.spans("Secure ITS, and the Internet-of-Things!")] == [
        ("its", "ITS"), ("iot", "Internet of Things")]


def test_fields_prepared_together_keep_phrases_apart() -> None:
    norm, low, ends = prepare_joined(["software", "weakness", "Internet of", "things"])
    assert MATCHER.spans_prepared(norm, low) == []  # no phrase across two fields
    assert len(ends) == 4 and ends[-1] == len(norm)
    norm, low, ends = prepare_joined(["", "a software weakness", "IoT"])
    hits = MATCHER.spans_prepared(norm, low)
    assert [(c, w) for c, w, _, _ in hits] == [("weak", "software weakness"), ("iot", "IoT")]
    # each hit lies inside its own field: after the end of the one before
    assert ends[0] < hits[0][2] <= hits[0][3] < ends[1] < hits[1][2] <= hits[1][3] < ends[2]


def test_a_field_replaced_is_prepared_as_if_joined_afresh() -> None:
    texts = ["Title: IoT", "", "Scope. It does not cover IoT gateways.", "Summary"]
    norm, _, ends = prepare_joined(texts)
    replaced = replace_prepared(norm, ends, 2, "Scope.")
    assert MATCHER.spans_prepared(*replaced[:2]) == MATCHER.spans_prepared(*prepare_joined(["Title: IoT", "", "Scope.", "Summary"])[:2])
    assert [c for c, _, _, _ in MATCHER.spans_prepared(*replaced[:2])] == ["iot"]


def test_prepare_pads_with_spaces() -> None:
    norm, low = prepare("  Zero-trust,  IoT ")
    assert norm == " Zero trust IoT " and low == " zero trust iot "


# ---------------------------------------------------------------- requires: phrases that need a context

def _ctx_matcher(within: int = 3) -> "Matcher":
    from engine.lexicon import Context
    return compile_matcher({"platform": ["platform", "IoT platform"], "iot": ["IoT"], "ac": ["access control"]},
                           requires=[Context("platform", ("platform",), ("service", "device", "IoT"), within)])


def test_a_conditional_phrase_counts_only_near_its_context() -> None:
    m = _ctx_matcher()
    assert [c for c, *_ in m.spans("a service platform for homes")] == ["platform"]
    assert [c for c, *_ in m.spans("the platform hosts the device")] == ["platform"]  # after: 3 words on
    assert m.spans("access control for a platform") == [("ac", "access control", 1, 14)]
    assert [c for c, *_ in m.spans("the platform hosts many apps for every device")] == []  # too far
    assert {c for c, *_ in m.spans("an IoT platform")} == {"iot", "platform"}  # its own phrase, and in context


def test_context_does_not_cross_fields() -> None:
    m = _ctx_matcher()
    norm, low, _ = prepare_joined(["Cloud platform", "service"])
    assert [c for c, *_ in m.spans_prepared(norm, low)] == []


def test_context_keeps_hits_in_text_order_and_with_blockers() -> None:
    from engine.lexicon import Context
    m = compile_matcher({"platform": ["platform"], "dev": ["device"]}, {"platform": ["platform economy"]},
                        [Context("platform", (), ("device",), 2)])
    spans = m.spans("device platform economy; device platform")
    assert [(c, a) for c, _, a, _ in spans] == [("dev", 1), ("dev", 25), ("platform", 32)]
    assert m.owners["~platform"] == ["platform"]  # a conditional phrase is still its concept's


def test_context_cost_stays_linear_on_repeated_text() -> None:
    m = _ctx_matcher()
    spans = m.spans("platform service " * 5000)
    assert len(spans) == 5000 and all(c == "platform" for c, *_ in spans)
