"""Alembic migrations of the decision log, run programmatically (api.db.engine.migrate)."""
