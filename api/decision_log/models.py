"""Tables of the decision log: one row per automatic decision, one per person's review of it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class DecisionRow(Base):
    """An automatic decision with its input, the rule revision that made it, when and by whom."""

    __tablename__ = "decisions"
    __table_args__ = (
        # Idempotency: the same proposal under the same rules is one decision, however often sent.
        UniqueConstraint("proposal_hash", "rule_revision", name="uq_decisions_hash_revision"),
        Index("ix_decisions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(64), unique=True)
    reference: Mapped[str] = mapped_column(String(100), index=True, default="")
    # The item's own id where the door had one (a file's id column, a contribution number); not part
    # of the proposal, so not of its hash: the first id seen for a decision is kept (migration 0002).
    item_id: Mapped[str | None] = mapped_column(String(100), nullable=True, default=None)
    proposal_hash: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    proposal: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    home: Mapped[str] = mapped_column(String(16), index=True)
    lead: Mapped[str | None] = mapped_column(String(16), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    # Flag codes as ",A,B," so that a flag filter is one LIKE on any database.
    flag_codes: Mapped[str] = mapped_column(String(400), default=",")
    rule_revision: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[str] = mapped_column(String(80), default="")
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")
    # The home that stands: the rules' at first, a reviewer's after an override (filters use it).
    final_home: Mapped[str] = mapped_column(String(16), index=True)

    reviews: Mapped[list["ReviewRow"]] = relationship(back_populates="decision", order_by="ReviewRow.id",
                                                      cascade="all, delete-orphan")


class ReviewRow(Base):
    """A person's confirmation or override of a decision, with the reason and the reviewer's name."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_pk: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    home: Mapped[str] = mapped_column(String(16))
    lead: Mapped[str | None] = mapped_column(String(16), nullable=True)
    other_sg: Mapped[str | None] = mapped_column(String(16), nullable=True)
    questions: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(200))
    # Copied from the decision so that "same contribution" lookups need no join.
    reference: Mapped[str] = mapped_column(String(100), index=True, default="")
    proposal_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when this review was carried over from an earlier one on the same contribution.
    inherited_from: Mapped[int | None] = mapped_column(Integer, nullable=True)

    decision: Mapped[DecisionRow] = relationship(back_populates="reviews")
