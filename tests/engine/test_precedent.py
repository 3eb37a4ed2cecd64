"""engine/precedent.py: why existing work puts a decision up for review."""

from __future__ import annotations

from engine.precedent import review_reasons
from engine.schema import ReviewDef

SPLIT = {"prec_sg17": 45, "prec_sg13": 20, "prec_lead": 25}


def test_a_split_precedent_puts_a_decision_up_for_review() -> None:
    cfg = ReviewDef(disagree=40, thin_lead=50)
    why = review_reasons(SPLIT, ["SG17"], "other_sg", cfg, {})
    assert why == ["existing work is split (the first Study Group leads by 25 points)"]


def test_thin_lead_skip_names_the_stages_a_split_does_not_question() -> None:
    cfg = ReviewDef(disagree=40, thin_lead=50)
    assert cfg.thin_lead_skip == ["continuity"]
    assert review_reasons(SPLIT, ["SG17"], "continuity", cfg, {}) == []
    assert review_reasons(SPLIT, ["SG17"], "precedent", cfg, {}) != []
    skip = ReviewDef(disagree=40, thin_lead=50, thin_lead_skip=["continuity", "precedent"])
    assert review_reasons(SPLIT, ["SG17"], "precedent", skip, {}) == []
    assert review_reasons(SPLIT, ["SG17"], "principle", skip, {}) != []


def test_skipping_a_split_never_hides_existing_work_that_points_elsewhere() -> None:
    skip = ReviewDef(disagree=40, thin_lead=50, thin_lead_skip=["continuity", "precedent"])
    why = review_reasons({"prec_sg13": 55, "prec_sg17": 30, "prec_lead": 25}, ["SG17"], "precedent", skip, {})
    assert why and why[0].startswith("existing work points to SG13 (55%")
