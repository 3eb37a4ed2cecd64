"""The item's own id (a batch's id column, a contribution number) on each decision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-20
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add decisions.item_id, nullable: decisions logged before it, or sent without an id, have none."""
    op.add_column("decisions", sa.Column("item_id", sa.String(100), nullable=True))


def downgrade() -> None:
    """Drop decisions.item_id (SQLite rebuilds the table: batch mode, see env.py)."""
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("item_id")
