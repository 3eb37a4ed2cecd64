"""Review policy: what a person's review changes in the decision that stands.

A review decides (never silently overruled): its home, lead and Questions replace the rules',
confidence becomes 1.0 ("settled by a person"), the flags a review settles are replaced by ones
that follow the reviewed home, and the rules' own answer is kept beside it in `rules_now`. When
the person chose another home than the rules, the rules that chose are no longer "chosen": they
are outranked by the review, and `deciding_rules` is empty (the rules' are in `rules_now`).
The answer carries no reviewer name or reason: those are for staff (GET /v1/decisions/{id}).
"""

from __future__ import annotations

from api.decision_log.schemas import PublicReview, ReviewedDecision, ReviewInfo, RulesNow
from engine import Decision, Flag, RuleSet
from engine.flags import fill
from engine.labels import home_label, label_of

# Flags that a person's review settles; JOINT_WORK and OUT_OF_SCOPE follow the reviewed home.
SETTLED = {"NEEDS_REVIEW", "JOINT_WORK", "OUT_OF_SCOPE"}
# Flag texts of a home a person chose: the catalogue may word them (codes REVIEWED_<FLAG>).
REVIEWED_TEXTS = {
    "JOINT_WORK": "Joint work led by {lead}, as decided by TSB staff review.",
    "OUT_OF_SCOPE": "Another Study Group, {other_sg}, as decided by TSB staff review.",
}


def apply_review(decision: Decision, review: ReviewInfo | None, rs: RuleSet | None = None) -> ReviewedDecision:
    """The decision that stands: the rules' own, or the reviewer's with the rules' answer in rules_now."""
    if review is None:
        # The common case, on every request: the engine's validated parts as they are, no copy.
        return ReviewedDecision.model_construct(
            **dict(decision), reviewed=False, decided_by="rules", review=None, rules_now=None
        )
    data = decision.model_dump()
    rules_now = RulesNow(
        home=decision.home,
        lead=decision.lead,
        other_sg=decision.other_sg,
        questions=list(decision.questions),
        confidence=decision.confidence,
        flags=list(decision.flags),
        deciding_rules=list(decision.deciding_rules),
        label=label_of(decision),
    )
    same_home = label_of(decision) == home_label(review.home, review.lead, review.other_sg)
    texts = rs.catalogue.flags if rs is not None else {}
    if same_home:
        # The person agreed on the home: the rules' own flags for it stand (NEEDS_REVIEW is settled).
        flags = [f for f in decision.flags if f.code != "NEEDS_REVIEW"]
    else:
        flags = [f for f in decision.flags if f.code not in SETTLED]
        if review.home == "joint":
            flags.insert(
                0,
                Flag(
                    code="JOINT_WORK",
                    text=fill(texts, "REVIEWED_JOINT_WORK", REVIEWED_TEXTS["JOINT_WORK"], lead=review.lead or ""),
                ),
            )
        if review.home == "other":
            flags.insert(
                0,
                Flag(
                    code="OUT_OF_SCOPE",
                    text=fill(
                        texts,
                        "REVIEWED_OUT_OF_SCOPE",
                        REVIEWED_TEXTS["OUT_OF_SCOPE"],
                        other_sg=review.other_sg or "another SG",
                    ),
                ),
            )
        for reason in data["reasons"]:
            if reason["outcome"] == "chosen":
                reason["outcome"] = "outranked"
                reason["effect"] = reason["effect"].replace(" - chosen", " - outranked by TSB staff review", 1)
        data["deciding_rules"] = []
    # A person settled it: confidence 1.0 means "decided by review"; the rules' own is in rules_now.
    data.update(
        home=review.home,
        lead=review.lead,
        other_sg=review.other_sg,
        questions=list(review.questions),
        flags=[f.model_dump() for f in flags],
        confidence=1.0,
        reviewed=True,
        decided_by="review",
        review=PublicReview.of(review).model_dump(),
        rules_now=rules_now.model_dump(),
    )
    return ReviewedDecision.model_validate(data)
