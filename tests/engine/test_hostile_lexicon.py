"""Hostile text against the lexicon: the work is linear in the text (counted, not timed), and the
blocker sweep gives exactly what checking every hit against every span gives."""
from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

import engine
from engine import Proposal
from engine.facts import extract
from engine.lexicon import compile_matcher, prepare

ENGINE_DIR = str(Path(engine.__file__).resolve().parent)


class _OverBudget(Exception):
    pass


def python_steps(run: Callable[[], Any], budget: int) -> int:
    """Lines of engine/ code executed by run() (a work count, independent of the machine's speed);
    stops run() as soon as it exceeds `budget`, so a quadratic regression fails fast."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
            if count > budget:
                raise _OverBudget
        return local

    def global_(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(ENGINE_DIR) else None

    sys.settrace(global_)
    try:
        run()
    except _OverBudget:
        pass
    finally:
        sys.settrace(None)
    return count


MATCHER = compile_matcher({"identification": ["identification"], "iot": ["IoT"], "pii": ["de-identification"]},
                          {"identification": ["de-identification", "re identification"], "iot": ["IoT-ID"]})


@pytest.mark.parametrize("unit", ["de-identification ", "identification ", "re-identification de-identification "])
def test_matching_a_repeated_phrase_is_linear_in_its_repeats(unit: str) -> None:
    small, big = 400, 4000
    budget = 4 * len(unit) * big  # a few steps per character (about 2 measured)
    n_small = python_steps(lambda: MATCHER.spans(unit * small), budget)
    n_big = python_steps(lambda: MATCHER.spans(unit * big), budget)
    assert n_big <= budget, f"{n_big} steps for {big} repeats: more than linear"
    assert n_big <= 12 * n_small, (n_small, n_big)  # 10 times the text: about 10 times the work, not 100


def test_extracting_facts_from_a_repeated_blocker_is_linear(ruleset: Any) -> None:
    def steps(repeats: int) -> int:
        p = Proposal(title="Privacy of IoT devices", text="de-identification " * repeats)
        return python_steps(lambda: extract(p, ruleset), 200 * 5000)

    n_small, n_big = steps(500), steps(5000)  # 5000 repeats: 90 KB, near the text field's limit
    assert n_big <= 200 * 5000 and n_big <= 12 * n_small, (n_small, n_big)


def _reference(matcher_phrases: dict[str, list[str]], blockers: dict[str, list[str]], text: str) -> list[tuple[str, str, int, int]]:
    """Every hit checked against every blocker span: the definition the sweep must agree with."""
    plain = compile_matcher(matcher_phrases)
    spans = compile_matcher({"block:" + c: b for c, b in blockers.items()}).spans(text) if blockers else []
    return [h for h in plain.spans(text)
            if not any(b[0] == "block:" + h[0] and b[2] <= h[2] and h[3] <= b[3] for b in spans)]


def test_the_blocker_sweep_agrees_with_checking_every_span() -> None:
    rng = random.Random(5)
    words = ["de", "re", "identification", "IoT", "iot", "ID", "smart", "grid", "meter", "the"]
    phrases = {"ident": ["identification", "IoT identification"], "grid": ["smart grid", "grid"],
               "iot": ["IoT"], "meter": ["smart meter", "meter"]}
    blockers = {"ident": ["de identification", "re identification", "IoT identification"],
                "grid": ["smart grid meter"], "iot": ["IoT ID", "IoT"][:1 + rng.randrange(1)]}
    matcher = compile_matcher(phrases, blockers)
    for _ in range(400):
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 30)))
        assert matcher.spans(text) == _reference(phrases, blockers, text), text


def test_an_abbreviation_blocker_hides_its_concept_and_never_leaks_as_a_hit() -> None:
    matcher = compile_matcher({"its": ["ITS"], "ident": ["identification"]}, {"its": ["ITS"]})
    assert matcher.spans("ITS identification") == [("ident", "identification", 5, 18)]
    assert matcher.spans_prepared(*prepare("ITS")) == []


def test_evidence_of_a_citation_repeated_thousands_of_times_stays_capped(ruleset: Any) -> None:
    from engine.lexicon import MAX_EVIDENCE

    p = Proposal(title="Revision of X.1352", text="This is a revision of X.1352. " * 3000)
    facts = extract(p, ruleset)
    assert facts.signals["revises_sg17"] == 1  # a Recommendation counts once, however often it is cited
    assert 0 < len(facts.evidence["revises_sg17"]) <= MAX_EVIDENCE
    assert all(len(ev) <= MAX_EVIDENCE for name, ev in facts.evidence.items() if name.startswith(("cites_", "revises_", "names_")))
