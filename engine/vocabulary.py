"""Names the rule loader, fact extraction, lint and the pages share: one definition of each.

Kept free of imports from the rest of the engine, so that any module may use it (it is what
breaks the old facts <-> ruleset cycle).
"""

from __future__ import annotations

from typing import Literal

# The decision's home, and who leads joint work (docs/architecture.md: fixed names).
Home = Literal["SG17", "SG20", "joint", "other", "undetermined"]
LeadSG = Literal["SG17", "SG20"]
HOMES: tuple[str, ...] = ("SG17", "SG20", "joint", "other", "undetermined")

# Proposal fields the lexicon reads, in the order they are prepared together.
FIELDS = ("title", "keywords", "scope", "summary", "text")
BODY_FIELDS = ("summary", "text")  # fields whose repeated concepts count (catalogue `repeat`)
EXCLUDABLE = ("scope", "summary", "text")  # fields whose "does not cover" sentences are dropped

# Precedence: earlier stages win over later ones (README, rules/README.md).
STAGES = ("continuity", "other_sg", "precedent", "joint", "principle", "default")
ADVISORY = "advisory"  # rules that only suggest Questions, raise flags or derive signals

# Flags the engine computes itself (rules may raise others, and COORDINATE as well).
COMPUTED_FLAGS = ("JOINT_WORK", "COORDINATE_Q6_17_Q6_20", "OUT_OF_SCOPE", "NEEDS_REVIEW", "OVERLAP_EXISTING_WORK")

# Reason outcomes (Decision.reasons[].outcome).
Outcome = Literal["chosen", "outranked", "advisory", "derived"]

# Signal names: <category>_top, and the system signals built from citations, Questions, etc.
TOP = "_top"
SYSTEM_PREFIXES = ("cites_", "revises_", "names_", "proposes_", "reference_", "liaises_")
# Precedent signals (engine/precedent.py): near_<sg>, model_<sg>, prec_<sg>, and two without an SG.
PRECEDENT_PREFIXES = ("near_", "model_", "prec_")
PRECEDENT_TOP = ("near_top", "prec_lead")
