"""The decision log: decisions and reviews.

Revision ID: 0001
Revises:
Create Date: 2025-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the decisions and reviews tables."""
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("proposal_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("proposal", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("home", sa.String(16), nullable=False),
        sa.Column("lead", sa.String(16), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("flag_codes", sa.String(400), nullable=False),
        sa.Column("rule_revision", sa.String(80), nullable=False),
        sa.Column("rule_version", sa.String(80), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("final_home", sa.String(16), nullable=False),
        sa.UniqueConstraint("decision_id", name="uq_decisions_decision_id"),
        sa.UniqueConstraint("proposal_hash", "rule_revision", name="uq_decisions_hash_revision"),
    )
    op.create_index("ix_decisions_reference", "decisions", ["reference"])
    op.create_index("ix_decisions_proposal_hash", "decisions", ["proposal_hash"])
    op.create_index("ix_decisions_home", "decisions", ["home"])
    op.create_index("ix_decisions_status", "decisions", ["status"])
    op.create_index("ix_decisions_final_home", "decisions", ["final_home"])
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_pk", sa.Integer(), sa.ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("home", sa.String(16), nullable=False),
        sa.Column("lead", sa.String(16), nullable=True),
        sa.Column("other_sg", sa.String(16), nullable=True),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("proposal_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inherited_from", sa.Integer(), nullable=True),
    )
    op.create_index("ix_reviews_decision_pk", "reviews", ["decision_pk"])
    op.create_index("ix_reviews_reference", "reviews", ["reference"])
    op.create_index("ix_reviews_proposal_hash", "reviews", ["proposal_hash"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("reviews")
    op.drop_table("decisions")
