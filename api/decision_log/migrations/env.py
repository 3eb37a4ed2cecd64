"""Alembic environment: the connection comes from api.decision_log.database.migrate (config attribute)."""

from __future__ import annotations

from alembic import context

from api.decision_log.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through api.decision_log.database.migrate(), which passes a connection")
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite"
)
with context.begin_transaction():
    context.run_migrations()
