"""Which flags related work raises: the policy, apart from the scoring (engine.registry.index).

Any related item raises OVERLAP_EXISTING_WORK naming the ids; a related item held by the other
SG (SG20 when the home or lead is SG17 and vice versa; either when the home is joint; both when
it is undetermined) raises COORDINATE_Q6_17_Q6_20 naming that item.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.flags import fill
from engine.models import Flag, RelatedWork

OTHER_SIDE = {"SG17": ("SG20",), "SG20": ("SG17",), "joint": ("SG17", "SG20"), "undetermined": ("SG17", "SG20")}
MAX_NAMED = 3


def flags_for(related: list[RelatedWork], home: str, texts: Mapping[str, str]) -> list[Flag]:
    """The flags a decision with this home gets from its related work (catalogue texts)."""
    if not related:
        return []
    flags = [
        Flag(
            code="OVERLAP_EXISTING_WORK",
            text=fill(
                texts,
                "OVERLAP_EXISTING_WORK",
                "Overlaps existing work: {detail}.",
                detail=", ".join(f"{r.id} ({r.study_group})" for r in related),
            ),
        )
    ]
    sides = OTHER_SIDE.get(home, ())
    others = [r for r in related if r.study_group in sides]
    if home == "undetermined" and len({r.study_group for r in others}) < 2:
        others = []
    if others:
        detail = "existing work: " + "; ".join(
            f"{r.id} {r.title} ({r.study_group}{', ' + r.question if r.question else ''})" for r in others[:MAX_NAMED]
        )
        flags.append(
            Flag(
                code="COORDINATE_Q6_17_Q6_20",
                text=fill(texts, "COORDINATE_Q6_17_Q6_20", "Coordinate Q6/17 and Q6/20 ({detail}).", detail=detail),
            )
        )
    return flags
