"""Review policy: what a person's review changes in the decision that stands.

A review decides (never silently overruled): its home, lead and Questions replace the rules',
confidence becomes 1.0 ("settled by a person"), the flags a review settles are replaced by ones
that follow the reviewed home, and the rules' own answer is kept beside it in `rules_now`.
"""
from __future__ import annotations

from api.decision_log.schemas import ReviewedDecision, ReviewInfo, RulesNow
from engine import Decision, Flag, RuleSet
from engine.flags import fill

# Flags that a person's review settles; JOINT_WORK and OUT_OF_SCOPE follow the reviewed home.
SETTLED = {"NEEDS_REVIEW", "JOINT_WORK", "OUT_OF_SCOPE"}


def apply_review(decision: Decision, review: ReviewInfo | None, rs: RuleSet | None = None) -> ReviewedDecision:
    """The decision that stands: the rules' own, or the reviewer's with the rules' answer in rules_now."""
    if review is None:
        # The common case, on every request: the engine's validated parts as they are, no copy.
        return ReviewedDecision.model_construct(**dict(decision), reviewed=False, review=None, rules_now=None)
    data = decision.model_dump()
    rules_now = RulesNow(home=decision.home, lead=decision.lead, other_sg=decision.other_sg, questions=list(decision.questions),
                         confidence=decision.confidence, flags=list(decision.flags))
    flags = [f for f in decision.flags if f.code not in SETTLED]
    texts = rs.catalogue.flags if rs is not None else {}
    if review.home == "joint":
        flags.insert(0, Flag(code="JOINT_WORK", text=fill(texts, "JOINT_WORK", "Joint work led by {lead}.", lead=review.lead or "")))
    if review.home == "other":
        flags.insert(0, Flag(code="OUT_OF_SCOPE", text=fill(texts, "OUT_OF_SCOPE", "Consider {other_sg}.",
                                                            other_sg=review.other_sg or "another SG")))
    # A person settled it: confidence 1.0 means "decided by review"; the rules' own is in rules_now.
    data.update(home=review.home, lead=review.lead, other_sg=review.other_sg, questions=list(review.questions),
                flags=[f.model_dump() for f in flags], confidence=1.0, reviewed=True, review=review.model_dump(),
                rules_now=rules_now.model_dump())
    return ReviewedDecision.model_validate(data)
