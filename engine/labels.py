"""The one notation of a home for people and files: `SG17`, `SG20`, `joint:SG17`, `other:SG11`,
`undetermined`. The CLI, batch reports, diffs, evaluation, the landscape and the pages all use it,
and evaluation files name accepted answers in it (`joint` alone accepts joint work led by either)."""

from __future__ import annotations

from typing import Protocol


class HasHome(Protocol):
    @property
    def home(self) -> str: ...
    @property
    def lead(self) -> str | None: ...
    @property
    def other_sg(self) -> str | None: ...


def home_label(home: str, lead: str | None = None, other_sg: str | None = None) -> str:
    """`joint:SG20`, `other:SG11`, or the home itself; never 'None'."""
    if home == "joint" and lead:
        return f"joint:{lead}"
    if home == "other" and other_sg:
        return f"other:{other_sg}"
    return home


def label_of(decision: HasHome) -> str:
    """The label of a decision (or anything with home, lead and other_sg)."""
    return home_label(decision.home, decision.lead, decision.other_sg)


def accepts(accept: list[str], decision: HasHome) -> bool:
    """Whether a decision is one of the accepted labels ('SG17', 'joint', 'joint:SG20', 'other', 'other:SG11')."""
    return bool({decision.home, label_of(decision)} & set(accept))
