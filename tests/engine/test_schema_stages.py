"""The schema's stage literals are the vocabulary's stages: one list, checked, not two that drift."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from engine.schema import DecidingStage, ReviewDef, RuleStage
from engine.vocabulary import STAGES


def test_the_deciding_stages_are_the_vocabulary_s_in_its_order() -> None:
    assert get_args(DecidingStage) == STAGES
    assert get_args(RuleStage) == (*STAGES, "advisory")


def test_a_split_precedent_skips_continuity_by_default_and_refuses_an_unknown_stage() -> None:
    assert ReviewDef().thin_lead_skip == ["continuity"]
    assert ReviewDef(thin_lead_skip=["precedent"]).thin_lead_skip == ["precedent"]
    with pytest.raises(ValidationError):
        ReviewDef(thin_lead_skip=["advisory"])  # type: ignore[list-item]
